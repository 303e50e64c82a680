//! `MaxPool2D`: keep the highest value of each window.
use dfdx::prelude::*;

use super::dims::PoolOut;
use super::kernels;
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

impl<const K: usize, const S: usize> ZeroSizedModule for MaxPool2D<K, S> {}
impl<const K: usize, const S: usize> NonMutableModule for MaxPool2D<K, S> {}

impl<B, C, H, W, const K: usize, const S: usize, T> Module<Tensor<(B, C, H, W), f32, Cpu, T>> for MaxPool2D<K, S>
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
        Ok(pool(x, geom, (batch, chan, H::Output::default(), W::Output::default()), Pooling::Max))
    }
}

/// Which value a pooling window keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pooling {
    Max,
    Average,
}

/// Pools `x` (contiguous, `geom.planes` maps of `geom.h x geom.w`) into a tensor of `shape`, with
/// the backward pass on the tape: the gradient of a maximum goes to the input that was the
/// maximum, that of a mean in equal shares to the window.
pub(crate) fn pool<S1: Shape, S2: Shape, T: Tape<f32, Cpu>>(x: Tensor<S1, f32, Cpu, T>, geom: kernels::PoolGeom, shape: S2, kind: Pooling) -> Tensor<S2, f32, Cpu, T> {
    let (x, mut tape) = x.split_tape();
    let mut xs = vec![0.0; geom.planes * geom.h * geom.w];
    x.copy_into(&mut xs);
    let mut ys = vec![0.0; geom.output_len()];
    let argmax = match kind {
        Pooling::Max => {
            let mut argmax = vec![0u32; geom.output_len()];
            kernels::max_pool_forward(&geom, &xs, &mut ys, &mut argmax);
            argmax
        }
        Pooling::Average => {
            kernels::avg_pool_forward(&geom, &xs, &mut ys);
            Vec::new()
        }
    };
    drop(xs);
    let y = x.device().tensor_from_vec(ys, shape);
    if T::OWNS_TAPE {
        let (x_g, y_g) = (x.ghost(), y.ghost());
        tape.add_backward_op(move |grads| {
            let gy = std::mem::take(&mut **grads.get_or_alloc_mut(&y_g)?);
            let gx = grads.get_or_alloc_mut(&x_g)?;
            match kind {
                Pooling::Max => kernels::max_pool_backward(&argmax, &gy, gx),
                Pooling::Average => kernels::avg_pool_backward(&geom, &gy, gx),
            }
            **grads.get_or_alloc_mut(&y_g)? = gy;
            Ok(())
        });
    }
    y.put_tape(tape)
}

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
