//! The first layer's direct kernels: a convolution of a single-channel image followed by 2x2
//! pooling (with or without a ReLU between them), computed in vector registers instead of
//! through a matrix product, with the matrix-product path's numbers bit for bit.
use super::conv::ConvGeom;
use super::lanes::{self, LANES};
use super::pool::first_max;
use crate::cpu::{instruction_set, InstructionSet};

/// `maxpool2x2(relu(conv(x)))` (or, without a `cut`, `maxpool2x2(conv(x))`) of one
/// single-channel image `x` (`h x w`) with `K x K` filters, `K <= 5`, computed directly
/// instead of through [`im2col`], a matrix product and [`max_pool_forward`]: the first layer
/// has only `K*K` products per output, too few for a matrix product to pay for its packing.
/// Writes each pooled output and where it came from (`argmax`, an index into the image's
/// `[out, ho, wo]` feature maps, or, with a `cut` (a ReLU between the two), that `cut` where
/// the ReLU stopped it, its output then 0).
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
    cut: Option<u32>,
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
        fn avx512<const K: usize>(g: &ConvGeom, x: &[f32], w: &[f32], bias: &[f32], cut: Option<u32>, y: &mut [f32], argmax: &mut [u32], halves: &mut Vec<f32>) {
            conv1_relu_pool2_body::<K>(g, x, w, bias, cut, y, argmax, halves)
        }
        #[target_feature(enable = "avx2,fma")]
        #[allow(clippy::too_many_arguments)]
        fn avx2<const K: usize>(g: &ConvGeom, x: &[f32], w: &[f32], bias: &[f32], cut: Option<u32>, y: &mut [f32], argmax: &mut [u32], halves: &mut Vec<f32>) {
            conv1_relu_pool2_body::<K>(g, x, w, bias, cut, y, argmax, halves)
        }
        match instruction_set() {
            // SAFETY: the processor has the features the function is compiled for.
            InstructionSet::Avx512 => unsafe { avx512::<K>(g, x, w, bias, cut, y, argmax, halves) },
            // SAFETY: as above.
            InstructionSet::Avx2Fma => unsafe { avx2::<K>(g, x, w, bias, cut, y, argmax, halves) },
            InstructionSet::Plain => return false,
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
/// blocks of [`super::direct_grad::GEMM_DEPTH_BLOCK`] added to `gw` one after the other: the numbers of the matrix
/// product `gemm` computes where its `[out, K*K]` output has over 256 elements and at most 64
/// rows (3x3: 29 to 64 filters; 5x5: 11 to 64; otherwise it sums in another order). Only
/// there, and with fused multiply-add (see [`conv1_relu_pool2`]), does it run; otherwise it
/// returns `false`, computing nothing.
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
    if K > SIDE || g.out * K * K <= 256 || g.out > 64 {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f,avx2,fma")]
        fn avx512<const K: usize>(g: &ConvGeom, x: &[f32], gy: &[f32], argmax: &[u32], cut: u32, gw: &mut [f32], scratch: &mut Vec<f32>) {
            // SAFETY: compiled for AVX-512, which the caller checked.
            unsafe { super::direct_grad::body::<lanes::Avx512, K>((g, x, gy), (argmax, cut), gw, scratch) }
        }
        #[target_feature(enable = "avx2,fma")]
        fn avx2<const K: usize>(g: &ConvGeom, x: &[f32], gy: &[f32], argmax: &[u32], cut: u32, gw: &mut [f32], scratch: &mut Vec<f32>) {
            // SAFETY: compiled for AVX2 and FMA, which the caller checked.
            unsafe { super::direct_grad::body::<lanes::Avx2, K>((g, x, gy), (argmax, cut), gw, scratch) }
        }
        match instruction_set() {
            // SAFETY: the processor has the features the function is compiled for.
            InstructionSet::Avx512 => unsafe { avx512::<K>(g, x, gy, argmax, cut, gw, scratch) },
            // SAFETY: as above.
            InstructionSet::Avx2Fma => unsafe { avx2::<K>(g, x, gy, argmax, cut, gw, scratch) },
            InstructionSet::Plain => return false,
        }
        true
    }
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: plain arrays need no particular instructions.
        unsafe { super::direct_grad::body::<lanes::Scalar, K>((g, x, gy), (argmax, cut), gw, scratch) };
        true
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = (g, x, gy, argmax, cut, gw, scratch);
        false
    }
}

/// Sides and taps of the largest filter the direct kernels take (5x5).
pub(super) const SIDE: usize = 5;
pub(super) const TAPS: usize = SIDE * SIDE;

