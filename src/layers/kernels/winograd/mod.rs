//! The 3x3 convolution with fewer multiplications: Winograd's minimal filtering F(2x2, 3x3)
//! and F(3x3, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016;
//! cuDNN and NNPACK have them too). Each `m x m` block of outputs (`m` = 2 or 3) is read from the
//! `(m + 2) x (m + 2)` block of input under it: both the block and the 3x3 filter are first moved
//! into a transformed form of that size, where the convolution becomes element-wise products
//! (summed over the input channels), and the result is moved back. 16 multiplications for 4
//! outputs (F(2x2)) or 25 for 9 (F(3x3)) instead of 36 or 81; the moves cost only additions and
//! a few scalings. Summed over the channels, each position of the transformed tile is one matrix
//! product, `[out, inp] x [inp, tiles]`, over the tiles of several images.
//!
//! The numbers differ from the plain sum in the last bits (the sums are formed in another
//! order); the tests compare both with a float64 reference.
//!
//! Forward, for a tile `d` and a filter `g` (3x3): `y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A`.
//! Backward, from the tile's output gradient `dy` (`m x m`): `dM = A dy Aᵀ`; the input gradient
//! `dd = B (Σ_o U ⊙ dM) Bᵀ`; the filter gradient `dg = Gᵀ (Σ_tiles dM ⊙ V) G`.
mod group;
mod tiles;
mod transform;

use rayon::prelude::*;

use super::conv::ConvGeom;
use group::{group_backward, group_forward};
pub(crate) use transform::filters;

/// The tile size: `m x m` outputs from `(m + 2) x (m + 2)` inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tile {
    /// F(2x2, 3x3).
    F2,
    /// F(3x3, 3x3).
    F3,
}

impl Tile {
    /// Outputs per side of a tile.
    fn m(self) -> usize {
        match self {
            Tile::F2 => 2,
            Tile::F3 => 3,
        }
    }
    /// Inputs per side of a tile's block (and of its transformed form).
    fn alpha(self) -> usize {
        self.m() + 2
    }
    /// Positions of the transformed tile: one matrix product each.
    fn points(self) -> usize {
        self.alpha() * self.alpha()
    }
    /// Multiplications per input channel, output channel and image on `g`'s maps.
    fn multiplications(self, g: &ConvGeom) -> usize {
        self.points() * g.ho().div_ceil(self.m()) * g.wo().div_ceil(self.m())
    }
}

/// Tiles of a group's matrix products at least: enough columns to keep the multiply kernels
/// busy, few enough that a group's transformed tiles stay in the cache.
const GROUP_TILES: usize = 192;

/// Which tiles a convolution takes, if it takes this path at all: 3x3 filters moved one pixel at
/// a time (any padding), enough input channels that the transforms cost little beside the
/// products they save (a single-channel first layer keeps its direct kernels), and maps of at
/// least 3x3 outputs. F(3x3) on small maps (up to 6x6 outputs) wherever its tiles take fewer
/// multiplications than F(2x2)'s, which waste most of their work past the edge there (a 3x3
/// map: 64 products for 9 outputs against F(3x3)'s 25); F(2x2) on maps of at least 4x4
/// otherwise (on larger maps its waste is small, and its transforms are cheaper and its numbers
/// closer to the plain sums). It depends on the layer's shape only, so the same layer always
/// adds its sums the same way.
pub(crate) fn tile(g: &ConvGeom) -> Option<Tile> {
    if g.k != 3 || g.s != 1 || g.inp < 8 {
        return None;
    }
    let (ho, wo) = (g.ho(), g.wo());
    if (3..=6).contains(&ho) && (3..=6).contains(&wo) && Tile::F3.multiplications(g) < Tile::F2.multiplications(g) {
        Some(Tile::F3)
    } else {
        (ho >= 4 && wo >= 4).then_some(Tile::F2)
    }
}

/// Whether a convolution takes this path ([`tile`]).
#[cfg(test)]
pub(crate) fn applies(g: &ConvGeom) -> bool {
    tile(g).is_some()
}

/// The tiles of a convolution that takes this path.
fn tile_of(g: &ConvGeom) -> Tile {
    tile(g).expect("a convolution that takes Winograd's path")
}

