//! The lesson's ending: the trained network as files that other runtimes (a phone app, a web
//! page, Python) can run, in the two formats mobile apps use.
//!
//! - **ONNX** (`.onnx`, opset 13): input `image`, float `[batch, 1, 28, 28]` (channels first,
//!   as this library and PyTorch hold images), pixels 0..1; output `probabilities`, `[batch, 10]`.
//! - **TensorFlow Lite** (`.tflite`, the lesson's format): input `image`, float `[1, 28, 28, 1]`
//!   (channels last, as Keras and TFLite hold images), pixels 0..1; output `probabilities`,
//!   `[1, 10]`. Conv2D, Dense and pooling carry a following ReLU fused, as TFLite's converter does.
//!
//! Both end with the softmax, so an app reads probabilities directly. Both are written from the
//! network's own description of its layers ([`Network::nodes`]), so any network of the library
//! exports, straight from the formats' schemas: ONNX with a small protobuf encoder
//! (`protobuf.rs`), TFLite with the `flatbuffers` crate's builder (`flatbuf.rs`), every field
//! named after onnx.proto3 or schema.fbs. A network is a few well-known operations, and writing
//! them needs no converter and no Python. Dropout is left out (it does nothing at inference).
//! The graph is named after the file (`models/lesson.onnx`: `mnist-cnn lesson`).
use std::path::Path;

use crate::error::Result;
use crate::fsutil::write_atomic;
use crate::layers::{Node, Op};
use crate::model::Network;

mod flatbuf;
mod onnx;
mod protobuf;
mod tflite;
pub mod web;

/// The ONNX file of `model`, written atomically.
pub fn write_onnx<N: Network>(model: &N, path: &Path) -> Result<()> {
    write_atomic(path, &onnx::model(&inference_nodes(model), &graph_name(path)))
}

/// The TFLite file of `model`, written atomically.
pub fn write_tflite<N: Network>(model: &N, path: &Path) -> Result<()> {
    write_atomic(path, &tflite::model(&inference_nodes(model), &graph_name(path)))
}

/// The bytes of the file a web page runs `model` from ([`web`]; `serve` and `page` serve and
/// write it as `model.web`).
pub fn web_bytes<N: Network>(model: &N) -> Vec<u8> {
    web::model(&inference_nodes(model))
}

/// The layers that compute something at inference.
fn inference_nodes<N: Network>(model: &N) -> Vec<Node> {
    model.nodes().into_iter().filter(|n| !matches!(n.op, Op::Dropout { .. })).collect()
}

fn graph_name(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into())
}

fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Batch normalisation as one multiplication and one addition per channel:
/// `x * a + b` with `a = scale / sqrt(var + eps)`, `b = bias - mean * a`.
fn batch_norm_affine(scale: &[f32], bias: &[f32], mean: &[f32], var: &[f32], epsilon: f32) -> (Vec<f32>, Vec<f32>) {
    let a: Vec<f32> = scale.iter().zip(var).map(|(s, v)| s / (v + epsilon).sqrt()).collect();
    let b = bias.iter().zip(mean).zip(&a).map(|((b, m), a)| b - m * a).collect();
    (a, b)
}

/// Writes what another runtime's answers are checked against: `dir/{name}.images.f32` (the
/// images of `split` as 0..1 floats, little-endian, image after image) and
/// `dir/{name}.probabilities.f32` (the library's ten probabilities for each).
pub fn write_reference<N: Network>(model: &N, split: &crate::data::Split, dir: &Path, name: &str) -> Result<()> {
    let pixels: Vec<f32> = split.images.iter().map(|&p| crate::data::normalise(p)).collect();
    let probs = crate::model::predict_all(model, split).concat();
    write_atomic(&dir.join(format!("{name}.images.f32")), &le_bytes(&pixels))?;
    write_atomic(&dir.join(format!("{name}.probabilities.f32")), &le_bytes(&probs))
}
