// A Conv2D built for 1 input channel (grey images) cannot take 3 channels (colour images).
use dfdx::prelude::*;
use mnist_cnn::layers::builder::Conv2D;

fn main() {
    let dev: Cpu = Default::default();
    let conv = dev.build_module::<Conv2D<1, 32, 3>, f32>();
    let x: Tensor<(usize, Const<3>, Const<28>, Const<28>), f32, Cpu> = dev.zeros_like(&(1, Const, Const, Const));
    let _ = conv.forward(x);
}
