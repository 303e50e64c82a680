//! TFLite: a FlatBuffer (tensorflow/lite/schema/schema.fbs), written front to back. The field
//! ids and enum values are named after schema.fbs.
use super::{batch_norm_affine, le_bytes};
use crate::data::SIDE;
use crate::layers::{Node, Op};

/// Field ids of the schema's tables (a field's id is its position in the table).
mod field {
    pub const MODEL_VERSION: usize = 0;
    pub const MODEL_OPERATOR_CODES: usize = 1;
    pub const MODEL_SUBGRAPHS: usize = 2;
    pub const MODEL_DESCRIPTION: usize = 3;
    pub const MODEL_BUFFERS: usize = 4;
    pub const OPCODE_DEPRECATED_BUILTIN_CODE: usize = 0;
    pub const OPCODE_VERSION: usize = 2;
    pub const OPCODE_BUILTIN_CODE: usize = 3;
    pub const SUBGRAPH_TENSORS: usize = 0;
    pub const SUBGRAPH_INPUTS: usize = 1;
    pub const SUBGRAPH_OUTPUTS: usize = 2;
    pub const SUBGRAPH_OPERATORS: usize = 3;
    pub const SUBGRAPH_NAME: usize = 4;
    pub const TENSOR_SHAPE: usize = 0;
    pub const TENSOR_TYPE: usize = 1;
    pub const TENSOR_BUFFER: usize = 2;
    pub const TENSOR_NAME: usize = 3;
    pub const BUFFER_DATA: usize = 0;
    pub const OPERATOR_OPCODE_INDEX: usize = 0;
    pub const OPERATOR_INPUTS: usize = 1;
    pub const OPERATOR_OUTPUTS: usize = 2;
    pub const OPERATOR_OPTIONS_TYPE: usize = 3;
    pub const OPERATOR_OPTIONS: usize = 4;
    pub const CONV_PADDING: usize = 0;
    pub const CONV_STRIDE_W: usize = 1;
    pub const CONV_STRIDE_H: usize = 2;
    pub const CONV_ACTIVATION: usize = 3;
    pub const CONV_DILATION_W: usize = 4;
    pub const CONV_DILATION_H: usize = 5;
    pub const POOL_PADDING: usize = 0;
    pub const POOL_STRIDE_W: usize = 1;
    pub const POOL_STRIDE_H: usize = 2;
    pub const POOL_FILTER_W: usize = 3;
    pub const POOL_FILTER_H: usize = 4;
    pub const POOL_ACTIVATION: usize = 5;
    pub const FULLY_CONNECTED_ACTIVATION: usize = 0;
    pub const SOFTMAX_BETA: usize = 0;
    pub const RESHAPE_NEW_SHAPE: usize = 0;
    /// `AddOptions` and `MulOptions` alike.
    pub const ARITHMETIC_ACTIVATION: usize = 0;
}

// BuiltinOperator
const OP_ADD: i32 = 0;
const OP_AVERAGE_POOL_2D: i32 = 1;
const OP_CONV_2D: i32 = 3;
const OP_FULLY_CONNECTED: i32 = 9;
const OP_LOGISTIC: i32 = 14;
const OP_MAX_POOL_2D: i32 = 17;
const OP_MUL: i32 = 18;
const OP_RELU: i32 = 19;
const OP_RESHAPE: i32 = 22;
const OP_SOFTMAX: i32 = 25;
const OP_TANH: i32 = 28;
// BuiltinOptions (the union's tags)
const OPTIONS_CONV_2D: u8 = 1;
const OPTIONS_POOL_2D: u8 = 5;
const OPTIONS_FULLY_CONNECTED: u8 = 8;
const OPTIONS_SOFTMAX: u8 = 9;
const OPTIONS_ADD: u8 = 11;
const OPTIONS_RESHAPE: u8 = 17;
const OPTIONS_MUL: u8 = 21;
// TensorType, Padding, ActivationFunctionType
const TYPE_FLOAT32: i8 = 0;
const TYPE_INT32: i8 = 2;
const PADDING_SAME: i8 = 0;
const PADDING_VALID: i8 = 1;
const ACT_NONE: i8 = 0;
const ACT_RELU: i8 = 1;
/// The schema version the file declares.
const SCHEMA_VERSION: u32 = 3;

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
        use field::*;
        let buffer = match data {
            Some(bytes) => {
                self.buffers.push(Table::default().with(BUFFER_DATA, Fb::Bytes(bytes)));
                self.buffers.len() as u32 - 1
            }
            None => 0,
        };
        let shape = shape.iter().map(|&d| d as i32).collect();
        let t = Table::default()
            .with(TENSOR_SHAPE, Fb::Ints(shape))
            .with(TENSOR_TYPE, Fb::I8(kind))
            .with(TENSOR_BUFFER, Fb::U32(buffer))
            .with(TENSOR_NAME, Fb::Str(name.into()));
        self.tensors.push(t);
        self.tensors.len() as i32 - 1
    }

    /// A float constant `[values.len()]`.
    fn constant(&mut self, name: &str, values: &[f32]) -> i32 {
        self.tensor(name, &[values.len()], TYPE_FLOAT32, Some(le_bytes(values)))
    }

    /// An operator; `options` is the options table with its union tag, if the operator has one.
    fn op(&mut self, code: i32, inputs: Vec<i32>, output: i32, options: Option<(u8, Table)>) {
        use field::*;
        let index = self.opcodes.iter().position(|&c| c == code).unwrap_or_else(|| {
            self.opcodes.push(code);
            self.opcodes.len() - 1
        });
        let mut op = Table::default()
            .with(OPERATOR_OPCODE_INDEX, Fb::U32(index as u32))
            .with(OPERATOR_INPUTS, Fb::Ints(inputs))
            .with(OPERATOR_OUTPUTS, Fb::Ints(vec![output]));
        if let Some((kind, table)) = options {
            op = op.with(OPERATOR_OPTIONS_TYPE, Fb::U8(kind)).with(OPERATOR_OPTIONS, Fb::Table(table));
        }
        self.operators.push(op);
    }
}

