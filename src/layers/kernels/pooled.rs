//! The weight and input gradients of a convolution followed by max pooling, from the pooling's
//! winners only: each pooled output's gradient reaches one position of the feature maps (the one
//! that won its window), so three quarters of a 2x2 pooling's map gradient are zero, and the
//! matrix products over all positions (`gy x patches^T`, `w^T x gy`) do four times the work they
//! need.
use super::conv::ConvGeom;
use crate::cpu::{instruction_set, InstructionSet};

/// Floats of a filter's gradient that one pass keeps in registers (eight AVX registers).
const BLOCK: usize = 64;

/// `gw[o, i, ky, kx] += sum over the pooled outputs q of filter o that passed (not `cut`) of
/// `gy[q] * x[i, r + ky, c + kx]`, `(r, c)` the position that won q's window (`argmax`: an index
/// into the image's `[out, ho, wo]` maps), for one image `x` (`[inp, h, w]`) of a convolution
/// with stride 1 and no padding (`g.is_plain()`, `g.batch == 1`). `rows` is scratch: each
/// position's patch, laid out as a row. Each sum runs over the winners in the order of the
/// pooled outputs, in products and sums of their own (no fused multiply-add), so the numbers
/// are the same on every processor.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pooled_weight_grad<const K: usize>(g: &ConvGeom, x: &[f32], gy: &[f32], argmax: &[u32], cut: u32, gw: &mut [f32], rows: &mut Vec<f32>) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        fn avx2<const K: usize>(g: &ConvGeom, x: &[f32], gy: &[f32], argmax: &[u32], cut: u32, gw: &mut [f32], rows: &mut Vec<f32>) {
            body::<K>(g, x, gy, argmax, cut, gw, rows)
        }
        if instruction_set() != InstructionSet::Plain {
            // SAFETY: the processor has AVX2 (with FMA, which this function does not use).
            return unsafe { avx2::<K>(g, x, gy, argmax, cut, gw, rows) };
        }
    }
    body::<K>(g, x, gy, argmax, cut, gw, rows)
}

#[inline(always)]
fn body<const K: usize>(g: &ConvGeom, x: &[f32], gy: &[f32], argmax: &[u32], cut: u32, gw: &mut [f32], rows: &mut Vec<f32>) {
    assert!(g.batch == 1 && g.k == K && g.is_plain(), "one image, stride 1, no padding");
    let (ho, wo, kk) = (g.ho(), g.wo(), g.inp * K * K);
    let (plane_out, per_out) = (ho * wo, gy.len() / g.out);
    // Rows of whole blocks (what lies past the patch only reaches sums that are dropped), laid
    // out again for each image; only the positions that won some window need their patch.
    let row_len = kk.next_multiple_of(BLOCK);
    if rows.len() != plane_out * row_len {
        rows.clear();
        rows.resize(plane_out * row_len, 0.0);
    }
    let mut laid = vec![false; plane_out];
    for &at in argmax.iter().filter(|&&at| at != cut) {
        laid[at as usize % plane_out] = true;
    }
    for (p, row) in rows.chunks_exact_mut(row_len).enumerate().filter(|(p, _)| laid[*p]) {
        let (r, c) = (p / wo, p % wo);
        for (i, row) in row[..kk].chunks_exact_mut(K * K).enumerate() {
            let plane = &x[i * g.h * g.w..];
            for ky in 0..K {
                let from: &[f32; K] = plane[(r + ky) * g.w + c..][..K].try_into().unwrap();
                for (d, s) in row[ky * K..][..K].iter_mut().zip(from) {
                    *d = *s;
                }
            }
        }
    }
    for (o, (wins, grads)) in argmax.chunks_exact(per_out).zip(gy.chunks_exact(per_out)).enumerate() {
        let first = o * plane_out;
        let gw = &mut gw[o * kk..][..kk];
        for start in (0..kk).step_by(BLOCK) {
            let len = BLOCK.min(kk - start);
            let mut acc = [0.0f32; BLOCK];
            acc[..len].copy_from_slice(&gw[start..start + len]);
            for (&at, &gv) in wins.iter().zip(grads).filter(|(&at, _)| at != cut) {
                // The lanes past the patch add to sums that are dropped.
                let row: &[f32; BLOCK] = rows[(at as usize - first) * row_len + start..][..BLOCK].try_into().unwrap();
                for l in 0..BLOCK {
                    acc[l] += gv * row[l];
                }
            }
            gw[start..start + len].copy_from_slice(&acc[..len]);
        }
    }
}

