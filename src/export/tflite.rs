//! TFLite: the graph as a FlatBuffer (tensorflow/lite/schema/schema.fbs), built with the
//! `flatbuffers` crate's builder ([`super::flatbuf`]). Every field and enum value used is named
//! after schema.fbs. Code generated from the schema would name them too, but it is about 22,000
//! lines for the thirteen tables used here; the tests check these names against that generated
//! code (tract-tflite's) and read every file back with its verifier.
use flatbuffers::VOffsetT;

use super::flatbuf::{Fb, Table, Value};
use super::{batch_norm_affine, le_bytes};
use crate::data::SIDE;
use crate::layers::{Node, Op};

/// The vtable slots of the fields written, by table.
mod field {
    use crate::export::flatbuf::slot;
    use flatbuffers::VOffsetT;
    pub const MODEL_VERSION: VOffsetT = slot(0);
    pub const MODEL_OPERATOR_CODES: VOffsetT = slot(1);
    pub const MODEL_SUBGRAPHS: VOffsetT = slot(2);
    pub const MODEL_DESCRIPTION: VOffsetT = slot(3);
    pub const MODEL_BUFFERS: VOffsetT = slot(4);
    pub const OPCODE_DEPRECATED_BUILTIN_CODE: VOffsetT = slot(0);
    pub const OPCODE_VERSION: VOffsetT = slot(2);
    pub const OPCODE_BUILTIN_CODE: VOffsetT = slot(3);
    pub const SUBGRAPH_TENSORS: VOffsetT = slot(0);
    pub const SUBGRAPH_INPUTS: VOffsetT = slot(1);
    pub const SUBGRAPH_OUTPUTS: VOffsetT = slot(2);
    pub const SUBGRAPH_OPERATORS: VOffsetT = slot(3);
    pub const SUBGRAPH_NAME: VOffsetT = slot(4);
    pub const TENSOR_SHAPE: VOffsetT = slot(0);
    pub const TENSOR_TYPE: VOffsetT = slot(1);
    pub const TENSOR_BUFFER: VOffsetT = slot(2);
    pub const TENSOR_NAME: VOffsetT = slot(3);
    pub const BUFFER_DATA: VOffsetT = slot(0);
    pub const OPERATOR_OPCODE_INDEX: VOffsetT = slot(0);
    pub const OPERATOR_INPUTS: VOffsetT = slot(1);
    pub const OPERATOR_OUTPUTS: VOffsetT = slot(2);
    pub const OPERATOR_OPTIONS_TYPE: VOffsetT = slot(3);
    pub const OPERATOR_OPTIONS: VOffsetT = slot(4);
    pub const CONV_PADDING: VOffsetT = slot(0);
    pub const CONV_STRIDE_W: VOffsetT = slot(1);
    pub const CONV_STRIDE_H: VOffsetT = slot(2);
    pub const CONV_ACTIVATION: VOffsetT = slot(3);
    pub const CONV_DILATION_W: VOffsetT = slot(4);
    pub const CONV_DILATION_H: VOffsetT = slot(5);
    pub const POOL_PADDING: VOffsetT = slot(0);
    pub const POOL_STRIDE_W: VOffsetT = slot(1);
    pub const POOL_STRIDE_H: VOffsetT = slot(2);
    pub const POOL_FILTER_W: VOffsetT = slot(3);
    pub const POOL_FILTER_H: VOffsetT = slot(4);
    pub const POOL_ACTIVATION: VOffsetT = slot(5);
    pub const FULLY_CONNECTED_ACTIVATION: VOffsetT = slot(0);
    pub const SOFTMAX_BETA: VOffsetT = slot(0);
    pub const RESHAPE_NEW_SHAPE: VOffsetT = slot(0);
    /// `AddOptions` and `MulOptions` alike.
    pub const ARITHMETIC_ACTIVATION: VOffsetT = slot(0);
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
/// The file identifier (schema.fbs's `file_identifier`).
const IDENTIFIER: &str = "TFL3";
/// TFLite's `force_align` on buffer data: the runtime reads weights in place.
const DATA_ALIGN: usize = 16;

/// The tensors, buffers and operators of a TFLite subgraph, built as they are added (the
/// builder writes back to front: children before the tables that point to them).
struct TfGraph<'a> {
    fb: Fb<'a>,
    tensors: Vec<Table>,
    /// Buffer 0 is the empty buffer that every computed tensor points at.
    buffers: Vec<Table>,
    operators: Vec<Table>,
    opcodes: Vec<i32>,
}

