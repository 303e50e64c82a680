//! `AvgPool2D`: the mean of each window.
use dfdx::prelude::*;

use super::dims::PoolOut;
use super::kernels;
use super::node::{Node, Op};
use super::pooling::{pool, pooling_module, Pooling};
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

pooling_module!(AvgPool2D, Pooling::Average);

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
