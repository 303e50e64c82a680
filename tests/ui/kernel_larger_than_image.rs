// After 5x5 filters and 4x4 pooling the maps are 6x6: a 7x7 filter does not fit.
use mnist_cnn::layers::{Conv2D, Dense, Flatten, MaxPool2D};
use mnist_cnn::model::{self, Sequential};

type Wrong = Sequential<((Conv2D<1, 8, 5>, MaxPool2D<4>), Conv2D<8, 8, 7>, Flatten, Dense<8, 10>)>;

fn main() {
    let _ = Wrong::build(&model::device(0));
}
