//! The arithmetic of the layers on plain `f32` slices in NCHW order, kept apart from the dfdx
//! plumbing so it can be read (and tested) as loops. Inner loops run along an image row, so the
//! compiler vectorises them. Some kernels are written for wider registers (chosen at run time,
//! [`crate::cpu::instruction_set`]): for AVX-512 and AVX2, the first layer's (the plain path's
//! numbers bit for bit) and Winograd's passes (the same loops compiled for each); for AVX2, the
//! winners-only gradients of `pooled` (adding in their own order, the same on every processor).
mod conv;
mod direct;
mod direct_grad;
mod geom;
mod lanes;
mod matmul;
mod pool;
mod pooled;
mod winograd;

pub(crate) use conv::{conv_backward, conv_backward_bias, conv_forward, ConvGeom, Filters};
pub(crate) use direct::{conv1_pool2_weight_grad, conv1_relu_pool2, pooled_bias_grad};
pub(crate) use matmul::matmul_strided;
pub(crate) use pooled::{padded_filters, pooled_input_grad, pooled_weight_grad};
pub(crate) use winograd::Kept;
pub(crate) use pool::{avg_pool_backward, avg_pool_forward, max_pool_backward, max_pool_forward, PoolGeom};
