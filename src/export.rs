//! The lesson's ending: the trained network as files that other runtimes (a phone app, a web
//! page, Python) can run, in the two formats mobile apps use.
//!
//! - **ONNX** (`.onnx`, opset 13): input `image`, float `[batch, 1, 28, 28]` (channels first,
//!   as this library and PyTorch hold images), pixels 0..1; output `probabilities`, `[batch, 10]`.
//! - **TensorFlow Lite** (`.tflite`, the lesson's format): input `image`, float `[1, 28, 28, 1]`
//!   (channels last, as Keras and TFLite hold images), pixels 0..1; output `probabilities`,
//!   `[1, 10]`. Conv2D and Dense carry their ReLU fused, as TFLite's converter does.
//!
//! Both end with the softmax, so an app reads probabilities directly. Both files are written by
//! hand from the format's schema (protobuf for ONNX, FlatBuffers for TFLite): the network is five
//! well-known operations, and writing them needs no converter and no Python.
use std::path::Path;

use dfdx::prelude::*;

use crate::better::BetterModel;
use crate::data::SIDE;
use crate::error::Result;
use crate::fsutil::write_atomic;
use crate::model::{Model, Network};

/// One layer of a network, with its weights, as the exporters see it.
#[derive(Debug, Clone)]
pub enum Layer {
    /// `weight` is `[out, inp, k, k]`, `bias` is `[out]`; stride 1, no padding.
    Conv2D { weight: Vec<f32>, bias: Vec<f32>, inp: usize, out: usize, k: usize },
    ReLU,
    /// `k x k` blocks, stride `k`, the leftover row and column dropped.
    MaxPool2D { k: usize },
    /// Channels first: `[c, h, w]` to `c * h * w` values.
    Flatten,
    /// `weight` is `[out, inp]`, `bias` is `[out]`.
    Dense { weight: Vec<f32>, bias: Vec<f32>, inp: usize, out: usize },
}

/// A network that can be written as ONNX and TFLite: its layers in order (dropout left out: it
/// does nothing at inference).
pub trait Export: Network {
    fn layers(&self) -> Vec<Layer>;
}

fn conv<const I: usize, const O: usize, const K: usize>(c: &crate::layers::Conv2D<I, O, K, f32, Cpu>) -> Layer {
    Layer::Conv2D { weight: c.weight.as_vec(), bias: c.bias.as_vec(), inp: I, out: O, k: K }
}

fn dense<const I: usize, const O: usize>(l: &crate::layers::Dense<I, O, f32, Cpu>) -> Layer {
    Layer::Dense { weight: l.weight.as_vec(), bias: l.bias.as_vec(), inp: I, out: O }
}

impl Export for Model {
    fn layers(&self) -> Vec<Layer> {
        vec![
            conv(&self.0 .0),
            Layer::ReLU,
            Layer::MaxPool2D { k: 2 },
            Layer::Flatten,
            dense(&self.3 .0),
            Layer::ReLU,
            dense(&self.4),
        ]
    }
}

impl Export for BetterModel {
    fn layers(&self) -> Vec<Layer> {
        vec![
            conv(&self.0 .0 .0),
            Layer::ReLU,
            Layer::MaxPool2D { k: 2 },
            conv(&self.1 .0 .0),
            Layer::ReLU,
            Layer::MaxPool2D { k: 2 },
            conv(&self.2 .0),
            Layer::ReLU,
            Layer::Flatten,
            dense(&self.4 .0 .0),
            Layer::ReLU,
            dense(&self.4 .2),
        ]
    }
}

/// The ONNX file of `model`, written atomically.
pub fn write_onnx<N: Export>(model: &N, path: &Path) -> Result<()> {
    write_atomic(path, &onnx(&model.layers(), N::NAME))
}

/// The TFLite file of `model`, written atomically.
pub fn write_tflite<N: Export>(model: &N, path: &Path) -> Result<()> {
    write_atomic(path, &tflite(&model.layers(), N::NAME))
}

fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

