// A 3x3 filter does not fit in a 2x2 image: there is no output shape, so no program.
use dfdx::prelude::*;
use mnist_cnn::layers::builder::Conv2D;

fn main() {
    let dev: Cpu = Default::default();
    let conv = dev.build_module::<Conv2D<1, 4, 3>, f32>();
    let x: Tensor<(usize, Const<1>, Const<2>, Const<2>), f32, Cpu> = dev.zeros_like(&(1, Const, Const, Const));
    let _ = conv.forward(x);
}
