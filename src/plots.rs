//! Every picture of the lesson, drawn with plotters from values (a history, images, a model),
//! never from files: the same function feeds `reports/*.png` and a notebook cell.
//!
//! Text uses DejaVu Sans, bundled in `assets/fonts/` (licence beside it), so pictures look the
//! same on every machine, with or without system fonts.
use std::sync::Once;

use dfdx::prelude::*;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::data::{Split, PIXELS, SIDE};
use crate::history::{Epoch, History};
use crate::layers::{Conv2D, MaxPool2D};

static FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
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
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(&self.rgb, self.width, self.height, image::ColorType::Rgb8)
            .expect("encoding an in-memory RGB buffer as PNG cannot fail");
        out
    }
}

use image::ImageEncoder;

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

/// One line of a chart: its legend, its colour, its (x, y) points.
type Line = (String, RGBColor, Vec<(f64, f64)>);

/// A line chart over epochs, with dots at each epoch and a legend.
fn epoch_chart(lines: &[Line], title: &str, metric: &str, legend_low: bool) -> Picture {
    canvas(800, 500, |root| {
        let n = lines.iter().flat_map(|l| l.2.iter().map(|p| p.0 as usize)).max().unwrap_or(1).max(1);
        let values: Vec<f64> = lines.iter().flat_map(|l| l.2.iter().map(|p| p.1)).collect();
        let (lo, hi) = values.iter().fold((f64::MAX, f64::MIN), |(l, h), &v| (l.min(v), h.max(v)));
        let (lo, hi) = if values.is_empty() { (0.0, 1.0) } else { (lo, hi) };
        let pad = ((hi - lo) * 0.08).max(1e-3);
        let mut chart = ChartBuilder::on(root)
            .caption(title, font(24))
            .margin(20)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(0.5f64..n as f64 + 0.5, (lo - pad)..(hi + pad))
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(metric)
            .x_labels(n.min(20))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.3}"))
            .label_style(font(14))
            .axis_desc_style(font(16))
            .draw()
            .map_err(err)?;
        for (name, color, points) in lines {
            let color = *color;
            chart
                .draw_series(LineSeries::new(points.iter().copied(), color.stroke_width(3)))
                .map_err(err)?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(3)));
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled()))).map_err(err)?;
        }
        chart
            .configure_series_labels()
            .position(if legend_low { SeriesLabelPosition::LowerRight } else { SeriesLabelPosition::UpperRight })
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font(font(16))
            .draw()
            .map_err(err)?;
        Ok(())
    })
}

/// The `training` and `validation` lines of one history.
fn train_and_test(history: &History, train: fn(&Epoch) -> f64, test: fn(&Epoch) -> f64) -> Vec<Line> {
    let points = |f: fn(&Epoch) -> f64| history.epochs.iter().map(|e| (e.epoch as f64, f(e))).collect();
    vec![("training".into(), BLUE, points(train)), ("validation".into(), ORANGE, points(test))]
}

/// Accuracy per epoch on the training images and the validation images (Keras's
/// `history.history["accuracy"]` and `["val_accuracy"]`).
pub fn accuracy_chart(history: &History) -> Picture {
    epoch_chart(&train_and_test(history, |e| e.accuracy, |e| e.val_accuracy), "Accuracy per epoch", "accuracy", true)
}

/// Cross-entropy loss per epoch on the training images and the validation images.
pub fn loss_chart(history: &History) -> Picture {
    epoch_chart(&train_and_test(history, |e| e.loss, |e| e.val_loss), "Loss per epoch", "loss (cross-entropy)", false)
}

/// Validation accuracy per epoch of several models, one line each: which learns faster, which ends higher.
pub fn comparison_chart(runs: &[(&str, &History)]) -> Picture {
    let colors = [BLUE, GREEN_DARK, ORANGE, RED];
    let lines: Vec<Line> = runs
        .iter()
        .zip(colors.iter().cycle())
        .map(|((name, h), &c)| {
            let last = h.last().map_or(0.0, |e| e.val_accuracy);
            let label = format!("{name} ({:.2}% after epoch {})", last * 100.0, h.epochs.len());
            (label, c, h.epochs.iter().map(|e| (e.epoch as f64, e.val_accuracy)).collect())
        })
        .collect();
    epoch_chart(&lines, "Validation accuracy per epoch", "validation accuracy", true)
}

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