// ---------------------------------------------------------------------------------------------
// ONNX: a protobuf message (onnx.proto3, ModelProto), encoded field by field.

/// A protobuf message being written: each field is a tag (number and wire type) and a value.
#[derive(Default)]
struct Proto(Vec<u8>);

impl Proto {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn int(mut self, field: u32, v: i64) -> Self {
        self.varint((field as u64) << 3);
        self.varint(v as u64);
        self
    }
    fn ints(self, field: u32, vs: &[i64]) -> Self {
        vs.iter().fold(self, |p, &v| p.int(field, v))
    }
    fn bytes(mut self, field: u32, b: &[u8]) -> Self {
        self.varint((field as u64) << 3 | 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }
    fn str(self, field: u32, s: &str) -> Self {
        self.bytes(field, s.as_bytes())
    }
    fn msg(self, field: u32, m: Proto) -> Self {
        self.bytes(field, &m.0)
    }
}

/// ONNX's `TensorProto.DataType.FLOAT`.
const ONNX_FLOAT: i64 = 1;

fn onnx_tensor(name: &str, dims: &[usize], values: &[f32]) -> Proto {
    let dims: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
    Proto::default().ints(1, &dims).int(2, ONNX_FLOAT).str(8, name).bytes(9, &le_bytes(values))
}

/// A `ValueInfoProto` of a float tensor; `None` dimensions are the symbolic `batch`.
fn onnx_value(name: &str, dims: &[Option<usize>]) -> Proto {
    let shape = dims.iter().fold(Proto::default(), |s, d| {
        let dim = match d {
            Some(v) => Proto::default().int(1, *v as i64),
            None => Proto::default().str(2, "batch"),
        };
        s.msg(1, dim)
    });
    let tensor_type = Proto::default().int(1, ONNX_FLOAT).msg(2, shape);
    Proto::default().str(1, name).msg(2, Proto::default().msg(1, tensor_type))
}

fn onnx_ints_attr(name: &str, vs: &[i64]) -> Proto {
    Proto::default().str(1, name).int(20, 7).ints(8, vs)
}

fn onnx_int_attr(name: &str, v: i64) -> Proto {
    Proto::default().str(1, name).int(20, 2).int(3, v)
}

fn onnx_node(op: &str, name: &str, inputs: &[&str], output: &str, attrs: Vec<Proto>) -> Proto {
    let node = inputs.iter().fold(Proto::default(), |n, i| n.str(1, i)).str(2, output).str(3, name).str(4, op);
    attrs.into_iter().fold(node, |n, a| n.msg(5, a))
}

fn onnx(layers: &[Layer], name: &str) -> Vec<u8> {
    let mut graph = Proto::default();
    let mut inits = Vec::new();
    let mut x = "image".to_string();
    for (i, layer) in layers.iter().enumerate() {
        let y = format!("{}_{i}", layer_name(layer));
        let node = match layer {
            Layer::Conv2D { weight, bias, inp, out, k } => {
                let (w, b) = (format!("conv_{i}.weight"), format!("conv_{i}.bias"));
                inits.push(onnx_tensor(&w, &[*out, *inp, *k, *k], weight));
                inits.push(onnx_tensor(&b, &[*out], bias));
                let attrs = vec![
                    onnx_ints_attr("kernel_shape", &[*k as i64, *k as i64]),
                    onnx_ints_attr("strides", &[1, 1]),
                    onnx_ints_attr("pads", &[0, 0, 0, 0]),
                ];
                onnx_node("Conv", &y, &[&x, &w, &b], &y, attrs)
            }
            Layer::ReLU => onnx_node("Relu", &y, &[&x], &y, vec![]),
            Layer::MaxPool2D { k } => {
                let k = *k as i64;
                let attrs = vec![onnx_ints_attr("kernel_shape", &[k, k]), onnx_ints_attr("strides", &[k, k])];
                onnx_node("MaxPool", &y, &[&x], &y, attrs)
            }
            Layer::Flatten => onnx_node("Flatten", &y, &[&x], &y, vec![onnx_int_attr("axis", 1)]),
            Layer::Dense { weight, bias, inp, out } => {
                let (w, b) = (format!("dense_{i}.weight"), format!("dense_{i}.bias"));
                inits.push(onnx_tensor(&w, &[*out, *inp], weight));
                inits.push(onnx_tensor(&b, &[*out], bias));
                onnx_node("Gemm", &y, &[&x, &w, &b], &y, vec![onnx_int_attr("transB", 1)])
            }
        };
        graph = graph.msg(1, node);
        x = y;
    }
    graph = graph.msg(1, onnx_node("Softmax", "softmax", &[&x], "probabilities", vec![onnx_int_attr("axis", 1)]));
    graph = graph.str(2, &format!("mnist-cnn {name}"));
    graph = inits.into_iter().fold(graph, |g, t| g.msg(5, t));
    graph = graph.str(10, "Handwritten digit in, ten probabilities out. Input: pixels 0..1, white digit on black.");
    graph = graph.msg(11, onnx_value("image", &[None, Some(1), Some(SIDE), Some(SIDE)]));
    graph = graph.msg(12, onnx_value("probabilities", &[None, Some(10)]));
    Proto::default()
        .int(1, 8) // ir_version 8 (ONNX 1.10+)
        .str(2, "mnist-cnn")
        .str(3, env!("CARGO_PKG_VERSION"))
        .msg(7, graph)
        .msg(8, Proto::default().str(1, "").int(2, 13)) // opset 13
        .0
}

fn layer_name(layer: &Layer) -> &'static str {
    match layer {
        Layer::Conv2D { .. } => "conv",
        Layer::ReLU => "relu",
        Layer::MaxPool2D { .. } => "maxpool",
        Layer::Flatten => "flatten",
        Layer::Dense { .. } => "dense",
    }
}

