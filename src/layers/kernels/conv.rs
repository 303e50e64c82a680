//! The convolution as matrix products: the patches of a group of images laid out as the
//! columns of one matrix ("im2col"), multiplied by the filters, and back for the gradients.
pub(crate) use super::geom::ConvGeom;
use super::matmul::matmul_strided;
use super::winograd;

/// Sum with eight independent partial sums, so it vectorises without reordering a single
/// running sum (which the compiler may not do for floats).
#[inline(always)]
fn sum(a: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut chunks = a.chunks_exact(8);
    for x in &mut chunks {
        for l in 0..8 {
            acc[l] += x[l];
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

/// Columns a convolution's matrix product is given at least, where a single image has fewer
/// (a 3x3 map has 9): narrower products leave the multiply kernels mostly idle, and wider ones
/// (more images) were slower, their patches no longer fitting in the cache.
const PRODUCT_COLUMNS: usize = 64;

impl ConvGeom {
    /// Images whose patches go into one matrix product: enough for [`PRODUCT_COLUMNS`] columns,
    /// spread evenly over the batch. It depends on the shapes only, so the sums are added in the
    /// same order on any machine and any number of threads.
    pub fn group(&self) -> usize {
        let most = PRODUCT_COLUMNS.div_ceil((self.ho() * self.wo()).max(1));
        self.batch.div_ceil(self.batch.div_ceil(most).max(1)).max(1)
    }
}

/// Walks the im2col layout of one image without stride or padding: for each of its `inp*k*k`
/// rows (input channel, kernel row, kernel column) and each output row, calls `f(pixel, col)`
/// with where the `wo` pixels of the image start and where they sit in a patch matrix whose
/// rows are `ld` long (the image's `ho*wo` columns first).
#[inline(always)]
fn patch_runs(g: &ConvGeom, ld: usize, mut f: impl FnMut(usize, usize)) {
    let (ho, wo, k) = (g.ho(), g.wo(), g.k);
    let plane_in = g.h * g.w;
    let mut row = 0;
    for i in 0..g.inp {
        for ky in 0..k {
            for kx in 0..k {
                for r in 0..ho {
                    f(i * plane_in + (r + ky) * g.w + kx, row * ld + r * wo);
                }
                row += 1;
            }
        }
    }
}

/// Walks the im2col layout of one image with any stride and padding, one entry at a time:
/// `f(pixel, col)` for each entry, `pixel` being `None` where the window lies on the padding.
#[inline(always)]
fn patch_entries(g: &ConvGeom, ld: usize, mut f: impl FnMut(Option<usize>, usize)) {
    let plane_in = g.h * g.w;
    let mut row = 0;
    for i in 0..g.inp {
        for ky in 0..g.k {
            for kx in 0..g.k {
                for r in 0..g.ho() {
                    for c in 0..g.wo() {
                        f(g.pixel(r, c, ky, kx).map(|p| i * plane_in + p), row * ld + r * g.wo() + c);
                    }
                }
                row += 1;
            }
        }
    }
}

/// Lays out the `k x k` patches of one image as the columns of a `[inp*k*k, ho*wo]` matrix
/// ("im2col"), so that the convolution becomes one matrix product with the `[out, inp*k*k]`
/// weights. Padding reads as zero.
#[cfg(test)]
pub(crate) fn im2col(g: &ConvGeom, x: &[f32], cols: &mut [f32]) {
    im2col_at(g, x, cols, g.ho() * g.wo());
}

/// [`im2col`] into a wider matrix, whose rows are `ld` long: `cols` starts at the image's first column.
fn im2col_at(g: &ConvGeom, x: &[f32], cols: &mut [f32], ld: usize) {
    if g.is_plain() {
        let wo = g.wo();
        patch_runs(g, ld, |pixel, col| cols[col..col + wo].copy_from_slice(&x[pixel..pixel + wo]));
    } else {
        patch_entries(g, ld, |pixel, col| cols[col] = pixel.map_or(0.0, |p| x[p]));
    }
}

/// The reverse of [`im2col_at`]: adds each column of `cols` (rows `ld` long, starting at the
/// image's first column) back onto the pixels of the patch it came from, in one image `x` (what
/// fell on the padding is dropped).
fn col2im_add_at(g: &ConvGeom, cols: &[f32], ld: usize, x: &mut [f32]) {
    if g.is_plain() {
        let wo = g.wo();
        patch_runs(g, ld, |pixel, col| {
            for (d, s) in x[pixel..pixel + wo].iter_mut().zip(&cols[col..col + wo]) {
                *d += s;
            }
        });
    } else {
        patch_entries(g, ld, |pixel, col| {
            if let Some(p) = pixel {
                x[p] += cols[col];
            }
        });
    }
}

/// The patches of several images side by side: image `j`'s `ho*wo` columns are columns
/// `j*ho*wo..` of one `[inp*k*k, images*ho*wo]` matrix, so that one matrix product serves them all.
fn group_patches(g: &ConvGeom, xs: &[f32], cols: &mut [f32]) {
    let (plane_in, p) = (g.inp * g.h * g.w, g.ho() * g.wo());
    let ld = xs.len() / plane_in * p;
    for (j, x) in xs.chunks_exact(plane_in).enumerate() {
        im2col_at(g, x, &mut cols[j * p..], ld);
    }
}

/// Feature maps from the layout of a group's product (`[out, images*ho*wo]`) to the images'
/// own (`[images, out, ho*wo]`).
fn to_images(g: &ConvGeom, by_channel: &[f32], by_image: &mut [f32]) {
    let p = g.ho() * g.wo();
    let ld = by_image.len() / g.out;
    for (j, image) in by_image.chunks_exact_mut(g.out * p).enumerate() {
        for (o, map) in image.chunks_exact_mut(p).enumerate() {
            map.copy_from_slice(&by_channel[o * ld + j * p..][..p]);
        }
    }
}

/// The reverse of [`to_images`]: from `[images, out, ho*wo]` to `[out, images*ho*wo]`.
fn to_channels(g: &ConvGeom, by_image: &[f32], by_channel: &mut [f32]) {
    let p = g.ho() * g.wo();
    let ld = by_image.len() / g.out;
    for (j, image) in by_image.chunks_exact(g.out * p).enumerate() {
        for (o, map) in image.chunks_exact(p).enumerate() {
            by_channel[o * ld + j * p..][..p].copy_from_slice(map);
        }
    }
}

/// The forward product of one group of images: `prod = bias + w x cols`, `prod` being
/// `[out, images*ho*wo]` and `cols` the group's patches ([`group_patches`]).
fn group_forward(g: &ConvGeom, w: &[f32], bias: &[f32], cols: &[f32], prod: &mut [f32], parallel: bool) {
    let kk = g.inp * g.k * g.k;
    let ld = prod.len() / g.out;
    for (row, &b) in prod.chunks_exact_mut(ld).zip(bias) {
        row.fill(b);
    }
    matmul_strided(g.out, kk, ld, w, (kk, 1), cols, (ld, 1), prod, true, parallel);
}

/// The backward products of one group of images, from the output gradient in the group's
/// layout (`gy`, `[out, images*ho*wo]`): the weight gradient `gw += gy x cols^T` (if asked
/// for) and the input gradient, the patch gradients `w^T x gy` (into `gcols`) each added back
/// where its patch came from in `gx` (`[images, inp, h, w]`, if asked for).
#[allow(clippy::too_many_arguments)]
fn group_backward(
    g: &ConvGeom,
    w: &[f32],
    gy: &[f32],
    cols: &[f32],
    gcols: &mut Vec<f32>,
    gw: Option<&mut [f32]>,
    gx: Option<&mut [f32]>,
    parallel: bool,
) {
    let (kk, p) = (g.inp * g.k * g.k, g.ho() * g.wo());
    let ld = gy.len() / g.out;
    if let Some(gw) = gw {
        // cols is [kk, ld]; read through its strides as its transpose [ld, kk].
        matmul_strided(g.out, ld, kk, gy, (ld, 1), cols, (1, ld), gw, true, parallel);
    }
    if let Some(gx) = gx {
        gcols.resize(kk * ld, 0.0);
        // w is [out, kk]; read through its strides as its transpose [kk, out].
        matmul_strided(kk, g.out, ld, w, (1, kk), gy, (ld, 1), gcols, false, parallel);
        for (j, x) in gx.chunks_exact_mut(g.inp * g.h * g.w).enumerate() {
            col2im_add_at(g, &gcols[j * p..], ld, x);
        }
    }
}

/// A layer's filters (`[out, inp, k, k]`) as its convolution reads them: as they are, and for
/// Winograd's algorithm also transformed ([`winograd`]), once for all the calls of a pass.
pub(crate) struct Filters<'a> {
    w: &'a [f32],
    /// The transformed filters and the tiles they were transformed for.
    winograd: Option<(winograd::Tile, Vec<f32>)>,
}

impl<'a> Filters<'a> {
    pub fn new(g: &ConvGeom, w: &'a [f32]) -> Self {
        Filters { w, winograd: winograd::tile(g).map(|t| (t, winograd::filters(t, g, w))) }
    }
    /// The filters as they are and what was made of them, for a later pass with the same
    /// weights ([`Filters::again`]), so that it need not transform them again.
    pub fn made(self) -> Made {
        Made(self.winograd)
    }
    /// The filters `w` with what [`Filters::made`] gave for the same weights.
    pub fn again(w: &'a [f32], made: Made) -> Self {
        Filters { w, winograd: made.0 }
    }
    /// The transformed filters, if `g` takes Winograd's path with the tiles they were made for.
    fn winograd(&self, g: &ConvGeom) -> Option<&[f32]> {
        self.winograd.as_ref().filter(|(t, _)| winograd::tile(g) == Some(*t)).map(|(_, u)| &u[..])
    }
    /// Floats that a forward pass of `g` keeps for its backward pass (none for matrix products
    /// over the patches, which are laid out again from the input).
    pub fn kept_len(&self, g: &ConvGeom) -> usize {
        if self.winograd(g).is_some() { winograd::kept_len(g) } else { 0 }
    }
}

/// What [`Filters`] made of a layer's weights (Winograd's transformed filters), kept for the
/// backward pass.
pub(crate) struct Made(Option<(winograd::Tile, Vec<f32>)>);

/// `y[b, o] = bias[o] + sum over (i, ky, kx) of w[o, i, ky, kx] * x[b, i, . + ky, . + kx]`,
/// computed for each group of images ([`ConvGeom::group`]) as `bias + w x im2col(x)`, or for
/// the 3x3 filters of a layer with several input channels by Winograd's algorithm ([`winograd`]).
/// With `keep` ([`Filters::kept_len`] floats), what the backward pass can reuse is left there.
pub(crate) fn conv_forward(g: &ConvGeom, x: &[f32], f: &Filters, bias: &[f32], y: &mut [f32], keep: Option<&mut [f32]>, parallel: bool) {
    let w = f.w;
    if let Some(u) = f.winograd(g) {
        return winograd::forward(g, x, u, bias, y, keep, parallel);
    }
    let (plane_in, plane_out) = (g.inp * g.h * g.w, g.out * g.ho() * g.wo());
    let group = g.group();
    let (mut cols, mut prod) = (Vec::new(), Vec::new());
    for (x, y) in x.chunks(group * plane_in).zip(y.chunks_mut(group * plane_out)) {
        let images = x.len() / plane_in;
        cols.resize(images * g.inp * g.k * g.k * g.ho() * g.wo(), 0.0);
        prod.resize(images * plane_out, 0.0);
        group_patches(g, x, &mut cols);
        group_forward(g, w, bias, &cols, &mut prod, parallel);
        to_images(g, &prod, y);
    }
}

/// If asked for, the weight gradient `gw[o, i, ky, kx] += sum over (b, r, c) of gy[b, o, r, c] * x[b, i, r +
/// ky, c + kx]` and, if asked for, the input gradient `gx[b, i, r + ky, c + kx] += sum over o of
/// w[o, i, ky, kx] * gy[b, o, r, c]`, for each group of images as [`group_backward`].
/// `kept`: what the forward pass kept ([`conv_forward`]), if it did.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_backward(g: &ConvGeom, x: &[f32], f: &Filters, kept: Option<&[f32]>, gy: &[f32], mut gw: Option<&mut [f32]>, mut gx: Option<&mut [f32]>, parallel: bool) {
    let w = f.w;
    if let Some(u) = f.winograd(g) {
        return winograd::backward(g, x, u, kept, gy, gw, gx, parallel);
    }
    let (plane_in, plane_out) = (g.inp * g.h * g.w, g.out * g.ho() * g.wo());
    let group = g.group();
    let (mut cols, mut gyc, mut gcols) = (Vec::new(), Vec::new(), Vec::new());
    for (b, (x, gy)) in x.chunks(group * plane_in).zip(gy.chunks(group * plane_out)).enumerate() {
        let images = x.len() / plane_in;
        // The patches serve the weight gradient only.
        if gw.is_some() {
            cols.resize(images * g.inp * g.k * g.k * g.ho() * g.wo(), 0.0);
            group_patches(g, x, &mut cols);
        }
        gyc.resize(images * plane_out, 0.0);
        to_channels(g, gy, &mut gyc);
        let gx = gx.as_deref_mut().map(|gx| &mut gx[b * group * plane_in..][..images * plane_in]);
        group_backward(g, w, &gyc, &cols, &mut gcols, gw.as_deref_mut(), gx, parallel);
    }
}

/// Bias gradient: `gb[o] += sum over (b, r, c) of gy[b, o, r, c]`.
pub(crate) fn conv_backward_bias(g: &ConvGeom, gy: &[f32], gb: &mut [f32]) {
    let plane_out = g.ho() * g.wo();
    for (n, plane) in gy.chunks_exact(plane_out).enumerate() {
        gb[n % g.out] += sum(plane);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// The convolution by matrix products of several images at a time, forward and back,
    /// against the textbook loops: with stride and padding, cropped outputs, and batches that
    /// split into several groups (3x3 maps take eight images a group); on the paths of matrix
    /// products over the patches and of Winograd's 2x2 and 3x3 tiles.
    #[test]
    fn grouped_convolution_matches_plain_loops() {
        let mut rng = StdRng::seed_from_u64(11);
        let cases = [
            ConvGeom::new(3, 2, 3, 3, (7, 6), 1, (0, 0), (0, 0)),
            ConvGeom::new(4, 3, 5, 3, (7, 8), 2, (1, 1), (0, 1)),
            ConvGeom::new(2, 2, 4, 3, (9, 9), 1, (0, 0), (0, 0)).cropped(6, 5),
            ConvGeom::new(19, 6, 3, 3, (5, 5), 1, (0, 0), (0, 0)),
            // Winograd's 2x2 tiles: even and odd maps, cropped, padded, groups of several images.
            ConvGeom::new(3, 8, 5, 3, (10, 10), 1, (0, 0), (0, 0)),
            ConvGeom::new(2, 9, 4, 3, (13, 12), 1, (0, 0), (0, 0)),
            ConvGeom::new(2, 8, 3, 3, (13, 13), 1, (0, 0), (0, 0)).cropped(10, 10),
            ConvGeom::new(2, 8, 3, 3, (7, 9), 1, (1, 1), (1, 1)),
            ConvGeom::new(23, 8, 2, 3, (9, 9), 1, (0, 0), (0, 0)),
            // Winograd's 3x3 tiles: a 3x3 map (one tile an image; 200 images in two groups), 6x6
            // and 3x6 maps, 5x5 maps from padding (tiles past the edge; 49 images of 4 tiles in
            // two groups), a cropped map.
            ConvGeom::new(9, 16, 3, 3, (5, 5), 1, (0, 0), (0, 0)),
            ConvGeom::new(200, 8, 3, 3, (5, 5), 1, (0, 0), (0, 0)),
            ConvGeom::new(3, 10, 4, 3, (8, 8), 1, (0, 0), (0, 0)),
            ConvGeom::new(2, 8, 5, 3, (5, 8), 1, (0, 0), (0, 0)),
            ConvGeom::new(49, 8, 3, 3, (5, 5), 1, (1, 1), (1, 1)),
            ConvGeom::new(2, 9, 3, 3, (9, 8), 1, (0, 0), (0, 0)).cropped(6, 5),
        ];
        assert!(cases[4..].iter().all(winograd::applies) && !cases[..4].iter().any(winograd::applies));
        let f3 = |g: &ConvGeom| winograd::tile(g) == Some(winograd::Tile::F3);
        assert!(cases[9..].iter().all(f3) && !cases[..9].iter().any(f3));
        assert!(winograd::group(&cases[10]) < 200, "200 one-tile images in more than one group");
        assert_eq!(winograd::tile(&ConvGeom::valid(1, 8, 1, 3, 6, 6)), Some(winograd::Tile::F2), "4x4: F(2x2)'s 4 tiles, not F(3x3)'s 4");
        assert_eq!(cases[3].group(), 7, "19 images of 3x3 maps in three groups");
        for g in cases {
            let (kk, p) = (g.inp * g.k * g.k, g.ho() * g.wo());
            let random = |n: usize, rng: &mut StdRng| (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect::<Vec<_>>();
            let (x, w, b) = (random(g.input_len(), &mut rng), random(g.out * kk, &mut rng), random(g.out, &mut rng));
            let gy = random(g.output_len(), &mut rng);
            let (mut want_y, mut want_gw, mut want_gx) = (vec![0.0f64; g.output_len()], vec![0.0f64; w.len()], vec![0.0f64; x.len()]);
            // The sums of the terms' sizes: a float32 sum in any order is within a few ulps of
            // that of the true sum (a filter gradient over many images can be small while its
            // terms are not, and its rounding is the terms').
            let (mut size_y, mut size_gw, mut size_gx) = (vec![0.0f64; g.output_len()], vec![0.0f64; w.len()], vec![0.0f64; x.len()]);
            #[allow(clippy::needless_range_loop)] // the reference indexes like the formula it checks
            for n in 0..g.batch {
                for o in 0..g.out {
                    for (r, c) in (0..g.ho()).flat_map(|r| (0..g.wo()).map(move |c| (r, c))) {
                        let at = (n * g.out + o) * p + r * g.wo() + c;
                        want_y[at] = b[o] as f64;
                        for (i, ky, kx) in (0..g.inp).flat_map(|i| (0..g.k).flat_map(move |ky| (0..g.k).map(move |kx| (i, ky, kx)))) {
                            let Some(pixel) = g.pixel(r, c, ky, kx) else { continue };
                            let (xi, wi) = ((n * g.inp + i) * g.h * g.w + pixel, ((o * g.inp + i) * g.k + ky) * g.k + kx);
                            let (wx, gx_, gw_) = (w[wi] as f64 * x[xi] as f64, gy[at] as f64 * w[wi] as f64, gy[at] as f64 * x[xi] as f64);
                            want_y[at] += wx;
                            want_gw[wi] += gw_;
                            want_gx[xi] += gx_;
                            size_y[at] += wx.abs();
                            size_gw[wi] += gw_.abs();
                            size_gx[xi] += gx_.abs();
                        }
                    }
                }
            }
            let mut y = vec![f32::NAN; g.output_len()];
            // Winograd's backward pass with the tiles its forward pass kept, and without.
            let f = Filters::new(&g, &w);
            let mut kept = vec![0.0; f.kept_len(&g)];
            conv_forward(&g, &x, &f, &b, &mut y, Some(&mut kept), true);
            for kept in [Some(&kept[..]).filter(|k| !k.is_empty()), None] {
                let (mut gw, mut gx) = (vec![0.0; w.len()], vec![0.0; x.len()]);
                conv_backward(&g, &x, &f, kept, &gy, Some(&mut gw), Some(&mut gx), true);
                for (got, want, size) in [(&y, &want_y, &size_y), (&gw, &want_gw, &size_gw), (&gx, &want_gx, &size_gx)] {
                    for ((a, b), size) in got.iter().zip(want.iter()).zip(size.iter()) {
                        assert!((*a as f64 - b).abs() < 1e-5 * (1.0 + size), "{g:?}: {a} vs {b} (terms {size})");
                    }
                }
            }
        }
    }
}
