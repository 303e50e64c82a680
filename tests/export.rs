//! The exported files, run by independent runtimes, give the library's probabilities.
//!
//! ONNX is checked here by tract. TFLite is checked by LiteRT (Python) in the test command:
//! this test writes the fixture it reads (`target/export-check/`: the .tflite files, 1,000 test
//! images and the library's probabilities for them), and `scripts/check-tflite.py` compares.
mod common;
use std::path::{Path, PathBuf};

use common::*;
use mnist_cnn::better::BetterModel;
use mnist_cnn::export::{self, Export};
use mnist_cnn::model::{self, Network};
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

fn check_onnx<N: Export>(net: &N, name: &str) {
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

fn check_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/export-check")
}

fn write_tflite_fixture<N: Export>(net: &N, name: &str) {
    let dir = check_dir();
    std::fs::create_dir_all(&dir).unwrap();
    export::write_tflite(net, &dir.join(format!("{name}.tflite"))).unwrap();
    let (pixels, probs) = reference(net);
    let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    std::fs::write(dir.join(format!("{name}.images.f32")), bytes(&pixels)).unwrap();
    std::fs::write(dir.join(format!("{name}.probabilities.f32")), bytes(&probs)).unwrap();
}

#[test]
fn tflite_files_are_written_for_litert_to_check() {
    write_tflite_fixture(&lesson_model(), "lesson");
    let net: BetterModel = Network::build(&model::device(4));
    write_tflite_fixture(&net, "better");
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