/// `(tile rows, tile columns)` of one image's output.
fn tiles(g: &ConvGeom) -> (usize, usize) {
    let m = tile_of(g).m();
    (g.ho().div_ceil(m), g.wo().div_ceil(m))
}

/// Images per group: enough for [`GROUP_TILES`] tiles, spread evenly over the batch (as
/// [`ConvGeom::group`]).
pub(crate) fn group(g: &ConvGeom) -> usize {
    let (th, tw) = tiles(g);
    let most = GROUP_TILES.div_ceil(th * tw);
    g.batch.div_ceil(g.batch.div_ceil(most).max(1)).max(1)
}

/// Where a forward pass keeps its transformed input tiles until its backward pass: a buffer
/// taken from those that earlier passes gave back (training asks for the same sizes step after
/// step), so that its megabytes are neither zeroed nor faulted in again every step.
pub(crate) struct Kept(Vec<f32>);

/// Buffers given back, for the next passes (a few: one per layer that keeps, and a spare).
static GIVEN_BACK: std::sync::Mutex<Vec<Vec<f32>>> = std::sync::Mutex::new(Vec::new());

impl Kept {
    /// `len` floats (whatever an earlier pass left in them: the forward pass writes them all).
    pub(crate) fn new(len: usize) -> Kept {
        if len == 0 {
            return Kept(Vec::new());
        }
        let reused = {
            let mut back = GIVEN_BACK.lock().unwrap_or_else(|e| e.into_inner());
            let best = back.iter().position(|v| v.len() == len).or_else(|| back.iter().position(|v| v.capacity() >= len));
            best.map(|i| back.swap_remove(i))
        };
        let mut v = reused.unwrap_or_default();
        v.resize(len, 0.0);
        Kept(v)
    }
}

impl std::ops::Deref for Kept {
    type Target = Vec<f32>;
    fn deref(&self) -> &Vec<f32> {
        &self.0
    }
}

impl std::ops::DerefMut for Kept {
    fn deref_mut(&mut self) -> &mut Vec<f32> {
        &mut self.0
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let mut back = GIVEN_BACK.lock().unwrap_or_else(|e| e.into_inner());
        if back.len() < 8 {
            back.push(std::mem::take(&mut self.0));
        }
    }
}

/// Floats of the transformed input tiles that a forward pass on `g` keeps for its backward pass.
pub(crate) fn kept_len(g: &ConvGeom) -> usize {
    let (th, tw) = tiles(g);
    tile_of(g).points() * g.inp * th * tw * g.batch
}

/// The convolution of `x` (`[batch, inp, h, w]`) into `y` (`[batch, out, ho, wo]`) with the
/// transformed filters `u` ([`filters`]) and `bias`, a group of images at a time; with
/// `parallel`, the groups on rayon's threads (each output depends on its own group only). With
/// `keep` ([`kept_len`] floats), the transformed input tiles are left there for [`backward`].
pub(crate) fn forward(g: &ConvGeom, x: &[f32], u: &[f32], bias: &[f32], y: &mut [f32], keep: Option<&mut [f32]>, parallel: bool) {
    let (plane_in, plane_out, group) = (g.inp * g.h * g.w, g.out * g.ho() * g.wo(), group(g));
    let per_image = kept_len(&g.with_batch(1));
    // Each group's part of `keep`, if there is one.
    type Keep<'a> = Option<&'a mut [f32]>;
    let mut keeps: Vec<Keep> = match keep {
        Some(keep) => keep.chunks_mut(group * per_image).map(Some).collect(),
        None => (0..g.batch.div_ceil(group)).map(|_| None).collect(),
    };
    let work = |((x, y), keep): ((&[f32], &mut [f32]), &mut Keep)| group_forward(g, u, bias, x, y, keep.as_deref_mut());
    if parallel {
        x.par_chunks(group * plane_in).zip(y.par_chunks_mut(group * plane_out)).zip(keeps.par_iter_mut()).for_each(work);
    } else {
        x.chunks(group * plane_in).zip(y.chunks_mut(group * plane_out)).zip(keeps.iter_mut()).for_each(work);
    }
}

