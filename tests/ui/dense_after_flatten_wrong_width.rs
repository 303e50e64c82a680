// Flatten gives 32 * 13 * 13 = 5408 values; a Dense layer expecting 5000 cannot follow it.
use dfdx::nn::builders::ReLU;
use dfdx::prelude::*;
use mnist_cnn::layers::{builder::{Conv2D, Dense}, Flatten, MaxPool2D};

type Wrong = ((Conv2D<1, 32, 3>, ReLU), MaxPool2D<2>, Flatten, Dense<5000, 10>);

fn main() {
    let dev: Cpu = Default::default();
    let model = dev.build_module::<Wrong, f32>();
    let x: Tensor<(usize, Const<1>, Const<28>, Const<28>), f32, Cpu> = dev.zeros_like(&(1, Const, Const, Const));
    let _ = model.forward(x);
}