/// A grid of the first `rows x cols` digits of `split`, each with its label.
pub fn digits_grid(split: &Split, rows: usize, cols: usize) -> Picture {
    let cell = 3;
    let (tile_w, tile_h) = (SIDE as i32 * cell + 16, SIDE as i32 * cell + 34);
    let (w, h) = (cols as i32 * tile_w + 16, rows as i32 * tile_h + 56);
    canvas(w as u32, h as u32, |root| {
        root.draw(&Text::new("Sample training images and their labels", (w / 2, 24), centered(22))).map_err(err)?;
        for i in 0..(rows * cols).min(split.len()) {
            let (x, y) = (8 + (i % cols) as i32 * tile_w + 8, 48 + (i / cols) as i32 * tile_h);
            let size = if split.class_name(i).len() > 2 { 12 } else { 18 };
            root.draw(&Text::new(split.class_name(i), (x + tile_w / 2 - 8, y + 10), centered(size))).map_err(err)?;
            draw_digit(root, (x, y + 24), split.image(i), cell)?;
        }
        Ok(())
    })
}

/// The 28x28 matrix of an image's 0-255 pixel values, each cell in its own grey: what the
/// computer sees. `label` names what it shows. Numbers large enough to read on a projector.
pub fn pixel_matrix(pixels: &[u8], label: &str) -> Picture {
    assert_eq!(pixels.len(), PIXELS, "an MNIST image has 784 pixels");
    let cell = 42;
    let (w, h) = (SIDE as i32 * cell + 40, SIDE as i32 * cell + 110);
    canvas(w as u32, h as u32, |root| {
        root.draw(&Text::new(format!("\"{label}\" as the computer sees it: 28 x 28 numbers"), (w / 2, 30), centered(30))).map_err(err)?;
        root.draw(&Text::new("from 0 (black) to 255 (white), each cell in its own grey", (w / 2, 68), centered(24))).map_err(err)?;
        let (x0, top) = (20, 95);
        for (i, &p) in pixels.iter().enumerate() {
            let (x, y) = (x0 + (i % SIDE) as i32 * cell, top + (i / SIDE) as i32 * cell);
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], grey(p as f32 / 255.0).filled())).map_err(err)?;
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], RGBColor(200, 200, 200))).map_err(err)?;
            let ink = match p {
                0 => RGBColor(110, 110, 110),
                1..=127 => WHITE,
                _ => BLACK,
            };
            number(root, p, (x + cell / 2, y + cell / 2), 17, &ink)?;
        }
        Ok(())
    })
}

/// The vertical-edge filter of the pooling picture: each output is (left column) - (right
/// column) of a 3x3 patch, so it is positive on a stroke's right edge (ink on the left, dark on
/// the right) and negative on its left edge.
pub const VERTICAL_EDGE: [[f32; 3]; 3] = [[1.0, 0.0, -1.0], [1.0, 0.0, -1.0], [1.0, 0.0, -1.0]];

/// A small grid of numbers for the 2x2 max-pooling picture.
pub const POOL_EXAMPLE: [[f32; 4]; 4] = [[1.0, 3.0, 2.0, 1.0], [4.0, 6.0, 5.0, 0.0], [3.0, 1.0, 1.0, 2.0], [0.0, 2.0, 7.0, 4.0]];

/// `image` (0-255) through a one-filter [`Conv2D`] holding `filter`, as the model's first
/// layer would compute it: `[26 x 26]` responses.
pub fn filter_response(image: &[u8], filter: [[f32; 3]; 3]) -> Vec<f32> {
    let dev: Cpu = Default::default();
    let conv = Conv2D::<1, 1, 3> { weight: dev.tensor([[filter]]), bias: dev.zeros(), padding: Default::default() };
    let x = dev.tensor_from_vec(image.iter().map(|&p| p as f32 / 255.0).collect(), (1usize, Const::<1>, Const::<28>, Const::<28>));
    conv.forward(x).as_vec()
}

/// `values` (`side x side`, one channel) through [`MaxPool2D<2>`]: `side/2 x side/2` maxima.
pub fn max_pool_2x2<const S: usize>(values: &[f32]) -> Vec<f32>
where
    Const<S>: crate::layers::dims::PoolOut<2, 2>,
{
    let dev: Cpu = Default::default();
    let x = dev.tensor_from_vec(values.to_vec(), (1usize, Const::<1>, Const::<S>, Const::<S>));
    MaxPool2D::<2>.forward(x).as_vec()
}