// ---------------------------------------------------------------------------------------------
// TFLite: a FlatBuffer (tensorflow/lite/schema/schema.fbs), written front to back.

/// A FlatBuffers value: what a table field or a vector holds.
enum Fb {
    I8(i8),
    U8(u8),
    I32(i32),
    U32(u32),
    F32(f32),
    Table(Table),
    Str(String),
    Ints(Vec<i32>),
    /// Bytes, aligned to 16 (TFLite's `force_align: 16` on buffer data).
    Bytes(Vec<u8>),
    Tables(Vec<Table>),
}

/// A table: `(field id, value)` pairs (ids are the order of the fields in the schema).
#[derive(Default)]
struct Table(Vec<(usize, Fb)>);

impl Table {
    fn with(mut self, id: usize, v: Fb) -> Self {
        self.0.push((id, v));
        self
    }
}

/// Serialises tables with children after their parents, so every offset points forward (as the
/// format's unsigned offsets require) and every scalar sits at a multiple of its size.
struct FbWriter {
    buf: Vec<u8>,
}

impl FbWriter {
    fn finish(root: Table, identifier: &[u8; 4]) -> Vec<u8> {
        let mut w = FbWriter { buf: vec![0; 8] };
        w.buf[4..8].copy_from_slice(identifier);
        w.object(0, Fb::Table(root));
        w.buf
    }

    fn align(&mut self, to: usize) {
        while !self.buf.len().is_multiple_of(to) {
            self.buf.push(0);
        }
    }

