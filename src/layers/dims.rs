//! Shape arithmetic as types, so that every layer's output shape is known to the compiler.
//!
//! On nightly, dfdx writes `Const<{ (H - K) / S + 1 }>`; stable Rust cannot compute with const
//! generics, so `build.rs` writes one impl per size instead. A size outside the table (or a shape
//! that does not fit, such as a 3x3 kernel on a 2x2 image) is a compile error that names the
//! missing impl, for example ``the trait `ConvOut<3>` is not implemented for `Const<2>` ``.
use dfdx::shapes::{Const, ConstDim};

/// A side of `N` pixels after a `K`x`K` convolution with stride 1 and no padding: `N - K + 1`.
pub trait ConvOut<const K: usize>: ConstDim {
    type Output: ConstDim;
}

/// A side of `N` pixels after `K`x`K` max pooling with stride `K`: `N / K` (a remainder is
/// dropped, as Keras's `padding="valid"` and PyTorch's default do).
pub trait PoolOut<const K: usize>: ConstDim {
    type Output: ConstDim;
}

/// The length of a `(channels, height, width)` feature map laid flat: `C * H * W`.
pub trait FlatOut {
    type Output: ConstDim;
}

include!(concat!(env!("OUT_DIR"), "/dims.rs"));
