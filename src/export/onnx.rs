//! ONNX: the graph as a protobuf message (onnx.proto3, `ModelProto`). Every field number and
//! enum value is named after onnx.proto3, so each can be checked against it.
use super::le_bytes;
use super::protobuf::Proto;
use crate::data::SIDE;
use crate::layers::{Node, Op};

// ModelProto
const MODEL_IR_VERSION: u32 = 1;
const MODEL_PRODUCER_NAME: u32 = 2;
const MODEL_PRODUCER_VERSION: u32 = 3;
const MODEL_GRAPH: u32 = 7;
const MODEL_OPSET_IMPORT: u32 = 8;
// OperatorSetIdProto
const OPSET_DOMAIN: u32 = 1;
const OPSET_VERSION: u32 = 2;
// GraphProto
const GRAPH_NODE: u32 = 1;
const GRAPH_NAME: u32 = 2;
const GRAPH_INITIALIZER: u32 = 5;
const GRAPH_DOC_STRING: u32 = 10;
const GRAPH_INPUT: u32 = 11;
const GRAPH_OUTPUT: u32 = 12;
// NodeProto
const NODE_INPUT: u32 = 1;
const NODE_OUTPUT: u32 = 2;
const NODE_NAME: u32 = 3;
const NODE_OP_TYPE: u32 = 4;
const NODE_ATTRIBUTE: u32 = 5;
// AttributeProto, and its AttributeType enum
const ATTR_NAME: u32 = 1;
const ATTR_F: u32 = 2;
const ATTR_I: u32 = 3;
const ATTR_INTS: u32 = 8;
const ATTR_TYPE: u32 = 20;
const ATTR_TYPE_FLOAT: i64 = 1;
const ATTR_TYPE_INT: i64 = 2;
const ATTR_TYPE_INTS: i64 = 7;
// TensorProto
const TENSOR_DIMS: u32 = 1;
const TENSOR_DATA_TYPE: u32 = 2;
const TENSOR_NAME: u32 = 8;
const TENSOR_RAW_DATA: u32 = 9;
/// `TensorProto.DataType.FLOAT`.
const FLOAT: i64 = 1;
// ValueInfoProto, TypeProto, TypeProto.Tensor, TensorShapeProto, its Dimension
const VALUE_NAME: u32 = 1;
const VALUE_TYPE: u32 = 2;
const TYPE_TENSOR_TYPE: u32 = 1;
const TENSOR_TYPE_ELEM_TYPE: u32 = 1;
const TENSOR_TYPE_SHAPE: u32 = 2;
const SHAPE_DIM: u32 = 1;
const DIM_VALUE: u32 = 1;
const DIM_PARAM: u32 = 2;
/// IR version 8 (ONNX 1.10+), operator set 13.
const IR_VERSION: i64 = 8;
const OPSET: i64 = 13;

fn tensor(name: &str, dims: &[usize], values: &[f32]) -> Proto {
    let dims: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
    Proto::default().ints(TENSOR_DIMS, &dims).int(TENSOR_DATA_TYPE, FLOAT).str(TENSOR_NAME, name).bytes(TENSOR_RAW_DATA, &le_bytes(values))
}

/// A `ValueInfoProto` of a float tensor; `None` dimensions are the symbolic `batch`.
fn value(name: &str, dims: &[Option<usize>]) -> Proto {
    let shape = dims.iter().fold(Proto::default(), |s, d| {
        let dim = match d {
            Some(v) => Proto::default().int(DIM_VALUE, *v as i64),
            None => Proto::default().str(DIM_PARAM, "batch"),
        };
        s.msg(SHAPE_DIM, dim)
    });
    let tensor_type = Proto::default().int(TENSOR_TYPE_ELEM_TYPE, FLOAT).msg(TENSOR_TYPE_SHAPE, shape);
    Proto::default().str(VALUE_NAME, name).msg(VALUE_TYPE, Proto::default().msg(TYPE_TENSOR_TYPE, tensor_type))
}

fn ints_attr(name: &str, vs: &[i64]) -> Proto {
    Proto::default().str(ATTR_NAME, name).int(ATTR_TYPE, ATTR_TYPE_INTS).ints(ATTR_INTS, vs)
}

fn int_attr(name: &str, v: i64) -> Proto {
    Proto::default().str(ATTR_NAME, name).int(ATTR_TYPE, ATTR_TYPE_INT).int(ATTR_I, v)
}

fn float_attr(name: &str, v: f32) -> Proto {
    Proto::default().str(ATTR_NAME, name).int(ATTR_TYPE, ATTR_TYPE_FLOAT).float(ATTR_F, v)
}

fn node(op: &str, name: &str, inputs: &[&str], output: &str, attrs: Vec<Proto>) -> Proto {
    let node = inputs.iter().fold(Proto::default(), |n, i| n.str(NODE_INPUT, i)).str(NODE_OUTPUT, output).str(NODE_NAME, name).str(NODE_OP_TYPE, op);
    attrs.into_iter().fold(node, |n, a| n.msg(NODE_ATTRIBUTE, a))
}

