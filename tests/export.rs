//! The exported files, run by independent runtimes, give the library's probabilities.
//!
//! ONNX is checked here by tract. So is TFLite, by tract-tflite: its code generated from
//! TFLite's schema.fbs runs the flatbuffers verifier (every offset, length and alignment), its
//! accessors let the structure be checked (inputs, outputs, buffers and their 16-byte alignment,
//! operators), and tract runs the file: bytes to probabilities within `cargo test`, by a reader
//! that shares no code with the writer but the `flatbuffers` crate. LiteRT (Python), the
//! reference runtime, runs the files in the test command: these tests write the fixture it
//! reads (`target/export-check/`: the .tflite files, 1,000 test images and the library's
//! probabilities for them), and `scripts/check-tflite.py` compares.
mod common;
use std::path::{Path, PathBuf};

use common::*;
use mnist_cnn::better::BetterModel;
use mnist_cnn::export;
use mnist_cnn::layers::{AvgPool2D, BatchNorm2D, Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, Same, Sigmoid, Tanh};
use mnist_cnn::model::{self, Network, Sequential};
use mnist_cnn::{analysis, data};
use tract_onnx::prelude::*;
use tract_tflite::tflite as fbs;

const IMAGES: usize = 1000;

/// The first 1,000 test images as 0..1 floats, and the library's probabilities for them.
fn reference<N: Network>(net: &N) -> (Vec<f32>, Vec<f32>) {
    let test = data::load(&bundled()).unwrap().test.take(IMAGES);
    let pixels = test.images.iter().map(|&p| data::normalise(p)).collect();
    let probs = analysis::predict_all(net, &test).concat();
    (pixels, probs)
}

fn run_onnx(path: &Path, pixels: Vec<f32>) -> Vec<f32> {
    let plan = tract_onnx::onnx()
        .model_for_path(path)
        .unwrap()
        .with_input_fact(0, f32::fact([IMAGES, 1, 28, 28]).into())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let input: Tensor = tract_ndarray::Array4::from_shape_vec((IMAGES, 1, 28, 28), pixels).unwrap().into();
    let out = plan.run(tvec!(input.into())).unwrap();
    out[0].to_plain_array_view::<f32>().unwrap().iter().copied().collect()
}

/// The probabilities tract gives for each image, one at a time (the file's input is `[1, 28,
/// 28, 1]`: one channel, so the same floats as channels first).
fn run_tflite(path: &Path, pixels: &[f32]) -> Vec<f32> {
    let plan = tract_tflite::tflite().model_for_path(path).unwrap().into_optimized().unwrap().into_runnable().unwrap();
    let mut probs = Vec::with_capacity(pixels.len() / 784 * 10);
    for image in pixels.chunks(784) {
        let input: Tensor = tract_ndarray::Array4::from_shape_vec((1, 28, 28, 1), image.to_vec()).unwrap().into();
        let out = plan.run(tvec!(input.into())).unwrap();
        probs.extend(out[0].to_plain_array_view::<f32>().unwrap().iter().copied());
    }
    probs
}

/// Fails unless `got` gives `want`'s probabilities within 1e-4 and the same predictions.
fn assert_same_probabilities(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len());
    let worst = got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst <= 1e-4, "{what} differs from the library by up to {worst}");
    let argmax = |v: &[f32]| v.chunks(10).map(model::argmax).collect::<Vec<_>>();
    assert_eq!(argmax(got), argmax(want), "{what}: the same predictions");
}

fn check_onnx<N: Network>(net: &N, name: &str) {
    let path = temp_dir(&format!("onnx-{name}")).join(format!("{name}.onnx"));
    export::write_onnx(net, &path).unwrap();
    let (pixels, want) = reference(net);
    let got = run_onnx(&path, pixels);
    assert_same_probabilities(&got, &want, &format!("{name}: tract on the ONNX file"));
}

#[test]
fn onnx_of_the_trained_lesson_model_matches_the_library_in_tract() {
    check_onnx(&lesson_model(), "lesson");
}

#[test]
fn onnx_of_the_better_model_matches_the_library_in_tract() {
    // Random weights: the export of two convolution blocks, whatever was learned.
    let net: BetterModel = Network::build(&model::device(4));
    check_onnx(&net, "better");
}

