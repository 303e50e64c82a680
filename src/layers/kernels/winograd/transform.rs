//! The transforms of F(2x2, 3x3), `Bᵀ d B`, `G g Gᵀ`, `Aᵀ m A` and their transposes for the
//! backward pass, sixteen tiles at a time.
use super::{ConvGeom, XI};

/// Sixteen tiles' values at once: the transforms below work on these lane by lane, so that the
/// compiler turns them into vector additions.
#[derive(Clone, Copy)]
pub(super) struct L([f32; LANES]);

pub(super) const LANES: usize = 16;

impl std::ops::Add for L {
    type Output = L;
    #[inline(always)]
    fn add(mut self, o: L) -> L {
        for i in 0..LANES {
            self.0[i] += o.0[i];
        }
        self
    }
}

impl std::ops::Sub for L {
    type Output = L;
    #[inline(always)]
    fn sub(mut self, o: L) -> L {
        for i in 0..LANES {
            self.0[i] -= o.0[i];
        }
        self
    }
}

impl std::ops::Neg for L {
    type Output = L;
    #[inline(always)]
    fn neg(mut self) -> L {
        for v in &mut self.0 {
            *v = -*v;
        }
        self
    }
}

impl L {
    /// Up to sixteen values from the start of `s`, zeros after its end.
    #[inline(always)]
    fn load(s: &[f32]) -> L {
        if let Some(whole) = s.first_chunk::<LANES>() {
            return L(*whole);
        }
        let mut l = [0.0; LANES];
        for (d, v) in l.iter_mut().zip(s) {
            *d = *v;
        }
        L(l)
    }
    /// The first lanes into `s`, as many as it holds (up to sixteen).
    #[inline(always)]
    fn store(self, s: &mut [f32]) {
        if let Some(whole) = s.first_chunk_mut::<LANES>() {
            *whole = self.0;
            return;
        }
        for (d, v) in s.iter_mut().zip(self.0) {
            *d = v;
        }
    }
    #[inline(always)]
    fn half(mut self) -> L {
        for v in &mut self.0 {
            *v *= 0.5;
        }
        self
    }
    const ZERO: L = L([0.0; LANES]);
}

/// `Bᵀ v` for a column of 4 (the input transform, one direction).
#[inline(always)]
pub(super) fn bt(v: [L; 4]) -> [L; 4] {
    [v[0] - v[2], v[1] + v[2], v[2] - v[1], v[1] - v[3]]
}

/// `B v` (the input gradient's transform, one direction).
#[inline(always)]
pub(super) fn b(v: [L; 4]) -> [L; 4] {
    [v[0], v[1] - v[2] + v[3], v[1] + v[2] - v[0], -v[3]]
}

/// `G v` for a filter column of 3.
#[inline(always)]
pub(super) fn g3(v: [L; 3]) -> [L; 4] {
    [v[0], (v[0] + v[1] + v[2]).half(), (v[0] - v[1] + v[2]).half(), v[2]]
}

/// `Gᵀ v` (the filter gradient's transform back).
#[inline(always)]
pub(super) fn gt(v: [L; 4]) -> [L; 3] {
    [v[0] + (v[1] + v[2]).half(), (v[1] - v[2]).half(), (v[1] + v[2]).half() + v[3]]
}

/// `Aᵀ v` (the output transform, one direction).
#[inline(always)]
pub(super) fn at(v: [L; 4]) -> [L; 2] {
    [v[0] + v[1] + v[2], v[1] - v[2] - v[3]]
}

/// `A v` (the output gradient's transform, one direction).
#[inline(always)]
pub(super) fn a(v: [L; 2]) -> [L; 4] {
    [v[0], v[0] + v[1], v[0] - v[1], -v[1]]
}

/// `X m Xᵀ` for a row-major `R x R` matrix `m`, given `X` as a function on columns of `R` giving
/// columns of `C`: the transform applied to the columns, then to the rows.
#[inline(always)]
fn both<const R: usize, const C: usize>(m: [[L; R]; R], f: impl Fn([L; R]) -> [L; C]) -> [[L; C]; C] {
    // Column j of m is (m[0][j], .., m[R-1][j]); cols[j][i] = (X m)[i][j].
    let mut cols = [[L::ZERO; C]; R];
    for (j, col) in cols.iter_mut().enumerate() {
        let mut v = [L::ZERO; R];
        for (i, v) in v.iter_mut().enumerate() {
            *v = m[i][j];
        }
        *col = f(v);
    }
    let mut out = [[L::ZERO; C]; C];
    for (i, row) in out.iter_mut().enumerate() {
        let mut v = [L::ZERO; R];
        for (j, v) in v.iter_mut().enumerate() {
            *v = cols[j][i];
        }
        *row = f(v);
    }
    out
}

/// `X m Xᵀ` for sixteen matrices at a time, lanes `k..k + 16` of rows `len` long: entry `e` of
/// the matrices read from the row at `src[e * src_stride..]` (`R*R` rows) and written to the row
/// at `dst[e * dst_stride..]` (`C*C` rows; lanes past `len` are dropped).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn transform_rows<const R: usize, const C: usize>(
    src: &[f32], src_stride: usize, dst: &mut [f32], dst_stride: usize, len: usize, k: usize, f: impl Fn([L; R]) -> [L; C],
) {
    let mut m = [[L::ZERO; R]; R];
    for (r, row) in m.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = L::load(&src[(R * r + c) * src_stride + k..][..len - k]);
        }
    }
    for (e, l) in both(m, f).iter().flatten().enumerate() {
        l.store(&mut dst[e * dst_stride + k..][..len - k]);
    }
}

/// The filters in the transformed form, `U = G g Gᵀ`, as `[16][out][inp]`.
pub(crate) fn filters(g: &ConvGeom, w: &[f32]) -> Vec<f32> {
    let pairs = g.out * g.inp;
    // The filters tap by tap, [9][pairs], so that sixteen pairs are sixteen lanes.
    let mut taps = vec![0.0; 9 * pairs];
    for (pair, f) in w.chunks_exact(9).enumerate() {
        for (tap, &v) in f.iter().enumerate() {
            taps[tap * pairs + pair] = v;
        }
    }
    let mut u = vec![0.0; XI * pairs];
    for k in (0..pairs).step_by(LANES) {
        transform_rows(&taps, pairs, &mut u, pairs, pairs, k, g3);
    }
    u
}
