//! Reading a photo of a digit on paper, as a phone takes it: the light falling off to one side,
//! a shadow, ruled or squared paper, the desk or the paper's edge in the frame, the page a little
//! rotated. [`ink`] finds the digit's strokes in such a photo; [`prepare`] then makes them an
//! MNIST digit as [`predict::prepare`] does a drawing.
//!
//! 1. grey levels, on a copy [`WORK_SIDE`] pixels on its longer side (a photo's detail is far
//!    finer than a 28x28 digit needs);
//! 2. the paper's own brightness at each pixel, estimated by a morphological closing (the
//!    brightest level nearby, then the darkest of those): strokes are narrower than its window,
//!    so it sees through them to the paper, while shadows, light fall-off and the desk are wider
//!    and stay;
//! 3. each pixel's darkness relative to that paper, so that ink in a shadow is as dark as ink in
//!    the light;
//! 4. the paper's lines removed: the direction in which dark pixels line up best (the page may
//!    be rotated) is found, rows (or columns) that cross most of the photo are lines, and a run
//!    of dark pixels that lies wholly on a line is erased, while a stroke that crosses it stays;
//! 5. the digit: the strongest group of connected strokes that does not touch the photo's edge
//!    (the desk and the paper's edge do), with the pieces close to it (a 5's bar, a broken 4).
//!
//! Every step is in whole numbers, so that the page's copy in JavaScript (`serve/nn.js`) gives
//! the same 28x28 pixels as the command line.
use std::path::Path;

use image::{imageops, DynamicImage, GrayImage};

use crate::app::predict;
use crate::error::{Error, Result};

/// The longer side, in pixels, of the copy of a photo that is searched for the digit.
pub const WORK_SIDE: u32 = 400;

/// Half the side of the closing's window: wider than any stroke at [`WORK_SIDE`], narrower than
/// a shadow's or the desk's patch.
const PAPER_RADIUS: usize = 20;

/// Darkness (0-255, relative to the paper) from which a pixel counts as ink or line: about 19%
/// darker than the paper around it, above the grain of paper and the noise of a camera.
const DARK: u8 = 48;

/// Lines are searched at slopes of -K/64 to K/64 (about 6 degrees either way).
const MAX_SLOPE: i64 = 7;

/// A row (or column) is a line of the paper when dark pixels fill this share of it (percent).
const LINE_COVER: usize = 30;

/// Reads a photo (PNG or JPEG) of a digit on paper and [`prepare`]s it.
pub fn read_digit(path: &Path) -> Result<Vec<u8>> {
    prepared(&predict::read_image(path)?, &path.display().to_string())
}

/// Decodes a photo's PNG or JPEG bytes and [`prepare`]s it; `what` names it in errors.
pub fn decode_digit(bytes: &[u8], what: &str) -> Result<Vec<u8>> {
    prepared(&predict::decode_image(bytes, what)?, what)
}

/// [`prepare`], with no digit an error that names the photo and says how to take a better one.
fn prepared(img: &DynamicImage, what: &str) -> Result<Vec<u8>> {
    prepare(img).ok_or_else(|| Error::NoDigitInPhoto { what: what.to_string() })
}

/// A photo made an MNIST digit (28x28, white ink on black), or `None` when no digit is found.
pub fn prepare(img: &DynamicImage) -> Option<Vec<u8>> {
    predict::fit_digit(&ink(img)?)
}

/// Steps 1 to 5: the digit's strokes at [`WORK_SIDE`], 0 (paper) to 255 (its darkest ink), as
/// [`predict::prepare`]'s own first steps give them for a drawing; `None` if there is none.
pub fn ink(img: &DynamicImage) -> Option<GrayImage> {
    let grey = shrink(&predict::flatten_onto_white(img));
    let (w, h) = (grey.width() as usize, grey.height() as usize);
    let paper = closing(grey.as_raw(), w, h, PAPER_RADIUS);
    let mut dark = darkness(grey.as_raw(), &paper);
    erase_lines(&mut dark, w, h, false);
    erase_lines(&mut dark, w, h, true);
    let kept = digit(&dark, w, h)?;
    let top = kept.iter().copied().max().unwrap_or(0).max(1) as u32;
    let stretched = kept.iter().map(|&v| (v as u32 * 255 / top) as u8).collect();
    GrayImage::from_raw(w as u32, h as u32, stretched)
}

