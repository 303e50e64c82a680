#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// A fresh empty folder under `target/test-tmp/<name>`.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn bundled() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist")
}

/// A copy of the bundled data (with or without its SHA256SUMS) to damage.
pub fn copy_of_data(name: &str, with_sums: bool) -> PathBuf {
    let dir = temp_dir(name);
    for f in FILES {
        std::fs::copy(bundled().join(format!("{f}.gz")), dir.join(format!("{f}.gz"))).unwrap();
    }
    if with_sums {
        std::fs::copy(bundled().join("SHA256SUMS"), dir.join("SHA256SUMS")).unwrap();
    }
    dir
}

pub fn gunzip(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()).read_to_end(&mut out).unwrap();
    out
}

pub fn gzip(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap();
}

/// Runs the `mnist-cnn` binary.
pub fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mnist-cnn")).args(args).output().unwrap()
}

/// The run failed cleanly: exit code 1, a message with `expected`, no panic.
pub fn assert_clean_failure(out: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains(expected), "expected `{expected}` in: {stderr}");
    assert!(!stderr.contains("panicked"), "it panicked: {stderr}");
}