/// Max pooling explained: a 4x4 grid of numbers whose 2x2 blocks become their maxima, then a
/// real digit, its vertical-edge filter response, and that response after 2x2 pooling.
pub fn pooling_illustration(pixels: &[u8]) -> Picture {
    let grid: Vec<f32> = POOL_EXAMPLE.iter().flatten().copied().collect();
    let pooled = max_pool_2x2::<4>(&grid);
    let response = filter_response(pixels, VERTICAL_EDGE);
    // As the network does it: ReLU (negatives to 0), then pooling.
    let rectified: Vec<f32> = response.iter().map(|v| v.max(0.0)).collect();
    let response_pooled = max_pool_2x2::<26>(&rectified);
    let max_abs = response.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let block = [RGBColor(198, 219, 239), RGBColor(253, 208, 162), RGBColor(199, 233, 192), RGBColor(218, 218, 235)];
    let (w, h) = (1000, 780);
    canvas(w, h, |root| {
        root.draw(&Text::new("Max pooling (2x2): keep the highest value of each 2x2 block", (w as i32 / 2, 26), centered(24))).map_err(err)?;
        // Top: the numbers.
        let cell = 60;
        let (gx, gy) = (170, 70);
        for (i, &v) in grid.iter().enumerate() {
            let (r, c) = (i / 4, i % 4);
            let b = (r / 2) * 2 + c / 2;
            let (x, y) = (gx + c as i32 * cell, gy + r as i32 * cell);
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], block[b].filled())).map_err(err)?;
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], BLACK.stroke_width(1))).map_err(err)?;
            let is_max = v == pooled[b];
            let style = if is_max { ("sans-serif", 26, FontStyle::Normal).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center)) } else { centered(20).color(&RGBColor(90, 90, 90)) };
            root.draw(&Text::new(format!("{v:.0}"), (x + cell / 2, y + cell / 2), style)).map_err(err)?;
            if is_max {
                root.draw(&Circle::new((x + cell / 2, y + cell / 2), 20, BLACK.stroke_width(2))).map_err(err)?;
            }
        }
        root.draw(&Text::new("->", (gx + 4 * cell + 70, gy + 2 * cell), centered(40))).map_err(err)?;
        let px = gx + 4 * cell + 140;
        for (b, &v) in pooled.iter().enumerate() {
            let (x, y) = (px + (b % 2) as i32 * cell, gy + cell + (b / 2) as i32 * cell);
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], block[b].filled())).map_err(err)?;
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], BLACK.stroke_width(1))).map_err(err)?;
            root.draw(&Text::new(format!("{v:.0}"), (x + cell / 2, y + cell / 2), centered(26))).map_err(err)?;
        }
        root.draw(&Text::new("4 x 4 input", (gx + 2 * cell, gy + 4 * cell + 20), centered(16))).map_err(err)?;
        root.draw(&Text::new("2 x 2 output", (px + cell, gy + 4 * cell + 20), centered(16))).map_err(err)?;
        // Bottom: a real digit.
        let top = 420;
        let panels: [(&str, i32); 3] = [("digit (28 x 28)", 8), ("vertical-edge filter (26 x 26)", 8), ("ReLU, then 2x2 max pooling (13 x 13)", 16)];
        for (k, (title, cell)) in panels.iter().enumerate() {
            let x0 = 40 + k as i32 * 320;
            root.draw(&Text::new(*title, (x0 + 112, top - 20), centered(16))).map_err(err)?;
            match k {
                0 => draw_digit(root, (x0, top), pixels, *cell)?,
                1 => draw_cells(root, (x0 + 8, top + 8), 26, 26, *cell, |i| diverging(response[i], max_abs))?,
                _ => draw_cells(root, (x0 + 8, top + 8), 13, 13, *cell, |i| diverging(response_pooled[i], max_abs))?,
            }
        }
        root.draw(&Text::new("filter [[1, 0, -1], [1, 0, -1], [1, 0, -1]]: red on the right edge of a stroke, blue on its left edge", (w as i32 / 2, top + 250), centered(14))).map_err(err)?;
        root.draw(&Text::new("ReLU turns the negative (blue) values to 0 (white); pooling keeps the highest value of each 2x2 block:", (w as i32 / 2, top + 275), centered(14))).map_err(err)?;
        root.draw(&Text::new("half the size, the strongest right-hand edges kept", (w as i32 / 2, top + 297), centered(14))).map_err(err)?;
        Ok(())
    })
}