/// The gradients of [`forward`] from the output gradient `gy`: the filters' added to `gw` and
/// the input's to `gx`, each if asked for (`kept`: what the forward pass kept, if it did). With
/// `parallel`, the groups on rayon's threads, their filter gradients added up afterwards in group
/// order (the same numbers on any number of threads).
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward(g: &ConvGeom, x: &[f32], u: &[f32], kept: Option<&[f32]>, gy: &[f32], gw: Option<&mut [f32]>, gx: Option<&mut [f32]>, parallel: bool) {
    let (plane_in, plane_out, group) = (g.inp * g.h * g.w, g.out * g.ho() * g.wo(), group(g));
    let per_image = kept_len(&g.with_batch(1));
    let want_gw = gw.is_some();
    let gx_groups: Vec<Option<&mut [f32]>> = match gx {
        Some(gx) => gx.chunks_mut(group * plane_in).map(Some).collect(),
        None => (0..g.batch.div_ceil(group)).map(|_| None).collect(),
    };
    let work = |(i, gx): (usize, Option<&mut [f32]>)| {
        let images = i * group..g.batch.min((i + 1) * group);
        let x = &x[images.start * plane_in..images.end * plane_in];
        let gy = &gy[images.start * plane_out..images.end * plane_out];
        let kept = kept.map(|k| &k[images.start * per_image..images.end * per_image]);
        let mut part = want_gw.then(|| vec![0.0; g.out * g.inp * 9]);
        group_backward(g, u, x, kept, gy, part.as_deref_mut(), gx);
        part
    };
    let parts: Vec<Option<Vec<f32>>> = if parallel {
        gx_groups.into_par_iter().enumerate().map(work).collect()
    } else {
        gx_groups.into_iter().enumerate().map(work).collect()
    };
    if let Some(gw) = gw {
        for part in parts.into_iter().flatten() {
            gw.iter_mut().zip(&part).for_each(|(d, s)| *d += s);
        }
    }
}

#[cfg(test)]
mod timing {
    use super::*;

    /// Microseconds per image of Winograd's path and of im2col, forward and backward (keeping
    /// the transformed tiles, on this thread) on `g`.
    fn time_paths(g: &ConvGeom, reps: usize) {
        let x: Vec<f32> = (0..g.input_len()).map(|i| (i % 7) as f32 * 0.1).collect();
        let w: Vec<f32> = (0..g.out * g.inp * 9).map(|i| (i % 5) as f32 * 0.1).collect();
        let (bias, mut y, u) = (vec![0.1; g.out], vec![0.0; g.output_len()], filters(tile_of(g), g, &w));
        let (mut gw, mut gx, mut kept) = (vec![0.0; w.len()], vec![0.0; x.len()], vec![0.0; kept_len(g)]);
        let time = |name: &str, f: &mut dyn FnMut()| {
            f();
            let t = std::time::Instant::now();
            for _ in 0..reps {
                f()
            }
            eprintln!("{name}: {:.1} us/image", t.elapsed().as_secs_f64() * 1e6 / (reps * g.batch) as f64);
        };
        eprintln!("{:?}, {:?}:", tile_of(g), g);
        time("  winograd forward", &mut || forward(g, &x, &u, &bias, &mut y, Some(&mut kept), false));
        time("  winograd backward", &mut || backward(g, &x, &u, Some(&kept), &y, Some(&mut gw), Some(&mut gx), false));
        // Filters for a 1x1 map: matrix products over the patches.
        let f = super::super::conv::Filters::new(&g.with_batch(1).cropped(1, 1), &w);
        time("  im2col forward", &mut || super::super::conv::conv_forward(g, &x, &f, &bias, &mut y, None, false));
        time("  im2col backward", &mut || super::super::conv::conv_backward(g, &x, &f, None, &y, Some(&mut gw), Some(&mut gx), false));
    }

    /// Each path on the better network's second convolution (8 images, 32 to 64 channels, 13x13
    /// cropped to 10x10: F(2x2)) and third (a batch of 64, 64 to 128 channels, 5x5 to 3x3:
    /// F(3x3)): `cargo test --release --lib winograd_timing -- --ignored --nocapture` (a
    /// measurement, not a check).
    #[test]
    #[ignore]
    fn winograd_timing() {
        time_paths(&ConvGeom::new(8, 32, 64, 3, (13, 13), 1, (0, 0), (0, 0)).cropped(10, 10), 400);
        time_paths(&ConvGeom::new(64, 64, 128, 3, (5, 5), 1, (0, 0), (0, 0)), 100);
    }
}
