//! The layers that dfdx offers only on nightly Rust (`Conv2D`, `MaxPool2D`, `Flatten`), written
//! for stable Rust as dfdx modules: they compose with dfdx's `Linear`, `ReLU`, optimisers and
//! safetensors, and their output shapes are checked by the compiler.
mod conv;
pub mod dims;
mod flatten;
mod fused;
pub(crate) mod kernels;
mod pool;

pub use conv::{builder, Conv2D};
pub use flatten::Flatten;
pub use fused::{conv_relu_pool, InputGradient, PooledMaps};
pub use pool::MaxPool2D;
