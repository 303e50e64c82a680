//! Where the tiles of a group come from and go to: the index tables, the padded planes, the
//! per-thread buffers, and the transformed input tiles.
use super::transform::{bt, transform_rows, LANES};
use super::{tiles, ConvGeom, XI};

/// A channel's plane with the zeros around it that the tiles read (the padding, and past the
/// last row or column when a side of the output is odd): `(2 * tile rows + 2) x (2 * tile
/// columns + 2)`, the image at row `pt` and column `pl`.
pub(super) struct Padded {
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) v: Vec<f32>,
}

impl Padded {
    pub(super) fn new(g: &ConvGeom, mut v: Vec<f32>) -> Padded {
        let (th, tw) = tiles(g);
        let (rows, cols) = (2 * th + 2, 2 * tw + 2);
        v.clear();
        v.resize(rows * cols, 0.0);
        Padded { rows, cols, v }
    }
    /// The image's rows and columns that the tiles read: those before the end of the padded plane.
    #[inline(always)]
    pub(super) fn extent(&self, g: &ConvGeom) -> (usize, usize) {
        (g.h.min(self.rows.saturating_sub(g.pt)), g.w.min(self.cols.saturating_sub(g.pl)))
    }
    /// Copies one plane of the image in (the zeros around it stay).
    #[inline(always)]
    pub(super) fn fill(&mut self, g: &ConvGeom, plane: &[f32]) {
        let (rows, cols) = self.extent(g);
        for y in 0..rows {
            let at = (y + g.pt) * self.cols + g.pl;
            self.v[at..at + cols].copy_from_slice(&plane[y * g.w..][..cols]);
        }
    }
    /// Adds what the tiles wrote onto the image's pixels (the padding's share is dropped).
    #[inline(always)]
    pub(super) fn add_into(&self, g: &ConvGeom, plane: &mut [f32]) {
        let (rows, cols) = self.extent(g);
        for y in 0..rows {
            let from = &self.v[(y + g.pt) * self.cols + g.pl..][..cols];
            for (d, s) in plane[y * g.w..][..cols].iter_mut().zip(from) {
                *d += s;
            }
        }
    }
}

/// Where each tile's entries come from and go to, for one image, as flat lists (so that the
/// moves are single loops, not loops over short rows).
pub(super) struct Tables {
    /// `[16][tiles]`: the padded plane's index under entry `4r + s` of each tile's block.
    pub(super) block: Vec<u32>,
    /// Whether the blocks lie inside the image (no padding, an even output or a spare row and
    /// column): `block` then indexes the image's plane itself, with no padded copy.
    pub(super) direct: bool,
    /// `[4][tiles]`: the output map's index of output `2r + s` of each tile, or [`Tables::NONE`]
    /// past an odd last row or column.
    pub(super) output: Vec<u32>,
}

impl Tables {
    pub(super) const NONE: u32 = u32::MAX;

    pub(super) fn new(g: &ConvGeom) -> Tables {
        let (th, tw) = tiles(g);
        let direct = g.pt == 0 && g.pl == 0 && 2 * th + 2 <= g.h && 2 * tw + 2 <= g.w;
        // The rows of the plane the blocks are read from: the image's, or the padded copy's.
        let cols = if direct { g.w } else { 2 * tw + 2 };
        let mut block = Vec::with_capacity(XI * th * tw);
        for (r, s) in (0..4).flat_map(|r| (0..4).map(move |s| (r, s))) {
            for (ti, tj) in (0..th).flat_map(|ti| (0..tw).map(move |tj| (ti, tj))) {
                block.push(((2 * ti + r) * cols + 2 * tj + s) as u32);
            }
        }
        let mut output = Vec::with_capacity(4 * th * tw);
        for (r, s) in (0..2).flat_map(|r| (0..2).map(move |s| (r, s))) {
            for (ti, tj) in (0..th).flat_map(|ti| (0..tw).map(move |tj| (ti, tj))) {
                let (y, x) = (2 * ti + r, 2 * tj + s);
                output.push(if y < g.ho() && x < g.wo() { (y * g.wo() + x) as u32 } else { Tables::NONE });
            }
        }
        Tables { block, direct, output }
    }
}

/// The tiles of one group, `n` of them, as sixteen lanes need them: `n` rounded up.
pub(super) fn padded_len(n: usize) -> usize {
    n.next_multiple_of(LANES)
}

