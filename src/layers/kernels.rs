//! The arithmetic of the layers on plain `f32` slices in NCHW order, kept apart from the dfdx
//! plumbing so it can be read (and tested) as loops. Inner loops run along an image row, so the
//! compiler turns them into SIMD; the first layer's kernels are written for AVX-512 and AVX2
//! (chosen at run time, [`simd`]) and give the plain path's numbers bit for bit.

/// Sizes of one convolution call: `batch` images of `inp x h x w` to `out x ho x wo`, windows of
/// `k x k` moved `s` pixels at a time over the image padded with `pt` zero rows above and `pl`
/// zero columns on the left (and as many below and on the right as [`ConvGeom::new`] was given).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConvGeom {
    pub batch: usize,
    pub inp: usize,
    pub out: usize,
    pub k: usize,
    pub h: usize,
    pub w: usize,
    pub s: usize,
    pub pt: usize,
    pub pl: usize,
    ho: usize,
    wo: usize,
}

impl ConvGeom {
    /// Stride 1, no padding: `ho = h - k + 1`.
    #[cfg(test)]
    pub fn valid(batch: usize, inp: usize, out: usize, k: usize, h: usize, w: usize) -> Self {
        ConvGeom::new(batch, inp, out, k, (h, w), 1, (0, 0), (0, 0))
    }
    /// Any stride; `(top, bottom)` and `(left, right)` zero padding.
    #[allow(clippy::too_many_arguments)]
    pub fn new(batch: usize, inp: usize, out: usize, k: usize, (h, w): (usize, usize), s: usize, (pt, pb): (usize, usize), (pl, pr): (usize, usize)) -> Self {
        let ho = (h + pt + pb - k) / s + 1;
        let wo = (w + pl + pr - k) / s + 1;
        ConvGeom { batch, inp, out, k, h, w, s, pt, pl, ho, wo }
    }
    /// The same convolution on `batch` images.
    pub fn with_batch(&self, batch: usize) -> Self {
        ConvGeom { batch, ..*self }
    }
    pub fn ho(&self) -> usize {
        self.ho
    }
    pub fn wo(&self) -> usize {
        self.wo
    }
    /// Only the top-left `ho x wo` outputs (fewer than [`ConvGeom::new`] gives): those that a
    /// pooling after the convolution reads, when its windows leave the last rows or columns out.
    pub fn cropped(&self, ho: usize, wo: usize) -> Self {
        ConvGeom { ho: ho.min(self.ho), wo: wo.min(self.wo), ..*self }
    }
    /// Stride 1 and no padding: each patch row is a run of contiguous pixels.
    pub fn is_plain(&self) -> bool {
        self.s == 1 && self.pt == 0 && self.pl == 0 && self.ho + self.k <= self.h + 1 && self.wo + self.k <= self.w + 1
    }
    /// The image pixel under tap `(ky, kx)` of the window at output `(r, c)`, if it is not padding.
    #[inline(always)]
    pub fn pixel(&self, r: usize, c: usize, ky: usize, kx: usize) -> Option<usize> {
        let y = (r * self.s + ky).checked_sub(self.pt).filter(|&y| y < self.h)?;
        let x = (c * self.s + kx).checked_sub(self.pl).filter(|&x| x < self.w)?;
        Some(y * self.w + x)
    }
    pub fn input_len(&self) -> usize {
        self.batch * self.inp * self.h * self.w
    }
    pub fn output_len(&self) -> usize {
        self.batch * self.out * self.ho() * self.wo()
    }
}

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

/// `c (+)= a * b` on this thread, all row-major: `a` is `[m, k]`, `b` is `[k, n]` (or, with
/// `b_transposed`, `b` holds `[n, k]` and its transpose is used), `c` is `[m, n]`.
#[cfg(test)]
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul(m: usize, k: usize, n: usize, a: &[f32], b: &[f32], b_transposed: bool, c: &mut [f32], accumulate: bool) {
    let b_strides = if b_transposed { (1, k) } else { (n, 1) };
    matmul_strided(m, k, n, a, (k, 1), b, b_strides, c, accumulate, false);
}

