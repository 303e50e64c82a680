//! Pooling: each window of a feature map to its maximum or its mean, and the gradients back.

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
pub(super) fn first_max([first, rest @ ..]: [(f32, u32); 4]) -> (f32, u32) {
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
