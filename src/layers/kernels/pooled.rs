//! The weight gradient of a convolution followed by max pooling, from the pooling's winners
//! only: each pooled output's gradient reaches one position of the feature maps (the one that
//! won its window), so three quarters of a 2x2 pooling's map gradient are zero, and a matrix
//! product over all positions (`gy x patches^T`) does four times the work it needs.
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
        (rows.clear(), rows.resize(plane_out * row_len, 0.0));
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