/// `c (+)= a * b`, `c` row-major `[m, n]`; `a` (`m x k`) and `b` (`k x n`) are read through
/// their (row, column) strides, so either can be a transposed matrix. With `parallel`, on all of
/// rayon's threads (gemm splits the output, so each sum is still added in one order: the same
/// numbers on any number of threads); otherwise on this thread.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul_strided(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    (a_rs, a_cs): (usize, usize),
    b: &[f32],
    (b_rs, b_cs): (usize, usize),
    c: &mut [f32],
    accumulate: bool,
    parallel: bool,
) {
    let threads = if parallel { rayon::current_num_threads() } else { 1 };
    let parallelism = if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    let last = |rows: usize, cols: usize, rs: usize, cs: usize| (rows.max(1) - 1) * rs + (cols.max(1) - 1) * cs;
    assert!(m * k == 0 || a.len() > last(m, k, a_rs, a_cs), "matmul: a too short");
    assert!(k * n == 0 || b.len() > last(k, n, b_rs, b_cs), "matmul: b too short");
    assert!(c.len() >= m * n, "matmul: c too short");
    // SAFETY: the asserts above keep every access inside the three slices; `c` does not alias them.
    unsafe {
        gemm::gemm(
            m, n, k,
            c.as_mut_ptr(), 1, n as isize, accumulate,
            a.as_ptr(), a_cs as isize, a_rs as isize,
            b.as_ptr(), b_cs as isize, b_rs as isize,
            1.0, 1.0, false, false, false,
            parallelism,
        )
    }
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
        let most = PRODUCT_COLUMNS.div_ceil((self.ho * self.wo).max(1));
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

/// `y[b, o] = bias[o] + sum over (i, ky, kx) of w[o, i, ky, kx] * x[b, i, . + ky, . + kx]`,
/// computed for each group of images ([`ConvGeom::group`]) as `bias + w x im2col(x)`.
pub(crate) fn conv_forward(g: &ConvGeom, x: &[f32], w: &[f32], bias: &[f32], y: &mut [f32], parallel: bool) {
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
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv_backward(g: &ConvGeom, x: &[f32], w: &[f32], gy: &[f32], mut gw: Option<&mut [f32]>, mut gx: Option<&mut [f32]>, parallel: bool) {
    let (plane_in, plane_out) = (g.inp * g.h * g.w, g.out * g.ho() * g.wo());
    let group = g.group();
    let (mut cols, mut gyc, mut gcols) = (Vec::new(), Vec::new(), Vec::new());
    for (b, (x, gy)) in x.chunks(group * plane_in).zip(gy.chunks(group * plane_out)).enumerate() {
        let images = x.len() / plane_in;
        cols.resize(images * g.inp * g.k * g.k * g.ho() * g.wo(), 0.0);
        gyc.resize(images * plane_out, 0.0);
        group_patches(g, x, &mut cols);
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

/// Lanes of the direct kernel's vectors: one AVX-512 register, two AVX2 ones.
const LANES: usize = 16;

/// The widest vector instructions of this processor that the hand-written kernels use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Simd {
    /// Neither of the below (or not an x86-64 processor).
    Baseline,
    /// AVX2 with fused multiply-add: most x86-64 processors since 2013-2015.
    Avx2Fma,
    /// AVX-512 (with AVX2 and FMA).
    Avx512,
}

/// What this processor has (in tests, at most what the test allows on its thread, so that each
/// instruction set's code is tested on a machine that has the widest).
pub(crate) fn simd() -> Simd {
    #[cfg(target_arch = "x86_64")]
    let fma = std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
    #[cfg(target_arch = "x86_64")]
    let best = if fma && std::arch::is_x86_feature_detected!("avx512f") {
        Simd::Avx512
    } else if fma {
        Simd::Avx2Fma
    } else {
        Simd::Baseline
    };
    #[cfg(not(target_arch = "x86_64"))]
    let best = Simd::Baseline;
    #[cfg(test)]
    let best = best.min(SIMD_LIMIT.with(|l| l.get()));
    best
}

#[cfg(test)]
thread_local! {
    /// The widest instruction set [`simd`] may report on this thread (tests only: they call the
    /// kernels on their own thread; work rayon runs on its threads still sees the widest).
    pub(crate) static SIMD_LIMIT: std::cell::Cell<Simd> = const { std::cell::Cell::new(Simd::Avx512) };
}

/// `maxpool2x2(relu(conv(x)))` of one single-channel image `x` (`h x w`) with `K x K` filters,
/// `K <= 3`, computed directly instead of through [`im2col`], a matrix product and
/// [`max_pool_forward`]: the first layer has only `K*K` products per output, too few for a
/// matrix product to pay for its packing. Writes each pooled output and where it came from
/// (`argmax`, an index into the image's `[out, ho, wo]` feature maps, or `cut` when the ReLU
/// stopped it, its output then 0).
///
/// The same numbers as the matrix-product path: each sum is the chain of fused multiply-adds
/// `gemm` computes (the taps in reading order from zero, then the bias added). So it runs only
/// where that holds: on a processor with fused multiply-add (AVX2 with FMA, or AVX-512, chosen
/// at run time; on aarch64 always, which is not checked against `gemm` there) and for two
/// filters or more (`gemm` treats one filter as a matrix-vector product, which starts its sums
/// from the bias). Otherwise it returns `false`, computing nothing, and the caller takes the
/// matrix-product path.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv1_relu_pool2<const K: usize>(
    g: &ConvGeom,
    x: &[f32],
    w: &[f32],
    bias: &[f32],
    cut: u32,
    y: &mut [f32],
    argmax: &mut [u32],
    halves: &mut Vec<f32>,
) -> bool {
    if g.out < 2 {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx2,fma")]
        #[allow(clippy::too_many_arguments)]
        fn avx512<const K: usize>(g: &ConvGeom, x: &[f32], w: &[f32], bias: &[f32], cut: u32, y: &mut [f32], argmax: &mut [u32], halves: &mut Vec<f32>) {
            conv1_relu_pool2_body::<K>(g, x, w, bias, cut, y, argmax, halves)
        }
        #[target_feature(enable = "avx2,fma")]
        #[allow(clippy::too_many_arguments)]
        fn avx2<const K: usize>(g: &ConvGeom, x: &[f32], w: &[f32], bias: &[f32], cut: u32, y: &mut [f32], argmax: &mut [u32], halves: &mut Vec<f32>) {
            conv1_relu_pool2_body::<K>(g, x, w, bias, cut, y, argmax, halves)
        }
        match simd() {
            // SAFETY: the processor has the features the function is compiled for.
            Simd::Avx512 => unsafe { avx512::<K>(g, x, w, bias, cut, y, argmax, halves) },
            // SAFETY: as above.
            Simd::Avx2Fma => unsafe { avx2::<K>(g, x, w, bias, cut, y, argmax, halves) },
            Simd::Baseline => return false,
        }
        true
    }
    #[cfg(target_arch = "aarch64")]
    {
        // Fused multiply-add is part of every aarch64 processor.
        conv1_relu_pool2_body::<K>(g, x, w, bias, cut, y, argmax, halves);
        true
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = (g, x, w, bias, cut, y, argmax, halves);
        false
    }
}

/// The weight gradient of [`conv1_relu_pool2`] for one image, added to `gw` (`[out, K*K]`):
/// each filter tap collects `gradient x input pixel` over the positions that won their block
/// and passed the ReLU (the others have no gradient). Each sum runs in order of position, in
/// blocks of [`GEMM_DEPTH_BLOCK`] added to `gw` one after the other: the numbers of the matrix
/// product `gemm` computes for 3x3 filters, 29 to 64 of them (with fewer outputs it sums in
/// another order, with more in other blocks). Only there, and with fused multiply-add (see
/// [`conv1_relu_pool2`]), does it run; otherwise it returns `false`, computing nothing.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv1_pool2_weight_grad<const K: usize>(
    g: &ConvGeom,
    x: &[f32],
    gy: &[f32],
    argmax: &[u32],
    cut: u32,
    gw: &mut [f32],
    scratch: &mut Vec<f32>,
) -> bool {
    if K != 3 || !(29..=64).contains(&g.out) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx2,fma")]
        fn avx512<const K: usize>(g: &ConvGeom, x: &[f32], gy: &[f32], argmax: &[u32], cut: u32, gw: &mut [f32], scratch: &mut Vec<f32>) {
            // SAFETY: compiled for AVX-512, which the caller checked.
            unsafe { conv1_pool2_weight_grad_body::<simd::Avx512, K>(g, x, gy, argmax, cut, gw, scratch) }
        }
        #[target_feature(enable = "avx2,fma")]
        fn avx2<const K: usize>(g: &ConvGeom, x: &[f32], gy: &[f32], argmax: &[u32], cut: u32, gw: &mut [f32], scratch: &mut Vec<f32>) {
            // SAFETY: compiled for AVX2 and FMA, which the caller checked.
            unsafe { conv1_pool2_weight_grad_body::<simd::Avx2, K>(g, x, gy, argmax, cut, gw, scratch) }
        }
        match simd() {
            // SAFETY: the processor has the features the function is compiled for.
            Simd::Avx512 => unsafe { avx512::<K>(g, x, gy, argmax, cut, gw, scratch) },
            // SAFETY: as above.
            Simd::Avx2Fma => unsafe { avx2::<K>(g, x, gy, argmax, cut, gw, scratch) },
            Simd::Baseline => return false,
        }
        true
    }
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: plain arrays need no particular instructions.
        unsafe { conv1_pool2_weight_grad_body::<simd::Scalar, K>(g, x, gy, argmax, cut, gw, scratch) };
        true
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = (g, x, gy, argmax, cut, gw, scratch);
        false
    }
}

