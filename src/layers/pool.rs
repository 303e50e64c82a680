//! `MaxPool2D`: keep the highest value of each window.
use dfdx::prelude::*;

use super::dims::PoolOut;
use super::kernels;
use super::pooling::{pool, pooling_module, Pooling};
use super::node::{Node, Op};
use super::stack::{out_shape, Ctx, Flow, Layer, Ready};

/// Max pooling over `K`x`K` windows moved `S` pixels at a time (by default `S = K`: windows side
/// by side): each window of each channel becomes its largest value, so `[batch, C, H, W]` becomes
/// `[batch, C, (H-K)/S+1, (W-K)/S+1]` (for `S = K`: `H/K`, a remainder row or column dropped).
/// It halves the resolution for `K = 2` and keeps the strongest response of a filter in each
/// neighbourhood, which makes the features a little tolerant of small shifts.
///
/// PyTorch: `nn.MaxPool2d(K, stride=S)`; Keras: `MaxPooling2D((K, K), strides=S)`. No parameters.
///
/// Inputs must be contiguous tensors (every dfdx operation returns one).
#[derive(Debug, Default, Clone, Copy)]
pub struct MaxPool2D<const K: usize, const S: usize = K>;

pooling_module!(MaxPool2D, Pooling::Max);

impl<C: ConstDim, H: PoolOut<K, S>, W: PoolOut<K, S>, const K: usize, const S: usize> Layer<(C, H, W)> for MaxPool2D<K, S> {
    type Out = (C, H::Output, W::Output);
    type Next<F: Flow<Shape = (C, H, W)>> = Ready<Self::Out, F::Tape>;

    fn flow<F: Flow<Shape = (C, H, W)>>(&self, x: F, ctx: &mut Ctx) -> Self::Next<F> {
        x.max_pool::<K, S>(ctx)
    }

    fn nodes(&self, nodes: &mut Vec<Node>) {
        nodes.push(Node { op: Op::MaxPool2D { k: K, stride: S }, shape: out_shape::<(C, H, W), Self>(), params: 0 });
    }
}