/// Every kind of layer: strided and padded convolutions, batch normalisation, the three
/// activations (a ReLU on its own too), both poolings (one with a stride other than its
/// window, fused after a convolution), dropout, dense layers.
type Zoo = Sequential<(
    (Conv2D<1, 8, 3, 2, Same>, BatchNorm2D<8>, ReLU), // [batch, 8, 14, 14]
    (Conv2D<8, 12, 3, 1, Same>, Tanh, AvgPool2D<2>),  // [batch, 12, 7, 7]
    (Conv2D<12, 16, 3>, ReLU, MaxPool2D<3, 2>),       // [batch, 16, 2, 2]
    Flatten,                                          // [batch, 64]
    (Dense<64, 32>, Sigmoid, Dropout<25>),            // [batch, 32]
    Dense<32, 10>,                                    // [batch, 10]
)>;

/// The zoo with random weights and batch statistics that are not the identity.
fn zoo() -> Zoo {
    let mut net = Zoo::build(&model::device(7));
    let bn = &mut net.layers.0 .1;
    bn.running_mean.copy_from(&[0.1, -0.2, 0.05, 0.0, 0.3, -0.1, 0.2, 0.0]);
    bn.running_var.copy_from(&[0.5, 1.5, 0.8, 1.0, 2.0, 0.3, 1.1, 0.9]);
    bn.scale.copy_from(&[1.2, 0.7, 1.0, 0.9, 1.1, 1.3, 0.8, 1.0]);
    bn.bias.copy_from(&[0.0, 0.1, -0.1, 0.2, 0.0, -0.2, 0.1, 0.05]);
    net
}

#[test]
fn onnx_of_every_kind_of_layer_matches_the_library_in_tract() {
    let net = zoo();
    let rows: Vec<String> = net.summary().layers.iter().map(|l| format!("{} {:?}", l.name, l.shape)).collect();
    assert_eq!(
        rows,
        [
            "Conv2D [8, 14, 14]",
            "BatchNorm2D [8, 14, 14]",
            "ReLU [8, 14, 14]",
            "Conv2D + Tanh [12, 14, 14]",
            "AvgPool2D [12, 7, 7]",
            "Conv2D + ReLU [16, 5, 5]",
            "MaxPool2D [16, 2, 2]",
            "Flatten [64]",
            "Dense + Sigmoid [32]",
            "Dropout(0.25) [32]",
            "Dense [10]"
        ]
    );
    check_onnx(&net, "zoo");
}

