//! Predicting a digit from an image file: read it, make it look like an MNIST digit, ask the model.
use std::path::Path;

use crate::data::{normalise, PIXELS, SIDE};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::model::{self, Model};

/// Reads an image file (PNG or JPEG, any size) as a 28x28 MNIST-style digit: grey levels,
/// white ink on black (a dark-on-light image is inverted), resized to 28x28.
pub fn read_digit(path: &Path) -> Result<Vec<u8>> {
    let bytes = fsutil::read(path, "Give the path of a PNG or JPEG image of a digit.")?;
    let bad = |problem: String| Error::CorruptData {
        path: path.to_path_buf(),
        problem,
        fix: "Give a PNG or JPEG image of one handwritten digit.".into(),
    };
    if bytes.is_empty() {
        return Err(bad("is empty".into()));
    }
    let img = image::load_from_memory(&bytes).map_err(|e| bad(format!("is not a readable image ({e})")))?;
    let grey = image::imageops::resize(&img.to_luma8(), SIDE as u32, SIDE as u32, image::imageops::FilterType::Triangle);
    let mut pixels: Vec<u8> = grey.into_raw();
    // MNIST digits are light on dark: invert a picture whose border (its background) is light.
    let border: Vec<u8> = (0..SIDE).flat_map(|i| [pixels[i], pixels[(SIDE - 1) * SIDE + i]]).collect();
    if border.iter().map(|&p| p as u32).sum::<u32>() / border.len() as u32 > 127 {
        pixels.iter_mut().for_each(|p| *p = 255 - *p);
    }
    Ok(pixels)
}

/// The model's ten probabilities for one 28x28 digit of 0-255 pixels.
pub fn probabilities(model: &Model, pixels: &[u8]) -> [f32; 10] {
    assert_eq!(pixels.len(), PIXELS, "a digit has 28 x 28 pixels");
    let dev = model::device(0);
    let x = dfdx::tensor::TensorFromVec::tensor_from_vec(
        &dev,
        pixels.iter().map(|&p| normalise(p)).collect(),
        (1usize, dfdx::shapes::Const, dfdx::shapes::Const, dfdx::shapes::Const),
    );
    model::probabilities(model, x)[0]
}

/// Writes 28x28 grey pixels as a PNG file (to try [`read_digit`] on), atomically.
pub fn write_digit_png(path: &Path, pixels: &[u8]) -> Result<()> {
    let mut out = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut out),
        pixels,
        SIDE as u32,
        SIDE as u32,
        image::ColorType::L8,
    )
    .expect("encoding in memory cannot fail");
    fsutil::write_atomic(path, &out)
}
