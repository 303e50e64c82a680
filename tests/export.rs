//! The exported files, run by independent runtimes, give the library's probabilities.
//!
//! ONNX is checked here by tract. TFLite is checked by LiteRT (Python) in the test command:
//! this test writes the fixture it reads (`target/export-check/`: the .tflite files, 1,000 test
//! images and the library's probabilities for them), and `scripts/check-tflite.py` compares.
mod common;
use std::path::{Path, PathBuf};

use common::*;
use mnist_cnn::better::BetterModel;
use mnist_cnn::export;
use mnist_cnn::layers::{AvgPool2D, BatchNorm2D, Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, Same, Sigmoid, Tanh};
use mnist_cnn::model::{self, Network, Sequential};
use mnist_cnn::{analysis, data};
use tract_onnx::prelude::*;

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

fn check_onnx<N: Network>(net: &N, name: &str) {
    let path = temp_dir(&format!("onnx-{name}")).join(format!("{name}.onnx"));
    export::write_onnx(net, &path).unwrap();
    let (pixels, want) = reference(net);
    let got = run_onnx(&path, pixels);
    assert_eq!(got.len(), want.len());
    let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst <= 1e-4, "{name}: tract differs from the library by up to {worst}");
    let argmax = |v: &[f32]| v.chunks(10).map(model::argmax).collect::<Vec<_>>();
    assert_eq!(argmax(&got), argmax(&want), "{name}: the same predictions");
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
    let got = run_onnx(&dir.join("lenet5.onnx"), pixels);
    let worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst <= 1e-4, "lenet5: tract differs from the library by up to {worst}");
}

fn check_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/export-check")
}

fn write_tflite_fixture<N: Network>(net: &N, name: &str) {
    let dir = check_dir();
    std::fs::create_dir_all(&dir).unwrap();
    export::write_tflite(net, &dir.join(format!("{name}.tflite"))).unwrap();
    let test = data::load(&bundled()).unwrap().test.take(IMAGES);
    export::write_reference(net, &test, &dir, name).unwrap();
}

#[test]
fn tflite_files_are_written_for_litert_to_check() {
    write_tflite_fixture(&lesson_model(), "lesson");
    let net: BetterModel = Network::build(&model::device(4));
    write_tflite_fixture(&net, "better");
    write_tflite_fixture(&zoo(), "zoo");
    let file = std::fs::read(check_dir().join("lesson.tflite")).unwrap();
    assert_eq!(&file[4..8], b"TFL3", "the TFLite file identifier");
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