/// Sixteen `f32` lanes, for the loops the compiler does not vectorise well by itself.
mod simd {
    /// What [`super::conv1_pool2_weight_grad`] needs of a vector.
    ///
    /// # Safety
    /// Every method may use instructions the processor lacks: call them only where the
    /// implementing type's instruction set is known to be there (inside the function compiled
    /// for it, which the dispatcher calls after checking).
    pub(super) trait Lanes: Copy {
        unsafe fn zero() -> Self;
        unsafe fn load(a: &[f32; super::LANES]) -> Self;
        /// `self * x + acc`, lane by lane, one rounding (fused).
        unsafe fn mul_add(self, x: f32, acc: Self) -> Self;
        unsafe fn store(self, out: &mut [f32; super::LANES]);
    }

    /// Plain arrays, for processors where `f32::mul_add` is an instruction anyway (aarch64).
    #[derive(Clone, Copy)]
    #[allow(dead_code)]
    pub(super) struct Scalar([f32; super::LANES]);

    impl Lanes for Scalar {
        #[inline(always)]
        unsafe fn zero() -> Self {
            Scalar([0.0; super::LANES])
        }
        #[inline(always)]
        unsafe fn load(a: &[f32; super::LANES]) -> Self {
            Scalar(*a)
        }
        #[inline(always)]
        unsafe fn mul_add(self, x: f32, acc: Self) -> Self {
            Scalar(std::array::from_fn(|l| self.0[l].mul_add(x, acc.0[l])))
        }
        #[inline(always)]
        unsafe fn store(self, out: &mut [f32; super::LANES]) {
            *out = self.0;
        }
    }

