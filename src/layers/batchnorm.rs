//! `BatchNorm2D`: each channel rescaled to mean 0 and variance 1, then scaled and shifted by
//! learned amounts.
use dfdx::prelude::*;

use super::node::{Node, Op};
use super::stack::{out_shape, Ctx, Flow, Layer, Ready};

/// Batch normalisation over `C` channels (dfdx's module, with its tensor names `scale`, `bias`,
/// `running_mean`, `running_var`): in training, each channel is normalised with the batch's mean
/// and variance, and running averages of both are kept (momentum 0.1); at inference the running
/// averages are used, so a prediction does not depend on the rest of the batch. Then
/// `* scale + bias`, both learned (2 * `C` parameters). It lets a deeper network train with
/// larger steps.
///
/// PyTorch: `nn.BatchNorm2d(C)` (the same epsilon 1e-5 and momentum 0.1); Keras:
/// `BatchNormalization()` (momentum 0.99 there, counted the other way round: 1 - 0.1 = 0.9).
pub type BatchNorm2D<const C: usize> = dfdx::nn::modules::BatchNorm2D<C, f32, Cpu>;

impl<const C: usize, H: ConstDim, W: ConstDim> Layer<(Const<C>, H, W)> for BatchNorm2D<C> {
    type Out = (Const<C>, H, W);
    type Next<F: Flow<Shape = (Const<C>, H, W)>> = Ready<Self::Out, F::Tape>;

    fn flow<F: Flow<Shape = (Const<C>, H, W)>>(&self, x: F, ctx: &mut Ctx) -> Self::Next<F> {
        let x: Tensor<(usize, Const<C>, H, W), f32, Cpu, F::Tape> = x.ready().tensor;
        let shape = *x.shape();
        let eps = self.epsilon as f32;
        let (mean, var) = if ctx.is_training() {
            // The batch's statistics, on the tape (the gradient flows through them too).
            let mean = x.retaped::<F::Tape>().mean::<Rank1<C>, _>();
            let centered = x.retaped::<F::Tape>() - mean.retaped::<F::Tape>().broadcast_like(&shape);
            let var = centered.square().mean::<Rank1<C>, _>();
            // Running averages, off the tape; the variance unbiased (n / (n - 1)), as PyTorch.
            let n = (shape.0 * H::SIZE * W::SIZE) as f32;
            let m = self.momentum as f32;
            let run = |old: &Tensor<Rank1<C>, f32, Cpu>, new: Vec<f32>, unbias: f32| -> Vec<f32> {
                old.as_vec().iter().zip(new).map(|(o, v)| o * (1.0 - m) + v * unbias * m).collect()
            };
            let unbias = if n > 1.0 { n / (n - 1.0) } else { 1.0 };
            ctx.running.push((run(&self.running_mean, mean.as_vec(), 1.0), run(&self.running_var, var.as_vec(), unbias)));
            (mean, var)
        } else {
            (self.running_mean.clone().retaped::<F::Tape>(), self.running_var.clone().retaped::<F::Tape>())
        };
        let std = (var + eps).sqrt();
        let scale = (self.scale.retaped::<F::Tape>() / std).broadcast_like(&shape);
        let y = (x - mean.broadcast_like(&shape)) * scale + self.bias.retaped::<F::Tape>().broadcast_like(&shape);
        ctx.keep(&y);
        Ready::new(y)
    }

    fn nodes(&self, nodes: &mut Vec<Node>) {
        let op = Op::BatchNorm2D {
            scale: self.scale.as_vec(),
            bias: self.bias.as_vec(),
            mean: self.running_mean.as_vec(),
            var: self.running_var.as_vec(),
            epsilon: self.epsilon as f32,
        };
        nodes.push(Node { op, shape: out_shape::<(Const<C>, H, W), Self>(), params: self.num_trainable_params() });
    }

    fn take_running(&mut self, running: &mut std::vec::IntoIter<(Vec<f32>, Vec<f32>)>) {
        if let Some((mean, var)) = running.next() {
            self.running_mean.copy_from(&mean);
            self.running_var.copy_from(&var);
        }
    }
}