impl TfGraph<'_> {
    fn new(capacity: usize) -> Self {
        let mut fb = Fb::with_capacity(capacity);
        let buffers = vec![fb.table(&[])];
        TfGraph { fb, tensors: vec![], buffers, operators: vec![], opcodes: vec![] }
    }

    /// A tensor; with `data`, a constant with its own buffer. Names within a layer are
    /// `dense_4/bias` (TensorFlow's style), not ONNX's `dense_4.bias`: tract names the nodes it
    /// reads an operator into after the output tensor (`dense_4.bias`), and they would collide.
    fn tensor(&mut self, name: &str, shape: &[usize], kind: i8, data: Option<Vec<u8>>) -> i32 {
        use field::*;
        let buffer = match data {
            Some(bytes) => {
                let data = self.fb.aligned_bytes::<DATA_ALIGN>(&bytes);
                let buffer = self.fb.table(&[(BUFFER_DATA, data)]);
                self.buffers.push(buffer);
                self.buffers.len() as u32 - 1
            }
            None => 0,
        };
        let shape: Vec<i32> = shape.iter().map(|&d| d as i32).collect();
        let (shape, name) = (self.fb.ints(&shape), self.fb.str(name));
        let t = self.fb.table(&[(TENSOR_SHAPE, shape), (TENSOR_TYPE, Value::I8(kind)), (TENSOR_BUFFER, Value::U32(buffer)), (TENSOR_NAME, name)]);
        self.tensors.push(t);
        self.tensors.len() as i32 - 1
    }

    /// A float constant `[values.len()]`.
    fn constant(&mut self, name: &str, values: &[f32]) -> i32 {
        self.tensor(name, &[values.len()], TYPE_FLOAT32, Some(le_bytes(values)))
    }

    /// An operator; `options` is the options table's union tag and fields, if it has one.
    fn op(&mut self, code: i32, inputs: &[i32], output: i32, options: Option<(u8, &[(VOffsetT, Value)])>) {
        use field::*;
        let index = self.opcodes.iter().position(|&c| c == code).unwrap_or_else(|| {
            self.opcodes.push(code);
            self.opcodes.len() - 1
        });
        let (inputs, outputs) = (self.fb.ints(inputs), self.fb.ints(&[output]));
        let mut fields = vec![(OPERATOR_OPCODE_INDEX, Value::U32(index as u32)), (OPERATOR_INPUTS, inputs), (OPERATOR_OUTPUTS, outputs)];
        if let Some((kind, options)) = options {
            let table = self.fb.table(options);
            fields.extend([(OPERATOR_OPTIONS_TYPE, Value::U8(kind)), (OPERATOR_OPTIONS, table.into())]);
        }
        let op = self.fb.table(&fields);
        self.operators.push(op);
    }

    /// The finished file: the operator codes, the subgraph and the model around what was added.
    fn finish(mut self, input: i32, output: i32, description: &str) -> Vec<u8> {
        use field::*;
        let opcodes: Vec<Table> = std::mem::take(&mut self.opcodes)
            .into_iter()
            .map(|code| {
                // The old one-byte code field holds codes below 127 (all of these).
                self.fb.table(&[
                    (OPCODE_DEPRECATED_BUILTIN_CODE, Value::I8(code as i8)),
                    (OPCODE_VERSION, Value::I32(1)),
                    (OPCODE_BUILTIN_CODE, Value::I32(code)),
                ])
            })
            .collect();
        let subgraph = [
            (SUBGRAPH_TENSORS, self.fb.tables(&self.tensors)),
            (SUBGRAPH_INPUTS, self.fb.ints(&[input])),
            (SUBGRAPH_OUTPUTS, self.fb.ints(&[output])),
            (SUBGRAPH_OPERATORS, self.fb.tables(&self.operators)),
            (SUBGRAPH_NAME, self.fb.str("main")),
        ];
        let subgraph = self.fb.table(&subgraph);
        let model = [
            (MODEL_VERSION, Value::U32(SCHEMA_VERSION)),
            (MODEL_OPERATOR_CODES, self.fb.tables(&opcodes)),
            (MODEL_SUBGRAPHS, self.fb.tables(&[subgraph])),
            (MODEL_DESCRIPTION, self.fb.str(description)),
            (MODEL_BUFFERS, self.fb.tables(&self.buffers)),
        ];
        let model = self.fb.table(&model);
        self.fb.finish(model, IDENTIFIER)
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
    // Room for the weights and the rest, so the builder need not grow and copy.
    let mut g = TfGraph::new(4 * nodes.iter().map(|n| n.params).sum::<usize>() + (1 << 16));
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
                let wt = g.tensor(&format!("conv_{i}/weight"), &[*out, *k, *k, *inp], TYPE_FLOAT32, Some(le_bytes(&ohwi)));
                let bt = g.constant(&format!("conv_{i}/bias"), bias);
                let y = g.tensor(&format!("conv_{i}"), &out_shape, TYPE_FLOAT32, None);
                // TFLite's SAME pads as Keras's (the extra row after): the library's `Same`.
                let pad = if *padding == "same" { PADDING_SAME } else { PADDING_VALID };
                let s = *stride as i32;
                let options = [
                    (CONV_PADDING, Value::I8(pad)),
                    (CONV_STRIDE_W, Value::I32(s)),
                    (CONV_STRIDE_H, Value::I32(s)),
                    (CONV_ACTIVATION, Value::I8(act)),
                    (CONV_DILATION_W, Value::I32(1)),
                    (CONV_DILATION_H, Value::I32(1)),
                ];
                g.op(OP_CONV_2D, &[x, wt, bt], y, Some((OPTIONS_CONV_2D, &options)));
                x = y;
            }
            Op::MaxPool2D { k, stride } | Op::AvgPool2D { k, stride } => {
                let (code, stem) = match node.op {
                    Op::MaxPool2D { .. } => (OP_MAX_POOL_2D, "maxpool"),
                    _ => (OP_AVERAGE_POOL_2D, "avgpool"),
                };
                let y = g.tensor(&format!("{stem}_{i}"), &out_shape, TYPE_FLOAT32, None);
                let (k, s) = (*k as i32, *stride as i32);
                let options = [
                    (POOL_PADDING, Value::I8(PADDING_VALID)),
                    (POOL_STRIDE_W, Value::I32(s)),
                    (POOL_STRIDE_H, Value::I32(s)),
                    (POOL_FILTER_W, Value::I32(k)),
                    (POOL_FILTER_H, Value::I32(k)),
                    (POOL_ACTIVATION, Value::I8(act)),
                ];
                g.op(code, &[x], y, Some((OPTIONS_POOL_2D, &options)));
                x = y;
            }
            Op::Flatten => {
                let n = node.shape[0] as i32;
                let bytes = [1i32, n].iter().flat_map(|v| v.to_le_bytes()).collect();
                let new_shape = g.tensor(&format!("flatten_{i}/shape"), &[2], TYPE_INT32, Some(bytes));
                let y = g.tensor(&format!("flatten_{i}"), &[1, n as usize], TYPE_FLOAT32, None);
                let options = [(RESHAPE_NEW_SHAPE, g.fb.ints(&[1, n]))];
                g.op(OP_RESHAPE, &[x, new_shape], y, Some((OPTIONS_RESHAPE, &options)));
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
                let wt = g.tensor(&format!("dense_{i}/weight"), &[*out, *inp], TYPE_FLOAT32, Some(le_bytes(&weight)));
                let bt = g.constant(&format!("dense_{i}/bias"), bias);
                let y = g.tensor(&format!("dense_{i}"), &[1, *out], TYPE_FLOAT32, None);
                let options = [(FULLY_CONNECTED_ACTIVATION, Value::I8(act))];
                g.op(OP_FULLY_CONNECTED, &[x, wt, bt], y, Some((OPTIONS_FULLY_CONNECTED, &options)));
                x = y;
            }
            Op::ReLU | Op::Sigmoid | Op::Tanh => {
                let (code, stem) = match node.op {
                    Op::ReLU => (OP_RELU, "relu"),
                    Op::Sigmoid => (OP_LOGISTIC, "sigmoid"),
                    _ => (OP_TANH, "tanh"),
                };
                let y = g.tensor(&format!("{stem}_{i}"), &out_shape, TYPE_FLOAT32, None);
                g.op(code, &[x], y, None);
                x = y;
            }
            Op::BatchNorm2D { scale, bias, mean, var, epsilon } => {
                // x * a + b per channel, the constants broadcast along the last (channel) axis.
                let (a, b) = batch_norm_affine(scale, bias, mean, var, *epsilon);
                let (at, bt) = (g.constant(&format!("batchnorm_{i}/mul"), &a), g.constant(&format!("batchnorm_{i}/add"), &b));
                let scaled = g.tensor(&format!("batchnorm_{i}/scaled"), &out_shape, TYPE_FLOAT32, None);
                let none = [(ARITHMETIC_ACTIVATION, Value::I8(ACT_NONE))];
                g.op(OP_MUL, &[x, at], scaled, Some((OPTIONS_MUL, &none)));
                let y = g.tensor(&format!("batchnorm_{i}"), &out_shape, TYPE_FLOAT32, None);
                g.op(OP_ADD, &[scaled, bt], y, Some((OPTIONS_ADD, &none)));
                x = y;
            }
            Op::Dropout { .. } => unreachable!("dropout is left out of the exported graph"),
        }
        shape = node.shape.clone();
        i += if relu { 2 } else { 1 };
    }
    let output = g.tensor("probabilities", &[1, 10], TYPE_FLOAT32, None);
    g.op(OP_SOFTMAX, &[x], output, Some((OPTIONS_SOFTMAX, &[(SOFTMAX_BETA, Value::F32(1.0))])));

    g.finish(input, output, &format!("mnist-cnn {name}: white digit on black, pixels 0..1, [1, 28, 28, 1] in, 10 probabilities out"))
}

