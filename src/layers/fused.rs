//! `Conv2D -> ReLU -> MaxPool2D` (or `Conv2D -> MaxPool2D`) in one pass: the same numbers as the
//! layers one after the other, computed one image at a time so the feature maps of an image never
//! leave the cache. A network's stack takes this path wherever it has that pattern (see
//! [`super::Layer`]).
//!
//! Why it is the same: ReLU keeps order, so the maximum of the ReLUs is the ReLU of the maximum,
//! and the gradient reaches the same input (the first maximum of the block) or, when the maximum
//! is not positive, no input at all. Why it is faster: the full-size feature maps (21,632 floats
//! an image) are neither stored for the next layer nor read back; the convolution and its weight
//! gradient are matrix products over the image's patches (im2col) or, for 3x3 filters over
//! several channels, over Winograd's transformed tiles (`kernels::winograd`, whose transformed
//! input tiles the forward pass keeps for the backward pass), or for a single-channel input
//! (the first layer) direct vector kernels with the same numbers (`kernels::conv1_relu_pool2`,
//! with or without the ReLU); the weight gradient of matrix products over the patches, from the
//! patches of the positions that won their block only (`kernels::pooled_weight_grad`); and the
//! input gradient, when asked for, from the filters of the winners only there
//! (`kernels::pooled_input_grad`), from the maps' gradients (zero but at the winners) for
//! Winograd's tiles.
use super::tape::with_output_grad;
use dfdx::prelude::*;
use rayon::prelude::*;

use super::dims::{ConvOut, Padding, PoolOut};
use super::kernels::{self, PoolGeom};
use super::{Conv2D, MaxPool2D};

/// Marks a pooled output that did not pass the ReLU: no gradient flows back from it.
const CUT: u32 = u32::MAX;

/// Images per parallel task. Fixed (not derived from the thread count) so the gradient sums are
/// always added in the same order: the same seed gives the same numbers on any machine.
const CHUNK: usize = 8;

/// Whether the backward pass computes the gradient of the layer's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputGradient {
    /// As every layer does: the layers before this one need it.
    Compute,
    /// The input is data (a network's first layer): nobody reads its gradient, so the backward
    /// pass computes only the weight and bias gradients.
    Skip,
}

/// `pool(relu(conv(x)))` for a batch, with its backward pass on the tape.
pub fn conv_relu_pool<B, H, W, const IN: usize, const OUT: usize, const K: usize, const P: usize, T>(
    conv: &Conv2D<IN, OUT, K, 1, super::Valid, f32, Cpu>,
    _pool: &MaxPool2D<P>,
    x: Tensor<(B, Const<IN>, H, W), f32, Cpu, T>,
    input_gradient: InputGradient,
) -> Result<PooledMaps<B, H, W, OUT, K, P, T>, CpuError>
where
    B: Dim,
    H: ConvOut<K, 1, super::Valid>,
    W: ConvOut<K, 1, super::Valid>,
    H::Output: PoolOut<P, P>,
    W::Output: PoolOut<P, P>,
    T: Tape<f32, Cpu>,
{
    let y = conv_pool(conv, x, (P, P), true, input_gradient)?;
    let (batch, ..) = *y.shape();
    y.try_reshape_like(&(batch, Const, Default::default(), Default::default()))
}

/// A batch of pooled feature maps whose sides are known only at run time.
type RuntimeSidedMaps<B, const OUT: usize, T> = Tensor<(B, Const<OUT>, usize, usize), f32, Cpu, T>;