/// Test digits with the model's prediction and its probability: green when right, red when
/// wrong. `probabilities[i]` belongs to image `i` of `split`.
pub fn predictions(split: &Split, probabilities: &[[f32; 10]], rows: usize, cols: usize) -> Picture {
    let cell = 3;
    let (tile_w, tile_h) = (SIDE as i32 * cell + 40, SIDE as i32 * cell + 62);
    let (w, h) = (cols as i32 * tile_w + 20, rows as i32 * tile_h + 60);
    canvas(w as u32, h as u32, |root| {
        root.draw(&Text::new("Predictions on test images (green: right, red: wrong)", (w / 2, 24), centered(22))).map_err(err)?;
        for (i, p) in probabilities.iter().enumerate().take(rows * cols) {
            let (x, y) = (10 + (i % cols) as i32 * tile_w + 20, 50 + (i / cols) as i32 * tile_h);
            let guess = crate::model::argmax(p);
            let right = guess == split.labels[i] as usize;
            let color = if right { RGBColor(0, 130, 0) } else { RGBColor(200, 0, 0) };
            draw_digit(root, (x, y), split.image(i), cell)?;
            let cx = x + SIDE as i32 * cell / 2;
            root.draw(&Text::new(format!("{} ({:.1}%)", split.classes[guess], p[guess] * 100.0), (cx, y + SIDE as i32 * cell + 14), centered(14).color(&color))).map_err(err)?;
            root.draw(&Text::new(format!("label {}", split.class_name(i)), (cx, y + SIDE as i32 * cell + 32), centered(12))).map_err(err)?;
        }
        Ok(())
    })
}

/// A convolution explained: a digit, a 3x3 filter as numbers, and the filter's response at every
/// position (red positive, blue negative), computed by the model's own [`Conv2D`].
pub fn convolution_illustration(pixels: &[u8], filter: [[f32; 3]; 3]) -> Picture {
    let response = filter_response(pixels, filter);
    let max_abs = response.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let (w, h) = (980, 380);
    canvas(w, h, |root| {
        root.draw(&Text::new("Convolution: a 3x3 filter slides over the image; each output is a weighted sum of 9 pixels", (w as i32 / 2, 24), centered(20))).map_err(err)?;
        let top = 80;
        root.draw(&Text::new("digit (28 x 28)", (152, top - 20), centered(16))).map_err(err)?;
        draw_digit(root, (40, top), pixels, 8)?;
        root.draw(&Text::new("filter (3 x 3)", (415, top - 20), centered(16))).map_err(err)?;
        let cell = 50;
        for (i, &v) in filter.iter().flatten().enumerate() {
            let (x, y) = (340 + (i % 3) as i32 * cell, top + 40 + (i / 3) as i32 * cell);
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], diverging(v, 1.5).filled())).map_err(err)?;
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], BLACK.stroke_width(1))).map_err(err)?;
            root.draw(&Text::new(format!("{v}"), (x + cell / 2, y + cell / 2), centered(20))).map_err(err)?;
        }
        root.draw(&Text::new("response (26 x 26)", (760, top - 20), centered(16))).map_err(err)?;
        draw_cells(root, (656, top + 8), 26, 26, 8, |i| diverging(response[i], max_abs))?;
        root.draw(&Text::new("28 - 3 + 1 = 26 positions per side, no padding; red: positive, blue: negative", (w as i32 / 2, top + 250), centered(14))).map_err(err)?;
        Ok(())
    })
}

/// Where `filter` answers most strongly on `pixels` (the top-left corner of that 3x3 window).
pub fn strongest_window(pixels: &[u8], filter: [[f32; 3]; 3]) -> (usize, usize) {
    let response = filter_response(pixels, filter);
    let best = (0..response.len()).max_by(|&a, &b| response[a].total_cmp(&response[b])).unwrap_or(0);
    (best / 26, best % 26)
}