#[cfg(test)]
mod tests {
    use super::field::*;
    use super::*;
    use tract_tflite::tflite as fbs;

    /// Each name means what the code flatc generates from schema.fbs says (tract-tflite's copy).
    #[test]
    fn the_names_agree_with_code_generated_from_the_schema() {
        let slots = [
            (MODEL_VERSION, fbs::Model::VT_VERSION),
            (MODEL_OPERATOR_CODES, fbs::Model::VT_OPERATOR_CODES),
            (MODEL_SUBGRAPHS, fbs::Model::VT_SUBGRAPHS),
            (MODEL_DESCRIPTION, fbs::Model::VT_DESCRIPTION),
            (MODEL_BUFFERS, fbs::Model::VT_BUFFERS),
            (OPCODE_DEPRECATED_BUILTIN_CODE, fbs::OperatorCode::VT_DEPRECATED_BUILTIN_CODE),
            (OPCODE_VERSION, fbs::OperatorCode::VT_VERSION),
            (OPCODE_BUILTIN_CODE, fbs::OperatorCode::VT_BUILTIN_CODE),
            (SUBGRAPH_TENSORS, fbs::SubGraph::VT_TENSORS),
            (SUBGRAPH_INPUTS, fbs::SubGraph::VT_INPUTS),
            (SUBGRAPH_OUTPUTS, fbs::SubGraph::VT_OUTPUTS),
            (SUBGRAPH_OPERATORS, fbs::SubGraph::VT_OPERATORS),
            (SUBGRAPH_NAME, fbs::SubGraph::VT_NAME),
            (TENSOR_SHAPE, fbs::Tensor::VT_SHAPE),
            (TENSOR_TYPE, fbs::Tensor::VT_TYPE_),
            (TENSOR_BUFFER, fbs::Tensor::VT_BUFFER),
            (TENSOR_NAME, fbs::Tensor::VT_NAME),
            (BUFFER_DATA, fbs::Buffer::VT_DATA),
            (OPERATOR_OPCODE_INDEX, fbs::Operator::VT_OPCODE_INDEX),
            (OPERATOR_INPUTS, fbs::Operator::VT_INPUTS),
            (OPERATOR_OUTPUTS, fbs::Operator::VT_OUTPUTS),
            (OPERATOR_OPTIONS_TYPE, fbs::Operator::VT_BUILTIN_OPTIONS_TYPE),
            (OPERATOR_OPTIONS, fbs::Operator::VT_BUILTIN_OPTIONS),
            (CONV_PADDING, fbs::Conv2DOptions::VT_PADDING),
            (CONV_STRIDE_W, fbs::Conv2DOptions::VT_STRIDE_W),
            (CONV_STRIDE_H, fbs::Conv2DOptions::VT_STRIDE_H),
            (CONV_ACTIVATION, fbs::Conv2DOptions::VT_FUSED_ACTIVATION_FUNCTION),
            (CONV_DILATION_W, fbs::Conv2DOptions::VT_DILATION_W_FACTOR),
            (CONV_DILATION_H, fbs::Conv2DOptions::VT_DILATION_H_FACTOR),
            (POOL_PADDING, fbs::Pool2DOptions::VT_PADDING),
            (POOL_STRIDE_W, fbs::Pool2DOptions::VT_STRIDE_W),
            (POOL_STRIDE_H, fbs::Pool2DOptions::VT_STRIDE_H),
            (POOL_FILTER_W, fbs::Pool2DOptions::VT_FILTER_WIDTH),
            (POOL_FILTER_H, fbs::Pool2DOptions::VT_FILTER_HEIGHT),
            (POOL_ACTIVATION, fbs::Pool2DOptions::VT_FUSED_ACTIVATION_FUNCTION),
            (FULLY_CONNECTED_ACTIVATION, fbs::FullyConnectedOptions::VT_FUSED_ACTIVATION_FUNCTION),
            (SOFTMAX_BETA, fbs::SoftmaxOptions::VT_BETA),
            (RESHAPE_NEW_SHAPE, fbs::ReshapeOptions::VT_NEW_SHAPE),
            (ARITHMETIC_ACTIVATION, fbs::AddOptions::VT_FUSED_ACTIVATION_FUNCTION),
            (ARITHMETIC_ACTIVATION, fbs::MulOptions::VT_FUSED_ACTIVATION_FUNCTION),
        ];
        for (i, (ours, generated)) in slots.into_iter().enumerate() {
            assert_eq!(ours, generated, "slot {i} of the list");
        }
        use fbs::BuiltinOperator as B;
        let ops = [OP_ADD, OP_AVERAGE_POOL_2D, OP_CONV_2D, OP_FULLY_CONNECTED, OP_LOGISTIC, OP_MAX_POOL_2D, OP_MUL, OP_RELU, OP_RESHAPE, OP_SOFTMAX, OP_TANH];
        let generated = [B::ADD, B::AVERAGE_POOL_2D, B::CONV_2D, B::FULLY_CONNECTED, B::LOGISTIC, B::MAX_POOL_2D, B::MUL, B::RELU, B::RESHAPE, B::SOFTMAX, B::TANH];
        assert_eq!(ops, generated.map(|o| o.0));
        use fbs::BuiltinOptions as O;
        let options = [OPTIONS_CONV_2D, OPTIONS_POOL_2D, OPTIONS_FULLY_CONNECTED, OPTIONS_SOFTMAX, OPTIONS_ADD, OPTIONS_RESHAPE, OPTIONS_MUL];
        let generated = [O::Conv2DOptions, O::Pool2DOptions, O::FullyConnectedOptions, O::SoftmaxOptions, O::AddOptions, O::ReshapeOptions, O::MulOptions];
        assert_eq!(options, generated.map(|o| o.0));
        assert_eq!([TYPE_FLOAT32, TYPE_INT32], [fbs::TensorType::FLOAT32.0, fbs::TensorType::INT32.0]);
        assert_eq!([PADDING_SAME, PADDING_VALID], [fbs::Padding::SAME.0, fbs::Padding::VALID.0]);
        assert_eq!([ACT_NONE, ACT_RELU], [fbs::ActivationFunctionType::NONE.0, fbs::ActivationFunctionType::RELU.0]);
        assert_eq!(IDENTIFIER, fbs::MODEL_IDENTIFIER);
    }
}