/// Buffers a thread reuses from one group to the next (the products overwrite them whole).
#[derive(Default)]
pub(super) struct Scratch {
    /// Transformed input tiles, `[16][inp][tiles]`.
    pub(super) v: Vec<f32>,
    /// Products, `[16][out][tiles]` (or the filter gradient's `[16][out][inp]`).
    pub(super) m: Vec<f32>,
    /// Output-gradient tiles, `[16][out][tiles]`.
    pub(super) dm: Vec<f32>,
    /// Entries of one channel's tiles before or after a transform, `[16][tiles rounded up]`.
    pub(super) t: Vec<f32>,
    /// A padded plane.
    pub(super) plane: Vec<f32>,
    /// The input gradient's sources ([`sources`]) and the group they were made for.
    pub(super) sources: (Option<(ConvGeom, usize)>, Vec<u32>),
}

/// For each image of a group and each position of the plane its blocks are read from (the
/// image's, or the padded copy's), the four entries of the transformed tiles' gradient (`dd`,
/// `[16][tiles rounded up]`) whose blocks cover it, as indices into `dd`; the index `zero`
/// (a zero placed past `dd`'s end) where fewer than four blocks do. Summing them gives each
/// pixel's gradient in one write, instead of adding the 16 entries of every tile one by one
/// onto overlapping blocks.
pub(super) fn sources(g: &ConvGeom, tables: &Tables, images: usize, np: usize, zero: u32, out: &mut Vec<u32>) {
    let (th, tw) = tiles(g);
    let (rows, cols) = if tables.direct { (g.h, g.w) } else { (2 * th + 2, 2 * tw + 2) };
    out.clear();
    out.resize(images * rows * cols * 4, zero);
    // Which tile row (or column) and which entry of the block cover position `y`.
    let covering = |y: usize, tiles: usize| {
        let mut c = [None, None];
        for (k, t) in [y / 2, (y / 2).wrapping_sub(1)].into_iter().enumerate() {
            if t < tiles && y - 2 * t < 4 {
                c[k] = Some((t, y - 2 * t));
            }
        }
        c
    };
    for image in 0..images {
        for (y, x) in (0..rows).flat_map(|y| (0..cols).map(move |x| (y, x))) {
            let slots = &mut out[((image * rows + y) * cols + x) * 4..][..4];
            let mut k = 0;
            for (ti, r) in covering(y, th).into_iter().flatten() {
                for (tj, s) in covering(x, tw).into_iter().flatten() {
                    slots[k] = ((4 * r + s) * np + image * th * tw + ti * tw + tj) as u32;
                    k += 1;
                }
            }
        }
    }
}

thread_local! {
    pub(super) static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// `v` resized to `len` (its values are left as they were: the caller overwrites them).
pub(super) fn sized(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if v.len() < len {
        v.resize(len, 0.0);
    }
    &mut v[..len]
}

/// The transformed input tiles of a group of images, `V = Bᵀ d B`, as `[16][inp][tiles]`.
#[inline(always)]
pub(super) fn inputs(g: &ConvGeom, tables: &Tables, xs: &[f32], v: &mut [f32], d: &mut Vec<f32>, plane_buf: &mut Vec<f32>) {
    let (th, tw) = tiles(g);
    let plane = g.h * g.w;
    let images = xs.len() / (g.inp * plane);
    let n = images * th * tw;
    let np = padded_len(n);
    let d = sized(d, XI * np);
    let mut pad = Padded::new(g, std::mem::take(plane_buf));
    let source_len = if tables.direct { plane } else { pad.v.len() };
    assert!(tables.block.iter().all(|&i| (i as usize) < source_len));
    for c in 0..g.inp {
        // The 4x4 block under each tile, entry by entry: d[4r + s][tile].
        for image in 0..images {
            let image_plane = &xs[(image * g.inp + c) * plane..][..plane];
            let source = if tables.direct {
                image_plane
            } else {
                pad.fill(g, image_plane);
                &pad.v
            };
            for (e, at) in tables.block.chunks_exact(th * tw).enumerate() {
                for (o, &i) in d[e * np + image * th * tw..][..th * tw].iter_mut().zip(at) {
                    // SAFETY: every index of the table is inside the plane read (asserted above).
                    *o = unsafe { *source.get_unchecked(i as usize) };
                }
            }
        }
        for k in (0..n).step_by(LANES) {
            transform_rows(d, np, &mut v[c * n..], g.inp * n, n, k, bt);
        }
    }
    *plane_buf = pad.v;
}
