//! The layers that dfdx offers only on nightly Rust (`Conv2D`, `MaxPool2D`, `Flatten`), written
//! for stable Rust as dfdx modules, and `Dense` (dfdx's `Linear` with faster matrix products):
//! they compose with dfdx's `ReLU`, losses, tape and safetensors, and their output shapes are
//! checked by the compiler.
mod conv;
mod dense;
pub mod dims;
mod flatten;
mod fused;
pub(crate) mod kernels;
mod pool;

pub use conv::Conv2D;
pub use dense::Dense;

/// The layers' builders, used in model types (`Conv2D<1, 32, 3>`, `Dense<5408, 128>`).
pub mod builder {
    pub use super::conv::builder::Conv2D;
    pub use super::dense::builder::Dense;
}
pub use flatten::Flatten;
pub use fused::{conv_relu_pool, InputGradient, PooledMaps};
pub use pool::MaxPool2D;