/// `[1, h, w, c]` for a `[c, h, w]` shape (channels last), `[1, n]` for `[n]`.
fn nhwc(shape: &[usize]) -> Vec<usize> {
    match shape {
        [c, h, w] => vec![1, *h, *w, *c],
        other => std::iter::once(1).chain(other.iter().copied()).collect(),
    }
}

/// The `Model` of a network given by its inference layers.
pub(super) fn model(nodes: &[Node], name: &str) -> Vec<u8> {
    use field::*;
    let mut g = TfGraph { buffers: vec![Table::default()], ..TfGraph::default() };
    let input = g.tensor("image", &[1, SIDE, SIDE, 1], TYPE_FLOAT32, None);
    let mut x = input;
    // The [c, h, w] before the last Flatten: the next Dense reads its inputs in that order.
    let mut flattened: Option<(usize, usize, usize)> = None;
    let mut shape = vec![1, SIDE, SIDE];
    let mut i = 0;
    while i < nodes.len() {
        let node = &nodes[i];
        // A ReLU right after a Conv2D, Dense or pooling is fused into it, as TFLite's converter does.
        let fuses = matches!(node.op, Op::Conv2D { .. } | Op::Dense { .. } | Op::MaxPool2D { .. } | Op::AvgPool2D { .. });
        let relu = fuses && matches!(nodes.get(i + 1).map(|n| &n.op), Some(Op::ReLU));
        let act = if relu { ACT_RELU } else { ACT_NONE };
        let out_shape = nhwc(&node.shape);
        match &node.op {
            Op::Conv2D { weight, bias, inp, out, k, stride, padding, .. } => {
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
                let bt = g.constant(&format!("conv_{i}.bias"), bias);
                let y = g.tensor(&format!("conv_{i}"), &out_shape, TYPE_FLOAT32, None);
                // TFLite's SAME pads as Keras's (the extra row after): the library's `Same`.
                let pad = if *padding == "same" { PADDING_SAME } else { PADDING_VALID };
                let s = *stride as i32;
                let options = Table::default()
                    .with(CONV_PADDING, Fb::I8(pad))
                    .with(CONV_STRIDE_W, Fb::I32(s))
                    .with(CONV_STRIDE_H, Fb::I32(s))
                    .with(CONV_ACTIVATION, Fb::I8(act))
                    .with(CONV_DILATION_W, Fb::I32(1))
                    .with(CONV_DILATION_H, Fb::I32(1));
                g.op(OP_CONV_2D, vec![x, wt, bt], y, Some((OPTIONS_CONV_2D, options)));
                x = y;
            }
            Op::MaxPool2D { k, stride } | Op::AvgPool2D { k, stride } => {
                let (code, stem) = match node.op {
                    Op::MaxPool2D { .. } => (OP_MAX_POOL_2D, "maxpool"),
                    _ => (OP_AVERAGE_POOL_2D, "avgpool"),
                };
                let y = g.tensor(&format!("{stem}_{i}"), &out_shape, TYPE_FLOAT32, None);
                let (k, s) = (*k as i32, *stride as i32);
                let options = Table::default()
                    .with(POOL_PADDING, Fb::I8(PADDING_VALID))
                    .with(POOL_STRIDE_W, Fb::I32(s))
                    .with(POOL_STRIDE_H, Fb::I32(s))
                    .with(POOL_FILTER_W, Fb::I32(k))
                    .with(POOL_FILTER_H, Fb::I32(k))
                    .with(POOL_ACTIVATION, Fb::I8(act));
                g.op(code, vec![x], y, Some((OPTIONS_POOL_2D, options)));
                x = y;
            }
            Op::Flatten => {
                let n = node.shape[0] as i32;
                let bytes = [1i32, n].iter().flat_map(|v| v.to_le_bytes()).collect();
                let new_shape = g.tensor(&format!("flatten_{i}.shape"), &[2], TYPE_INT32, Some(bytes));
                let y = g.tensor(&format!("flatten_{i}"), &[1, n as usize], TYPE_FLOAT32, None);
                let options = Table::default().with(RESHAPE_NEW_SHAPE, Fb::Ints(vec![1, n]));
                g.op(OP_RESHAPE, vec![x, new_shape], y, Some((OPTIONS_RESHAPE, options)));
                if let [c, h, w] = shape[..] {
                    flattened = Some((c, h, w));
                }
                x = y;
            }
            Op::Dense { weight, bias, inp, out } => {
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
                let bt = g.constant(&format!("dense_{i}.bias"), bias);
                let y = g.tensor(&format!("dense_{i}"), &[1, *out], TYPE_FLOAT32, None);
                let options = Table::default().with(FULLY_CONNECTED_ACTIVATION, Fb::I8(act));
                g.op(OP_FULLY_CONNECTED, vec![x, wt, bt], y, Some((OPTIONS_FULLY_CONNECTED, options)));
                x = y;
            }
            Op::ReLU | Op::Sigmoid | Op::Tanh => {
                let (code, stem) = match node.op {
                    Op::ReLU => (OP_RELU, "relu"),
                    Op::Sigmoid => (OP_LOGISTIC, "sigmoid"),
                    _ => (OP_TANH, "tanh"),
                };
                let y = g.tensor(&format!("{stem}_{i}"), &out_shape, TYPE_FLOAT32, None);
                g.op(code, vec![x], y, None);
                x = y;
            }
            Op::BatchNorm2D { scale, bias, mean, var, epsilon } => {
                // x * a + b per channel, the constants broadcast along the last (channel) axis.
                let (a, b) = batch_norm_affine(scale, bias, mean, var, *epsilon);
                let (at, bt) = (g.constant(&format!("batchnorm_{i}.mul"), &a), g.constant(&format!("batchnorm_{i}.add"), &b));
                let scaled = g.tensor(&format!("batchnorm_{i}.scaled"), &out_shape, TYPE_FLOAT32, None);
                let none = || Table::default().with(ARITHMETIC_ACTIVATION, Fb::I8(ACT_NONE));
                g.op(OP_MUL, vec![x, at], scaled, Some((OPTIONS_MUL, none())));
                let y = g.tensor(&format!("batchnorm_{i}"), &out_shape, TYPE_FLOAT32, None);
                g.op(OP_ADD, vec![scaled, bt], y, Some((OPTIONS_ADD, none())));
                x = y;
            }
            Op::Dropout { .. } => unreachable!("dropout is left out of the exported graph"),
        }
        shape = node.shape.clone();
        i += if relu { 2 } else { 1 };
    }
    let output = g.tensor("probabilities", &[1, 10], TYPE_FLOAT32, None);
    g.op(OP_SOFTMAX, vec![x], output, Some((OPTIONS_SOFTMAX, Table::default().with(SOFTMAX_BETA, Fb::F32(1.0)))));

    let opcodes = g
        .opcodes
        .iter()
        .map(|&code| {
            // The old one-byte code field holds codes below 127 (all of these).
            Table::default()
                .with(OPCODE_DEPRECATED_BUILTIN_CODE, Fb::I8(code as i8))
                .with(OPCODE_VERSION, Fb::I32(1))
                .with(OPCODE_BUILTIN_CODE, Fb::I32(code))
        })
        .collect();
    let subgraph = Table::default()
        .with(SUBGRAPH_TENSORS, Fb::Tables(g.tensors))
        .with(SUBGRAPH_INPUTS, Fb::Ints(vec![input]))
        .with(SUBGRAPH_OUTPUTS, Fb::Ints(vec![output]))
        .with(SUBGRAPH_OPERATORS, Fb::Tables(g.operators))
        .with(SUBGRAPH_NAME, Fb::Str("main".into()));
    let description = format!("mnist-cnn {name}: white digit on black, pixels 0..1, [1, 28, 28, 1] in, 10 probabilities out");
    let model = Table::default()
        .with(MODEL_VERSION, Fb::U32(SCHEMA_VERSION))
        .with(MODEL_OPERATOR_CODES, Fb::Tables(opcodes))
        .with(MODEL_SUBGRAPHS, Fb::Tables(vec![subgraph]))
        .with(MODEL_DESCRIPTION, Fb::Str(description))
        .with(MODEL_BUFFERS, Fb::Tables(g.buffers));
    FbWriter::finish(model, b"TFL3")
}