/// The image scaled (image's Triangle filter) so that its longer side is [`WORK_SIDE`].
fn shrink(grey: &GrayImage) -> GrayImage {
    let (w, h) = grey.dimensions();
    let long = w.max(h);
    if long == WORK_SIDE {
        return grey.clone();
    }
    let side = |s: u32| ((s as u64 * WORK_SIDE as u64 + long as u64 / 2) / long as u64).max(1) as u32;
    imageops::resize(grey, side(w), side(h), imageops::FilterType::Triangle)
}

/// A morphological closing with a square window of side `2r + 1`: the largest level in the
/// window, then the smallest of those (each in two passes, rows then columns).
fn closing(grey: &[u8], w: usize, h: usize, r: usize) -> Vec<u8> {
    let brightest = filter(&filter(grey, w, h, r, true, u8::max), w, h, r, false, u8::max);
    filter(&filter(&brightest, w, h, r, true, u8::min), w, h, r, false, u8::min)
}

/// `pick` over the `2r + 1` pixels around each one along rows (`along_rows`) or columns,
/// clipped at the image's edges.
fn filter(src: &[u8], w: usize, h: usize, r: usize, along_rows: bool, pick: fn(u8, u8) -> u8) -> Vec<u8> {
    let mut out = vec![0u8; src.len()];
    for y in 0..h {
        for x in 0..w {
            let (pos, len) = if along_rows { (x, w) } else { (y, h) };
            let (from, to) = (pos.saturating_sub(r), (pos + r).min(len - 1));
            let at = |p: usize| if along_rows { src[y * w + p] } else { src[p * w + x] };
            out[y * w + x] = (from + 1..=to).fold(at(from), |acc, p| pick(acc, at(p)));
        }
    }
    out
}

/// How much darker than its paper each pixel is, 0 (as light) to 255 (black), where the paper
/// is bright enough to be paper (a dark desk is left out).
fn darkness(grey: &[u8], paper: &[u8]) -> Vec<u8> {
    let mut sorted = paper.to_vec();
    sorted.sort_unstable();
    let bright = sorted[sorted.len() * 95 / 100] as u32;
    grey.iter()
        .zip(paper)
        .map(|(&g, &p)| match (g as u32, p as u32) {
            (g, p) if g < p && p * 100 >= bright * 35 => ((p - g) * 255 / p) as u8,
            _ => 0,
        })
        .collect()
}

/// Erases the paper's lines: horizontal ones, or vertical ones (`columns`). The slope at which
/// dark pixels gather into the fewest, fullest rows is the paper's; rows there that are filled
/// over [`LINE_COVER`] percent (and their neighbours, over a third of that) are lines; a run of
/// dark pixels across the line that stays on the line is erased.
fn erase_lines(dark: &mut [u8], w: usize, h: usize, columns: bool) {
    // `along` runs the length of a line, `across` from one line to the next.
    let (along, across) = if columns { (h, w) } else { (w, h) };
    let index = |a: usize, c: usize| if columns { a * w + c } else { c * w + a };
    let shift = (MAX_SLOPE * along as i64).div_euclid(64) + 1;
    let bin = |a: usize, c: usize, k: i64| (c as i64 - (a as i64 * k).div_euclid(64) + shift) as usize;
    let bins = across + 2 * shift as usize + 1;
    // The dark pixels, found once for the 15 slopes tried.
    let dots: Vec<(usize, usize)> = (0..along).flat_map(|a| (0..across).map(move |c| (a, c))).filter(|&(a, c)| dark[index(a, c)] >= DARK).collect();
    let mut best = (0usize, 0i64, Vec::new());
    for k in -MAX_SLOPE..=MAX_SLOPE {
        let mut counts = vec![0usize; bins];
        dots.iter().for_each(|&(a, c)| counts[bin(a, c, k)] += 1);
        let score = counts.iter().map(|&n| n * n).sum::<usize>();
        if score > best.0 {
            best = (score, k, counts);
        }
    }
    let (_, k, counts) = best;
    let full = |b: usize, share: usize| counts.get(b).is_some_and(|&n| n * 100 >= along * share);
    let line: Vec<bool> = (0..bins)
        .map(|b| full(b, LINE_COVER) || ((b > 0 && full(b - 1, LINE_COVER)) || full(b + 1, LINE_COVER)) && full(b, LINE_COVER / 3))
        .collect();
    if !line.iter().any(|&l| l) {
        return;
    }
    for a in 0..along {
        let mut c = 0;
        while c < across {
            if dark[index(a, c)] < DARK {
                c += 1;
                continue;
            }
            let start = c;
            while c < across && dark[index(a, c)] >= DARK {
                c += 1;
            }
            if (start..c).all(|c| line[bin(a, c, k)]) {
                (start..c).for_each(|c| dark[index(a, c)] = 0);
            }
        }
    }
}