    fn put_u32(&mut self, at: usize, v: u32) {
        self.buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// Writes an object (table, string or vector) at the end and points the offset at `slot` to it.
    fn object(&mut self, slot: usize, v: Fb) {
        let start = match v {
            Fb::Table(t) => self.table(t),
            Fb::Str(s) => {
                self.align(4);
                let at = self.buf.len();
                self.buf.extend((s.len() as u32).to_le_bytes());
                self.buf.extend(s.as_bytes());
                self.buf.push(0);
                at
            }
            Fb::Ints(vs) => {
                self.align(4);
                let at = self.buf.len();
                self.buf.extend((vs.len() as u32).to_le_bytes());
                vs.iter().for_each(|v| self.buf.extend(v.to_le_bytes()));
                at
            }
            Fb::Bytes(bs) => {
                // The length sits just before the data, and the data starts on a multiple of 16.
                while !(self.buf.len() + 4).is_multiple_of(16) {
                    self.buf.push(0);
                }
                let at = self.buf.len();
                self.buf.extend((bs.len() as u32).to_le_bytes());
                self.buf.extend(bs);
                at
            }
            Fb::Tables(ts) => {
                self.align(4);
                let at = self.buf.len();
                self.buf.extend((ts.len() as u32).to_le_bytes());
                let slots: Vec<usize> = ts.iter().map(|_| { self.buf.extend([0; 4]); self.buf.len() - 4 }).collect();
                for (slot, t) in slots.into_iter().zip(ts) {
                    self.object(slot, Fb::Table(t));
                }
                at
            }
            _ => unreachable!("scalars live inside tables"),
        };
        self.put_u32(slot, (start - slot) as u32);
    }

    /// A vtable (field offsets) followed by the table: its offset back to the vtable, then the
    /// fields, scalars inline and objects by offset, written after it.
    fn table(&mut self, t: Table) -> usize {
        let size = |v: &Fb| match v {
            Fb::I8(_) | Fb::U8(_) => 1,
            _ => 4,
        };
        // Lay the fields out: 4 bytes of vtable offset first, then each field at a multiple of its size.
        let mut layout = Vec::new();
        let mut at: usize = 4;
        for (id, v) in &t.0 {
            let s = size(v);
            at = at.div_ceil(s) * s;
            layout.push((*id, at));
            at += s;
        }
        let table_len = at.div_ceil(4) * 4;
        let slots = t.0.iter().map(|(id, _)| id + 1).max().unwrap_or(0);
        self.align(4);
        let vtable = self.buf.len();
        self.buf.extend(((4 + 2 * slots) as u16).to_le_bytes());
        self.buf.extend((table_len as u16).to_le_bytes());
        let mut offsets = vec![0u16; slots];
        for &(id, off) in &layout {
            offsets[id] = off as u16;
        }
        offsets.iter().for_each(|o| self.buf.extend(o.to_le_bytes()));
        self.align(4);
        let table = self.buf.len();
        self.buf.resize(table + table_len, 0);
        self.buf[table..table + 4].copy_from_slice(&((table - vtable) as i32).to_le_bytes());
        let mut children = Vec::new();
        for ((_, v), &(_, off)) in t.0.into_iter().zip(&layout) {
            let p = table + off;
            match v {
                Fb::I8(x) => self.buf[p] = x as u8,
                Fb::U8(x) => self.buf[p] = x,
                Fb::I32(x) => self.buf[p..p + 4].copy_from_slice(&x.to_le_bytes()),
                Fb::U32(x) => self.buf[p..p + 4].copy_from_slice(&x.to_le_bytes()),
                Fb::F32(x) => self.buf[p..p + 4].copy_from_slice(&x.to_le_bytes()),
                object => children.push((p, object)),
            }
        }
        for (p, object) in children {
            self.object(p, object);
        }
        table
    }
}

// The numbers of schema.fbs.
const OP_CONV_2D: i32 = 3;
const OP_FULLY_CONNECTED: i32 = 9;
const OP_MAX_POOL_2D: i32 = 17;
const OP_RESHAPE: i32 = 22;
const OP_SOFTMAX: i32 = 25;
const OPTIONS_CONV_2D: u8 = 1;
const OPTIONS_POOL_2D: u8 = 5;
const OPTIONS_FULLY_CONNECTED: u8 = 8;
const OPTIONS_SOFTMAX: u8 = 9;
const OPTIONS_RESHAPE: u8 = 17;
const TYPE_FLOAT32: i8 = 0;
const TYPE_INT32: i8 = 2;
const PADDING_VALID: i8 = 1;
const ACT_NONE: i8 = 0;
const ACT_RELU: i8 = 1;

/// The tensors, buffers and operators of a TFLite subgraph as they are added.
#[derive(Default)]
struct TfGraph {
    tensors: Vec<Table>,
    /// Buffer 0 is the empty buffer that every computed tensor points at.
    buffers: Vec<Table>,
    operators: Vec<Table>,
    opcodes: Vec<i32>,
}

impl TfGraph {
    /// A tensor; with `data`, a constant with its own buffer.
    fn tensor(&mut self, name: &str, shape: &[usize], kind: i8, data: Option<Vec<u8>>) -> i32 {
        let buffer = match data {
            Some(bytes) => {
                self.buffers.push(Table::default().with(0, Fb::Bytes(bytes)));
                self.buffers.len() as u32 - 1
            }
            None => 0,
        };
        let shape = shape.iter().map(|&d| d as i32).collect();
        let t = Table::default().with(0, Fb::Ints(shape)).with(1, Fb::I8(kind)).with(2, Fb::U32(buffer)).with(3, Fb::Str(name.into()));
        self.tensors.push(t);
        self.tensors.len() as i32 - 1
    }