/// `pool(conv(x))`, with a ReLU between them if `relu`, for a batch, with its backward pass on
/// the tape: the convolution of any stride and padding, then `pk`x`pk` max pooling with stride
/// `ps`. The pooled sides are computed here; callers restate them as their types.
pub(crate) fn conv_pool<B, H, W, const IN: usize, const OUT: usize, const K: usize, const S: usize, Pad, T>(
    conv: &Conv2D<IN, OUT, K, S, Pad, f32, Cpu>,
    x: Tensor<(B, Const<IN>, H, W), f32, Cpu, T>,
    (pk, ps): (usize, usize),
    relu: bool,
    input_gradient: InputGradient,
) -> Result<RuntimeSidedMaps<B, OUT, T>, CpuError>
where
    B: Dim,
    Pad: Padding,
    H: ConvOut<K, S, Pad>,
    W: ConvOut<K, S, Pad>,
    T: Tape<f32, Cpu>,
{
    let grad_input = input_gradient == InputGradient::Compute;
    let (batch, _, _, _) = *x.shape();
    let conv_geom = Conv2D::<IN, OUT, K, S, Pad, f32, Cpu>::geometry(1, H::SIZE, W::SIZE);
    // The direct first-layer kernels: one input channel, filters up to 5x5, stride 1, no padding,
    // 2x2 pooling.
    let direct = IN == 1 && (pk, ps) == (2, 2) && K <= 5 && conv_geom.is_plain();
    // Where the pooling leaves the last rows or columns out (11 rows, 2x2 windows), they are
    // not computed (but the direct kernels take whole maps).
    let pooled = PoolGeom { planes: OUT, h: conv_geom.ho(), w: conv_geom.wo(), k: pk, s: ps };
    let conv_geom = if direct { conv_geom } else { conv_geom.cropped((pooled.ho() - 1) * ps + pk, (pooled.wo() - 1) * ps + pk) };
    let pool_geom = PoolGeom { h: conv_geom.ho(), w: conv_geom.wo(), ..pooled };
    let (in_len, out_len) = (IN * H::SIZE * W::SIZE, pool_geom.output_len());
    let n = batch.size();

    let (x, mut tape) = x.split_tape();
    let mut xs = vec![0.0; n * in_len];
    x.copy_into(&mut xs);
    let mut ws = vec![0.0; OUT * IN * K * K];
    conv.weight.copy_into(&mut ws);
    let mut bs = vec![0.0; OUT];
    conv.bias.copy_into(&mut bs);

    let mut ys = vec![0.0; n * out_len];
    let mut argmax = vec![0u32; n * out_len];
    let filters = kernels::Filters::new(&conv_geom, &ws);
    // What each image's convolution keeps for the backward pass (Winograd's input tiles), if any.
    let kept_len = filters.kept_len(&conv_geom.with_batch(1));
    let mut kept = kernels::Kept::new(if T::OWNS_TAPE { n * kept_len } else { 0 });
    let keep_chunk = CHUNK * kept_len.max(1);
    // A chunk's part of the kept tiles, and what the chunk works on: outputs, winners, inputs, part.
    type Keep<'a> = Option<&'a mut [f32]>;
    type Part<'a, 'b> = (((&'a mut [f32], &'a mut [u32]), &'a [f32]), &'b mut Keep<'a>);
    let mut keeps: Vec<Keep> = if kept.is_empty() {
        (0..n.div_ceil(CHUNK)).map(|_| None).collect()
    } else {
        kept.chunks_mut(keep_chunk).map(Some).collect()
    };
    let chunk = |(((y, arg), x), keep): Part| {
        let mut halves = Vec::new();
        let mut pairs = y.chunks_mut(out_len).zip(arg.chunks_mut(out_len)).zip(x.chunks(in_len));
        // The direct kernels (with or without the ReLU) decline, for all images alike, where they do not apply.
        let cut = relu.then_some(CUT);
        if direct && pairs.all(|((y, arg), x)| kernels::conv1_relu_pool2::<K>(&conv_geom, x, &ws, &bs, cut, y, arg, &mut halves)) {
            return;
        }
        // The chunk's convolutions as matrix products of several images each, then the pooling.
        let g = conv_geom.with_batch(x.len() / in_len);
        let mut maps = vec![0.0; g.output_len()];
        kernels::conv_forward(&g, x, &filters, &bs, &mut maps, keep.as_deref_mut(), false);
        for ((y, arg), maps) in y.chunks_mut(out_len).zip(arg.chunks_mut(out_len)).zip(maps.chunks(conv_geom.output_len())) {
            kernels::max_pool_forward(&pool_geom, maps, y, arg);
            if relu {
                for (v, a) in y.iter_mut().zip(arg.iter_mut()) {
                    if *v <= 0.0 {
                        (*v, *a) = (0.0, CUT);
                    }
                }
            }
        }
    };
    if n <= CHUNK {
        // One chunk: on this thread, without waking another (a single image to predict).
        chunk((((&mut ys, &mut argmax), &xs), &mut keeps[0]));
    } else {
        ys.par_chunks_mut(CHUNK * out_len)
            .zip(argmax.par_chunks_mut(CHUNK * out_len))
            .zip(xs.par_chunks(CHUNK * in_len))
            .zip(keeps.par_iter_mut())
            .for_each(chunk);
    }
    drop(keeps);
    let shape = (batch, Const::<OUT>, pool_geom.ho(), pool_geom.wo());
    let y = x.device().tensor_from_vec(ys, shape);

    if T::OWNS_TAPE {
        let (x_g, w_g, b_g, y_g) = (x.ghost(), conv.weight.ghost(), conv.bias.ghost(), y.ghost());
        tape.add_backward_op(move |grads| {
            with_output_grad!(grads, &y_g, |gy| {
                let plane_out = conv_geom.ho() * conv_geom.wo();
                let chunks = n.div_ceil(CHUNK);
                let filters = kernels::Filters::new(&conv_geom, &ws);
                // Where the gradients come from the pooling's winners only (several input channels,
                // matrix products over the patches: not Winograd's tiles, whose sums they would
                // change), the input gradient takes the filters as rows of whole blocks.
                let pooled = IN > 1 && kept_len == 0 && conv_geom.is_plain();
                let padded = if pooled && grad_input { kernels::padded_filters(&ws, OUT) } else { Vec::new() };
                let gx_chunks: Vec<Option<&mut [f32]>> = if grad_input {
                    grads.get_or_alloc_mut(&x_g)?.chunks_mut(CHUNK * in_len).map(Some).collect()
                } else {
                    (0..chunks).map(|_| None).collect()
                };
                // Each chunk of images: its input gradient (its own slice) and its partial weight and
                // bias gradients, added up afterwards in chunk order.
                let partials: Vec<(Vec<f32>, Vec<f32>)> = gx_chunks
                    .into_par_iter()
                    .enumerate()
                    .map(|(chunk, gx)| {
                        let images = chunk * CHUNK..(n.min((chunk + 1) * CHUNK));
                        let (gy, arg) = (&gy[images.start * out_len..images.end * out_len], &argmax[images.start * out_len..images.end * out_len]);
                        let x = &xs[images.start * in_len..images.end * in_len];
                        let kept = (!kept.is_empty()).then(|| &kept[images.start * kept_len..images.end * kept_len]);
                        let (mut gw, mut gb) = (vec![0.0f32; ws.len()], vec![0.0f32; OUT]);
                        for (gy, arg) in gy.chunks(out_len).zip(arg.chunks(out_len)) {
                            kernels::pooled_bias_grad(gy, arg, CUT, &mut gb);
                        }
                        // The weight gradient directly from the winning positions (a single-channel
                        // input; the kernels decline for all images alike where they do not apply)...
                        let mut scratch = Vec::new();
                        let direct_done = direct
                            && x.chunks(in_len).zip(gy.chunks(out_len)).zip(arg.chunks(out_len))
                                .all(|((x, gy), arg)| kernels::conv1_pool2_weight_grad::<K>(&conv_geom, x, gy, arg, CUT, &mut gw, &mut scratch));
                        // ... or from the winning positions' patches, and the input gradient from the
                        // winners' filters.
                        if pooled {
                            for ((x, gy), arg) in x.chunks(in_len).zip(gy.chunks(out_len)).zip(arg.chunks(out_len)) {
                                kernels::pooled_weight_grad::<K>(&conv_geom, x, gy, arg, CUT, &mut gw, &mut scratch);
                            }
                            for ((gy, arg), gx) in gy.chunks(out_len).zip(arg.chunks(out_len)).zip(gx.into_iter().flat_map(|gx| gx.chunks_mut(in_len))) {
                                kernels::pooled_input_grad::<K>(&conv_geom, &padded, gy, arg, CUT, gx);
                            }
                            return (gw, gb);
                        }
                        if direct_done && gx.is_none() {
                            return (gw, gb);
                        }
                        // ... or from the maps' gradients (Winograd's tiles), and the input gradient
                        // from them: the pooled gradients at the positions that won their block and
                        // passed the ReLU, zero elsewhere.
                        let mut gmaps = vec![0.0; images.len() * plane_out * OUT];
                        for ((gmaps, gy), arg) in gmaps.chunks_mut(OUT * plane_out).zip(gy.chunks(out_len)).zip(arg.chunks(out_len)) {
                            for (&at, &g) in arg.iter().zip(gy) {
                                if at != CUT {
                                    gmaps[at as usize] = g;
                                }
                            }
                        }
                        let g = conv_geom.with_batch(images.len());
                        kernels::conv_backward(&g, x, &filters, kept, &gmaps, (!direct_done).then_some(&mut gw[..]), gx, false);
                        (gw, gb)
                    })
                    .collect();
                let gw: &mut [f32] = grads.get_or_alloc_mut(&w_g)?;
                for (part, _) in &partials {
                    gw.iter_mut().zip(part).for_each(|(a, b)| *a += b);
                }
                let gb: &mut [f32] = grads.get_or_alloc_mut(&b_g)?;
                for (_, part) in &partials {
                    gb.iter_mut().zip(part).for_each(|(a, b)| *a += b);
                }
                Ok(())
            })
        });
    }
    Ok(y.put_tape(tape))
}

/// The output of [`conv_relu_pool`]: `[batch, OUT, (H-K+1)/P, (W-K+1)/P]`.
pub type PooledMaps<B, H, W, const OUT: usize, const K: usize, const P: usize, T> = Tensor<
    (
        B,
        Const<OUT>,
        <<H as ConvOut<K, 1, super::Valid>>::Output as PoolOut<P, P>>::Output,
        <<W as ConvOut<K, 1, super::Valid>>::Output as PoolOut<P, P>>::Output,
    ),
    f32,
    Cpu,
    T,
>;