/// The node name's stem for each operation (`conv_0`, `relu_1`, ...).
fn stem(op: &Op) -> &'static str {
    match op {
        Op::Conv2D { .. } => "conv",
        Op::ReLU => "relu",
        Op::Sigmoid => "sigmoid",
        Op::Tanh => "tanh",
        Op::MaxPool2D { .. } => "maxpool",
        Op::AvgPool2D { .. } => "avgpool",
        Op::Flatten => "flatten",
        Op::Dense { .. } => "dense",
        Op::Dropout { .. } => "dropout",
        Op::BatchNorm2D { .. } => "batchnorm",
    }
}

/// The `ModelProto` of a network given by its inference layers.
pub(super) fn model(nodes: &[Node], name: &str) -> Vec<u8> {
    let mut graph = Proto::default();
    let mut inits = Vec::new();
    let mut x = "image".to_string();
    for (i, layer) in nodes.iter().enumerate() {
        let y = format!("{}_{i}", stem(&layer.op));
        let n = match &layer.op {
            Op::Conv2D { weight, bias, inp, out, k, stride, pads, .. } => {
                let (w, b) = (format!("conv_{i}.weight"), format!("conv_{i}.bias"));
                inits.push(tensor(&w, &[*out, *inp, *k, *k], weight));
                inits.push(tensor(&b, &[*out], bias));
                let (k, s) = (*k as i64, *stride as i64);
                let attrs = vec![
                    ints_attr("kernel_shape", &[k, k]),
                    ints_attr("strides", &[s, s]),
                    // ONNX orders pads [top, left, bottom, right], as `Op::Conv2D` keeps them.
                    ints_attr("pads", &pads.map(|p| p as i64)),
                ];
                node("Conv", &y, &[&x, &w, &b], &y, attrs)
            }
            Op::ReLU => node("Relu", &y, &[&x], &y, vec![]),
            Op::Sigmoid => node("Sigmoid", &y, &[&x], &y, vec![]),
            Op::Tanh => node("Tanh", &y, &[&x], &y, vec![]),
            Op::MaxPool2D { k, stride } | Op::AvgPool2D { k, stride } => {
                let (k, s) = (*k as i64, *stride as i64);
                let attrs = vec![ints_attr("kernel_shape", &[k, k]), ints_attr("strides", &[s, s])];
                let op = if matches!(layer.op, Op::MaxPool2D { .. }) { "MaxPool" } else { "AveragePool" };
                node(op, &y, &[&x], &y, attrs)
            }
            Op::Flatten => node("Flatten", &y, &[&x], &y, vec![int_attr("axis", 1)]),
            Op::Dense { weight, bias, inp, out } => {
                let (w, b) = (format!("dense_{i}.weight"), format!("dense_{i}.bias"));
                inits.push(tensor(&w, &[*out, *inp], weight));
                inits.push(tensor(&b, &[*out], bias));
                node("Gemm", &y, &[&x, &w, &b], &y, vec![int_attr("transB", 1)])
            }
            Op::BatchNorm2D { scale, bias, mean, var, epsilon } => {
                let names = ["scale", "bias", "mean", "var"].map(|t| format!("batchnorm_{i}.{t}"));
                for (t, values) in names.iter().zip([scale, bias, mean, var]) {
                    inits.push(tensor(t, &[values.len()], values));
                }
                let inputs = [x.as_str(), &names[0], &names[1], &names[2], &names[3]];
                node("BatchNormalization", &y, &inputs, &y, vec![float_attr("epsilon", *epsilon)])
            }
            Op::Dropout { .. } => unreachable!("dropout is left out of the exported graph"),
        };
        graph = graph.msg(GRAPH_NODE, n);
        x = y;
    }
    graph = graph.msg(GRAPH_NODE, node("Softmax", "softmax", &[&x], "probabilities", vec![int_attr("axis", 1)]));
    graph = graph.str(GRAPH_NAME, &format!("mnist-cnn {name}"));
    graph = inits.into_iter().fold(graph, |g, t| g.msg(GRAPH_INITIALIZER, t));
    graph = graph.str(GRAPH_DOC_STRING, "Handwritten digit in, ten probabilities out. Input: pixels 0..1, white digit on black.");
    graph = graph.msg(GRAPH_INPUT, value("image", &[None, Some(1), Some(SIDE), Some(SIDE)]));
    graph = graph.msg(GRAPH_OUTPUT, value("probabilities", &[None, Some(10)]));
    Proto::default()
        .int(MODEL_IR_VERSION, IR_VERSION)
        .str(MODEL_PRODUCER_NAME, "mnist-cnn")
        .str(MODEL_PRODUCER_VERSION, env!("CARGO_PKG_VERSION"))
        .msg(MODEL_GRAPH, graph)
        .msg(MODEL_OPSET_IMPORT, Proto::default().str(OPSET_DOMAIN, "").int(OPSET_VERSION, OPSET))
        .0
}