/// One output of a convolution worked in numbers: the 3x3 window of the image whose top-left
/// corner is `(row, col)` (pixels scaled to 0..1), the filter's 9 weights, their 9 products,
/// and the sum, which is the output pixel at `(row, col)` (the same number the layer gives).
pub fn convolution_worked(pixels: &[u8], filter: [[f32; 3]; 3], (row, col): (usize, usize)) -> Picture {
    assert!(row < 26 && col < 26, "a 3x3 window of a 28x28 image starts at 0..26");
    let window: Vec<f32> = (0..9).map(|i| pixels[(row + i / 3) * SIDE + col + i % 3] as f32 / 255.0).collect();
    let weights: Vec<f32> = filter.iter().flatten().copied().collect();
    let products: Vec<f32> = window.iter().zip(&weights).map(|(p, w)| p * w).collect();
    let sum: f32 = products.iter().sum();
    let layer = filter_response(pixels, filter)[row * 26 + col];
    let (w, h) = (1180, 420);
    canvas(w, h, |root| {
        root.draw(&Text::new(format!("One output of the convolution: the window at row {row}, column {col}"), (w as i32 / 2, 26), centered(22))).map_err(err)?;
        // The digit, the window marked.
        let (dx, dy, big) = (20, 80, 9);
        draw_digit(root, (dx, dy), pixels, big)?;
        let (x, y) = (dx + col as i32 * big, dy + row as i32 * big);
        root.draw(&Rectangle::new([(x - 1, y - 1), (x + 3 * big + 1, y + 3 * big + 1)], RGBColor(230, 85, 13).stroke_width(3))).map_err(err)?;
        let cell = 58;
        let grid = |x0: i32, title: &str, values: &[f32], color: &dyn Fn(f32) -> RGBColor| -> Result<(), String> {
            root.draw(&Text::new(title, (x0 + 3 * cell / 2, 110), centered(17))).map_err(err)?;
            for (i, &v) in values.iter().enumerate() {
                let (x, y) = (x0 + (i % 3) as i32 * cell, 135 + (i / 3) as i32 * cell);
                root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], color(v).filled())).map_err(err)?;
                root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], BLACK.stroke_width(1))).map_err(err)?;
                root.draw(&Text::new(format!("{v:.2}"), (x + cell / 2, y + cell / 2), centered(17))).map_err(err)?;
            }
            Ok(())
        };
        let pale = |v: f32| grey(0.55 + 0.45 * v);
        grid(300, "the window's pixels", &window, &pale)?;
        root.draw(&Text::new("x", (300 + 3 * cell + 25, 135 + 3 * cell / 2), centered(30))).map_err(err)?;
        grid(300 + 3 * cell + 50, "the filter's weights", &weights, &|v| diverging(v, 1.5))?;
        root.draw(&Text::new("=", (300 + 6 * cell + 75, 135 + 3 * cell / 2), centered(30))).map_err(err)?;
        grid(300 + 6 * cell + 100, "pixel x weight", &products, &|v| diverging(v, 1.5))?;
        let terms: Vec<String> = products.iter().map(|p| format!("{p:.2}")).collect();
        root.draw(&Text::new(format!("sum of the 9 products: {} = {sum:.2}", terms.join(" + ").replace("+ -", "- ")), (300 + 9 * cell / 2 + 50, 135 + 3 * cell + 40), centered(16))).map_err(err)?;
        root.draw(&Text::new(format!("the output pixel at ({row}, {col}): {sum:.2} (the layer computes {layer:.2}); then 26 x 26 such sums, one per position"), (w as i32 / 2, 135 + 3 * cell + 80), centered(16))).map_err(err)?;
        Ok(())
    })
}

/// ReLU, `max(0, x)`: negative inputs become 0, positive ones pass unchanged.
pub fn relu_chart() -> Picture {
    canvas(600, 400, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("ReLU(x) = max(0, x)", font(22))
            .margin(20)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(-3.0f64..3.0, -1.0f64..3.0)
            .map_err(err)?;
        chart.configure_mesh().x_desc("x").y_desc("ReLU(x)").label_style(font(14)).axis_desc_style(font(16)).draw().map_err(err)?;
        let xs = (0..=120).map(|i| -3.0 + i as f64 * 0.05);
        chart.draw_series(LineSeries::new(xs.map(|x| (x, x.max(0.0))), BLUE.stroke_width(3))).map_err(err)?;
        Ok(())
    })
}

/// Ten probabilities as bars, one per digit, the largest highlighted.
pub fn probability_bars(probabilities: &[f32], title: &str) -> Picture {
    canvas(600, 360, |root| draw_bars(root, probabilities, title, None))
}