    fn op(&mut self, code: i32, inputs: Vec<i32>, output: i32, options_type: u8, options: Table) {
        let index = self.opcodes.iter().position(|&c| c == code).unwrap_or_else(|| {
            self.opcodes.push(code);
            self.opcodes.len() - 1
        });
        self.operators.push(
            Table::default()
                .with(0, Fb::U32(index as u32))
                .with(1, Fb::Ints(inputs))
                .with(2, Fb::Ints(vec![output]))
                .with(3, Fb::U8(options_type))
                .with(4, Fb::Table(options)),
        );
    }
}

fn tflite(layers: &[Layer], name: &str) -> Vec<u8> {
    let mut g = TfGraph { buffers: vec![Table::default()], ..TfGraph::default() };
    // Channels last: [1, h, w, c].
    let (mut h, mut w, mut c) = (SIDE, SIDE, 1);
    let input = g.tensor("image", &[1, SIDE, SIDE, 1], TYPE_FLOAT32, None);
    let mut x = input;
    // Set by Flatten: the [c, h, w] the next Dense's inputs came from in channels-first order.
    let mut flattened: Option<(usize, usize, usize)> = None;
    let mut i = 0;
    while i < layers.len() {
        let relu = matches!(layers.get(i + 1), Some(Layer::ReLU));
        let act = if relu { ACT_RELU } else { ACT_NONE };
        match &layers[i] {
            Layer::Conv2D { weight, bias, inp, out, k } => {
                // [out, inp, k, k] -> [out, k, k, inp]
                let mut ohwi = vec![0.0; weight.len()];
                for o in 0..*out {
                    for ci in 0..*inp {
                        for y in 0..*k {
                            for xx in 0..*k {
                                ohwi[((o * k + y) * k + xx) * inp + ci] = weight[((o * inp + ci) * k + y) * k + xx];
                            }
                        }
                    }
                }
                let wt = g.tensor(&format!("conv_{i}.weight"), &[*out, *k, *k, *inp], TYPE_FLOAT32, Some(le_bytes(&ohwi)));
                let bt = g.tensor(&format!("conv_{i}.bias"), &[*out], TYPE_FLOAT32, Some(le_bytes(bias)));
                (h, w, c) = (h - k + 1, w - k + 1, *out);
                let y = g.tensor(&format!("conv_{i}"), &[1, h, w, c], TYPE_FLOAT32, None);
                let options = Table::default()
                    .with(0, Fb::I8(PADDING_VALID))
                    .with(1, Fb::I32(1))
                    .with(2, Fb::I32(1))
                    .with(3, Fb::I8(act))
                    .with(4, Fb::I32(1))
                    .with(5, Fb::I32(1));
                g.op(OP_CONV_2D, vec![x, wt, bt], y, OPTIONS_CONV_2D, options);
                x = y;
            }
            Layer::MaxPool2D { k } => {
                (h, w) = (h / k, w / k);
                let y = g.tensor(&format!("maxpool_{i}"), &[1, h, w, c], TYPE_FLOAT32, None);
                let k = *k as i32;
                let options = Table::default()
                    .with(0, Fb::I8(PADDING_VALID))
                    .with(1, Fb::I32(k))
                    .with(2, Fb::I32(k))
                    .with(3, Fb::I32(k))
                    .with(4, Fb::I32(k))
                    .with(5, Fb::I8(act));
                g.op(OP_MAX_POOL_2D, vec![x], y, OPTIONS_POOL_2D, options);
                x = y;
            }
            Layer::Flatten => {
                let n = (h * w * c) as i32;
                let shape = g.tensor(&format!("flatten_{i}.shape"), &[2], TYPE_INT32, Some([1i32, n].iter().flat_map(|v| v.to_le_bytes()).collect()));
                let y = g.tensor(&format!("flatten_{i}"), &[1, n as usize], TYPE_FLOAT32, None);
                g.op(OP_RESHAPE, vec![x, shape], y, OPTIONS_RESHAPE, Table::default().with(0, Fb::Ints(vec![1, n])));
                flattened = Some((c, h, w));
                x = y;
            }
            Layer::Dense { weight, bias, inp, out } => {
                // After a channels-last Flatten, input j = (y * w + x) * c + ch holds what was
                // input (ch * h + y) * w + x of the channels-first network.
                let weight = match flattened.take() {
                    Some((fc, fh, fw)) => {
                        let mut hwc = vec![0.0; weight.len()];
                        for o in 0..*out {
                            for ch in 0..fc {
                                for yy in 0..fh {
                                    for xx in 0..fw {
                                        hwc[o * inp + (yy * fw + xx) * fc + ch] = weight[o * inp + (ch * fh + yy) * fw + xx];
                                    }
                                }
                            }
                        }
                        hwc
                    }
                    None => weight.clone(),
                };
                let wt = g.tensor(&format!("dense_{i}.weight"), &[*out, *inp], TYPE_FLOAT32, Some(le_bytes(&weight)));
                let bt = g.tensor(&format!("dense_{i}.bias"), &[*out], TYPE_FLOAT32, Some(le_bytes(bias)));
                let y = g.tensor(&format!("dense_{i}"), &[1, *out], TYPE_FLOAT32, None);
                g.op(OP_FULLY_CONNECTED, vec![x, wt, bt], y, OPTIONS_FULLY_CONNECTED, Table::default().with(0, Fb::I8(act)));
                x = y;
            }
            Layer::ReLU => unreachable!("a ReLU follows a Conv2D or a Dense and is fused into it"),
        }
        i += if relu { 2 } else { 1 };
    }
    let output = g.tensor("probabilities", &[1, 10], TYPE_FLOAT32, None);
    g.op(OP_SOFTMAX, vec![x], output, OPTIONS_SOFTMAX, Table::default().with(0, Fb::F32(1.0)));

    let opcodes = g
        .opcodes
        .iter()
        .map(|&code| Table::default().with(0, Fb::I8(code as i8)).with(2, Fb::I32(1)).with(3, Fb::I32(code)))
        .collect();
    let subgraph = Table::default()
        .with(0, Fb::Tables(g.tensors))
        .with(1, Fb::Ints(vec![input]))
        .with(2, Fb::Ints(vec![output]))
        .with(3, Fb::Tables(g.operators))
        .with(4, Fb::Str("main".into()));
    let model = Table::default()
        .with(0, Fb::U32(3))
        .with(1, Fb::Tables(opcodes))
        .with(2, Fb::Tables(vec![subgraph]))
        .with(3, Fb::Str(format!("mnist-cnn {name}: white digit on black, pixels 0..1, [1, 28, 28, 1] in, 10 probabilities out")))
        .with(4, Fb::Tables(g.buffers));
    FbWriter::finish(model, b"TFL3")
}
