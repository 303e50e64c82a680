//! Predicting a digit from an image: read it, make it look like an MNIST digit, ask the model.
//!
//! MNIST's digits were made from scans this way (LeCun and Cortes): each digit was scaled to fit
//! a 20x20 box keeping its proportions, anti-aliased to grey levels, and placed in a 28x28 image
//! so that its centre of mass is at the centre. [`prepare`] does the same to any image, so the
//! model sees what it was trained on: a digit of any size, anywhere in a photo or a drawing,
//! dark on light or light on dark, becomes a white, centred, 20-pixel digit on black.
use std::io::Cursor;
use std::path::Path;

use image::io::{Limits, Reader as ImageReader};
use image::{imageops, DynamicImage, GrayImage, Luma};

use crate::data::{PIXELS, SIDE};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::model::{self, Network};

/// The side of the box a digit is scaled to fit, inside the 28x28 image (MNIST's 20).
pub const BOX: u32 = 20;

/// Images larger than this on a side are refused (a photo is smaller; a bigger "image" is
/// probably not one, and would need gigabytes to decode).
pub const MAX_SIDE: u32 = 8192;

/// Reads an image file (PNG or JPEG, any size, colour or background) and [`prepare`]s it.
pub fn read_digit(path: &Path) -> Result<Vec<u8>> {
    prepared(&read_image(path)?, &path.display().to_string())
}

/// Decodes PNG or JPEG bytes and [`prepare`]s the image; `what` names it in errors.
pub fn decode_digit(bytes: &[u8], what: &str) -> Result<Vec<u8>> {
    prepared(&decode_image(bytes, what)?, what)
}

/// [`prepare`], with no ink an error that names the image.
fn prepared(img: &DynamicImage, what: &str) -> Result<Vec<u8>> {
    prepare(img).ok_or_else(|| Error::NoDigit { what: what.to_string() })
}

/// Reads a PNG or JPEG file, with the checks of [`decode_image`].
pub fn read_image(path: &Path) -> Result<DynamicImage> {
    let bytes = fsutil::read(path, "Give the path of a PNG or JPEG image of a digit.")?;
    decode_image(&bytes, &path.display().to_string())
}

/// Decodes PNG or JPEG bytes, refusing anything else and images over [`MAX_SIDE`] on a side;
/// `what` names the image in errors.
pub fn decode_image(bytes: &[u8], what: &str) -> Result<DynamicImage> {
    let bad = |problem: String| Error::BadImage {
        what: what.to_string(),
        problem,
        fix: "Give a PNG or JPEG image of one handwritten digit.".into(),
    };
    if bytes.is_empty() {
        return Err(bad("is empty (0 bytes)".into()));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format().expect("reading from memory cannot fail");
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    reader.limits(limits);
    if reader.format().is_none() {
        return Err(bad("is not a PNG or JPEG image (its first bytes are not an image format's signature)".into()));
    }
    reader.decode().map_err(|e| bad(format!("could not be decoded as an image ({e})")))
}

/// Turns any image into a 28x28 MNIST-style digit (0-255, white ink on black), or `None` when
/// there is no ink to find (a blank image):
///
/// 1. grey levels, transparent parts as white paper;
/// 2. light on dark: an image whose border (its background) is light is inverted;
/// 3. the background level is subtracted and the ink stretched to full white, so grey paper
///    or faint pencil look like MNIST's black and white;
/// 4. cropped to the ink, scaled to fit 20x20 keeping its proportions;
/// 5. placed in 28x28 with its centre of mass at the centre.
pub fn prepare(img: &DynamicImage) -> Option<Vec<u8>> {
    fit_digit(&ink(img)?)
}

/// Steps 1 to 3 of [`prepare`]: the image as ink, 0 (paper) to 255 (the darkest ink), or `None`
/// when nothing stands out from the paper.
pub(crate) fn ink(img: &DynamicImage) -> Option<GrayImage> {
    let mut grey = flatten_onto_white(img);
    let background = border_median(&grey);
    if background > 127 {
        imageops::invert(&mut grey);
    }
    let background = background.min(255 - background) as f32;
    let peak = grey.pixels().map(|p| p.0[0]).max().unwrap_or(0) as f32;
    if peak - background < 32.0 {
        return None; // under an eighth of full contrast: paper, not ink
    }
    // Stretch: background to 0, the darkest ink to 255; a trace of noise (under 15%) to 0.
    for p in grey.pixels_mut() {
        let v = ((p.0[0] as f32 - background) / (peak - background)).clamp(0.0, 1.0);
        p.0[0] = if v < 0.15 { 0 } else { (v * 255.0).round() as u8 };
    }
    Some(grey)
}

/// Steps 4 and 5 of [`prepare`]: ink cropped, scaled to fit 20x20 and centred by its mass in
/// 28x28; `None` if there is no ink.
pub(crate) fn fit_digit(grey: &GrayImage) -> Option<Vec<u8>> {
    let (x0, y0, x1, y1) = ink_box(grey)?;
    let ink = imageops::crop_imm(grey, x0, y0, x1 - x0 + 1, y1 - y0 + 1).to_image();
    let (w, h) = ink.dimensions();
    let scale = BOX as f32 / w.max(h) as f32;
    let (sw, sh) = (((w as f32 * scale).round() as u32).clamp(1, BOX), ((h as f32 * scale).round() as u32).clamp(1, BOX));
    let mut small = imageops::resize(&ink, sw, sh, imageops::FilterType::Triangle);
    // A thin stroke shrunk a lot turns pale: bring its strongest pixel back to white.
    let top = small.pixels().map(|p| p.0[0]).max().unwrap_or(0).max(1) as f32;
    small.pixels_mut().for_each(|p| p.0[0] = (p.0[0] as f32 * 255.0 / top).round() as u8);
    Some(centre_by_mass(&small))
}

/// Grey levels (ITU-R 601 luma) with transparency composited onto white paper.
pub(crate) fn flatten_onto_white(img: &DynamicImage) -> GrayImage {
    let rgba = img.to_rgba8();
    GrayImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let luma = 0.299 * r as f32 + 0.587 * g as f32 + 0.114 * b as f32;
        let alpha = a as f32 / 255.0;
        Luma([(alpha * luma + (1.0 - alpha) * 255.0).round() as u8])
    })
}