/// The filters `[out, kk]` as rows of whole blocks (zeros past each filter), for
/// [`pooled_input_grad`]; made once a backward pass.
pub(crate) fn padded_filters(w: &[f32], out: usize) -> Vec<f32> {
    let kk = w.len() / out;
    let row_len = kk.next_multiple_of(BLOCK);
    let mut rows = vec![0.0; out * row_len];
    for (row, w) in rows.chunks_exact_mut(row_len).zip(w.chunks_exact(kk)) {
        row[..kk].copy_from_slice(w);
    }
    rows
}

/// `gx[i, r + ky, c + kx] += gy[q] * w[o, i, ky, kx]` for each pooled output q of filter o that
/// passed (not `cut`), `(r, c)` the position that won q's window, for one image of a convolution
/// with stride 1 and no padding (`g.is_plain()`, `g.batch == 1`); `w` from [`padded_filters`].
/// Position by position (the winners sorted by position, filters in order): the patch's
/// gradient, the sum of `gy[q] * w[o]` over the filters that won there, is made a block of
/// registers at a time and added into the image's gradient at once (col2im), products and sums
/// of their own (no fused multiply-add), so the numbers are the same on every processor.
pub(crate) fn pooled_input_grad<const K: usize>(g: &ConvGeom, w: &[f32], gy: &[f32], argmax: &[u32], cut: u32, gx: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        fn avx2<const K: usize>(g: &ConvGeom, w: &[f32], gy: &[f32], argmax: &[u32], cut: u32, gx: &mut [f32]) {
            input_body::<K>(g, w, gy, argmax, cut, gx)
        }
        if instruction_set() != InstructionSet::Plain {
            // SAFETY: the processor has AVX2 (with FMA, which this function does not use).
            return unsafe { avx2::<K>(g, w, gy, argmax, cut, gx) };
        }
    }
    input_body::<K>(g, w, gy, argmax, cut, gx)
}

