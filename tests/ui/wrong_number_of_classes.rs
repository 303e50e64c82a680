// MNIST has ten digits: a network that ends with 5 scores is not a network for it.
use mnist_cnn::layers::{Dense, Flatten, ReLU};
use mnist_cnn::model::{self, Sequential};

type Wrong = Sequential<(Flatten, (Dense<784, 64>, ReLU), Dense<64, 5>)>;

fn main() {
    let _ = Wrong::build(&model::device(0));
}
