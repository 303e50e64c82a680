//! Every picture of the lesson, drawn with plotters from values (a history, images, a model),
//! never from files: the same function feeds `reports/*.png` and a notebook cell.
//!
//! Text uses DejaVu Sans, bundled in `assets/fonts/` (licence beside it), so pictures look the
//! same on every machine, with or without system fonts.
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::data::SIDE;

mod charts;
mod digits;
mod explain;
mod inside;

pub use charts::{accuracy_chart, comparison_chart, loss_chart, prediction_bars, prediction_bars_for, probability_bars, relu_chart};
pub use digits::{confusion_matrix, digits_grid, misclassified_gallery, moved_copies, pixel_matrix, predictions, preparation};
pub use explain::{adversarial, every_layer, number_reading, robustness_chart, saliency, Looked};
pub use inside::{convolution_illustration, convolution_worked, feature_maps, filters, pooling_illustration};

static FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT)
            .map_err(|_| ())
            .expect("the bundled DejaVu Sans is a valid font");
    });
}

/// An RGB picture in memory.
#[derive(Clone)]
pub struct Picture {
    pub width: u32,
    pub height: u32,
    /// `width * height * 3` bytes, row by row.
    pub rgb: Vec<u8>,
}

impl Picture {
    /// Encodes the picture as PNG.
    pub fn png(&self) -> Vec<u8> {
        crate::encode::png(&self.rgb, self.width, self.height, 3)
    }
}


type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Draws on a white canvas of `width x height` with `draw`, and returns the picture.
fn canvas(width: u32, height: u32, draw: impl FnOnce(&Area) -> Result<(), String>) -> Picture {
    register_font();
    let mut rgb = vec![255u8; (width * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (width, height)).into_drawing_area();
        root.fill(&WHITE).unwrap();
        draw(&root).unwrap_or_else(|e| panic!("drawing failed: {e}"));
        root.present().unwrap();
    }
    Picture { width, height, rgb }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn font(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&BLACK)
}

fn centered(size: u32) -> TextStyle<'static> {
    font(size).pos(Pos::new(HPos::Center, VPos::Center))
}

/// Draws `n` centred on `at`, each glyph placed by the font's own metrics (its advance and
/// left side bearing, from ab_glyph): plotters places each glyph by its drawn box, which spaced
/// some numbers unevenly ("1131" drawn as "11 31").
fn number(area: &Area, n: impl std::fmt::Display, at: (i32, i32), size: u32, color: &RGBColor) -> Result<(), String> {
    use ab_glyph::{Font, ScaleFont};
    let face = ab_glyph::FontRef::try_from_slice(FONT).map_err(err)?;
    // plotters' size is the font's height from descender to ascender, as ab_glyph's scale.
    let scaled = face.as_scaled(ab_glyph::PxScale::from(size as f32));
    let text = n.to_string();
    let width: f32 = text.chars().map(|c| scaled.h_advance(face.glyph_id(c))).sum();
    let style = font(size).color(color).pos(Pos::new(HPos::Left, VPos::Center));
    let mut pen = at.0 as f32 - width / 2.0;
    for ch in text.chars() {
        let id = face.glyph_id(ch);
        let x = (pen + scaled.h_side_bearing(id)).round() as i32;
        area.draw(&Text::new(ch.to_string(), (x, at.1), style.clone())).map_err(err)?;
        pen += scaled.h_advance(id);
    }
    Ok(())
}

/// Shades of one colour for counts: white for 0, `full` for `max`.
fn shade(n: f32, max: f32, full: RGBColor) -> RGBColor {
    let t = (n / max.max(1.0)).clamp(0.0, 1.0);
    let mix = |c: u8| (255.0 - (255.0 - c as f32) * t).round() as u8;
    RGBColor(mix(full.0), mix(full.1), mix(full.2))
}

const BLUE: RGBColor = RGBColor(31, 119, 180);

/// The confusion matrix's two scales.
const RIGHT: RGBColor = RGBColor(35, 139, 69);

const WRONG: RGBColor = RGBColor(230, 85, 13);

const ORANGE: RGBColor = RGBColor(255, 127, 14);

const GREEN_DARK: RGBColor = RGBColor(44, 160, 44);

/// Grey level for a 0..1 value: 0 black, 1 white.
fn grey(v: f32) -> RGBColor {
    let g = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    RGBColor(g, g, g)
}

/// Blue for negative, white for zero, red for positive, scaled by `max_abs`.
fn diverging(v: f32, max_abs: f32) -> RGBColor {
    let t = (v / max_abs.max(1e-6)).clamp(-1.0, 1.0);
    if t >= 0.0 {
        shade(t, 1.0, RGBColor(178, 24, 43))
    } else {
        shade(-t, 1.0, RGBColor(33, 102, 172))
    }
}

/// Fills a `cols x rows` grid of cells of `cell` pixels at `(x0, y0)` with `color(i)`.
fn draw_cells(area: &Area, (x0, y0): (i32, i32), cols: usize, rows: usize, cell: i32, color: impl Fn(usize) -> RGBColor) -> Result<(), String> {
    for r in 0..rows {
        for c in 0..cols {
            let (x, y) = (x0 + c as i32 * cell, y0 + r as i32 * cell);
            area.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], color(r * cols + c).filled())).map_err(err)?;
        }
    }
    Ok(())
}

/// A digit as a grey picture, white ink on black as MNIST stores it.
fn draw_digit(area: &Area, at: (i32, i32), pixels: &[u8], cell: i32) -> Result<(), String> {
    draw_cells(area, at, SIDE, SIDE, cell, |i| grey(pixels[i] as f32 / 255.0))
}