#[inline(always)]
fn input_body<const K: usize>(g: &ConvGeom, w: &[f32], gy: &[f32], argmax: &[u32], cut: u32, gx: &mut [f32]) {
    assert!(g.batch == 1 && g.k == K && g.is_plain(), "one image, stride 1, no padding");
    let (wo, kk) = (g.wo(), g.inp * K * K);
    let (plane_out, per_out, row_len) = (g.ho() * wo, gy.len() / g.out, kk.next_multiple_of(BLOCK));
    assert_eq!(w.len(), g.out * row_len, "filters from padded_filters");
    // The winners sorted by position (a counting sort, so each position's filters stay in order).
    let mut starts = vec![0u32; plane_out + 1];
    for &at in argmax.iter().filter(|&&at| at != cut) {
        starts[at as usize % plane_out + 1] += 1;
    }
    for p in 0..plane_out {
        starts[p + 1] += starts[p];
    }
    let mut fill = starts.clone();
    let mut winners = vec![(0u32, 0.0f32); starts[plane_out] as usize];
    for (o, (wins, grads)) in argmax.chunks_exact(per_out).zip(gy.chunks_exact(per_out)).enumerate() {
        for (&at, &gv) in wins.iter().zip(grads).filter(|(&at, _)| at != cut) {
            let p = at as usize % plane_out;
            winners[fill[p] as usize] = (o as u32, gv);
            fill[p] += 1;
        }
    }
    let mut patch = vec![0.0f32; row_len];
    for p in (0..plane_out).filter(|&p| starts[p] < starts[p + 1]) {
        let won = &winners[starts[p] as usize..starts[p + 1] as usize];
        for (start, patch) in (0..row_len).step_by(BLOCK).zip(patch.chunks_exact_mut(BLOCK)) {
            let mut acc = [0.0f32; BLOCK];
            for &(o, gv) in won {
                let row: &[f32; BLOCK] = w[o as usize * row_len + start..][..BLOCK].try_into().unwrap();
                for l in 0..BLOCK {
                    acc[l] += gv * row[l];
                }
            }
            patch.copy_from_slice(&acc);
        }
        let (r, c) = (p / wo, p % wo);
        for (i, taps) in patch[..kk].chunks_exact(K * K).enumerate() {
            let plane = &mut gx[i * g.h * g.w..];
            for (ky, taps) in taps.chunks_exact(K).enumerate() {
                for (d, s) in plane[(r + ky) * g.w + c..][..K].iter_mut().zip(taps) {
                    *d += *s;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// Both gradients from the winners against the textbook sums (in f64) over the map gradient
    /// that the pooling routes back: 5x5 and 3x3 filters, several input channels, 2x2 windows
    /// and overlapping 3x3 ones with stride 2 (where a position can win two windows), some
    /// outputs cut as a ReLU would.
    #[test]
    fn winners_gradients_match_plain_loops() {
        let mut rng = StdRng::seed_from_u64(3);
        for (inp, out, k, side, (pk, ps)) in [(3, 7, 5, 12, (2, 2)), (20, 50, 5, 12, (2, 2)), (2, 5, 3, 11, (3, 2)), (4, 3, 3, 8, (2, 2))] {
            let g = ConvGeom::valid(1, inp, out, k, side, side);
            let (ho, wo, kk) = (g.ho(), g.wo(), inp * k * k);
            let (qh, qw) = ((ho - pk) / ps + 1, (wo - pk) / ps + 1);
            let random = |n: usize, rng: &mut StdRng| (0..n).map(|_| rng.gen_range(-1.0f32..1.0)).collect::<Vec<_>>();
            let (x, w, gy) = (random(g.input_len(), &mut rng), random(out * kk, &mut rng), random(out * qh * qw, &mut rng));
            // Each pooled output's winner: a random position of its window (a tenth cut).
            let cut = u32::MAX;
            let argmax: Vec<u32> = (0..out * qh * qw)
                .map(|q| {
                    let (o, qr, qc) = (q / (qh * qw), q / qw % qh, q % qw);
                    let (r, c) = (qr * ps + rng.gen_range(0..pk), qc * ps + rng.gen_range(0..pk));
                    if rng.gen_range(0..10) == 0 { cut } else { (o * ho * wo + r * wo + c) as u32 }
                })
                .collect();
            let (mut want_gw, mut want_gx) = (vec![0.0f64; w.len()], vec![0.0f64; x.len()]);
            for (&at, &gv) in argmax.iter().zip(&gy).filter(|(&at, _)| at != cut) {
                let (o, p) = (at as usize / (ho * wo), at as usize % (ho * wo));
                let (r, c) = (p / wo, p % wo);
                for (i, ky, kx) in (0..inp).flat_map(|i| (0..k).flat_map(move |ky| (0..k).map(move |kx| (i, ky, kx)))) {
                    let (xi, wi) = ((i * side + r + ky) * side + c + kx, ((o * inp + i) * k + ky) * k + kx);
                    want_gw[wi] += gv as f64 * x[xi] as f64;
                    want_gx[xi] += gv as f64 * w[wi] as f64;
                }
            }
            let (mut gw, mut gx, mut rows) = (vec![0.0; w.len()], vec![0.0; x.len()], Vec::new());
            let padded = padded_filters(&w, out);
            if k == 5 {
                pooled_weight_grad::<5>(&g, &x, &gy, &argmax, cut, &mut gw, &mut rows);
                pooled_input_grad::<5>(&g, &padded, &gy, &argmax, cut, &mut gx);
            } else {
                pooled_weight_grad::<3>(&g, &x, &gy, &argmax, cut, &mut gw, &mut rows);
                pooled_input_grad::<3>(&g, &padded, &gy, &argmax, cut, &mut gx);
            }
            for (got, want) in [(&gw, &want_gw), (&gx, &want_gx)] {
                for (a, b) in got.iter().zip(want.iter()) {
                    assert!((*a as f64 - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} against {b} ({inp}->{out}, {k}x{k})");
                }
            }
        }
    }
}
