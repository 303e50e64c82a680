// Caffe's LeNet and a strided, padded stack fit: they build and run.
use mnist_cnn::layers::{AvgPool2D, BatchNorm2D, Conv2D, Dense, Flatten, MaxPool2D, ReLU, Same, Tanh};
use mnist_cnn::model::{self, Network, Sequential};

type LeNet5 = Sequential<((Conv2D<1, 20, 5>, MaxPool2D<2>), (Conv2D<20, 50, 5>, MaxPool2D<2>), Flatten, (Dense<800, 500>, ReLU), Dense<500, 10>)>;
type Strided = Sequential<((Conv2D<1, 16, 3, 2, Same>, BatchNorm2D<16>, Tanh), AvgPool2D<2>, Flatten, Dense<784, 10>)>;

fn main() {
    let image = [0u8; 784];
    assert_eq!(LeNet5::build(&model::device(0)).activations(&image).len(), 8);
    assert_eq!(Strided::build(&model::device(0)).summary().layers[0].shape, [16, 14, 14]);
}
