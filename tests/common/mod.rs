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

/// The committed lesson model.
pub fn lesson_model() -> mnist_cnn::model::Model {
    mnist_cnn::model::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/lesson.safetensors")).unwrap()
}

/// Strokes of a handwritten-looking digit, as polylines in a unit box (x right, y down).
pub fn strokes(digit: usize) -> Vec<Vec<(f32, f32)>> {
    let ellipse = |cx: f32, cy: f32, rx: f32, ry: f32, from: f32, to: f32| -> Vec<(f32, f32)> {
        (0..=32).map(|i| from + (to - from) * i as f32 / 32.0).map(|a: f32| (cx + rx * a.cos(), cy + ry * a.sin())).collect()
    };
    let tau = std::f32::consts::TAU;
    match digit {
        0 => vec![ellipse(0.5, 0.5, 0.3, 0.45, 0.0, tau)],
        1 => vec![vec![(0.55, 0.05), (0.48, 0.95)]],
        2 => vec![vec![(0.2, 0.3), (0.3, 0.1), (0.5, 0.04), (0.7, 0.1), (0.78, 0.28), (0.7, 0.45), (0.2, 0.95), (0.85, 0.95)]],
        3 => vec![
            vec![(0.2, 0.15), (0.45, 0.05), (0.7, 0.12), (0.72, 0.3), (0.45, 0.47)],
            vec![(0.45, 0.47), (0.75, 0.6), (0.75, 0.82), (0.5, 0.95), (0.2, 0.87)],
        ],
        4 => vec![vec![(0.25, 0.05), (0.2, 0.55), (0.8, 0.55)], vec![(0.7, 0.05), (0.7, 0.95)]],
        5 => vec![vec![(0.78, 0.05), (0.3, 0.05), (0.25, 0.45), (0.5, 0.38), (0.75, 0.5), (0.78, 0.75), (0.55, 0.95), (0.2, 0.88)]],
        6 => vec![vec![(0.7, 0.05), (0.4, 0.3), (0.25, 0.6), (0.3, 0.85), (0.5, 0.95), (0.72, 0.85), (0.75, 0.65), (0.55, 0.52), (0.3, 0.6)]],
        7 => vec![vec![(0.15, 0.08), (0.85, 0.08), (0.4, 0.95)]],
        8 => vec![ellipse(0.5, 0.27, 0.22, 0.22, 0.0, tau), ellipse(0.5, 0.72, 0.27, 0.23, 0.0, tau)],
        9 => vec![ellipse(0.5, 0.3, 0.25, 0.22, 0.0, tau), vec![(0.75, 0.3), (0.7, 0.95)]],
        _ => panic!("a digit is 0 to 9"),
    }
}

/// How to draw a test image: canvas size, where the digit's box goes, pen width, colours.
pub struct Drawing {
    pub size: (u32, u32),
    /// Left, top, width and height of the digit's box on the canvas.
    pub place: (f32, f32, f32, f32),
    pub pen: f32,
    pub ink: [u8; 3],
    pub paper: [u8; 3],
}

/// Draws `digit`'s strokes with an anti-aliased round pen, as an RGB image.
pub fn draw(digit: usize, d: &Drawing) -> image::RgbImage {
    let (l, t, w, h) = d.place;
    let segments: Vec<((f32, f32), (f32, f32))> = strokes(digit)
        .iter()
        .flat_map(|s| s.windows(2).map(|p| ((l + p[0].0 * w, t + p[0].1 * h), (l + p[1].0 * w, t + p[1].1 * h))).collect::<Vec<_>>())
        .collect();
    image::RgbImage::from_fn(d.size.0, d.size.1, |x, y| {
        let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
        let dist = segments
            .iter()
            .map(|&((ax, ay), (bx, by))| {
                let (dx, dy) = (bx - ax, by - ay);
                let u = (((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy).max(1e-9)).clamp(0.0, 1.0);
                ((px - ax - u * dx).powi(2) + (py - ay - u * dy).powi(2)).sqrt()
            })
            .fold(f32::MAX, f32::min);
        let cover = (d.pen / 2.0 - dist + 0.5).clamp(0.0, 1.0);
        image::Rgb(std::array::from_fn(|c| (d.paper[c] as f32 + (d.ink[c] as f32 - d.paper[c] as f32) * cover).round() as u8))
    })
}

/// Encodes an image as PNG or JPEG bytes.
pub fn encode(img: &image::RgbImage, format: image::ImageOutputFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img.clone()).write_to(&mut out, format).unwrap();
    out.into_inner()
}
