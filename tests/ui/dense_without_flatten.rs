// A Dense layer takes a flat vector: feature maps need a Flatten first.
use mnist_cnn::layers::{Conv2D, Dense, MaxPool2D, ReLU};
use mnist_cnn::model::{self, Sequential};

type Wrong = Sequential<((Conv2D<1, 32, 3>, ReLU), MaxPool2D<2>, Dense<5408, 10>)>;

fn main() {
    let _ = Wrong::build(&model::device(0));
}
