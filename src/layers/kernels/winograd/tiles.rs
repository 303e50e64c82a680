//! Where the tiles of a group come from and go to: the index tables, the padded planes, the
//! per-thread buffers, and the transformed input tiles.
use super::transform::{transform, Move, LANES};
use super::{tile_of, tiles, ConvGeom};

/// One channel's planes of `images` images with the zeros around them that the tiles read (the
/// padding, and past the last row or column when a side of the output is not a multiple of
/// `m`): `(m * tile rows + 2) x (m * tile columns + 2)` each, the image at row `pt` and column
/// `pl`.
pub(super) struct Padded {
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) v: Vec<f32>,
}

impl Padded {
    pub(super) fn new(g: &ConvGeom, images: usize, mut v: Vec<f32>) -> Padded {
        let ((th, tw), m) = (tiles(g), tile_of(g).m());
        let (rows, cols) = (m * th + 2, m * tw + 2);
        v.clear();
        v.resize(images * rows * cols, 0.0);
        Padded { rows, cols, v }
    }
    /// The image's rows and columns that the tiles read: those before the end of the padded plane.
    #[inline(always)]
    pub(super) fn extent(&self, g: &ConvGeom) -> (usize, usize) {
        (g.h.min(self.rows.saturating_sub(g.pt)), g.w.min(self.cols.saturating_sub(g.pl)))
    }
    /// Image `image`'s padded plane.
    #[inline(always)]
    pub(super) fn plane(&mut self, image: usize) -> &mut [f32] {
        &mut self.v[image * self.rows * self.cols..][..self.rows * self.cols]
    }
    /// Copies one plane of image `image` in (the zeros around it stay).
    #[inline(always)]
    pub(super) fn fill(&mut self, g: &ConvGeom, image: usize, plane: &[f32]) {
        let ((rows, cols), stride) = (self.extent(g), self.cols);
        let to = self.plane(image);
        for y in 0..rows {
            let at = (y + g.pt) * stride + g.pl;
            to[at..at + cols].copy_from_slice(&plane[y * g.w..][..cols]);
        }
    }
    /// Adds what the tiles wrote onto image `image`'s padded plane onto its pixels (the
    /// padding's share is dropped).
    #[inline(always)]
    pub(super) fn add_into(&mut self, g: &ConvGeom, image: usize, plane: &mut [f32]) {
        let ((rows, cols), stride) = (self.extent(g), self.cols);
        let from = self.plane(image);
        for y in 0..rows {
            let from = &from[(y + g.pt) * stride + g.pl..][..cols];
            for (d, s) in plane[y * g.w..][..cols].iter_mut().zip(from) {
                *d += s;
            }
        }
    }
}

/// Where each tile's entries come from and go to, for one image or for the images of a group
/// (`[entry][image][tile]`), as flat lists (so that the moves are single loops, not loops over
/// short rows, nor over the single tile of an image with a 3x3 map).
#[derive(Default)]
pub(super) struct Tables {
    /// `[points][images * tiles]`: the index under entry `alpha r + s` of each tile's block, in
    /// the first channel's planes: the group's input itself (`direct`), or the padded copies.
    pub(super) block: Vec<u32>,
    /// Whether the blocks lie inside the image (no padding, whole tiles or spare rows and
    /// columns): `block` then indexes the group's input itself, with no padded copy.
    pub(super) direct: bool,
    /// `[m * m][images * tiles]`: the index of output `m r + s` of each tile in the first output
    /// channel's maps of the group, or [`Tables::NONE`] past the map's last row or column.
    pub(super) output: Vec<u32>,
}

impl Tables {
    pub(super) const NONE: u32 = u32::MAX;