    #[cfg(target_arch = "x86_64")]
    pub(super) use x86::*;

    #[cfg(target_arch = "x86_64")]
    mod x86 {
        use super::super::LANES;
        use super::Lanes;
        use std::arch::x86_64::*;

        /// One AVX-512 register.
        #[derive(Clone, Copy)]
        pub(in super::super) struct Avx512(__m512);

        impl Lanes for Avx512 {
            #[inline(always)]
            unsafe fn zero() -> Self {
                Avx512(_mm512_setzero_ps())
            }
            #[inline(always)]
            unsafe fn load(a: &[f32; LANES]) -> Self {
                // 16 floats are there to read.
                Avx512(_mm512_loadu_ps(a.as_ptr()))
            }
            #[inline(always)]
            unsafe fn mul_add(self, x: f32, acc: Self) -> Self {
                Avx512(_mm512_fmadd_ps(self.0, _mm512_set1_ps(x), acc.0))
            }
            #[inline(always)]
            unsafe fn store(self, out: &mut [f32; LANES]) {
                // 16 floats are there to write.
                _mm512_storeu_ps(out.as_mut_ptr(), self.0)
            }
        }

        /// Two AVX registers (AVX2 with FMA).
        #[derive(Clone, Copy)]
        pub(in super::super) struct Avx2(__m256, __m256);

        impl Lanes for Avx2 {
            #[inline(always)]
            unsafe fn zero() -> Self {
                Avx2(_mm256_setzero_ps(), _mm256_setzero_ps())
            }
            #[inline(always)]
            unsafe fn load(a: &[f32; LANES]) -> Self {
                // 16 floats are there to read.
                Avx2(_mm256_loadu_ps(a.as_ptr()), _mm256_loadu_ps(a.as_ptr().add(8)))
            }
            #[inline(always)]
            unsafe fn mul_add(self, x: f32, acc: Self) -> Self {
                let x = _mm256_set1_ps(x);
                Avx2(_mm256_fmadd_ps(self.0, x, acc.0), _mm256_fmadd_ps(self.1, x, acc.1))
            }
            #[inline(always)]
            unsafe fn store(self, out: &mut [f32; LANES]) {
                // 16 floats are there to write.
                _mm256_storeu_ps(out.as_mut_ptr(), self.0);
                _mm256_storeu_ps(out.as_mut_ptr().add(8), self.1);
            }
        }
    }
}

/// How `gemm` 0.19 splits a long sum when the output has at most 64 rows and columns and more
/// than 256 elements (as the first layer's weight gradient, `[out, K*K]`, for 29 to 64 filters
/// of 3x3): into blocks of 512 products from the start, each block's sum added to the output in
/// turn (`kc = k.min(512)` in `gemm_basic_generic`).
const GEMM_DEPTH_BLOCK: usize = 512;

/// Taps of the largest filter the direct kernels take (3x3).
const TAPS: usize = 9;

/// The loops of [`conv1_pool2_weight_grad`]. The pooled gradients are first put back at the
/// positions that won (zero elsewhere), position-major: `[ho*wo, out]`. Then, for `LANES`
/// filters at a time and one position after the other, every tap's running sums take
/// `gradient x pixel` in one vector multiply-add: nine independent sums in flight, no branches.
///
/// # Safety
/// `V`'s instructions must be there (see [`simd::Lanes`]).
#[inline(always)]
unsafe fn conv1_pool2_weight_grad_body<V: simd::Lanes, const K: usize>(
    g: &ConvGeom,
    x: &[f32],
    gy: &[f32],
    argmax: &[u32],
    cut: u32,
    gw: &mut [f32],
    scratch: &mut Vec<f32>,
) {
    assert!(g.batch == 1 && g.inp == 1 && g.k == K && K * K <= TAPS, "one single-channel image, filters up to 3x3");
    let (ho, wo) = (g.ho(), g.wo());
    let plane_out = ho * wo;
    let per_out = gy.len() / g.out;
    let lanes_out = g.out.div_ceil(LANES) * LANES;
    // One more row, where the outputs the ReLU cut leave their (unused) gradient.
    scratch.clear();
    scratch.resize((plane_out + 1) * lanes_out, 0.0);
    for (o, (wins, grads)) in argmax.chunks_exact(per_out).zip(gy.chunks_exact(per_out)).enumerate() {
        let first = (o * plane_out) as u32;
        for (&at, &gv) in wins.iter().zip(grads) {
            let p = if at == cut { plane_out } else { (at - first) as usize };
            scratch[p * lanes_out + o] = gv;
        }
    }
    for o0 in (0..g.out).step_by(LANES) {
        for start in (0..plane_out).step_by(GEMM_DEPTH_BLOCK) {
            // SAFETY (here and below): V's instructions are there (this function's contract).
            let mut acc = [unsafe { V::zero() }; TAPS];
            let (mut r, mut c) = (start / wo, start % wo);
            for grads in scratch[start * lanes_out..plane_out.min(start + GEMM_DEPTH_BLOCK) * lanes_out].chunks_exact(lanes_out) {
                let grads = unsafe { V::load(grads[o0..o0 + LANES].try_into().unwrap()) };
                let patch = &x[r * g.w + c..];
                for ky in 0..K {
                    for kx in 0..K {
                        acc[ky * K + kx] = unsafe { grads.mul_add(patch[ky * g.w + kx], acc[ky * K + kx]) };
                    }
                }
                c += 1;
                if c == wo {
                    (r, c) = (r + 1, 0);
                }
            }
            // The end of a block of the sum: its sums go into the gradient.
            for (t, sums) in acc.iter().enumerate().take(K * K) {
                let mut lanes = [0.0; LANES];
                unsafe { sums.store(&mut lanes) };
                for (l, o) in (o0..g.out.min(o0 + LANES)).enumerate() {
                    gw[o * K * K + t] += lanes[l];
                }
            }
        }
    }
}

