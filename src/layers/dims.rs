//! Shape arithmetic as types, so that every layer's output shape is known to the compiler.
//!
//! On nightly, dfdx writes `Const<{ (H - K) / S + 1 }>`; stable Rust cannot compute with const
//! generics in types, so `build.rs` writes one impl per size instead. A size outside the table (or
//! a shape that does not fit, such as a 3x3 kernel on a 2x2 image) is a compile error that names
//! the missing impl, for example ``the trait `ConvOut<3, 1, Valid>` is not implemented for
//! `Const<2>` ``. `Flatten`'s length needs no table: [`Flat`] carries `C * H * W` as a constant.
use dfdx::shapes::{Const, ConstDim, Dim, Shape};

/// How a convolution treats the border, as Keras's `padding=` argument.
pub trait Padding: Copy + Default + std::fmt::Debug + Send + Sync + 'static {
    /// `"valid"` or `"same"`, as Keras writes it.
    const NAME: &'static str;
    /// Zero rows (or columns) added before and after a side of `n` pixels for a `k`-pixel window
    /// moved `s` at a time.
    fn pads(n: usize, k: usize, s: usize) -> (usize, usize);
}

/// No padding: only the windows that fit inside the image (Keras's `padding="valid"`, PyTorch's
/// `padding=0`). A side of `N` becomes `(N - K) / S + 1`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Valid;

/// Zeros around the image so that a side of `N` becomes `ceil(N / S)` (for stride 1: the same
/// size), the extra zero after rather than before when the total is odd, as Keras's and
/// TensorFlow's `padding="same"` (PyTorch's `padding=K/2` for odd `K` and stride 1).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Same;

impl Padding for Valid {
    const NAME: &'static str = "valid";
    fn pads(_: usize, _: usize, _: usize) -> (usize, usize) {
        (0, 0)
    }
}

impl Padding for Same {
    const NAME: &'static str = "same";
    fn pads(n: usize, k: usize, s: usize) -> (usize, usize) {
        let out = n.div_ceil(s);
        let total = ((out - 1) * s + k).saturating_sub(n);
        (total / 2, total - total / 2)
    }
}

/// A side of `N` pixels after a `K`x`K` convolution moved `S` pixels at a time with padding `P`.
#[diagnostic::on_unimplemented(
    message = "a {K}x{K} convolution (stride {S}, padding `{P}`) does not fit a side of `{Self}`",
    label = "no convolution output size for this input",
    note = "with padding `Valid` the kernel must not be larger than the image; sides up to 64, kernels up to 7 and strides up to 4 are supported"
)]
pub trait ConvOut<const K: usize, const S: usize, P: Padding>: ConstDim {
    type Output: ConstDim;
}

/// A side of `N` pixels after `K`x`K` pooling moved `S` pixels at a time: `(N - K) / S + 1` (a
/// remainder is dropped, as Keras's `padding="valid"` and PyTorch's default do).
#[diagnostic::on_unimplemented(
    message = "a {K}x{K} pooling window (stride {S}) does not fit a side of `{Self}`",
    label = "no pooling output size for this input",
    note = "the window must not be larger than the feature map; windows up to 4, strides up to 4 and sides up to 64 are supported"
)]
pub trait PoolOut<const K: usize, const S: usize>: ConstDim {
    type Output: ConstDim;
}

include!(concat!(env!("OUT_DIR"), "/dims.rs"));

/// The length of `C` feature maps of `H x W` laid flat: `C * H * W` values, as a dimension the
/// compiler knows. `Dense<I, O>` after `Flatten` checks at compile time that `I` is this length.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flat<const C: usize, const H: usize, const W: usize>;

impl<const C: usize, const H: usize, const W: usize> Dim for Flat<C, H, W> {
    fn size(&self) -> usize {
        C * H * W
    }
    fn from_size(size: usize) -> Option<Self> {
        (size == C * H * W).then_some(Flat)
    }
}

impl<const C: usize, const H: usize, const W: usize> ConstDim for Flat<C, H, W> {
    const SIZE: usize = C * H * W;
}

/// The shape of one example as a layer sees it: `(C, H, W)` feature maps or `(N,)` values, with
/// the batch axis put in front for the tensors that carry a batch.
pub trait ImageShape: Shape + Default {
    /// `(usize, ...Self)`: a batch of any size.
    type Batched: Shape;
    /// The batched shape for `n` examples.
    fn batched(n: usize) -> Self::Batched;
}

impl<N: ConstDim> ImageShape for (N,) {
    type Batched = (usize, N);
    fn batched(n: usize) -> Self::Batched {
        (n, N::default())
    }
}

impl<C: ConstDim, H: ConstDim, W: ConstDim> ImageShape for (C, H, W) {
    type Batched = (usize, C, H, W);
    fn batched(n: usize) -> Self::Batched {
        (n, C::default(), H::default(), W::default())
    }
}

/// A `(C, H, W)` shape whose sides pass through a `K`x`K` convolution (stride `S`, padding `P`)
/// into `OUT` channels.
pub type ConvShape<const OUT: usize, H, W, const K: usize, const S: usize, P> =
    (Const<OUT>, <H as ConvOut<K, S, P>>::Output, <W as ConvOut<K, S, P>>::Output);