/// The example defines LeNet in its own file, outside the library: it trains (a dry run), saves,
/// and exports; tract runs its ONNX file and gives the probabilities it wrote beside it. The
/// files stay in target/export-check/ for LiteRT to check the TFLite file in the test command.
#[test]
fn the_lenet5_example_trains_saves_and_exports_from_outside_the_library() {
    let exe = std::env::current_exe().unwrap();
    let example = exe.parent().unwrap().parent().unwrap().join("examples/lenet5");
    assert!(example.exists(), "{} is built by cargo test", example.display());
    let dir = check_dir();
    let out = std::process::Command::new(&example).args(["--dry-run", "--out", dir.to_str().unwrap()]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Total params: 431,080"), "Caffe's LeNet: {stdout}");
    for file in ["lenet5.safetensors", "history.csv", "lenet5.onnx", "lenet5.tflite"] {
        assert!(dir.join(file).metadata().unwrap().len() > 0, "{file}");
    }
    let floats = |name: &str| std::fs::read(dir.join(name)).unwrap().chunks(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect::<Vec<f32>>();
    let (pixels, want) = (floats("lenet5.images.f32"), floats("lenet5.probabilities.f32"));
    assert_eq!((pixels.len(), want.len()), (IMAGES * 784, IMAGES * 10));
    let tflite = dir.join("lenet5.tflite");
    check_tflite_structure(&std::fs::read(&tflite).unwrap()).unwrap();
    assert_same_probabilities(&run_tflite(&tflite, &pixels), &want, "lenet5: tract on the TFLite file");
    assert_same_probabilities(&run_onnx(&dir.join("lenet5.onnx"), pixels), &want, "lenet5: tract on the ONNX file");
}

fn check_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/export-check")
}

/// Writes `name`'s fixture for LiteRT, then reads the TFLite file back: verified, its structure
/// checked, and run by tract, which must give the library's probabilities.
fn check_tflite<N: Network>(net: &N, name: &str) {
    let dir = check_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.tflite"));
    export::write_tflite(net, &path).unwrap();
    let test = data::load(&bundled()).unwrap().test.take(IMAGES);
    export::write_reference(net, &test, &dir, name).unwrap();
    check_tflite_structure(&std::fs::read(&path).unwrap()).unwrap_or_else(|e| panic!("{name}.tflite: {e}"));
    let (pixels, want) = reference(net);
    assert_same_probabilities(&run_tflite(&path, &pixels), &want, &format!("{name}: tract on the TFLite file"));
}

/// What a TFLite runtime relies on, read with the verifier (every offset, length and alignment
/// inside the buffer) and the schema's accessors.
fn check_tflite_structure(file: &[u8]) -> Result<(), String> {
    macro_rules! ensure {
        ($cond:expr, $($msg:tt)+) => {
            if !$cond {
                return Err(format!($($msg)+));
            }
        };
    }
    let model = fbs::root_as_model(file).map_err(|e| format!("not a valid Model: {e}"))?;
    ensure!(fbs::model_buffer_has_identifier(file), "no TFL3 identifier");
    ensure!(model.version() == 3, "schema version {}", model.version());
    let (codes, buffers, subgraphs) = (model.operator_codes().ok_or("no operator codes")?, model.buffers().ok_or("no buffers")?, model.subgraphs().ok_or("no subgraphs")?);
    ensure!(subgraphs.len() == 1, "{} subgraphs", subgraphs.len());
    let graph = subgraphs.get(0);
    let tensors = graph.tensors().ok_or("no tensors")?;
    let shape = |t: u32| tensors.get(t as usize).shape().map(|s| s.iter().collect::<Vec<i32>>()).unwrap_or_default();
    let name = |t: u32| tensors.get(t as usize).name().unwrap_or_default().to_string();
    let (inputs, outputs) = (graph.inputs().ok_or("no inputs")?, graph.outputs().ok_or("no outputs")?);
    ensure!(inputs.len() == 1 && name(inputs.get(0) as u32) == "image" && shape(inputs.get(0) as u32) == [1, 28, 28, 1], "input");
    let output = outputs.get(0) as u32;
    ensure!(outputs.len() == 1 && name(output) == "probabilities" && shape(output) == [1, 10], "output");
    ensure!(buffers.get(0).data().is_none_or(|d| d.is_empty()), "buffer 0 holds data");
    // Constants: float32 or int32, their data as long as their shape says, 16-byte aligned.
    let mut computed = vec![false; tensors.len()];
    computed[inputs.get(0) as usize] = true;
    for (i, t) in tensors.iter().enumerate() {
        ensure!((t.buffer() as usize) < buffers.len(), "tensor {i}: buffer {} of {}", t.buffer(), buffers.len());
        ensure!(matches!(t.type_(), fbs::TensorType::FLOAT32 | fbs::TensorType::INT32), "tensor {i}: type {:?}", t.type_());
        if t.buffer() == 0 {
            continue;
        }
        let data = buffers.get(t.buffer() as usize).data().ok_or(format!("tensor {i}: no data"))?;
        let values: i32 = shape(i as u32).iter().product();
        ensure!(data.len() == 4 * values as usize, "tensor {i}: {} bytes for shape {:?}", data.len(), shape(i as u32));
        let at = data.bytes().as_ptr() as usize - file.as_ptr() as usize;
        ensure!(at.is_multiple_of(16), "tensor {i}: data at byte {at}, not a multiple of 16");
        computed[i] = true;
    }
    // Operators: known codes with their options, each reading what is already computed.
    let ops = graph.operators().ok_or("no operators")?;
    let mut last = None;
    for (i, op) in ops.iter().enumerate() {
        ensure!((op.opcode_index() as usize) < codes.len(), "operator {i}: opcode {}", op.opcode_index());
        let code = codes.get(op.opcode_index() as usize);
        ensure!(code.deprecated_builtin_code() as i32 == code.builtin_code().0, "operator {i}: two codes");
        use fbs::{BuiltinOperator as B, BuiltinOptions as O};
        let options = match code.builtin_code() {
            B::CONV_2D => O::Conv2DOptions,
            B::MAX_POOL_2D | B::AVERAGE_POOL_2D => O::Pool2DOptions,
            B::FULLY_CONNECTED => O::FullyConnectedOptions,
            B::RESHAPE => O::ReshapeOptions,
            B::SOFTMAX => O::SoftmaxOptions,
            B::ADD => O::AddOptions,
            B::MUL => O::MulOptions,
            B::RELU | B::LOGISTIC | B::TANH => O::NONE,
            other => return Err(format!("operator {i}: {other:?}")),
        };
        ensure!(op.builtin_options_type() == options, "operator {i}: options {:?}", op.builtin_options_type());
        ensure!(options == O::NONE || op.builtin_options().is_some(), "operator {i}: no options table");
        for t in op.inputs().ok_or("no operator inputs")? {
            ensure!(computed.get(t as usize) == Some(&true), "operator {i} reads tensor {t} before it is computed");
        }
        let outs = op.outputs().ok_or("no operator outputs")?;
        ensure!(outs.len() == 1, "operator {i}: {} outputs", outs.len());
        let out = outs.get(0) as usize;
        ensure!(out < tensors.len() && !computed[out], "operator {i} writes tensor {out}");
        computed[out] = true;
        last = Some((code.builtin_code(), out));
    }
    ensure!(last == Some((fbs::BuiltinOperator::SOFTMAX, output as usize)), "the last operator is the softmax to the output");
    Ok(())
}

#[test]
fn tflite_of_the_trained_lesson_model_reads_back_and_matches_the_library_in_tract() {
    check_tflite(&lesson_model(), "lesson");
    let file = std::fs::read(check_dir().join("lesson.tflite")).unwrap();
    assert_eq!(&file[4..8], b"TFL3", "the TFLite file identifier");
}

#[test]
fn tflite_of_the_better_model_reads_back_and_matches_the_library_in_tract() {
    let net: BetterModel = Network::build(&model::device(4));
    check_tflite(&net, "better");
}

#[test]
fn tflite_of_every_kind_of_layer_reads_back_and_matches_the_library_in_tract() {
    check_tflite(&zoo(), "zoo");
}

/// The checks above can fail: a file with one offset corrupted, or with its data moved off the
/// 16-byte boundary, is refused.
#[test]
fn a_corrupted_tflite_file_fails_the_checks() {
    let path = temp_dir("tflite-corrupt").join("zoo.tflite");
    export::write_tflite(&zoo(), &path).unwrap();
    let file = std::fs::read(&path).unwrap();
    check_tflite_structure(&file).unwrap();
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
    // The model table's offset to its buffers, pointed past the end of the file.
    let root = u32_at(&file, 0);
    let vtable = (root as i64 - i32::from_le_bytes(file[root..root + 4].try_into().unwrap()) as i64) as usize;
    let slot = fbs::Model::VT_BUFFERS as usize;
    let field = root + u16::from_le_bytes(file[vtable + slot..vtable + slot + 2].try_into().unwrap()) as usize;
    let mut bad = file.clone();
    bad[field..field + 4].copy_from_slice(&(file.len() as u32).to_le_bytes());
    let err = check_tflite_structure(&bad).unwrap_err();
    assert!(err.starts_with("not a valid Model"), "{err}");
    // Four bytes more in front, and the root offset moved to match: still a valid FlatBuffer,
    // but every buffer's data now starts 4 bytes past a multiple of 16.
    let mut shifted = (root as u32 + 4).to_le_bytes().to_vec();
    shifted.extend_from_slice(&file[4..8]);
    shifted.extend_from_slice(&[0; 4]);
    shifted.extend_from_slice(&file[8..]);
    let err = check_tflite_structure(&shifted).unwrap_err();
    assert!(err.contains("not a multiple of 16"), "{err}");
}

#[test]
fn export_command_writes_both_files_next_to_the_model() {
    let dir = temp_dir("export-cli");
    let m = dir.join("digits.safetensors");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/lesson.safetensors"), &m).unwrap();
    let out = cli(&["export", "--model", m.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.join("digits.onnx").metadata().unwrap().len() > 2_700_000);
    assert!(dir.join("digits.tflite").metadata().unwrap().len() > 2_700_000);
    // A file of another network is refused by name.
    let out = cli(&["export", "--network", "better", "--model", m.to_str().unwrap()]);
    assert_clean_failure(&out, "it was saved by another model");
}
