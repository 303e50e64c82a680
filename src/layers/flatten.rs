//! `Flatten`: lay a stack of feature maps out as one long vector for the dense layers.
use dfdx::prelude::*;

use super::dims::FlatOut;

/// Flattens `[batch, C, H, W]` into `[batch, C*H*W]` (channel-major, as PyTorch's
/// `nn.Flatten()`; Keras's `Flatten()` does the same on its channels-last layout). The length is
/// a type, so the following `Dense` must have exactly that many inputs or the model does not
/// compile. No parameters; no copy.
#[derive(Debug, Default, Clone, Copy)]
pub struct Flatten;

impl ZeroSizedModule for Flatten {}
impl NonMutableModule for Flatten {}

impl<B, C, H, W, E, D, T> Module<Tensor<(B, C, H, W), E, D, T>> for Flatten
where
    B: Dim,
    C: ConstDim,
    H: ConstDim,
    W: ConstDim,
    (C, H, W): FlatOut,
    E: Dtype,
    D: Device<E>,
    T: Tape<E, D>,
{
    type Output = Tensor<(B, <(C, H, W) as FlatOut>::Output), E, D, T>;
    type Error = D::Err;

    fn try_forward(&self, x: Tensor<(B, C, H, W), E, D, T>) -> Result<Self::Output, D::Err> {
        let batch = x.shape().0;
        x.try_reshape_like(&(batch, Default::default()))
    }
}
