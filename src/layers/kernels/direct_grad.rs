//! The loops of the first layer's direct weight gradient ([`super::direct::conv1_pool2_weight_grad`]),
//! two ways with the same numbers: up to 16 taps (3x3), over every position, 16 filters a vector
//! (their sums fit the registers, and many are in flight); more (5x5: 25 taps, too many such sums
//! for AVX2's 16 registers), a filter at a time over the positions that won a block only.
use super::conv::ConvGeom;
use super::direct::{SIDE, TAPS};
use super::lanes::{self, LANES};

/// How `gemm` 0.19 splits a long sum when the output has at most 64 rows and columns and more
/// than 256 elements (as the first layer's weight gradient, `[out, K*K]`, for 29 to 64 filters
/// of 3x3): into blocks of 512 products from the start, each block's sum added to the output in
/// turn (`kc = k.min(512)` in `gemm_basic_generic`).
pub(super) const GEMM_DEPTH_BLOCK: usize = 512;


/// The loops of [`super::direct::conv1_pool2_weight_grad`], for `V`'s instruction set.
///
/// # Safety
/// `V`'s instructions must be there (see [`lanes::Lanes`]).
#[inline(always)]
pub(super) unsafe fn body<V: lanes::Lanes, const K: usize>(gxy: (&ConvGeom, &[f32], &[f32]), arg: (&[u32], u32), gw: &mut [f32], scratch: &mut Vec<f32>) {
    // SAFETY: as this function's.
    unsafe { if K * K > LANES { winners_body::<V, K>(gxy, arg, gw, scratch) } else { dense_body::<V, K>(gxy, arg, gw, scratch) } }
}

/// The loops of [`super::direct::conv1_pool2_weight_grad`] for filters of up to 16 taps (3x3). The pooled gradients are first put back at the
/// positions that won (zero elsewhere), position-major: `[ho*wo, out]`. Then, for `LANES`
/// filters at a time and one position after the other, every tap's running sums take
/// `gradient x pixel` in one vector multiply-add: nine independent sums in flight, no branches.
///
/// # Safety
/// `V`'s instructions must be there (see [`lanes::Lanes`]).
#[inline(always)]
unsafe fn dense_body<V: lanes::Lanes, const K: usize>(
    (g, x, gy): (&ConvGeom, &[f32], &[f32]),
    (argmax, cut): (&[u32], u32),
    gw: &mut [f32],
    scratch: &mut Vec<f32>,
) {
    assert!(g.batch == 1 && g.inp == 1 && g.k == K && K <= SIDE, "one single-channel image, filters up to 5x5");
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

/// The loops of [`super::direct::conv1_pool2_weight_grad`] for filters of more than 16 taps (4x4, 5x5): each position's patch laid out as a row of vectors,
/// then, a filter at a time, its taps' sums (one or two vectors) take `patch x gradient` at the
/// positions that won a block (0 where the ReLU cut it), in order. The others would add `0 x pixel`
/// to sums that start at +0 (so never hold -0): nothing, so the product's numbers, a quarter of the work.
///
/// # Safety
/// `V`'s instructions must be there (see [`lanes::Lanes`]).
#[inline(always)]
unsafe fn winners_body<V: lanes::Lanes, const K: usize>(
    (g, x, gy): (&ConvGeom, &[f32], &[f32]),
    (argmax, cut): (&[u32], u32),
    gw: &mut [f32],
    scratch: &mut Vec<f32>,
) {
    assert!(g.batch == 1 && g.inp == 1 && g.k == K && K <= SIDE, "one single-channel image, filters up to 5x5");
    let (ho, wo) = (g.ho(), g.wo());
    let (plane_out, per_out, pw) = (ho * wo, gy.len() / g.out, wo / 2);
    assert_eq!(per_out, (ho / 2) * pw, "2x2 blocks over the whole maps");
    const VECS: usize = TAPS.div_ceil(LANES);
    let vecs = (K * K).div_ceil(LANES);
    scratch.clear();
    scratch.resize(plane_out * vecs * LANES, 0.0);
    for (p, patch) in scratch.chunks_exact_mut(vecs * LANES).enumerate() {
        for ky in 0..K {
            patch[ky * K..][..K].copy_from_slice(&x[(p / wo + ky) * g.w + p % wo..][..K]);
        }
    }
    let (mut won, mut row) = (Vec::with_capacity(per_out), vec![(0usize, 0.0f32); 2 * pw]);
    for (o, (wins, grads)) in argmax.chunks_exact(per_out).zip(gy.chunks_exact(per_out)).enumerate() {
        // A row of blocks' winners in order of position, those on its upper row then its lower,
        // without branches; a block the ReLU cut adds 0 x its top-left pixel, nothing, in order.
        won.clear();
        let first = o * plane_out;
        for (pr, (wins, grads)) in wins.chunks_exact(pw.max(1)).zip(grads.chunks_exact(pw.max(1))).enumerate() {
            let (lower, (mut up, mut lo)) = (first + (2 * pr + 1) * wo, (0, pw));
            for (pc, (&at, &gv)) in wins.iter().zip(grads).enumerate() {
                let (at, gv) = if at == cut { (first + 2 * (pr * wo + pc), 0.0) } else { (at as usize, gv) };
                row[if at >= lower { lo } else { up }] = (at - first, gv);
                (up, lo) = (up + (at < lower) as usize, lo + (at >= lower) as usize);
            }
            won.extend_from_slice(&row[..up]);
            won.extend_from_slice(&row[pw..lo]);
        }
        for start in (0..plane_out).step_by(GEMM_DEPTH_BLOCK) {
            // SAFETY (here and below): V's instructions are there (this function's contract).
            let mut acc = [unsafe { V::zero() }; VECS];
            let (from, to) = (won.partition_point(|w| w.0 < start), won.partition_point(|w| w.0 < start + GEMM_DEPTH_BLOCK));
            for &(p, gv) in &won[from..to] {
                for (v, sums) in acc.iter_mut().enumerate().take(vecs) {
                    *sums = unsafe { V::load(scratch[(p * vecs + v) * LANES..][..LANES].try_into().unwrap()).mul_add(gv, *sums) };
                }
            }
            // The end of a block of the sum (empty ones too): its sums go into the gradient.
            let mut lanes = [0.0; VECS * LANES];
            for (v, sums) in acc.iter().enumerate().take(vecs) {
                unsafe { sums.store((&mut lanes[v * LANES..][..LANES]).try_into().unwrap()) };
            }
            gw[o * K * K..][..K * K].iter_mut().zip(&lanes).for_each(|(d, s)| *d += s);
        }
    }
}