/// The loops of [`conv1_relu_pool2`], compiled once per instruction set. The input's rows are
/// first split into their even and odd columns, so that each of the four outputs of the 2x2
/// blocks (even and odd column of two rows) is, for `LANES` neighbouring blocks, a product of
/// contiguous runs: plain vector loads, and the block's maximum taken lane by lane. The runs a
/// row of blocks needs are loaded once and serve every filter.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn conv1_relu_pool2_body<const K: usize>(g: &ConvGeom, x: &[f32], w: &[f32], bias: &[f32], cut: Option<u32>, y: &mut [f32], argmax: &mut [u32], halves: &mut Vec<f32>) {
    assert!(g.batch == 1 && g.inp == 1 && g.k == K && K <= SIDE, "one single-channel image, filters up to 5x5");
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
            let mut runs = [[[0.0f32; LANES]; SIDE + 1]; SIDE + 1];
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
                    (v[l], at[l]) = match cut { Some(cut) if best <= 0.0 => (0.0, cut), _ => (best, best_at) };
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};
    use super::super::conv::{conv_forward, im2col, Filters};
    use super::super::pool::{max_pool_forward, PoolGeom};
    use super::super::matmul::matmul;
    use crate::cpu::INSTRUCTION_SET_LIMIT;

    /// The direct first-layer kernel gives exactly the numbers of the matrix-product path
    /// (im2col, `gemm`, pooling, ReLU), ties and cut outputs included, for square and wide
    /// images, odd feature-map sides, more than one vector of pooled columns, and on each
    /// instruction set; with one filter it leaves the work to the matrix-product path.
    #[test]
    fn direct_conv_relu_pool_equals_the_matrix_product_path() {
        for limit in [InstructionSet::Avx512, InstructionSet::Avx2Fma, InstructionSet::Plain] {
            INSTRUCTION_SET_LIMIT.with(|l| l.set(limit));
            let mut rng = StdRng::seed_from_u64(3);
            for (h, w, out) in [(28, 28, 32), (9, 40, 3), (12, 11, 4), (6, 70, 2), (28, 28, 1)] {
                check::<5>(h, w, out, &mut rng);
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
        conv_forward(&g, &x, &Filters::new(&g, &wt), &b, &mut maps, None, false);
        let (mut y1, mut a1) = (vec![0.0; p.output_len()], vec![0u32; p.output_len()]);
        max_pool_forward(&p, &maps, &mut y1, &mut a1);
        // Without a ReLU (LeNet's first layer), then with one, which cuts what is not positive.
        for cut in [None, Some(u32::MAX)] {
            for (v, a) in y1.iter_mut().zip(a1.iter_mut()).filter(|(v, _)| cut.is_some() && **v <= 0.0) {
                (*v, *a) = (0.0, u32::MAX);
            }
            let (mut y2, mut a2) = (vec![f32::NAN; p.output_len()], vec![7u32; p.output_len()]);
            let used = conv1_relu_pool2::<K>(&g, &x, &wt, &b, cut, &mut y2, &mut a2, &mut Vec::new());
            #[cfg(target_arch = "x86_64")]
            assert_eq!(used, instruction_set() != InstructionSet::Plain && out >= 2, "used exactly with AVX2 and FMA, from two filters");
            let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert!(!used || (bits(&y1), &a1) == (bits(&y2), &a2), "{h}x{w} k{K} {cut:?}");
        }
    }

    /// The direct weight gradient gives exactly the matrix product's numbers for the lesson's
    /// first layer (32 filters of 3x3 on 28x28: `gemm` sums 676 positions as 512 + 164), LeNet's
    /// (20 of 5x5) and others, onto a gradient that holds something, on each instruction set;
    /// for shapes where `gemm` sums in another order it leaves the work to the matrix product.
    #[test]
    fn direct_weight_grad_equals_the_matrix_product() {
        for limit in [InstructionSet::Avx512, InstructionSet::Avx2Fma] {
            INSTRUCTION_SET_LIMIT.with(|l| l.set(limit));
            weight_grads_with::<3>(StdRng::seed_from_u64(5));
            weight_grads_with::<5>(StdRng::seed_from_u64(6));
        }
    }

    fn weight_grads_with<const K: usize>(mut rng: StdRng) {
        for (h, w, out) in [(28, 28, 32), (30, 30, 48), (20, 20, 20), (12, 40, 70), (28, 28, 20)] {
            let g = ConvGeom::valid(1, 1, out, K, h, w);
            let p = PoolGeom { planes: out, h: g.ho(), w: g.wo(), k: 2, s: 2 };
            let x: Vec<f32> = (0..h * w).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let wt: Vec<f32> = (0..out * K * K).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let b: Vec<f32> = (0..out).map(|_| rng.gen_range(-0.1..0.1)).collect();
            let n = p.output_len();
            let (mut y, mut a) = (vec![0.0; n], vec![0u32; n]);
            if !conv1_relu_pool2::<K>(&g, &x, &wt, &b, Some(u32::MAX), &mut y, &mut a, &mut Vec::new()) {
                return; // no FMA: the matrix-product path is the only one (see the test above)
            }
            assert!(a.contains(&u32::MAX), "some outputs cut");
            let gy: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let mut gw1: Vec<f32> = (0..out * K * K).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let mut gw2 = gw1.clone();
            let mut gmaps = vec![0.0; g.output_len()];
            for (&at, &gv) in a.iter().zip(&gy) {
                if at != u32::MAX {
                    gmaps[at as usize] = gv;
                }
            }
            let plane = g.ho() * g.wo();
            let mut cols = vec![0.0; K * K * plane];
            im2col(&g, &x, &mut cols);
            matmul(out, plane, K * K, &gmaps, &cols, true, &mut gw1, true);
            let used = conv1_pool2_weight_grad::<K>(&g, &x, &gy, &a, u32::MAX, &mut gw2, &mut Vec::new());
            assert_eq!(used, out * K * K > 256 && out <= 64, "{out} filters of {K}x{K}");
            if used {
                assert_eq!(gw1.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), gw2.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "{h}x{w}, {out} filters of {K}x{K}");
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
