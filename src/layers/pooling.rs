//! The pooling operation on tensors, with its backward pass on the tape: what [`super::MaxPool2D`]
//! and [`super::AvgPool2D`] compute, and the stack's pooling after a convolution it could not fuse.
use dfdx::prelude::*;

use super::kernels;
use super::tape::with_output_grad;

/// dfdx's `Module` for a pooling layer `$layer<K, S>` that keeps `$kind` of each window: the
/// same for max and average pooling but for the kind.
macro_rules! pooling_module {
    ($layer:ident, $kind:expr) => {
        impl<const K: usize, const S: usize> ZeroSizedModule for $layer<K, S> {}
        impl<const K: usize, const S: usize> NonMutableModule for $layer<K, S> {}

        impl<B, C, H, W, const K: usize, const S: usize, T> Module<Tensor<(B, C, H, W), f32, Cpu, T>> for $layer<K, S>
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
                Ok(pool(x, geom, (batch, chan, H::Output::default(), W::Output::default()), $kind))
            }
        }
    };
}
pub(crate) use pooling_module;

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
            with_output_grad!(grads, &y_g, |gy| {
                let gx = grads.get_or_alloc_mut(&x_g)?;
                match kind {
                    Pooling::Max => kernels::max_pool_backward(&argmax, &gy, gx),
                    Pooling::Average => kernels::avg_pool_backward(&geom, &gy, gx),
                }
                Ok(())
            })
        });
    }
    y.put_tape(tape)
}