fn draw_bars(area: &Area, probabilities: &[f32], title: &str, label: Option<u8>) -> Result<(), String> {
    let best = crate::model::argmax(probabilities);
    let mut chart = ChartBuilder::on(area)
        .caption(title, font(18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(45)
        .build_cartesian_2d((0..probabilities.len() as u32 - 1).into_segmented(), 0.0f32..1.0)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc(if label.is_some() { "digit" } else { "class" })
        .y_desc("probability")
        .label_style(font(13))
        .axis_desc_style(font(14))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(probabilities.iter().enumerate().map(|(i, &p)| {
            let color = if i == best { ORANGE } else { BLUE };
            let x0 = SegmentValue::Exact(i as u32);
            let x1 = SegmentValue::Exact(i as u32 + 1);
            let mut bar = Rectangle::new([(x0, 0.0), (x1, p)], color.filled());
            bar.set_margin(0, 0, 4, 4);
            bar
        }))
        .map_err(err)?;
    Ok(())
}

/// Test digits, each beside the model's ten probabilities for it.
pub fn prediction_bars(split: &Split, probabilities: &[[f32; 10]], count: usize) -> Picture {
    let n = count.min(probabilities.len()).max(1);
    prediction_bars_for(split, probabilities, &(0..n).collect::<Vec<_>>())
}

/// The same for the images `indices` of `split` (for example the one the model is least sure of).
pub fn prediction_bars_for(split: &Split, probabilities: &[[f32; 10]], indices: &[usize]) -> Picture {
    let n = indices.len().max(1);
    let row_h = 240;
    canvas(820, (n as i32 * row_h) as u32, |root| {
        for (&i, area) in indices.iter().zip(root.split_evenly((n, 1)).iter()) {
            let (left, right) = area.split_horizontally(240);
            draw_digit(&left, (40, 50), split.image(i), 5)?;
            let p = &probabilities[i];
            let guess = crate::model::argmax(p);
            let title = format!("label {}: predicted {} with probability {:.3}", split.class_name(i), split.classes[guess], p[guess]);
            draw_bars(&right, p, &title, Some(split.labels[i]))?;
        }
        Ok(())
    })
}

/// The confusion matrix: row = true digit, column = predicted digit, each cell its count; the
/// diagonal (read right) in shades of green, the mistakes in shades of orange (scaled to the
/// largest mistake, which would vanish beside the diagonal's thousands), each digit's accuracy
/// on the right. Not red and blue: those mean positive and negative in the other pictures.
/// `classes` names the rows (for digits, the digits themselves).
pub fn confusion_matrix(cm: &crate::analysis::ConfusionMatrix, classes: &[&str; 10]) -> Picture {
    let cell = 56;
    let digits = *classes == crate::data::DIGITS;
    let word = if digits { "digit" } else { "class" };
    let (x0, y0) = (if digits { 110 } else { 190 }, 90);
    let (w, h) = (x0 as u32 + 10 * cell as u32 + 170, y0 as u32 + 10 * cell as u32 + 90);
    let per_digit = cm.per_digit_accuracy();
    // Off-diagonal counts are small next to the diagonal: scale colours by the largest error too.
    let max_diag = (0..10).map(|d| cm.counts[d][d]).max().unwrap_or(1).max(1) as f32;
    let max_off = (0..10).flat_map(|r| (0..10).filter(move |&c| c != r).map(move |c| (r, c))).map(|(r, c)| cm.counts[r][c]).max().unwrap_or(1).max(1) as f32;
    canvas(w, h, |root| {
        root.draw(&Text::new(format!("Confusion matrix on {} test images: {:.2}% right", cm.total(), cm.accuracy() * 100.0), (w as i32 / 2, 24), centered(22))).map_err(err)?;
        root.draw(&Text::new(format!("predicted {word}"), (x0 + 5 * cell, y0 - 40), centered(16))).map_err(err)?;
        if digits {
            root.draw(&Text::new("true", (x0 - 70, y0 + 5 * cell - 10), centered(16))).map_err(err)?;
            root.draw(&Text::new("digit", (x0 - 70, y0 + 5 * cell + 10), centered(16))).map_err(err)?;
        }
        root.draw(&Text::new("accuracy", (x0 + 10 * cell + 75, y0 - 15), centered(15))).map_err(err)?;
        for (d, accuracy) in per_digit.iter().enumerate() {
            root.draw(&Text::new(d.to_string(), (x0 + d as i32 * cell + cell / 2, y0 - 14), centered(16))).map_err(err)?;
            let row_name = if digits { d.to_string() } else { format!("{} {d}", classes[d]) };
            let right = font(if digits { 16 } else { 14 }).pos(Pos::new(HPos::Right, VPos::Center));
            root.draw(&Text::new(row_name, (x0 - 8, y0 + d as i32 * cell + cell / 2), right)).map_err(err)?;
            root.draw(&Text::new(format!("{:.1}%", accuracy * 100.0), (x0 + 10 * cell + 75, y0 + d as i32 * cell + cell / 2), centered(15))).map_err(err)?;
            for p in 0..10 {
                let n = cm.counts[d][p];
                let (x, y) = (x0 + p as i32 * cell, y0 + d as i32 * cell);
                let color = if d == p { shade(n as f32, max_diag, RIGHT) } else { shade(n as f32, max_off, WRONG) };
                root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], color.filled())).map_err(err)?;
                root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], RGBColor(200, 200, 200))).map_err(err)?;
                if n > 0 {
                    let strong = (d == p && n as f32 > 0.5 * max_diag) || (d != p && n as f32 > 0.7 * max_off);
                    number(root, n, (x + cell / 2, y + cell / 2), 17, if strong { &WHITE } else { &BLACK })?;
                }
            }
        }
        // The two scales, said in words under the matrix.
        let legend = y0 + 10 * cell + 30;
        for (k, (full, text)) in [
            (RIGHT, format!("green: read right (darkest: {})", max_diag as usize)),
            (WRONG, format!("orange: mistakes (darkest: {})", max_off as usize)),
        ]
        .into_iter()
        .enumerate()
        {
            let x = x0 + k as i32 * 5 * cell;
            root.draw(&Rectangle::new([(x, legend - 10), (x + 20, legend + 10)], full.filled())).map_err(err)?;
            root.draw(&Text::new(text, (x + 28, legend), font(16).pos(Pos::new(HPos::Left, VPos::Center)))).map_err(err)?;
        }
        Ok(())
    })
}

