//! The transforms of F(2x2, 3x3) and F(3x3, 3x3), `Bᵀ d B`, `G g Gᵀ`, `Aᵀ m A` and their
//! transposes for the backward pass, sixteen tiles at a time.
use super::{ConvGeom, Tile};

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
    fn half(self) -> L {
        self.times(0.5)
    }
    #[inline(always)]
    fn times(mut self, c: f32) -> L {
        for v in &mut self.0 {
            *v *= c;
        }
        self
    }
    const ZERO: L = L([0.0; LANES]);
}

/// One direction of a transform, as static dispatch (so that it is inlined into the vector code
/// that calls it): columns of `R` to columns of `C`.
pub(super) trait Line<const R: usize, const C: usize> {
    fn apply(v: [L; R]) -> [L; C];
}

/// F(2x2, 3x3): interpolation points 0, 1, -1 and infinity.
mod f2 {
    use super::{Line, L};

    /// `Bᵀ v` for a column of 4 (the input transform, one direction).
    pub(super) struct Bt;
    impl Line<4, 4> for Bt {
        #[inline(always)]
        fn apply(v: [L; 4]) -> [L; 4] {
            [v[0] - v[2], v[1] + v[2], v[2] - v[1], v[1] - v[3]]
        }
    }

    /// `B v` (the input gradient's transform, one direction).
    pub(super) struct B;
    impl Line<4, 4> for B {
        #[inline(always)]
        fn apply(v: [L; 4]) -> [L; 4] {
            [v[0], v[1] - v[2] + v[3], v[1] + v[2] - v[0], -v[3]]
        }
    }

    /// `G v` for a filter column of 3.
    pub(super) struct G;
    impl Line<3, 4> for G {
        #[inline(always)]
        fn apply(v: [L; 3]) -> [L; 4] {
            [v[0], (v[0] + v[1] + v[2]).half(), (v[0] - v[1] + v[2]).half(), v[2]]
        }
    }

    /// `Gᵀ v` (the filter gradient's transform back).
    pub(super) struct Gt;
    impl Line<4, 3> for Gt {
        #[inline(always)]
        fn apply(v: [L; 4]) -> [L; 3] {
            [v[0] + (v[1] + v[2]).half(), (v[1] - v[2]).half(), (v[1] + v[2]).half() + v[3]]
        }
    }

    /// `Aᵀ v` (the output transform, one direction).
    pub(super) struct At;
    impl Line<4, 2> for At {
        #[inline(always)]
        fn apply(v: [L; 4]) -> [L; 2] {
            [v[0] + v[1] + v[2], v[1] - v[2] - v[3]]
        }
    }

    /// `A v` (the output gradient's transform, one direction).
    pub(super) struct A;
    impl Line<2, 4> for A {
        #[inline(always)]
        fn apply(v: [L; 2]) -> [L; 4] {
            [v[0], v[0] + v[1], v[0] - v[1], -v[1]]
        }
    }
}

/// F(3x3, 3x3): interpolation points 0, 1, -1, 2 and infinity (of the sets of four finite
/// points, with ±1/2 and -2 as candidates, one of those with the smallest float32 errors), the
/// fractions in the filter transform `G` (computed once a pass), so that the data's transforms
/// `Bᵀ` and `Aᵀ` have small integer entries.
mod f3 {
    use super::{Line, L};

    /// `Bᵀ v` for a column of 5.
    pub(super) struct Bt;
    impl Line<5, 5> for Bt {
        #[inline(always)]
        fn apply(v: [L; 5]) -> [L; 5] {
            let (d31, d1) = (v[3] - v[1], v[1] + v[1]);
            [
                (v[0] - v[2]) + (v[0] - v[2]) + d31,
                d31 - d1 + (v[1] - v[2]),
                d1 + (v[3] - v[2]) - (v[2] + v[2]),
                d31,
                d1 - v[2] - (v[3] + v[3]) + v[4],
            ]
        }
    }

    /// `B v`.
    pub(super) struct B;
    impl Line<5, 5> for B {
        #[inline(always)]
        fn apply(v: [L; 5]) -> [L; 5] {
            let (s0, s4) = (v[0] + v[0], v[4] + v[4]);
            [
                s0,
                (v[2] - v[1]) + (v[2] - v[1]) + s4 - (v[0] + v[3]),
                -(s0 + v[1] + v[2] + v[2] + v[2] + v[4]),
                v[0] + v[1] + v[2] + v[3] - s4,
                v[4],
            ]
        }
    }

    /// `G v` for a filter column of 3.
    pub(super) struct G;
    impl Line<3, 5> for G {
        #[inline(always)]
        fn apply(v: [L; 3]) -> [L; 5] {
            let (odd, even) = (v[1], v[0] + v[2]);
            [
                v[0].half(),
                -(even + odd).half(),
                (odd - even).times(1.0 / 6.0),
                (v[0] + (v[1] + v[2] + v[2]) + (v[1] + v[2] + v[2])).times(1.0 / 6.0),
                v[2],
            ]
        }
    }

    /// `Gᵀ v`.
    pub(super) struct Gt;
    impl Line<5, 3> for Gt {
        #[inline(always)]
        fn apply(v: [L; 5]) -> [L; 3] {
            let (h1, s2, s3) = (v[1].half(), v[2].times(1.0 / 6.0), v[3].times(1.0 / 6.0));
            [(v[0].half() - h1) + (s3 - s2), (s2 + s3 + s3) - h1, v[4] + (s3 + s3 + s3 + s3) - (h1 + s2)]
        }
    }