/// A digit is at least this fraction (1/n) of the photo's shorter side tall or wide.
const SMALLEST: usize = 16;

/// A group of connected dark pixels (8 neighbours).
struct Blob {
    pixels: Vec<usize>,
    mass: u64,
    edge: bool,
    /// Left, top, right, bottom (inclusive).
    bounds: (usize, usize, usize, usize),
}

/// The digit's pixels (their darkness; 0 elsewhere): the strongest blob clear of the photo's
/// edge and at least 1/[`SMALLEST`] of the photo in size, with the blobs whose boxes come within
/// a quarter of its size of its box.
fn digit(dark: &[u8], w: usize, h: usize) -> Option<Vec<u8>> {
    let blobs = blobs(dark, w, h);
    let least = (w * h / 4000).max(4);
    let big: Vec<&Blob> = blobs.iter().filter(|b| b.pixels.len() >= least).collect();
    let main = big.iter().filter(|b| !b.edge).max_by_key(|b| b.mass)?;
    let (x0, y0, x1, y1) = main.bounds;
    if (x1 - x0).max(y1 - y0) < w.min(h) / SMALLEST {
        return None; // a speck (a corner of the desk, a fleck of the paper), not a digit
    }
    let reach = (x1 - x0).max(y1 - y0) / 4 + 1;
    let near = |b: &Blob| {
        let (bx0, by0, bx1, by1) = b.bounds;
        bx1 + reach >= x0 && bx0 <= x1 + reach && by1 + reach >= y0 && by0 <= y1 + reach
    };
    let mut out = vec![0u8; w * h];
    for b in blobs.iter().filter(|b| std::ptr::eq(*b, *main) || (!b.edge && b.pixels.len() >= least / 4 && near(b))) {
        b.pixels.iter().for_each(|&i| out[i] = dark[i]);
    }
    Some(out)
}

/// Every blob of pixels at least [`DARK`], in the order of their first pixel.
fn blobs(dark: &[u8], w: usize, h: usize) -> Vec<Blob> {
    let mut seen = vec![false; w * h];
    let mut blobs = Vec::new();
    for first in 0..w * h {
        if seen[first] || dark[first] < DARK {
            continue;
        }
        seen[first] = true;
        let mut blob = Blob { pixels: Vec::new(), mass: 0, edge: false, bounds: (w, h, 0, 0) };
        let mut todo = vec![first];
        while let Some(i) = todo.pop() {
            let (x, y) = (i % w, i / w);
            blob.pixels.push(i);
            blob.mass += dark[i] as u64;
            blob.edge |= x == 0 || y == 0 || x == w - 1 || y == h - 1;
            let (l, t, r, b) = blob.bounds;
            blob.bounds = (l.min(x), t.min(y), r.max(x), b.max(y));
            for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    let j = ny * w + nx;
                    if !seen[j] && dark[j] >= DARK {
                        seen[j] = true;
                        todo.push(j);
                    }
                }
            }
        }
        blobs.push(blob);
    }
    blobs
}
