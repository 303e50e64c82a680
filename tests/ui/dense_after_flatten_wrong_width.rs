// Flatten gives 32 * 13 * 13 = 5408 values; a Dense layer expecting 5000 cannot follow it.
use mnist_cnn::layers::{Conv2D, Dense, Flatten, MaxPool2D, ReLU};
use mnist_cnn::model::{self, Sequential};

type Wrong = Sequential<((Conv2D<1, 32, 3>, ReLU), MaxPool2D<2>, Flatten, Dense<5000, 10>)>;

fn main() {
    let _ = Wrong::build(&model::device(0));
}
