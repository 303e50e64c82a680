// A Conv2D built for 3 input channels (colour images) cannot take MNIST's 1 (grey).
use mnist_cnn::layers::{Conv2D, Dense, Flatten, ReLU};
use mnist_cnn::model::{self, Sequential};

type Wrong = Sequential<((Conv2D<3, 32, 3>, ReLU), Flatten, Dense<21632, 10>)>;

fn main() {
    let _ = Wrong::build(&model::device(0));
}
