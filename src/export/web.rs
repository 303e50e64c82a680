//! The network for a web page to run itself (`serve/nn.js`), with no server: its layers as
//! JSON and its weights as float32, in one file that a page fetches once and a phone keeps.
//!
//! Layout: the eight bytes `MNISTWEB`, the JSON's length (u32, little-endian), the JSON (UTF-8,
//! padded with spaces to a multiple of four bytes), then every weight as a little-endian f32.
//! The JSON is `{"format": 1, "input": [1, 28, 28], "layers": [...]}`; each layer has its `op`
//! (the names of [`Op`]), its settings, its output `shape`, and each of its tensors as
//! `[offset, length]` counted in floats from the start of the weights. The output is the
//! network's ten scores: the page applies the softmax, as the other exports do.
use serde_json::{json, Value};

use crate::layers::{Node, Op};

/// The first bytes of the file.
pub const MAGIC: &[u8; 8] = b"MNISTWEB";

/// The file's bytes for `nodes` (the layers that compute at inference).
pub fn model(nodes: &[Node]) -> Vec<u8> {
    let mut weights: Vec<f32> = Vec::new();
    let mut tensor = |values: &[f32]| -> Value {
        let at = weights.len();
        weights.extend_from_slice(values);
        json!([at, values.len()])
    };
    let layers: Vec<Value> = nodes
        .iter()
        .map(|node| {
            let mut layer = match &node.op {
                Op::Conv2D { weight, bias, inp, out, k, stride, pads, .. } => json!({
                    "op": "Conv2D", "inp": inp, "out": out, "k": k, "stride": stride, "pads": pads,
                    "weight": tensor(weight), "bias": tensor(bias),
                }),
                Op::Dense { weight, bias, inp, out } => json!({ "op": "Dense", "inp": inp, "out": out, "weight": tensor(weight), "bias": tensor(bias) }),
                Op::MaxPool2D { k, stride } => json!({ "op": "MaxPool2D", "k": k, "stride": stride }),
                Op::AvgPool2D { k, stride } => json!({ "op": "AvgPool2D", "k": k, "stride": stride }),
                Op::BatchNorm2D { scale, bias, mean, var, epsilon } => json!({
                    "op": "BatchNorm2D", "epsilon": epsilon,
                    "scale": tensor(scale), "bias": tensor(bias), "mean": tensor(mean), "var": tensor(var),
                }),
                Op::Dropout { .. } => json!({ "op": "Dropout" }),
                op @ (Op::ReLU | Op::Sigmoid | Op::Tanh | Op::Flatten) => json!({ "op": op.name() }),
            };
            layer["shape"] = json!(node.shape);
            layer
        })
        .collect();
    let mut head = json!({ "format": 1, "input": [1, crate::data::SIDE, crate::data::SIDE], "layers": layers }).to_string().into_bytes();
    while !head.len().is_multiple_of(4) {
        head.push(b' ');
    }
    let mut bytes = Vec::with_capacity(12 + head.len() + 4 * weights.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(head.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&head);
    bytes.extend_from_slice(&super::le_bytes(&weights));
    bytes
}
