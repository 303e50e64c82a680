//! Fashion-MNIST with one switch: the same loader, model and reports on clothing instead of digits.
//! Needs Debian's `dataset-fashion-mnist` (scripts/test.sh installs it).
mod common;
use common::*;
use mnist_cnn::data::{Dataset, FASHION};
use mnist_cnn::train::{self, Checkpoint, FitConfig};
use mnist_cnn::report;

#[test]
fn fashion_mnist_loads_trains_and_reports() {
    let dir = Dataset::Fashion.default_dir();
    let m = Dataset::Fashion.load(&dir).expect("Fashion-MNIST: apt-get install dataset-fashion-mnist");
    assert_eq!((m.train.len(), m.test.len()), (60_000, 10_000));
    assert_eq!(m.train.classes, FASHION);
    assert_eq!(m.train.class_name(0), "Ankle boot"); // the first training image's label is 9
    for class in 0..10u8 {
        assert_eq!(m.train.labels.iter().filter(|&&l| l == class).count(), 6_000, "balanced");
        assert_eq!(m.test.labels.iter().filter(|&&l| l == class).count(), 1_000, "balanced");
    }
    let cfg = FitConfig { epochs: 1, verbose: false, ..FitConfig::default() };
    let (tr, te) = (m.train.take(3_000), m.test.take(1_000));
    let mut run = Checkpoint::lesson(&cfg);
    train::fit(&mut run, &tr, &te, &cfg, |_| {}).unwrap();
    // One epoch on 3,000 images: far above chance (10%).
    assert!(run.history.epochs[0].val_accuracy > 0.6, "{:?}", run.history);
    let out = temp_dir("fashion-reports");
    let small = mnist_cnn::data::TrainTest { train: tr, test: te };
    let written = report::write_reports(&out, &run.history, &run.model, &small).unwrap();
    assert_eq!(written.len(), 15);
}

#[test]
fn missing_fashion_mnist_says_how_to_install_it() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mnist-cnn"))
        .args(["train", "--dataset", "fashion", "--dry-run"])
        .env("FASHION_MNIST_DIR", "/no/such/fashion")
        .output()
        .unwrap();
    assert_clean_failure(&out, "apt-get install dataset-fashion-mnist");
}
