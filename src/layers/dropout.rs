//! `Dropout`: in training, switch off a random share of the values.
use dfdx::prelude::*;
use rand::RngCore;

use super::dims::ImageShape;
use super::node::{Node, Op};
use super::stack::{out_shape, Ctx, Flow, Layer, Ready};

/// In training, each value is set to 0 with probability `PERCENT / 100` and the others are
/// scaled by `100 / (100 - PERCENT)`, so the expected sum is unchanged; at inference the values
/// pass unchanged. It keeps the next layer from leaning on a few of its inputs. The masks come
/// from the training run's seeded generator, so a run (and a resumed run) is a function of its
/// seed.
///
/// Generics: `PERCENT`, the share dropped, 0 to 99 (`Dropout<50>` is Keras's `Dropout(0.5)`).
/// PyTorch: `nn.Dropout(p)`. No parameters.
#[derive(Debug, Default, Clone, Copy)]
pub struct Dropout<const PERCENT: usize>;

impl<const PERCENT: usize> ZeroSizedModule for Dropout<PERCENT> {}
impl<const PERCENT: usize> NonMutableModule for Dropout<PERCENT> {}

/// At inference (dfdx's `forward`): the identity.
impl<const PERCENT: usize, S: Shape, T: Tape<f32, Cpu>> Module<Tensor<S, f32, Cpu, T>> for Dropout<PERCENT> {
    type Output = Tensor<S, f32, Cpu, T>;
    type Error = CpuError;
    fn try_forward(&self, x: Tensor<S, f32, Cpu, T>) -> Result<Self::Output, CpuError> {
        Ok(x)
    }
}

impl<const PERCENT: usize> Dropout<PERCENT> {
    /// Kept when a 32-bit draw is at least this: `PERCENT / 100` of all draws fall below it
    /// (for 50, 2^31: the draws whose top bit is set, as `rng.gen::<bool>()` decides).
    const THRESHOLD: u64 = (PERCENT as u64) * (1 << 32) / 100;
    const SCALE: f32 = 100.0 / (100 - PERCENT) as f32;
}

impl<const PERCENT: usize, S: ImageShape> Layer<S> for Dropout<PERCENT> {
    type Out = S;
    type Next<F: Flow<Shape = S>> = Ready<S, F::Tape>;

    fn flow<F: Flow<Shape = S>>(&self, x: F, ctx: &mut Ctx) -> Self::Next<F> {
        const { assert!(PERCENT < 100, "Dropout<PERCENT>: PERCENT is the share dropped, 0 to 99") };
        let x = x.ready().tensor;
        let Some(rng) = ctx.rng.as_deref_mut() else {
            ctx.keep(&x);
            return Ready::new(x);
        };
        let mask: Vec<f32> = (0..x.shape().num_elements())
            .map(|_| if rng.next_u32() as u64 >= Self::THRESHOLD { Self::SCALE } else { 0.0 })
            .collect();
        let mask = x.device().tensor_from_vec(mask, *x.shape());
        let y = x * mask;
        ctx.keep(&y);
        Ready::new(y)
    }

    fn nodes(&self, nodes: &mut Vec<Node>) {
        nodes.push(Node { op: Op::Dropout { p: PERCENT as f32 / 100.0 }, shape: out_shape::<S, Self>(), params: 0 });
    }
}
