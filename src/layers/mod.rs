//! The layers of a network, one per file, as dfdx modules on stable Rust (dfdx offers `Conv2D`
//! and pooling only on nightly), and [`Layer`], which makes any tuple of them a network's stack:
//! `Conv2D` (stride, `Valid`/`Same` padding), `MaxPool2D`, `AvgPool2D`, `Flatten`, `Dense`,
//! `ReLU`, `Sigmoid`, `Tanh`, `Dropout`, `BatchNorm2D`. Their output shapes are types, checked by
//! the compiler; they compose with dfdx's tape, losses and safetensors.
mod activation;
mod avg_pool;
mod batchnorm;
mod conv;
mod dense;
pub mod dims;
mod dropout;
mod flatten;
mod fused;
pub(crate) mod kernels;
pub mod node;
mod pool;
mod pooling;
pub mod stack;
mod tape;

pub use activation::{ReLU, Sigmoid, Tanh};
pub use avg_pool::AvgPool2D;
pub use batchnorm::BatchNorm2D;
pub use conv::{Conv2D, PendingConv};
pub use dense::Dense;
pub use dims::{Flat, Same, Valid};
pub use dropout::Dropout;
pub use flatten::Flatten;
pub use fused::{conv_relu_pool, InputGradient, PooledMaps};
pub use node::{thousands, LayerSummary, Node, Op, Summary};
pub use pool::MaxPool2D;
pub use stack::{Ctx, Flow, Layer, Ready};

/// The layers' builders, for dfdx's `dev.build_module::<(Conv2D<1, 32, 3>, ...), f32>()`.
pub mod builder {
    pub use super::conv::builder::Conv2D;
    pub use super::dense::builder::Dense;
}
