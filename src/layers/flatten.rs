//! `Flatten`: lay a stack of feature maps out as one long vector for the dense layers.
use dfdx::prelude::*;

use super::dims::Flat;
use super::node::{Node, Op};
use super::stack::{Ctx, Flow, Layer, Ready};

/// Flattens `[batch, C, H, W]` into `[batch, C*H*W]` (channel-major, as PyTorch's
/// `nn.Flatten()`; Keras's `Flatten()` does the same on its channels-last layout). The length is
/// the dimension [`Flat<C, H, W>`](Flat), so the compiler checks that the following `Dense` has
/// exactly that many inputs. No parameters; no copy.
#[derive(Debug, Default, Clone, Copy)]
pub struct Flatten;

impl ZeroSizedModule for Flatten {}
impl NonMutableModule for Flatten {}

impl<B, const C: usize, const H: usize, const W: usize, E, D, T> Module<Tensor<(B, Const<C>, Const<H>, Const<W>), E, D, T>> for Flatten
where
    B: Dim,
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
{
    type Output = Tensor<(B, Flat<C, H, W>), E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Tensor<(B, Const<C>, Const<H>, Const<W>), E, D, T>) -> Result<Self::Output, D::Err> {
        let batch = x.shape().0;
        x.try_reshape_like(&(batch, Flat))
    }
}

impl<const C: usize, const H: usize, const W: usize> Layer<(Const<C>, Const<H>, Const<W>)> for Flatten {
    type Out = (Flat<C, H, W>,);
    type Next<F: Flow<Shape = (Const<C>, Const<H>, Const<W>)>> = Ready<Self::Out, F::Tape>;

    fn flow<F: Flow<Shape = (Const<C>, Const<H>, Const<W>)>>(&self, x: F, ctx: &mut Ctx) -> Self::Next<F> {
        let y = self.forward(x.ready().tensor);
        ctx.keep(&y);
        Ready::new(y)
    }

    fn nodes(&self, nodes: &mut Vec<Node>) {
        nodes.push(Node { op: Op::Flatten, shape: vec![C * H * W], params: 0 });
    }
}