    /// Sources `g.inp` channels and targets `g.out` channels a plane apart, images after images.
    pub(super) fn new(g: &ConvGeom, images: usize) -> Tables {
        let ((th, tw), tile) = (tiles(g), tile_of(g));
        let (m, alpha) = (tile.m(), tile.alpha());
        let direct = g.pt == 0 && g.pl == 0 && m * th + 2 <= g.h && m * tw + 2 <= g.w;
        // The rows of the planes the blocks are read from, and where each image's starts: the
        // group's input, or the padded copies of one channel.
        let (cols, image_in) = if direct { (g.w, g.inp * g.h * g.w) } else { (m * tw + 2, (m * th + 2) * (m * tw + 2)) };
        let image_out = g.out * g.ho() * g.wo();
        let each = || (0..images).flat_map(move |image| (0..th).flat_map(move |ti| (0..tw).map(move |tj| (image, ti, tj))));
        let n = images * th * tw;
        let mut block = Vec::with_capacity(tile.points() * n);
        for (r, s) in (0..alpha).flat_map(|r| (0..alpha).map(move |s| (r, s))) {
            for (image, ti, tj) in each() {
                block.push((image * image_in + (m * ti + r) * cols + m * tj + s) as u32);
            }
        }
        let mut output = Vec::with_capacity(m * m * n);
        for (r, s) in (0..m).flat_map(|r| (0..m).map(move |s| (r, s))) {
            for (image, ti, tj) in each() {
                let (y, x) = (m * ti + r, m * tj + s);
                output.push(if y < g.ho() && x < g.wo() { (image * image_out + y * g.wo() + x) as u32 } else { Tables::NONE });
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
    /// Transformed input tiles, `[points][inp][tiles]`.
    pub(super) v: Vec<f32>,
    /// Products, `[points][out][tiles]` (or the filter gradient's `[points][out][inp]`).
    pub(super) m: Vec<f32>,
    /// Output-gradient tiles, `[points][out][tiles]`.
    pub(super) dm: Vec<f32>,
    /// Entries of one channel's tiles before or after a transform, `[points][tiles rounded up]`.
    pub(super) t: Vec<f32>,
    /// A padded plane.
    pub(super) plane: Vec<f32>,
    /// The tables of a group ([`Tables::new`]) and the group they were made for.
    pub(super) tables: (Option<(ConvGeom, usize)>, Tables),
    /// The input gradient's sources ([`sources`]) and the group they were made for.
    pub(super) sources: (Option<(ConvGeom, usize)>, Vec<u32>),
}

/// For each image of a group and each position of the plane its blocks are read from (the
/// image's, or the padded copy's), the four entries of the blocks' gradient (`dd`,
/// `[points][tiles rounded up]`) that cover it, as indices into `dd`; the index `zero` (a zero
/// placed past `dd`'s end) where fewer than four blocks do (blocks overlap by two rows and
/// columns, so at most two per side cover a position). Summing them gives each pixel's gradient
/// in one write, instead of adding the entries of every tile one by one onto overlapping blocks.
pub(super) fn sources(g: &ConvGeom, tables: &Tables, images: usize, np: usize, zero: u32, out: &mut Vec<u32>) {
    let ((th, tw), tile) = (tiles(g), tile_of(g));
    let (m, alpha) = (tile.m(), tile.alpha());
    let (rows, cols) = if tables.direct { (g.h, g.w) } else { (m * th + 2, m * tw + 2) };
    out.clear();
    out.resize(images * rows * cols * 4, zero);
    // Which tile row (or column) and which entry of the block cover position `y`.
    let covering = |y: usize, tiles: usize| {
        let mut c = [None, None];
        for (k, t) in [y / m, (y / m).wrapping_sub(1)].into_iter().enumerate() {
            if t < tiles && y - m * t < alpha {
                c[k] = Some((t, y - m * t));
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
                    slots[k] = ((alpha * r + s) * np + image * th * tw + ti * tw + tj) as u32;
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

/// The transformed input tiles of a group of images, `V = Bᵀ d B`, as `[points][inp][tiles]`.
#[inline(always)]
pub(super) fn inputs(g: &ConvGeom, tables: &Tables, xs: &[f32], v: &mut [f32], d: &mut Vec<f32>, plane_buf: &mut Vec<f32>) {
    let ((th, tw), tile) = (tiles(g), tile_of(g));
    let plane = g.h * g.w;
    let images = xs.len() / (g.inp * plane);
    let n = images * th * tw;
    let np = padded_len(n);
    let d = sized(d, tile.points() * np);
    let mut pad = Padded::new(g, if tables.direct { 0 } else { images }, std::mem::take(plane_buf));
    // The length of what the first channel's blocks are read from.
    let source_len = if tables.direct { xs.len() - (g.inp - 1) * plane } else { pad.v.len() };
    assert!(tables.block.len() == tile.points() * n && tables.block.iter().all(|&i| (i as usize) < source_len));
    for c in 0..g.inp {
        // The block under each tile, entry by entry: d[alpha r + s][image, tile].
        let source = if tables.direct {
            &xs[c * plane..]
        } else {
            for image in 0..images {
                pad.fill(g, image, &xs[(image * g.inp + c) * plane..][..plane]);
            }
            &pad.v[..]
        };
        for (e, at) in tables.block.chunks_exact(n).enumerate() {
            for (o, &i) in d[e * np..][..n].iter_mut().zip(at) {
                // SAFETY: every index of the table is inside the planes read (asserted above).
                *o = unsafe { *source.get_unchecked(i as usize) };
            }
        }
        transform(tile, Move::Input, d, np, &mut v[c * n..], g.inp * n, n);
    }
    *plane_buf = pad.v;
}