/// The misclassified test digits, most confidently wrong first: each with its true label, the
/// model's answer and the probability it gave that answer.
pub fn misclassified_gallery(split: &Split, misses: &[crate::analysis::Miss], rows: usize, cols: usize) -> Picture {
    let cell = 3;
    let (tile_w, tile_h) = (SIDE as i32 * cell + 40, SIDE as i32 * cell + 50);
    let (w, h) = (cols as i32 * tile_w + 20, rows as i32 * tile_h + 60);
    canvas(w as u32, h as u32, |root| {
        root.draw(&Text::new(format!("{} misclassified test images; the most confident mistakes: true -> predicted (probability)", misses.len()), (w / 2, 24), centered(18))).map_err(err)?;
        for (i, m) in misses.iter().take(rows * cols).enumerate() {
            let (x, y) = (10 + (i % cols) as i32 * tile_w + 20, 50 + (i / cols) as i32 * tile_h);
            draw_digit(root, (x, y), split.image(m.index), cell)?;
            let text = format!("{} -> {} ({:.0}%)", split.classes[m.label as usize], split.classes[m.predicted as usize], m.probability * 100.0);
            root.draw(&Text::new(text, (x + SIDE as i32 * cell / 2, y + SIDE as i32 * cell + 16), centered(14).color(&RGBColor(200, 0, 0)))).map_err(err)?;
        }
        Ok(())
    })
}

/// The first layer's 32 learned 3x3 filters (red positive, blue negative weights).
pub fn filters(weights: &[f32]) -> Picture {
    let n = weights.len() / 9;
    let max_abs = weights.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let (cols, cell) = (8, 20);
    let tile = 3 * cell + 30;
    let rows = n.div_ceil(cols);
    let (w, h) = (cols as i32 * tile + 20, rows as i32 * tile + 70);
    canvas(w as u32, h as u32, |root| {
        root.draw(&Text::new(format!("The {n} learned 3x3 filters of Conv2D, numbered from 0 as in the code"), (w / 2, 20), centered(16))).map_err(err)?;
        root.draw(&Text::new("red: positive weight, blue: negative, white: 0", (w / 2, 42), centered(14))).map_err(err)?;
        for f in 0..n {
            let (x, y) = (20 + (f % cols) as i32 * tile, 75 + (f / cols) as i32 * tile);
            draw_cells(root, (x, y), 3, 3, cell, |i| diverging(weights[f * 9 + i], max_abs))?;
            root.draw(&Rectangle::new([(x, y), (x + 3 * cell, y + 3 * cell)], RGBColor(150, 150, 150))).map_err(err)?;
            number(root, f, (x + 3 * cell / 2, y - 9), 13, &RGBColor(60, 60, 60))?;
        }
        Ok(())
    })
}

