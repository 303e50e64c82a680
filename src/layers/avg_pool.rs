//! `AvgPool2D`: the mean of each window.
use dfdx::prelude::*;

use super::dims::PoolOut;
use super::kernels;
use super::node::{Node, Op};
use super::pool::{pool, Pooling};
use super::stack::{out_shape, Ctx, Flow, Layer, Ready};

/// Average pooling over `K`x`K` windows moved `S` pixels at a time (by default `S = K`): each
/// window of each channel becomes the mean of its values, so `[batch, C, H, W]` becomes
/// `[batch, C, (H-K)/S+1, (W-K)/S+1]`. LeNet-5 pooled this way; max pooling, which keeps only
/// the strongest response, later replaced it in most networks.
///
/// PyTorch: `nn.AvgPool2d(K, stride=S)`; Keras: `AveragePooling2D((K, K), strides=S)`. No
/// parameters.
///
/// Inputs must be contiguous tensors (every dfdx operation returns one).
#[derive(Debug, Default, Clone, Copy)]
pub struct AvgPool2D<const K: usize, const S: usize = K>;

impl<const K: usize, const S: usize> ZeroSizedModule for AvgPool2D<K, S> {}
impl<const K: usize, const S: usize> NonMutableModule for AvgPool2D<K, S> {}

impl<B, C, H, W, const K: usize, const S: usize, T> Module<Tensor<(B, C, H, W), f32, Cpu, T>> for AvgPool2D<K, S>
where
    B: Dim,
    C: Dim,
    H: PoolOut<K, S>,
    W: PoolOut<K, S>,
    T: Tape<f32, Cpu>,
{
    type Output = Tensor<(B, C, H::Output, W::Output), f32, Cpu, T>;
    type Error = CpuError;

    fn try_forward(&self, x: Tensor<(B, C, H, W), f32, Cpu, T>) -> Result<Self::Output, CpuError> {
        let (batch, chan, _, _) = *x.shape();
        let geom = kernels::PoolGeom { planes: batch.size() * chan.size(), h: H::SIZE, w: W::SIZE, k: K, s: S };
        Ok(pool(x, geom, (batch, chan, H::Output::default(), W::Output::default()), Pooling::Average))
    }
}

impl<C: ConstDim, H: PoolOut<K, S>, W: PoolOut<K, S>, const K: usize, const S: usize> Layer<(C, H, W)> for AvgPool2D<K, S> {
    type Out = (C, H::Output, W::Output);
    type Next<F: Flow<Shape = (C, H, W)>> = Ready<Self::Out, F::Tape>;

    fn flow<F: Flow<Shape = (C, H, W)>>(&self, x: F, ctx: &mut Ctx) -> Self::Next<F> {
        let y = self.forward(x.ready().tensor);
        ctx.keep(&y);
        Ready::new(y)
    }

    fn nodes(&self, nodes: &mut Vec<Node>) {
        nodes.push(Node { op: Op::AvgPool2D { k: K, stride: S }, shape: out_shape::<(C, H, W), Self>(), params: 0 });
    }
}