/// The median grey level of the outermost rows and columns: the background's shade.
fn border_median(grey: &GrayImage) -> u8 {
    let (w, h) = grey.dimensions();
    let mut border: Vec<u8> = (0..w)
        .flat_map(|x| [grey.get_pixel(x, 0).0[0], grey.get_pixel(x, h - 1).0[0]])
        .chain((0..h).flat_map(|y| [grey.get_pixel(0, y).0[0], grey.get_pixel(w - 1, y).0[0]]))
        .collect();
    border.sort_unstable();
    border[border.len() / 2]
}

/// The smallest box `(x0, y0, x1, y1)` (inclusive) around the pixels that are not 0.
fn ink_box(grey: &GrayImage) -> Option<(u32, u32, u32, u32)> {
    grey.enumerate_pixels().filter(|(_, _, p)| p.0[0] > 0).fold(None, |b, (x, y, _)| {
        Some(match b {
            None => (x, y, x, y),
            Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
        })
    })
}

/// `digit` (at most 20x20) placed in a 28x28 image so that its centre of mass falls on the
/// centre, as far as the frame allows.
fn centre_by_mass(digit: &GrayImage) -> Vec<u8> {
    let (w, h) = digit.dimensions();
    let (mut mass, mut mx, mut my) = (0.0f64, 0.0f64, 0.0f64);
    for (x, y, p) in digit.enumerate_pixels() {
        let v = p.0[0] as f64;
        mass += v;
        mx += v * x as f64;
        my += v * y as f64;
    }
    let centre = (SIDE as f64 - 1.0) / 2.0;
    let place = |com: f64, len: u32| ((centre - com).round() as i64).clamp(0, (SIDE as u32 - len) as i64) as u32;
    let (ox, oy) = (place(mx / mass.max(1.0), w), place(my / mass.max(1.0), h));
    let mut out = vec![0u8; PIXELS];
    for (x, y, p) in digit.enumerate_pixels() {
        out[((y + oy) as usize) * SIDE + (x + ox) as usize] = p.0[0];
    }
    out
}

/// The model's ten probabilities for one 28x28 digit of 0-255 pixels.
pub fn probabilities<N: Network>(model: &N, pixels: &[u8]) -> [f32; 10] {
    model::probabilities(model, crate::data::one_image(&model.device(), pixels))[0]
}

/// The `n` most probable digits, most probable first: `(digit, probability)`.
pub fn top(probabilities: &[f32; 10], n: usize) -> Vec<(usize, f32)> {
    let mut ranked: Vec<(usize, f32)> = probabilities.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(n);
    ranked
}

/// Writes 28x28 grey pixels as a PNG file (to try [`read_digit`] on), atomically.
pub fn write_digit_png(path: &Path, pixels: &[u8]) -> Result<()> {
    fsutil::write_atomic(path, &crate::encode::png(pixels, SIDE as u32, SIDE as u32, 1))
}