/// Feature maps (`channels` maps of `side x side`, flattened) as a grid of grey pictures under
/// `title`, numbered as the filters that made them; each map is scaled to its own largest
/// value (white), which the picture says, so a weak map looks as bright as a strong one.
pub fn feature_maps(maps: &[f32], side: usize, title: &str) -> Picture {
    let n = maps.len() / (side * side);
    let cols = 8;
    let cell = (104 / side).max(1) as i32;
    let tile = side as i32 * cell + 12;
    let row = tile + 16;
    let (w, h) = (cols as i32 * tile + 20, n.div_ceil(cols) as i32 * row + 70);
    canvas(w as u32, h as u32, |root| {
        root.draw(&Text::new(title, (w / 2, 20), centered(16))).map_err(err)?;
        root.draw(&Text::new("numbered as the filters; each map scaled to its own largest value (white)", (w / 2, 42), centered(14))).map_err(err)?;
        for (f, map) in maps.chunks_exact(side * side).enumerate() {
            let top = map.iter().fold(0.0f32, |m, &v| m.max(v)).max(1e-6);
            let (x, y) = (16 + (f % cols) as i32 * tile, 76 + (f / cols) as i32 * row);
            number(root, f, (x + side as i32 * cell / 2, y - 10), 13, &RGBColor(60, 60, 60))?;
            draw_cells(root, (x, y), side, side, cell, |i| grey(map[i] / top))?;
        }
        Ok(())
    })
}

/// An image as `predict` found it, beside the 28x28 digit it made of it (see
/// [`crate::predict::prepare`]): what "prepared the way MNIST was made" means.
pub fn preparation(original: &image::DynamicImage, prepared: &[u8]) -> Picture {
    assert_eq!(prepared.len(), PIXELS, "a prepared digit has 784 pixels");
    let side = 280u32;
    let scale = side as f32 / original.width().max(original.height()) as f32;
    let (w, h) = (((original.width() as f32 * scale) as u32).max(1), ((original.height() as f32 * scale) as u32).max(1));
    let shown = image::imageops::resize(&original.to_rgb8(), w, h, image::imageops::FilterType::Triangle);
    let title = format!("An image of {} x {} pixels, and the 28 x 28 digit the model is given", original.width(), original.height());
    canvas(2 * side + 140, side + 110, |root| {
        root.draw(&Text::new(title, ((side + 70) as i32, 24), centered(20))).map_err(err)?;
        let top = 60;
        let (x0, y0) = (30 + (side - w) as i32 / 2, top + (side - h) as i32 / 2);
        for (x, y, p) in shown.enumerate_pixels() {
            root.draw_pixel((x0 + x as i32, y0 + y as i32), &RGBColor(p.0[0], p.0[1], p.0[2])).map_err(err)?;
        }
        root.draw(&Rectangle::new([(30, top), (30 + side as i32, top + side as i32)], RGBColor(160, 160, 160))).map_err(err)?;
        let x1 = 110 + side as i32;
        root.draw(&Text::new("→", (x1 - 40, top + side as i32 / 2), centered(36))).map_err(err)?;
        draw_digit(root, (x1, top), prepared, (side / SIDE as u32) as i32)?;
        let caption = "grey, white on black, cropped, fit to 20 x 20, centred by mass";
        root.draw(&Text::new(caption, ((side + 70) as i32, top + side as i32 + 28), centered(16))).map_err(err)?;
        Ok(())
    })
}

/// A digit and `count` randomly moved copies of it, as training sees it in different epochs
/// (see [`crate::data::augment`]); `seed` picks the moves.
pub fn moved_copies(pixels: &[u8], count: usize, seed: u64) -> Picture {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let image: Vec<f32> = pixels.iter().map(|&p| crate::data::normalise(p)).collect();
    let copies: Vec<Vec<u8>> = std::iter::once(pixels.to_vec())
        .chain((0..count).map(|_| crate::data::augment(&image, &mut rng).iter().map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8).collect()))
        .collect();
    let cell = 3;
    let tile = SIDE as i32 * cell + 16;
    let w = copies.len() as i32 * tile + 16;
    canvas(w as u32, (SIDE as i32 * cell + 90) as u32, |root| {
        root.draw(&Text::new("The original, then the same digit as different epochs see it", (w / 2, 24), centered(18))).map_err(err)?;
        for (i, c) in copies.iter().enumerate() {
            let x = 16 + i as i32 * tile;
            draw_digit(root, (x, 50), c, cell)?;
            let label = if i == 0 { "original".to_string() } else { format!("epoch {i}") };
            root.draw(&Text::new(label, (x + SIDE as i32 * cell / 2, 50 + SIDE as i32 * cell + 18), centered(13))).map_err(err)?;
        }
        Ok(())
    })
}
