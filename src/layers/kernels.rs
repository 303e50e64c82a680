//! The arithmetic of the layers on plain `f32` slices in NCHW order, kept apart from the dfdx
//! plumbing so it can be read (and tested) as loops. Inner loops run along an image row, so the
//! compiler turns them into SIMD.

/// Sizes of one convolution call: `batch` images of `inp x h x w` to `out x (h-k+1) x (w-k+1)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConvGeom {
    pub batch: usize,
    pub inp: usize,
    pub out: usize,
    pub k: usize,
    pub h: usize,
    pub w: usize,
}

impl ConvGeom {
    pub fn ho(&self) -> usize {
        self.h - self.k + 1
    }
    pub fn wo(&self) -> usize {
        self.w - self.k + 1
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

/// Walks the im2col layout of one image: for each of its `inp*k*k` rows (input channel, kernel
/// row, kernel column) and each output row, calls `f(pixel, col)` with where the `wo` pixels of
/// the image start and where they sit in the `[inp*k*k, ho*wo]` matrix.
#[inline(always)]
fn patch_runs(g: &ConvGeom, mut f: impl FnMut(usize, usize)) {
    let (ho, wo, k) = (g.ho(), g.wo(), g.k);
    let plane_in = g.h * g.w;
    let mut col = 0;
    for i in 0..g.inp {
        for ky in 0..k {
            for kx in 0..k {
                for r in 0..ho {
                    f(i * plane_in + (r + ky) * g.w + kx, col);
                    col += wo;
                }
            }
        }
    }
}

/// Lays out the `k x k` patches of one image as the columns of a `[inp*k*k, ho*wo]` matrix
/// ("im2col"), so that the convolution becomes one matrix product with the `[out, inp*k*k]`
/// weights.
pub(crate) fn im2col(g: &ConvGeom, x: &[f32], cols: &mut [f32]) {
    let wo = g.wo();
    patch_runs(g, |pixel, col| cols[col..col + wo].copy_from_slice(&x[pixel..pixel + wo]));
}

/// The reverse of [`im2col`]: adds each column of `cols` (`[inp*k*k, ho*wo]`) back onto the
/// pixels of the patch it came from, in one image `x`.
pub(crate) fn col2im_add(g: &ConvGeom, cols: &[f32], x: &mut [f32]) {
    let wo = g.wo();
    patch_runs(g, |pixel, col| {
        for (d, s) in x[pixel..pixel + wo].iter_mut().zip(&cols[col..col + wo]) {
            *d += s;
        }
    });
}

/// `y[b, o] = bias[o] + sum over (i, ky, kx) of w[o, i, ky, kx] * x[b, i, . + ky, . + kx]`,
/// computed per image as `bias + w x im2col(x)`.
pub(crate) fn conv_forward(g: &ConvGeom, x: &[f32], w: &[f32], bias: &[f32], y: &mut [f32]) {
    let (kk, p) = (g.inp * g.k * g.k, g.ho() * g.wo());
    let plane_in = g.inp * g.h * g.w;
    let mut cols = vec![0.0; kk * p];
    for b in 0..g.batch {
        im2col(g, &x[b * plane_in..(b + 1) * plane_in], &mut cols);
        let yb = &mut y[b * g.out * p..(b + 1) * g.out * p];
        for (o, row) in yb.chunks_exact_mut(p).enumerate() {
            row.fill(bias[o]);
        }
        matmul(g.out, kk, p, w, &cols, false, yb, true);
    }
}

/// Weight gradient: `gw[o, i, ky, kx] += sum over (b, r, c) of gy[b, o, r, c] * x[b, i, r + ky, c + kx]`,
/// computed per image as `gw += gy x im2col(x)^T`.
pub(crate) fn conv_backward_weight(g: &ConvGeom, x: &[f32], gy: &[f32], gw: &mut [f32]) {
    let (kk, p) = (g.inp * g.k * g.k, g.ho() * g.wo());
    let plane_in = g.inp * g.h * g.w;
    let mut cols = vec![0.0; kk * p];
    for b in 0..g.batch {
        im2col(g, &x[b * plane_in..(b + 1) * plane_in], &mut cols);
        matmul(g.out, p, kk, &gy[b * g.out * p..(b + 1) * g.out * p], &cols, true, gw, true);
    }
}

/// Bias gradient: `gb[o] += sum over (b, r, c) of gy[b, o, r, c]`.
pub(crate) fn conv_backward_bias(g: &ConvGeom, gy: &[f32], gb: &mut [f32]) {
    let plane_out = g.ho() * g.wo();
    for (n, plane) in gy.chunks_exact(plane_out).enumerate() {
        gb[n % g.out] += sum(plane);
    }
}

/// Input gradient: `gx[b, i, r + ky, c + kx] += sum over o of w[o, i, ky, kx] * gy[b, o, r, c]`,
/// computed per image as the patch gradients `w^T x gy`, each added back where its patch came
/// from ([`col2im_add`]).
pub(crate) fn conv_backward_input(g: &ConvGeom, w: &[f32], gy: &[f32], gx: &mut [f32]) {
    let (kk, p) = (g.inp * g.k * g.k, g.ho() * g.wo());
    let plane_in = g.inp * g.h * g.w;
    let mut gcols = vec![0.0; kk * p];
    for b in 0..g.batch {
        // w is [out, kk]; read through its strides as its transpose [kk, out].
        let gyb = &gy[b * g.out * p..(b + 1) * g.out * p];
        matmul_strided(kk, g.out, p, w, (1, kk), gyb, (p, 1), &mut gcols, false, false);
        col2im_add(g, &gcols, &mut gx[b * plane_in..(b + 1) * plane_in]);
    }
}

/// Sizes of one pooling call: `planes` feature maps (batch x channels) of `h x w`, window `k`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolGeom {
    pub planes: usize,
    pub h: usize,
    pub w: usize,
    pub k: usize,
}

impl PoolGeom {
    pub fn ho(&self) -> usize {
        self.h / self.k
    }
    pub fn wo(&self) -> usize {
        self.w / self.k
    }
    pub fn output_len(&self) -> usize {
        self.planes * self.ho() * self.wo()
    }
}

/// Each `k x k` block to its maximum; `argmax` records where in `x` each maximum came from
/// (the first one on ties), which is all the backward pass needs.
pub(crate) fn max_pool_forward(g: &PoolGeom, x: &[f32], y: &mut [f32], argmax: &mut [u32]) {
    if g.k == 2 {
        return max_pool_2x2_forward(g, x, y, argmax);
    }
    let (ho, wo, k) = (g.ho(), g.wo(), g.k);
    let plane_in = g.h * g.w;
    let mut n = 0;
    for p in 0..g.planes {
        let base = p * plane_in;
        for r in 0..ho {
            for c in 0..wo {
                let mut best = base + r * k * g.w + c * k;
                for dy in 0..k {
                    for dx in 0..k {
                        let at = base + (r * k + dy) * g.w + c * k + dx;
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
                // The first maximum in reading order wins ties, as in the general loop.
                let (mut v, mut at) = (a[i], top + i);
                if a[j] > v {
                    (v, at) = (a[j], top + j);
                }
                if b[i] > v {
                    (v, at) = (b[i], top + w + i);
                }
                if b[j] > v {
                    (v, at) = (b[j], top + w + j);
                }
                yr[c] = v;
                ar[c] = at as u32;
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
