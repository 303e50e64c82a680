//! `Conv2D -> ReLU -> MaxPool2D` (or `Conv2D -> MaxPool2D`) in one pass: the same numbers as the
//! layers one after the other, computed one image at a time so the feature maps of an image never
//! leave the cache. A network's stack takes this path wherever it has that pattern (see
//! [`super::Layer`]).
//!
//! Why it is the same: ReLU keeps order, so the maximum of the ReLUs is the ReLU of the maximum,
//! and the gradient reaches the same input (the first maximum of the block) or, when the maximum
//! is not positive, no input at all. Why it is faster: the full-size feature maps (21,632 floats
//! an image) are neither stored for the next layer nor read back; the convolution and its weight
//! gradient are matrix products over the image's patches (im2col), or for a single-channel input
//! (the first layer) direct vector kernels with the same numbers (`kernels::conv1_relu_pool2`);
//! and the input gradient, when asked for, visits only the positions that won their block and
//! passed the ReLU.
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

/// `pool(conv(x))`, with a ReLU between them if `relu`, for a batch, with its backward pass on
/// the tape: the convolution of any stride and padding, then `pk`x`pk` max pooling with stride
/// `ps`. The pooled sides are computed here; callers restate them as their types.
pub(crate) fn conv_pool<B, H, W, const IN: usize, const OUT: usize, const K: usize, const S: usize, Pad, T>(
    conv: &Conv2D<IN, OUT, K, S, Pad, f32, Cpu>,
    x: Tensor<(B, Const<IN>, H, W), f32, Cpu, T>,
    (pk, ps): (usize, usize),
    relu: bool,
    input_gradient: InputGradient,
) -> Result<Tensor<(B, Const<OUT>, usize, usize), f32, Cpu, T>, CpuError>
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
    let pool_geom = PoolGeom { planes: OUT, h: conv_geom.ho(), w: conv_geom.wo(), k: pk, s: ps };
    // The direct first-layer kernels: one input channel, stride 1, no padding, 2x2 pooling.
    let direct = IN == 1 && (pk, ps) == (2, 2) && K <= 3 && conv_geom.is_plain();
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
    let chunk = |((y, arg), x): ((&mut [f32], &mut [u32]), &[f32])| {
        let (mut maps, mut halves) = (Vec::new(), Vec::new());
        for ((y, arg), x) in y.chunks_mut(out_len).zip(arg.chunks_mut(out_len)).zip(x.chunks(in_len)) {
            if relu && direct && kernels::conv1_relu_pool2::<K>(&conv_geom, x, &ws, &bs, CUT, y, arg, &mut halves) {
                continue;
            }
            maps.resize(conv_geom.output_len(), 0.0);
            kernels::conv_forward(&conv_geom, x, &ws, &bs, &mut maps);
            kernels::max_pool_forward(&pool_geom, &maps, y, arg);
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
        chunk(((&mut ys, &mut argmax), &xs));
    } else {
        ys.par_chunks_mut(CHUNK * out_len)
            .zip(argmax.par_chunks_mut(CHUNK * out_len))
            .zip(xs.par_chunks(CHUNK * in_len))
            .for_each(chunk);
    }
    let shape = (batch, Const::<OUT>, pool_geom.ho(), pool_geom.wo());
    let y = x.device().tensor_from_vec(ys, shape);

    if T::OWNS_TAPE {
        let (x_g, w_g, b_g, y_g) = (x.ghost(), conv.weight.ghost(), conv.bias.ghost(), y.ghost());
        tape.add_backward_op(move |grads| {
            let gy = std::mem::take(&mut **grads.get_or_alloc_mut(&y_g)?);
            let plane_out = conv_geom.ho() * conv_geom.wo();
            let kk = IN * K * K;
            let chunks = n.div_ceil(CHUNK);
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
                .map(|(chunk, mut gx)| {
                    let images = chunk * CHUNK..(n.min((chunk + 1) * CHUNK));
                    let (mut gw, mut gb) = (vec![0.0f32; ws.len()], vec![0.0f32; OUT]);
                    let (mut gmaps, mut cols) = (Vec::new(), Vec::new());
                    for (i, b) in images.enumerate() {
                        let (gy, arg) = (&gy[b * out_len..(b + 1) * out_len], &argmax[b * out_len..(b + 1) * out_len]);
                        let x = &xs[b * in_len..(b + 1) * in_len];
                        kernels::pooled_bias_grad(gy, arg, CUT, &mut gb);
                        // Weight gradient: directly from the winning positions (a single-channel
                        // input), or as the matrix product gmaps [OUT, ho*wo] x im2col(x)^T
                        // [ho*wo, IN*K*K], gmaps holding the pooled gradients at the positions that
                        // won, zero elsewhere.
                        let done = direct && kernels::conv1_pool2_weight_grad::<K>(&conv_geom, x, gy, arg, CUT, &mut gw, &mut cols);
                        if !done {
                            gmaps.clear();
                            gmaps.resize(OUT * plane_out, 0.0);
                            for (&at, &g) in arg.iter().zip(gy) {
                                if at != CUT {
                                    gmaps[at as usize] = g;
                                }
                            }
                            cols.resize(kk * plane_out, 0.0);
                            kernels::im2col(&conv_geom, x, &mut cols);
                            kernels::matmul(OUT, plane_out, kk, &gmaps, &cols, true, &mut gw, true);
                        }
                        let Some(gx) = gx.as_deref_mut() else { continue };
                        let gx = &mut gx[i * in_len..(i + 1) * in_len];
                        // Input gradient: the patch gradients W^T [IN*K*K, OUT] x gmaps [OUT, ho*wo],
                        // each added back where its patch came from.
                        if done {
                            gmaps.clear();
                            gmaps.resize(OUT * plane_out, 0.0);
                            for (&at, &g) in arg.iter().zip(gy) {
                                if at != CUT {
                                    gmaps[at as usize] = g;
                                }
                            }
                        }
                        kernels::conv_backward_input(&conv_geom, &ws, &gmaps, gx);
                    }
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
            **grads.get_or_alloc_mut(&y_g)? = gy;
            Ok(())
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