    /// `Aᵀ v`.
    pub(super) struct At;
    impl Line<5, 3> for At {
        #[inline(always)]
        fn apply(v: [L; 5]) -> [L; 3] {
            let (s, d) = (v[1] + v[2], v[1] - v[2]);
            [v[0] + s + v[3], d + v[3] + v[3], s + (v[3] + v[3]) + (v[3] + v[3]) + v[4]]
        }
    }

    /// `A v`.
    pub(super) struct A;
    impl Line<3, 5> for A {
        #[inline(always)]
        fn apply(v: [L; 3]) -> [L; 5] {
            let e = v[0] + v[2];
            [v[0], e + v[1], e - v[1], v[0] + (v[1] + v[1]) + (v[2] + v[2]) + (v[2] + v[2]), v[2]]
        }
    }
}

/// `X m Xᵀ` for a row-major `R x R` matrix `m`, given `X` as a function on columns of `R` giving
/// columns of `C`: the transform applied to the columns, then to the rows.
#[inline(always)]
fn both<const R: usize, const C: usize, X: Line<R, C>>(m: [[L; R]; R]) -> [[L; C]; C] {
    // Column j of m is (m[0][j], .., m[R-1][j]); cols[j][i] = (X m)[i][j].
    let mut cols = [[L::ZERO; C]; R];
    for (j, col) in cols.iter_mut().enumerate() {
        let mut v = [L::ZERO; R];
        for (i, v) in v.iter_mut().enumerate() {
            *v = m[i][j];
        }
        *col = X::apply(v);
    }
    let mut out = [[L::ZERO; C]; C];
    for (i, row) in out.iter_mut().enumerate() {
        let mut v = [L::ZERO; R];
        for (j, v) in v.iter_mut().enumerate() {
            *v = cols[j][i];
        }
        *row = X::apply(v);
    }
    out
}

/// `X m Xᵀ` for sixteen matrices at a time, lanes `k..k + 16` of rows `len` long: entry `e` of
/// the matrices read from the row at `src[e * src_stride..]` (`R*R` rows) and written to the row
/// at `dst[e * dst_stride..]` (`C*C` rows; lanes past `len` are dropped).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn transform_rows<const R: usize, const C: usize, X: Line<R, C>>(src: &[f32], src_stride: usize, dst: &mut [f32], dst_stride: usize, len: usize, k: usize) {
    let mut m = [[L::ZERO; R]; R];
    for (r, row) in m.iter_mut().enumerate() {
        for (c, v) in row.iter_mut().enumerate() {
            *v = L::load(&src[(R * r + c) * src_stride + k..][..len - k]);
        }
    }
    for (e, l) in both::<R, C, X>(m).iter().flatten().enumerate() {
        l.store(&mut dst[e * dst_stride + k..][..len - k]);
    }
}

/// Which transform [`transform`] applies.
#[derive(Clone, Copy)]
pub(super) enum Move {
    /// `Bᵀ d B`: input blocks to transformed tiles.
    Input,
    /// `B dV Bᵀ`: the transformed tiles' gradient back to the blocks'.
    InputGrad,
    /// `G g Gᵀ`: filters to the transformed form.
    Filter,
    /// `Gᵀ dU G`: the transformed filters' gradient back to the filters'.
    FilterGrad,
    /// `Aᵀ m A`: the products back to the outputs.
    Output,
    /// `A dy Aᵀ`: the outputs' gradient to the products'.
    OutputGrad,
}

/// [`transform_rows`] over all the lanes of rows `len` long, with the transform `mv` of `tile`
/// (a choice made once a call, outside the loops over the lanes).
#[inline(always)]
pub(super) fn transform(tile: Tile, mv: Move, src: &[f32], src_stride: usize, dst: &mut [f32], dst_stride: usize, len: usize) {
    macro_rules! lanes {
        ($x:ty) => {
            for k in (0..len).step_by(LANES) {
                transform_rows::<_, _, $x>(src, src_stride, dst, dst_stride, len, k)
            }
        };
    }
    match (tile, mv) {
        (Tile::F2, Move::Input) => lanes!(f2::Bt),
        (Tile::F2, Move::InputGrad) => lanes!(f2::B),
        (Tile::F2, Move::Filter) => lanes!(f2::G),
        (Tile::F2, Move::FilterGrad) => lanes!(f2::Gt),
        (Tile::F2, Move::Output) => lanes!(f2::At),
        (Tile::F2, Move::OutputGrad) => lanes!(f2::A),
        (Tile::F3, Move::Input) => lanes!(f3::Bt),
        (Tile::F3, Move::InputGrad) => lanes!(f3::B),
        (Tile::F3, Move::Filter) => lanes!(f3::G),
        (Tile::F3, Move::FilterGrad) => lanes!(f3::Gt),
        (Tile::F3, Move::Output) => lanes!(f3::At),
        (Tile::F3, Move::OutputGrad) => lanes!(f3::A),
    }
}

/// The filters in the transformed form, `U = G g Gᵀ`, as `[points][out][inp]`, for `tile`.
pub(crate) fn filters(tile: Tile, g: &ConvGeom, w: &[f32]) -> Vec<f32> {
    let pairs = g.out * g.inp;
    // The filters tap by tap, [9][pairs], so that sixteen pairs are sixteen lanes.
    let mut taps = vec![0.0; 9 * pairs];
    for (pair, f) in w.chunks_exact(9).enumerate() {
        for (tap, &v) in f.iter().enumerate() {
            taps[tap * pairs + pair] = v;
        }
    }
    let mut u = vec![0.0; tile.points() * pairs];
    transform(tile, Move::Filter, &taps, pairs, &mut u, pairs, pairs);
    u
}