/// The loops of [`conv1_relu_pool2`], compiled once per instruction set. The input's rows are
/// first split into their even and odd columns, so that each of the four outputs of the 2x2
/// blocks (even and odd column of two rows) is, for `LANES` neighbouring blocks, a product of
/// contiguous runs: plain vector loads, and the block's maximum taken lane by lane. The runs a
/// row of blocks needs are loaded once and serve every filter.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn conv1_relu_pool2_body<const K: usize>(g: &ConvGeom, x: &[f32], w: &[f32], bias: &[f32], cut: u32, y: &mut [f32], argmax: &mut [u32], halves: &mut Vec<f32>) {
    assert!(g.batch == 1 && g.inp == 1 && g.k == K && K <= 3, "one single-channel image, filters up to 3x3");
    let (ho, wo) = (g.ho(), g.wo());
    let (ph, pw) = (ho / 2, wo / 2);
    // Room for the last vector's lanes past the image's edge (zeros, computed and dropped).
    let stride = pw.div_ceil(LANES) * LANES + K;
    halves.clear();
    halves.resize(2 * g.h * stride, 0.0);
    let (even, odd) = halves.split_at_mut(g.h * stride);
    for (r, row) in x.chunks_exact(g.w).enumerate() {
        for (j, pair) in row.chunks(2).enumerate() {
            even[r * stride + j] = pair[0];
            if let Some(&v) = pair.get(1) {
                odd[r * stride + j] = v;
            }
        }
    }
    let lane_offsets: [u32; LANES] = std::array::from_fn(|l| 2 * l as u32);
    let plane_out = ho * wo;
    for pr in 0..ph {
        for c0 in (0..pw).step_by(LANES) {
            // runs[dr][s]: input row 2*pr + dr, column 2*(c0 + lane) + s.
            let mut runs = [[[0.0f32; LANES]; 4]; 4];
            for (dr, row_runs) in runs.iter_mut().enumerate().take(K + 1) {
                for (s, run) in row_runs.iter_mut().enumerate().take(K + 1) {
                    let half = if s % 2 == 0 { &*even } else { &*odd };
                    let at = (2 * pr + dr) * stride + c0 + s / 2;
                    run.copy_from_slice(&half[at..at + LANES]);
                }
            }
            let n = LANES.min(pw - c0);
            for o in 0..g.out {
                let taps = &w[o * K * K..(o + 1) * K * K];
                // The 2x2 blocks' conv outputs: top-left, top-right, bottom-left, bottom-right.
                let mut acc = [[0.0f32; LANES]; 4];
                for ky in 0..K {
                    for kx in 0..K {
                        let t = taps[ky * K + kx];
                        for (i, (dy, dx)) in [(0, 0), (0, 1), (1, 0), (1, 1)].into_iter().enumerate() {
                            let run = &runs[ky + dy][kx + dx];
                            for l in 0..LANES {
                                acc[i][l] = t.mul_add(run[l], acc[i][l]);
                            }
                        }
                    }
                }
                let top = (o * plane_out + 2 * pr * wo + 2 * c0) as u32;
                let below = wo as u32;
                let mut v = [0.0f32; LANES];
                let mut at = [0u32; LANES];
                for l in 0..LANES {
                    let [tl, tr, bl, br] = [acc[0][l], acc[1][l], acc[2][l], acc[3][l]].map(|a| a + bias[o]);
                    let p = top + lane_offsets[l];
                    let (best, best_at) = first_max([(tl, p), (tr, p + 1), (bl, p + below), (br, p + below + 1)]);
                    (v[l], at[l]) = if best <= 0.0 { (0.0, cut) } else { (best, best_at) };
                }
                let out = o * ph * pw + pr * pw + c0;
                y[out..out + n].copy_from_slice(&v[..n]);
                argmax[out..out + n].copy_from_slice(&at[..n]);
            }
        }
    }
}

