// 3x3 filters with stride 2 turn 28x28 into 13x13, then 6x6, then 2x2: no room for 4x4 pooling.
use mnist_cnn::layers::{Conv2D, Dense, Flatten, MaxPool2D};
use mnist_cnn::model::{self, Sequential};

type Wrong = Sequential<(Conv2D<1, 8, 3, 2>, Conv2D<8, 8, 3, 2>, Conv2D<8, 8, 3, 2>, MaxPool2D<4>, Flatten, Dense<8, 10>)>;

fn main() {
    let _ = Wrong::build(&model::device(0));
}
