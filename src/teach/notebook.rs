//! The glue that shows pictures and tables as cell outputs in Jupyter's Rust kernel (evcxr):
//! evcxr calls a value's `evcxr_display` method when a cell ends with that value.
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::data::{normalise, Split, CLASSES};
use crate::error::{Error, Result};
use crate::model::{thousands, Summary};
use crate::report::plots::Picture;
use crate::train::{Evaluation, History};

/// The environment variable that puts the notebooks in quick mode (the test runner sets it).
pub const QUICK_ENV: &str = "MNIST_CNN_QUICK";

/// Whether the notebooks run in quick mode: fewer images and one epoch, to test them fast.
pub fn quick_mode() -> bool {
    std::env::var_os(QUICK_ENV).is_some_and(|v| v != "0" && !v.is_empty())
}

/// The model that `cargo run --release` trained and saved: `models/lesson.safetensors`.
pub fn lesson_model_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/lesson.safetensors")
}

/// A file of this repository, by its path from the top (`reports/better/history.csv`).
pub fn project_file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// `path` as the notebooks show it: from the project's folder (`target/notebooks/x`), not the
/// whole path of the machine that ran them.
pub fn shown(path: &std::path::Path) -> String {
    path.strip_prefix(env!("CARGO_MANIFEST_DIR")).unwrap_or(path).display().to_string()
}

/// A folder for files the notebooks write (`target/notebooks/`), outside version control.
pub fn scratch_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/notebooks");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// A 28x28 digit as if written in dark ink on a larger sheet of light paper (a 640 x 400 page,
/// the digit 9 times larger and off-centre): an image to try `predict`'s preparation on.
pub fn on_paper(pixels: &[u8]) -> image::DynamicImage {
    let digit = image::GrayImage::from_raw(28, 28, pixels.to_vec()).expect("a digit has 28 x 28 pixels");
    let big = image::imageops::resize(&digit, 252, 252, image::imageops::FilterType::Triangle);
    let mut page = image::RgbImage::from_pixel(640, 400, image::Rgb([235, 235, 225]));
    for (x, y, p) in big.enumerate_pixels() {
        let v = 235 - (p.0[0] as u32 * 200 / 255) as u8;
        page.put_pixel(330 + x, 60 + y, image::Rgb([v, v, v - 10]));
    }
    image::DynamicImage::ImageRgb8(page)
}

/// Digits (28x28 each) written side by side in dark ink on light paper, three times MNIST's
/// size with `gap` pixels of paper between their frames: a number to read with
/// [`crate::number::read_number`].
pub fn side_by_side(digits: &[&[u8]], gap: u32) -> image::DynamicImage {
    let side = 84;
    let w = 40 + digits.len() as u32 * (side + gap);
    let mut page = image::GrayImage::from_pixel(w, side + 40, image::Luma([240]));
    for (k, pixels) in digits.iter().enumerate() {
        let digit = image::GrayImage::from_raw(28, 28, pixels.to_vec()).expect("a digit has 28 x 28 pixels");
        let big = image::imageops::resize(&digit, side, side, image::imageops::FilterType::Triangle);
        for (x, y, p) in big.enumerate_pixels() {
            let v = 240 - (p.0[0] as u32 * 220 / 255) as u8;
            page.put_pixel(20 + k as u32 * (side + gap) + x, 20 + y, image::Luma([v]));
        }
    }
    image::DynamicImage::ImageLuma8(page)
}

fn emit(mime: &str, content: &str) {
    println!("EVCXR_BEGIN_CONTENT {mime}\n{content}\nEVCXR_END_CONTENT");
}

impl Picture {
    /// Shows the picture as a PNG cell output.
    pub fn evcxr_display(&self) {
        emit("image/png", &crate::encode::base64(&self.png()));
    }
}

impl History {
    /// The history as a table, one row per epoch, as Keras's `pd.DataFrame(history.history)`.
    pub fn to_html(&self) -> String {
        let mut t = String::from("<table><tr><th>epoch</th><th>loss</th><th>accuracy</th><th>val_loss</th><th>val_accuracy</th><th>seconds</th></tr>");
        for e in &self.epochs {
            let _ = write!(
                t,
                "<tr><td>{}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.4}</td><td>{:.1}</td></tr>",
                e.epoch, e.loss, e.accuracy, e.val_loss, e.val_accuracy, e.seconds
            );
        }
        t + "</table>"
    }

    pub fn evcxr_display(&self) {
        emit("text/html", &self.to_html());
    }
}

impl Summary {
    /// The summary as a table: layer, output shape, parameters.
    pub fn to_html(&self) -> String {
        let mut t = String::from("<table><tr><th>Layer</th><th>Output shape</th><th>Param #</th></tr>");
        for l in &self.layers {
            let dims: Vec<String> = l.shape.iter().map(|d| d.to_string()).collect();
            let _ = write!(t, "<tr><td>{}</td><td>[batch, {}]</td><td>{}</td></tr>", l.name, dims.join(", "), thousands(l.params));
        }
        let _ = write!(t, "<tr><th>Total</th><th></th><th>{}</th></tr></table>", thousands(self.total_params()));
        t
    }

    pub fn evcxr_display(&self) {
        emit("text/html", &self.to_html());
        emit("text/plain", &self.to_string());
    }
}

impl Evaluation {
    pub fn evcxr_display(&self) {
        emit("text/plain", &format!("accuracy {:.2}%, loss {:.4}", self.accuracy * 100.0, self.loss));
    }
}

/// The ten probabilities that LiteRT, Google's TFLite runtime (the one a phone app runs), gives
/// for each image of `split` from the TFLite file `model`: it runs in Python from the project's
/// `.venv/` (`scripts/setup-app-checks.sh` installs it), through `scripts/litert_run.py`.
pub fn litert_probabilities(model: &Path, split: &Split) -> Result<Vec<[f32; CLASSES]>> {
    let python = project_file(".venv/bin/python");
    if !python.exists() {
        return Err(Error::MissingData {
            path: python,
            fix: "LiteRT runs from the project's Python environment: run `scripts/setup-app-checks.sh`, which installs it.".into(),
        });
    }
    let dir = scratch_dir();
    let (images, out) = (dir.join("litert-images.f32"), dir.join("litert-probabilities.f32"));
    let pixels: Vec<u8> = split.images.iter().flat_map(|&p| normalise(p).to_le_bytes()).collect();
    crate::write_atomic(&images, &pixels)?;
    let run = Command::new(&python)
        .arg(project_file("scripts/litert_run.py"))
        .args([model, &images, &out])
        .output()
        .map_err(Error::io("run", &python))?;
    if !run.status.success() {
        return Err(Error::BadModel {
            path: model.to_path_buf(),
            problem: format!("LiteRT could not run it: {}", String::from_utf8_lossy(&run.stderr).trim()),
            fix: "Write it again with `export::write_tflite`, and check that `scripts/setup-app-checks.sh` ran.".into(),
        });
    }
    let bytes = std::fs::read(&out).map_err(Error::io("read", &out))?;
    let values: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    if values.len() != split.len() * CLASSES {
        return Err(Error::BadModel { path: model.to_path_buf(), problem: format!("LiteRT gave {} values for {} images", values.len(), split.len()), fix: "Write it again with `export::write_tflite`.".into() });
    }
    Ok(values.chunks_exact(CLASSES).map(|c| c.try_into().unwrap()).collect())
}