/// Bias gradient of a convolution followed by a ReLU and pooling, for one image: each filter's
/// pooled gradients (`gy`, `[out, pooled]`), those of outputs the ReLU did not cut, added to
/// `gb[filter]` in order. Eight filters at a time, so that eight sums are in flight instead of
/// one; a cut output adds +0, which changes no sum (it starts at +0, so it never holds -0).
pub(crate) fn pooled_bias_grad(gy: &[f32], argmax: &[u32], cut: u32, gb: &mut [f32]) {
    const GROUP: usize = 8;
    let per_out = gy.len() / gb.len();
    for (o0, gb) in (0..gb.len()).step_by(GROUP).zip(gb.chunks_mut(GROUP)) {
        let mut sums = [0.0f32; GROUP];
        sums[..gb.len()].copy_from_slice(gb);
        for q in 0..per_out {
            for (j, sum) in sums.iter_mut().enumerate().take(gb.len()) {
                let at = (o0 + j) * per_out + q;
                *sum += if argmax[at] == cut { 0.0 } else { gy[at] };
            }
        }
        gb.copy_from_slice(&sums[..gb.len()]);
    }
}

/// Sizes of one pooling call: `planes` feature maps (batch x channels) of `h x w`, windows of
/// `k x k` moved `s` pixels at a time (only whole windows: a remainder is dropped).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolGeom {
    pub planes: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
    pub s: usize,
}

impl PoolGeom {
    pub fn ho(&self) -> usize {
        (self.h - self.k) / self.s + 1
    }
    pub fn wo(&self) -> usize {
        (self.w - self.k) / self.s + 1
    }
    pub fn output_len(&self) -> usize {
        self.planes * self.ho() * self.wo()
    }
}

/// Each `k x k` block to its maximum; `argmax` records where in `x` each maximum came from
/// (the first one on ties), which is all the backward pass needs.
pub(crate) fn max_pool_forward(g: &PoolGeom, x: &[f32], y: &mut [f32], argmax: &mut [u32]) {
    if g.k == 2 && g.s == 2 {
        return max_pool_2x2_forward(g, x, y, argmax);
    }
    let (ho, wo, k, s) = (g.ho(), g.wo(), g.k, g.s);
    let plane_in = g.h * g.w;
    let mut n = 0;
    for p in 0..g.planes {
        let base = p * plane_in;
        for r in 0..ho {
            for c in 0..wo {
                let mut best = base + r * s * g.w + c * s;
                for dy in 0..k {
                    for dx in 0..k {
                        let at = base + (r * s + dy) * g.w + c * s + dx;
                        if x[at] > x[best] {
                            best = at;
                        }
                    }
                }
                y[n] = x[best];
                argmax[n] = best as u32;
                n += 1;
            }
        }
    }
}

/// The largest of a 2x2 block's values given in reading order, and where it is: each value
/// replaces the maximum so far only if larger, so the first maximum wins ties (and a NaN is
/// kept only if it comes first), as in the general loop of [`max_pool_forward`].
#[inline(always)]
fn first_max([first, rest @ ..]: [(f32, u32); 4]) -> (f32, u32) {
    let mut best = first;
    for candidate in rest {
        if candidate.0 > best.0 {
            best = candidate;
        }
    }
    best
}

/// [`max_pool_forward`] for the common 2x2 window: two input rows at a time, no inner loops.
fn max_pool_2x2_forward(g: &PoolGeom, x: &[f32], y: &mut [f32], argmax: &mut [u32]) {
    let (ho, wo, w) = (g.ho(), g.wo(), g.w);
    let plane_in = g.h * w;
    let mut n = 0;
    for p in 0..g.planes {
        for r in 0..ho {
            let top = p * plane_in + 2 * r * w;
            let (a, b) = (&x[top..top + w], &x[top + w..top + 2 * w]);
            let (yr, ar) = (&mut y[n..n + wo], &mut argmax[n..n + wo]);
            for c in 0..wo {
                let (i, j) = (2 * c, 2 * c + 1);
                let at = |pixel: usize| (top + pixel) as u32;
                (yr[c], ar[c]) = first_max([(a[i], at(i)), (a[j], at(j)), (b[i], at(w + i)), (b[j], at(w + j))]);
            }
            n += wo;
        }
    }
}

/// The gradient of a maximum flows only to the input that was the maximum.
pub(crate) fn max_pool_backward(argmax: &[u32], gy: &[f32], gx: &mut [f32]) {
    for (&at, &g) in argmax.iter().zip(gy) {
        gx[at as usize] += g;
    }
}

/// Walks the pooling windows in output order: `f(output, row)` for each of a window's `k` rows,
/// `row` being where its `k` pixels start in `x`.
#[inline(always)]
fn window_rows(g: &PoolGeom, mut f: impl FnMut(usize, usize)) {
    let plane_in = g.h * g.w;
    let mut n = 0;
    for p in 0..g.planes {
        for r in 0..g.ho() {
            for c in 0..g.wo() {
                for dy in 0..g.k {
                    f(n, p * plane_in + (r * g.s + dy) * g.w + c * g.s);
                }
                n += 1;
            }
        }
    }
}

