//! Reading a number: several digits side by side in one image (a year, a phone number), split
//! into digits, each read as [`predict`](super::predict) reads one digit.
//!
//! 1. the image as ink, as for one digit (dark on light or light on dark, any paper);
//! 2. the runs of columns written in (digits written apart leave a column between them);
//! 3. specks of dust dropped, and a fragment too short to be a digit given to its neighbour;
//! 4. each piece made an MNIST digit (20x20 box, centred by mass) and read; a piece wider than a
//!    digit (digits that touch) is also cut, where its ink is thinnest, into two or more, and
//!    the reading the model is surest of wins (the product of each digit's probability, so a
//!    cut must make every part a clearer digit than the whole was);
//! 5. the digits, left to right.
use image::{DynamicImage, GrayImage, Luma};

use super::predict::{self, fit_digit};
use crate::model::Network;

/// Where a digit was found in the image, in its pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// One digit of a number: where it is, the 28x28 digit the model saw, and what it made of it.
#[derive(Clone, Debug)]
pub struct Digit {
    pub bounds: Bounds,
    pub pixels: Vec<u8>,
    pub probabilities: [f32; 10],
}

impl Digit {
    /// The most probable digit.
    pub fn value(&self) -> usize {
        predict::top(&self.probabilities, 1)[0].0
    }
}

/// The digits of `img`, left to right, each read by `model`; empty if there is no ink.
pub fn read_number<N: Network>(model: &N, img: &DynamicImage) -> Vec<Digit> {
    let Some(ink) = predict::ink(img) else { return Vec::new() };
    let mut pieces = columns(&ink);
    tidy(&mut pieces);
    let mut digits: Vec<Digit> = pieces.into_iter().flat_map(|p| best_reading(model, p, &ink)).collect();
    digits.sort_by_key(|d| (d.bounds.x, d.bounds.y));
    digits
}

/// The number the digits spell, as text ("2026").
pub fn text(digits: &[Digit]) -> String {
    digits.iter().map(|d| char::from(b'0' + d.value() as u8)).collect()
}

/// `piece` read as one digit, or, if it is wider than a digit is (over 1.1 times its height),
/// as the two or more digits (as many as its width could hold) that the model is surest of;
/// but a reading with fewer parts than the most may not have a part wider than 1.5 times the
/// piece's height (wider than any digit).
fn best_reading<N: Network>(model: &N, piece: Piece, ink: &GrayImage) -> Vec<Digit> {
    let (w, h) = (piece.width(), piece.height());
    let most = if w * 10 <= h * 11 { 1 } else { ((w * 2) / h).clamp(2, 6) };
    let mut best: Option<(f32, Vec<Digit>)> = None;
    for parts in 1..=most {
        let Some(cut) = cut(&piece, parts, ink) else { continue };
        if parts < most && cut.iter().any(|p| p.width() * 10 > h * 15) {
            continue;
        }
        let read: Vec<Digit> = cut.iter().filter_map(|p| read_piece(model, p, ink)).collect();
        let sure: f32 = read.iter().map(|d| d.probabilities[d.value()]).product();
        if read.len() == cut.len() && best.as_ref().is_none_or(|(b, _)| sure > *b) {
            best = Some((sure, read));
        }
    }
    best.map(|(_, read)| read).unwrap_or_default()
}

/// One piece as an MNIST digit, read.
fn read_piece<N: Network>(model: &N, piece: &Piece, ink: &GrayImage) -> Option<Digit> {
    let b = piece.bounds();
    let mut alone = GrayImage::new(b.width, b.height);
    for &(x, y) in &piece.pixels {
        alone.put_pixel(x - b.x, y - b.y, Luma([ink.get_pixel(x, y).0[0]]));
    }
    let pixels = fit_digit(&alone)?;
    Some(Digit { bounds: b, probabilities: predict::probabilities(model, &pixels), pixels })
}

/// Ink pixels that belong together, with their bounding box.
#[derive(Clone, Debug)]
struct Piece {
    pixels: Vec<(u32, u32)>,
    x0: u32,
    y0: u32,
    x1: u32,
    y1: u32,
}

impl Piece {
    fn new(pixels: Vec<(u32, u32)>) -> Option<Self> {
        let (&(x, y), _) = pixels.split_first()?;
        let mut p = Piece { x0: x, y0: y, x1: x, y1: y, pixels: Vec::new() };
        for &(x, y) in &pixels {
            (p.x0, p.y0, p.x1, p.y1) = (p.x0.min(x), p.y0.min(y), p.x1.max(x), p.y1.max(y));
        }
        p.pixels = pixels;
        Some(p)
    }
    fn width(&self) -> u32 {
        self.x1 - self.x0 + 1
    }
    fn height(&self) -> u32 {
        self.y1 - self.y0 + 1
    }
    fn bounds(&self) -> Bounds {
        Bounds { x: self.x0, y: self.y0, width: self.width(), height: self.height() }
    }
    /// This piece with `other`'s pixels too.
    fn absorb(&mut self, other: Piece) {
        let mut pixels = std::mem::take(&mut self.pixels);
        pixels.extend(other.pixels);
        *self = Piece::new(pixels).expect("a piece has pixels");
    }
}

/// The runs of columns with ink in them, left to right, each with its ink pixels: digits
/// written apart have a blank column between them, while the strokes of one digit (a 5's flag,
/// a faint or broken line) share columns or stand in neighbouring ones.
fn columns(ink: &GrayImage) -> Vec<Piece> {
    let (w, h) = ink.dimensions();
    let written: Vec<bool> = (0..w).map(|x| (0..h).any(|y| ink.get_pixel(x, y).0[0] > 0)).collect();
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for x in 0..w {
        match (written[x as usize], runs.last_mut()) {
            (true, Some(last)) if last.1 + 1 == x => last.1 = x,
            (true, _) => runs.push((x, x)),
            _ => {}
        }
    }
    runs.into_iter()
        .filter_map(|(from, to)| {
            Piece::new((from..=to).flat_map(|x| (0..h).map(move |y| (x, y))).filter(|&(x, y)| ink.get_pixel(x, y).0[0] > 0).collect())
        })
        .collect()
}

/// Drops dust (pieces under 1% of the largest's pixels and under a quarter of the tallest's
/// height), joins pieces with only a sliver of blank between them, then gives each fragment
/// (under half the typical digit's height: a 5's flag, a broken stroke) to the nearest digit
/// beside it. `pieces` are left to right.
fn tidy(pieces: &mut Vec<Piece>) {
    let most = pieces.iter().map(|p| p.pixels.len()).max().unwrap_or(0);
    let tallest = pieces.iter().map(Piece::height).max().unwrap_or(0);
    pieces.retain(|p| p.pixels.len() * 100 >= most || p.height() * 4 >= tallest);
    // A digit's height: the median of the pieces at least half as tall as the tallest.
    let mut heights: Vec<u32> = pieces.iter().map(Piece::height).filter(|&h| h * 2 >= tallest).collect();
    heights.sort_unstable();
    let Some(&typical) = heights.get(heights.len() / 2) else { return };
    // Runs a blank column or so apart (under 5% of a digit's height) are one digit with a faint
    // break; digits written apart leave more.
    let mut i = 1;
    while i < pieces.len() {
        if (pieces[i].x0 - pieces[i - 1].x1 - 1) * 20 < typical {
            let next = pieces.remove(i);
            pieces[i - 1].absorb(next);
        } else {
            i += 1;
        }
    }
    loop {
        let Some(small) = pieces.iter().position(|p| p.height() * 2 < typical) else { return };
        if pieces.len() == 1 {
            return;
        }
        let fragment = pieces.swap_remove(small);
        let distance = |p: &Piece| fragment.x0.saturating_sub(p.x1).max(p.x0.saturating_sub(fragment.x1));
        let nearest = (0..pieces.len()).min_by_key(|&i| (distance(&pieces[i]), pieces[i].height() * 2 < typical)).expect("one piece is left");
        pieces[nearest].absorb(fragment);
    }
}

/// `piece` cut into `parts` side by side, each cut at the column with the least ink near where
/// an even split would put it; `None` if a part would be under half the piece's height (a
/// stroke's end, not a digit).
fn cut(piece: &Piece, parts: u32, ink: &GrayImage) -> Option<Vec<Piece>> {
    if parts == 1 {
        return Some(vec![piece.clone()]);
    }
    let (w, h) = (piece.width(), piece.height());
    let mut column = vec![0u32; w as usize];
    for &(x, y) in &piece.pixels {
        column[(x - piece.x0) as usize] += ink.get_pixel(x, y).0[0] as u32;
    }
    let reach = (w / (3 * parts)).max(1);
    let cuts: Vec<u32> = (1..parts)
        .map(|i| {
            let even = i * w / parts;
            let (from, to) = (even.saturating_sub(reach).max(1), (even + reach).min(w - 1));
            (from..=to).min_by_key(|&c| (column[c as usize], c.abs_diff(even))).unwrap_or(even) + piece.x0
        })
        .collect();
    let mut split: Vec<Vec<(u32, u32)>> = vec![Vec::new(); parts as usize];
    for &(x, y) in &piece.pixels {
        split[cuts.iter().filter(|&&c| x >= c).count()].push((x, y));
    }
    let split: Vec<Piece> = split.into_iter().filter_map(Piece::new).collect();
    (split.len() == parts as usize && split.iter().all(|p| p.height() * 2 >= h)).then_some(split)
}