/// Each `k x k` window to its mean.
pub(crate) fn avg_pool_forward(g: &PoolGeom, x: &[f32], y: &mut [f32]) {
    let (k, scale) = (g.k, 1.0 / (g.k * g.k) as f32);
    y.fill(0.0);
    window_rows(g, |n, row| y[n] += x[row..row + k].iter().sum::<f32>());
    y.iter_mut().for_each(|v| *v *= scale);
}

/// The gradient of a mean: each of the window's `k * k` inputs gets `1 / (k * k)` of it.
pub(crate) fn avg_pool_backward(g: &PoolGeom, gy: &[f32], gx: &mut [f32]) {
    let (k, scale) = (g.k, 1.0 / (g.k * g.k) as f32);
    window_rows(g, |n, row| gx[row..row + k].iter_mut().for_each(|v| *v += gy[n] * scale));
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// The convolution by matrix products of several images at a time, forward and back,
    /// against the textbook loops: with stride and padding, cropped outputs, and batches that
    /// split into several groups (3x3 maps take eight images a group).
    #[test]
    fn grouped_convolution_matches_plain_loops() {
        let mut rng = StdRng::seed_from_u64(11);
        let cases = [
            ConvGeom::new(3, 2, 3, 3, (7, 6), 1, (0, 0), (0, 0)),
            ConvGeom::new(4, 3, 5, 3, (7, 8), 2, (1, 1), (0, 1)),
            ConvGeom::new(2, 2, 4, 3, (9, 9), 1, (0, 0), (0, 0)).cropped(6, 5),
            ConvGeom::new(19, 6, 3, 3, (5, 5), 1, (0, 0), (0, 0)),
        ];
        assert_eq!(cases[3].group(), 7, "19 images of 3x3 maps in three groups");
        for g in cases {
            let (kk, p) = (g.inp * g.k * g.k, g.ho() * g.wo());
            let random = |n: usize, rng: &mut StdRng| (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect::<Vec<_>>();
            let (x, w, b) = (random(g.input_len(), &mut rng), random(g.out * kk, &mut rng), random(g.out, &mut rng));
            let gy = random(g.output_len(), &mut rng);
            let (mut want_y, mut want_gw, mut want_gx) = (vec![0.0f64; g.output_len()], vec![0.0f64; w.len()], vec![0.0f64; x.len()]);
            for n in 0..g.batch {
                for o in 0..g.out {
                    for (r, c) in (0..g.ho()).flat_map(|r| (0..g.wo()).map(move |c| (r, c))) {
                        let at = (n * g.out + o) * p + r * g.wo() + c;
                        want_y[at] = b[o] as f64;
                        for (i, ky, kx) in (0..g.inp).flat_map(|i| (0..g.k).flat_map(move |ky| (0..g.k).map(move |kx| (i, ky, kx)))) {
                            let Some(pixel) = g.pixel(r, c, ky, kx) else { continue };
                            let (xi, wi) = ((n * g.inp + i) * g.h * g.w + pixel, ((o * g.inp + i) * g.k + ky) * g.k + kx);
                            want_y[at] += w[wi] as f64 * x[xi] as f64;
                            want_gw[wi] += gy[at] as f64 * x[xi] as f64;
                            want_gx[xi] += gy[at] as f64 * w[wi] as f64;
                        }
                    }
                }
            }
            let mut y = vec![f32::NAN; g.output_len()];
            conv_forward(&g, &x, &w, &b, &mut y, true);
            let (mut gw, mut gx) = (vec![0.0; w.len()], vec![0.0; x.len()]);
            conv_backward(&g, &x, &w, &gy, Some(&mut gw), Some(&mut gx), true);
            for (got, want) in [(&y, &want_y), (&gw, &want_gw), (&gx, &want_gx)] {
                for (a, b) in got.iter().zip(want.iter()) {
                    assert!((*a as f64 - b).abs() < 1e-4 * (1.0 + b.abs()), "{g:?}: {a} vs {b}");
                }
            }
        }
    }

    /// The direct first-layer kernel gives exactly the numbers of the matrix-product path
    /// (im2col, `gemm`, pooling, ReLU), ties and cut outputs included, for square and wide
    /// images, odd feature-map sides, more than one vector of pooled columns, and on each
    /// instruction set; with one filter it leaves the work to the matrix-product path.
    #[test]
    fn direct_conv_relu_pool_equals_the_matrix_product_path() {
        for limit in [Simd::Avx512, Simd::Avx2Fma, Simd::Baseline] {
            SIMD_LIMIT.with(|l| l.set(limit));
            let mut rng = StdRng::seed_from_u64(3);
            for (h, w, out) in [(28, 28, 32), (9, 40, 3), (12, 11, 4), (6, 70, 2), (28, 28, 1)] {
                check::<3>(h, w, out, &mut rng);
                check::<2>(h, w, out, &mut rng);
                check::<1>(h, w, out, &mut rng);
            }
        }
    }

    fn check<const K: usize>(h: usize, w: usize, out: usize, rng: &mut StdRng) {
        let g = ConvGeom::valid(1, 1, out, K, h, w);
        let p = PoolGeom { planes: out, h: g.ho(), w: g.wo(), k: 2, s: 2 };
        // Whole numbers in part of the image, so that ties and exact zeros happen.
        let x: Vec<f32> = (0..h * w).map(|i| if i % 3 == 0 { rng.gen_range(-2..3) as f32 } else { rng.gen_range(-1.0..1.0) }).collect();
        let wt: Vec<f32> = (0..out * K * K).map(|_| rng.gen_range(-1.0..1.0)).collect();
        let b: Vec<f32> = (0..out).map(|i| if i % 2 == 0 { 0.0 } else { rng.gen_range(-0.5..0.5) }).collect();

        let mut maps = vec![0.0; g.output_len()];
        conv_forward(&g, &x, &wt, &b, &mut maps, false);
        let (mut y1, mut a1) = (vec![0.0; p.output_len()], vec![0u32; p.output_len()]);
        max_pool_forward(&p, &maps, &mut y1, &mut a1);
        for (v, a) in y1.iter_mut().zip(a1.iter_mut()) {
            if *v <= 0.0 {
                (*v, *a) = (0.0, u32::MAX);
            }
        }
        let (mut y2, mut a2) = (vec![f32::NAN; p.output_len()], vec![7u32; p.output_len()]);
        let used = conv1_relu_pool2::<K>(&g, &x, &wt, &b, u32::MAX, &mut y2, &mut a2, &mut Vec::new());
        #[cfg(target_arch = "x86_64")]
        assert_eq!(used, simd() != Simd::Baseline && out >= 2, "used exactly with AVX2 and FMA, from two filters");
        if used {
            let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&y1), bits(&y2), "{h}x{w} k{K}");
            assert_eq!(a1, a2, "{h}x{w} k{K}");
        }
    }

    /// The direct weight gradient gives exactly the matrix product's numbers for the lesson's
    /// first layer (28x28 images, 32 filters of 3x3: `gemm` sums 676 positions as 512 + 164)
    /// and others of 29 to 64 filters, onto a gradient that already holds something, on each
    /// instruction set; for other filter counts it leaves the work to the matrix product.
    #[test]
    fn direct_weight_grad_equals_the_matrix_product() {
        for limit in [Simd::Avx512, Simd::Avx2Fma] {
            SIMD_LIMIT.with(|l| l.set(limit));
            weight_grads_with(StdRng::seed_from_u64(5));
        }
    }

    fn weight_grads_with(mut rng: StdRng) {
        for (h, w, out) in [(28, 28, 32), (30, 30, 48), (20, 20, 20), (12, 40, 70)] {
            let g = ConvGeom::valid(1, 1, out, 3, h, w);
            let p = PoolGeom { planes: out, h: g.ho(), w: g.wo(), k: 2, s: 2 };
            let x: Vec<f32> = (0..h * w).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let wt: Vec<f32> = (0..out * 9).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let b: Vec<f32> = (0..out).map(|_| rng.gen_range(-0.1..0.1)).collect();
            let n = p.output_len();
            let (mut y, mut a) = (vec![0.0; n], vec![0u32; n]);
            if !conv1_relu_pool2::<3>(&g, &x, &wt, &b, u32::MAX, &mut y, &mut a, &mut Vec::new()) {
                return; // no FMA: the matrix-product path is the only one (see the test above)
            }
            assert!(a.contains(&u32::MAX), "some outputs cut");
            let gy: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let mut gw1: Vec<f32> = (0..out * 9).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let mut gw2 = gw1.clone();
            let mut gmaps = vec![0.0; g.output_len()];
            for (&at, &gv) in a.iter().zip(&gy) {
                if at != u32::MAX {
                    gmaps[at as usize] = gv;
                }
            }
            let plane = g.ho() * g.wo();
            let mut cols = vec![0.0; 9 * plane];
            im2col(&g, &x, &mut cols);
            matmul(out, plane, 9, &gmaps, &cols, true, &mut gw1, true);
            let used = conv1_pool2_weight_grad::<3>(&g, &x, &gy, &a, u32::MAX, &mut gw2, &mut Vec::new());
            assert_eq!(used, (29..=64).contains(&out), "{out} filters");
            if used {
                assert_eq!(gw1.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), gw2.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "{h}x{w}, {out} filters");
            }

            // The bias gradient: the same sums, in the same order, as one filter at a time.
            let mut gb1: Vec<f32> = (0..out).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let mut gb2 = gb1.clone();
            for (q, (&at, &gv)) in a.iter().zip(&gy).enumerate() {
                if at != u32::MAX {
                    gb1[q / (n / out)] += gv;
                }
            }
            pooled_bias_grad(&gy, &a, u32::MAX, &mut gb2);
            assert_eq!(gb1.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), gb2.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        }
    }
}
