//! `Conv2D`: slide small learned filters over the image.
use super::tape::with_output_grad;
use dfdx::prelude::*;
use rand_distr::Uniform;

use super::dims::{ConvOut, ConvShape, ImageShape, Padding, Valid};
use super::fused::{self, InputGradient};
use super::kernels;
use super::node::{Node, Op};
use super::stack::{out_shape, Ctx, Flow, Layer, Pooled, Ready};

/// Builder for [`Conv2D`], for dfdx's `dev.build_module::<Conv2D<1, 32, 3>, f32>()`.
pub mod builder {
    use crate::layers::dims::Valid;
    /// A 2D convolution from `IN` to `OUT` channels with `K`x`K` filters, stride `S`, padding `P`.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Conv2D<const IN: usize, const OUT: usize, const K: usize, const S: usize = 1, P = Valid>(std::marker::PhantomData<P>);
}

impl<const IN: usize, const OUT: usize, const K: usize, const S: usize, P: Padding> BuildOnDevice<Cpu, f32>
    for builder::Conv2D<IN, OUT, K, S, P>
{
    type Built = Conv2D<IN, OUT, K, S, P, f32, Cpu>;
}

/// A 2D convolution: `OUT` filters of `IN x K x K` weights (plus one bias each) slide over the
/// image `S` pixels at a time, so a `[batch, IN, H, W]` input gives `[batch, OUT, H', W']` with
/// `H' = (H - K) / S + 1` for padding [`Valid`] (no padding) and `H' = ceil(H / S)` for
/// [`Same`](super::Same) (zeros around the image). The output shape is a type: a kernel that does
/// not fit the image is a compile error.
///
/// Generics: `IN` input channels, `OUT` filters, `K` the filter side, `S` the stride (default 1),
/// `P` the padding (default [`Valid`]); `E`/`D` dtype and device (the forward pass is implemented
/// for `f32` on [`Cpu`]).
///
/// PyTorch: `nn.Conv2d(IN, OUT, K, stride=S, padding=...)`; Keras: `Conv2D(OUT, (K, K),
/// strides=S, padding="valid"|"same")` (Keras puts the ReLU inside the layer; here it is a layer
/// of its own, as in PyTorch). Initialisation follows PyTorch: weights and biases uniform in
/// `±1/sqrt(IN*K*K)`.
///
/// Inputs must be contiguous tensors (every dfdx operation returns one).
#[derive(Debug, Clone)]
pub struct Conv2D<const IN: usize, const OUT: usize, const K: usize, const S: usize = 1, P: Padding = Valid, E: Dtype = f32, D: Storage<E> = Cpu> {
    /// `[OUT, IN, K, K]`: one `IN x K x K` filter per output channel.
    pub weight: Tensor<Rank4<OUT, IN, K, K>, E, D>,
    /// `[OUT]`: added to every position of each output channel.
    pub bias: Tensor<Rank1<OUT>, E, D>,
    pub padding: P,
}

impl<const IN: usize, const OUT: usize, const K: usize, const S: usize, P: Padding, E, D> TensorCollection<E, D>
    for Conv2D<IN, OUT, K, S, P, E, D>
where
    E: Dtype + num_traits::Float + rand_distr::uniform::SampleUniform,
    D: Device<E>,
{
    type To<E2: Dtype, D2: Device<E2>> = Conv2D<IN, OUT, K, S, P, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
        visitor: &mut V,
    ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor(
                    "weight",
                    |s| &s.weight,
                    |s| &mut s.weight,
                    TensorOptions::reset_with(|t| t.try_fill_with_distr(Self::init())),
                ),
                Self::tensor(
                    "bias",
                    |s| &s.bias,
                    |s| &mut s.bias,
                    TensorOptions::reset_with(|t| t.try_fill_with_distr(Self::init())),
                ),
            ),
            |(weight, bias)| Conv2D { weight, bias, padding: P::default() },
        )
    }
}

impl<const IN: usize, const OUT: usize, const K: usize, const S: usize, P: Padding, E, D: Storage<E>> Conv2D<IN, OUT, K, S, P, E, D>
where
    E: Dtype + num_traits::Float + rand_distr::uniform::SampleUniform,
{
    /// PyTorch's default: uniform in `±1/sqrt(fan_in)`, `fan_in = IN * K * K`.
    fn init() -> Uniform<E> {
        let b = E::ONE / E::from_usize(IN * K * K).unwrap().sqrt();
        Uniform::new(-b, b)
    }
}

impl<const IN: usize, const OUT: usize, const K: usize, const S: usize, P: Padding, E: Dtype, D: Storage<E>> NonMutableModule
    for Conv2D<IN, OUT, K, S, P, E, D>
{
}

impl<const IN: usize, const OUT: usize, const K: usize, const S: usize, P: Padding> Conv2D<IN, OUT, K, S, P, f32, Cpu> {
    /// The geometry of this layer on `batch` images of `h x w`.
    pub(crate) fn geometry(batch: usize, h: usize, w: usize) -> kernels::ConvGeom {
        kernels::ConvGeom::new(batch, IN, OUT, K, (h, w), S, P::pads(h, K, S), P::pads(w, K, S))
    }
}

impl<B, H, W, const IN: usize, const OUT: usize, const K: usize, const S: usize, P: Padding, T>
    Module<Tensor<(B, Const<IN>, H, W), f32, Cpu, T>> for Conv2D<IN, OUT, K, S, P, f32, Cpu>
where
    B: Dim,
    H: ConvOut<K, S, P>,
    W: ConvOut<K, S, P>,
    T: Tape<f32, Cpu>,
{
    type Output = Tensor<(B, Const<OUT>, H::Output, W::Output), f32, Cpu, T>;
    type Error = CpuError;

    fn try_forward(
        &self,
        x: Tensor<(B, Const<IN>, H, W), f32, Cpu, T>,
    ) -> Result<Self::Output, CpuError> {
        let (batch, _, _, _) = *x.shape();
        let geom = Self::geometry(batch.size(), H::SIZE, W::SIZE);
        debug_assert_eq!((geom.ho(), geom.wo()), (H::Output::SIZE, W::Output::SIZE));
        let (x, mut tape) = x.split_tape();
        let mut xs = vec![0.0; geom.input_len()];
        x.copy_into(&mut xs);
        let mut ws = vec![0.0; OUT * IN * K * K];
        self.weight.copy_into(&mut ws);
        let mut bs = vec![0.0; OUT];
        self.bias.copy_into(&mut bs);

        let mut ys = vec![0.0; geom.output_len()];
        let filters = kernels::Filters::new(&geom, &ws);
        // What the backward pass can reuse (Winograd's transformed input tiles), if it will run.
        let mut kept = kernels::Kept::new(if T::OWNS_TAPE { filters.kept_len(&geom) } else { 0 });
        kernels::conv_forward(&geom, &xs, &filters, &bs, &mut ys, (!kept.is_empty()).then_some(&mut kept[..]), true);
        let made = filters.made();
        let shape = (batch, Const::<OUT>, H::Output::default(), W::Output::default());
        let y = x.device().tensor_from_vec(ys, shape);

        if T::OWNS_TAPE {
            let (x_g, w_g, b_g, y_g) = (x.ghost(), self.weight.ghost(), self.bias.ghost(), y.ghost());
            tape.add_backward_op(move |grads| {
                with_output_grad!(grads, &y_g, |gy| {
                    kernels::conv_backward_bias(&geom, &gy, grads.get_or_alloc_mut(&b_g)?);
                    let mut gx = std::mem::take(&mut **grads.get_or_alloc_mut(&x_g)?);
                    let kept = (!kept.is_empty()).then_some(&kept[..]);
                    let filters = kernels::Filters::again(&ws, made);
                    kernels::conv_backward(&geom, &xs, &filters, kept, &gy, Some(grads.get_or_alloc_mut(&w_g)?), Some(&mut gx), true);
                    **grads.get_or_alloc_mut(&x_g)? = gx;
                    Ok(())
                })
            });
        }
        Ok(y.put_tape(tape))
    }
}

impl<H, W, const IN: usize, const OUT: usize, const K: usize, const S: usize, P: Padding> Layer<(Const<IN>, H, W)>
    for Conv2D<IN, OUT, K, S, P, f32, Cpu>
where
    H: ConvOut<K, S, P>,
    W: ConvOut<K, S, P>,
{
    type Out = ConvShape<OUT, H, W, K, S, P>;
    type Next<F: Flow<Shape = (Const<IN>, H, W)>> = PendingConv<IN, OUT, K, S, P, H, W, F::Tape>;

    fn flow<F: Flow<Shape = (Const<IN>, H, W)>>(&self, x: F, ctx: &mut Ctx) -> Self::Next<F> {
        PendingConv::new(self, x.ready(), ctx)
    }

    fn nodes(&self, nodes: &mut Vec<Node>) {
        let ((top, bottom), (left, right)) = (P::pads(H::SIZE, K, S), P::pads(W::SIZE, K, S));
        let op = Op::Conv2D {
            weight: self.weight.as_vec(),
            bias: self.bias.as_vec(),
            inp: IN,
            out: OUT,
            k: K,
            stride: S,
            pads: [top, left, bottom, right],
            padding: P::NAME,
        };
        nodes.push(Node { op, shape: out_shape::<(Const<IN>, H, W), Self>(), params: self.num_trainable_params() });
    }
}

/// An input waiting for its convolution, and whether a ReLU follows.
type Waiting<const IN: usize, H, W, T> = (Ready<(Const<IN>, H, W), T>, bool);

/// A convolution whose output is not computed yet: if a (ReLU and a) max pooling follow, the
/// three run as one fused pass; anything else computes it first.
pub struct PendingConv<const IN: usize, const OUT: usize, const K: usize, const S: usize, P: Padding, H, W, T>
where
    H: ConvOut<K, S, P>,
    W: ConvOut<K, S, P>,
{
    conv: Conv2D<IN, OUT, K, S, P, f32, Cpu>,
    /// The input still to convolve, and whether a ReLU follows.
    input: Option<Waiting<IN, H, W, T>>,
    /// Or the output, computed at once (when every layer's output is being recorded).
    done: Option<Ready<ConvShape<OUT, H, W, K, S, P>, T>>,
}

impl<const IN: usize, const OUT: usize, const K: usize, const S: usize, P: Padding, H, W, T: Tape<f32, Cpu>>
    PendingConv<IN, OUT, K, S, P, H, W, T>
where
    H: ConvOut<K, S, P>,
    W: ConvOut<K, S, P>,
{
    pub(crate) fn new(conv: &Conv2D<IN, OUT, K, S, P, f32, Cpu>, x: Ready<(Const<IN>, H, W), T>, ctx: &mut Ctx) -> Self {
        let conv = conv.clone();
        if ctx.record.is_some() {
            let y = conv.forward(x.tensor);
            ctx.keep(&y);
            return PendingConv { conv, input: None, done: Some(Ready::new(y)) };
        }
        PendingConv { conv, input: Some((x, false)), done: None }
    }
}

impl<const IN: usize, const OUT: usize, const K: usize, const S: usize, P: Padding, H, W, T: Tape<f32, Cpu>> Flow
    for PendingConv<IN, OUT, K, S, P, H, W, T>
where
    H: ConvOut<K, S, P>,
    W: ConvOut<K, S, P>,
{
    type Shape = ConvShape<OUT, H, W, K, S, P>;
    type Tape = T;

    fn ready(self) -> Ready<Self::Shape, T> {
        match (self.input, self.done) {
            (Some((x, relu)), _) => {
                let y = self.conv.forward(x.tensor);
                Ready::new(if relu { y.relu() } else { y })
            }
            (None, done) => done.expect("a pending convolution has its input or its output"),
        }
    }

    fn relu(self, ctx: &mut Ctx) -> Self {
        match (self.input, self.done) {
            (Some((x, _)), _) => PendingConv { conv: self.conv, input: Some((x, true)), done: None },
            (None, done) => {
                let done = done.map(|d| d.relu(ctx));
                PendingConv { conv: self.conv, input: None, done }
            }
        }
    }

    fn max_pool<const PK: usize, const PS: usize>(self, ctx: &mut Ctx) -> Ready<<Self::Shape as Pooled<PK, PS>>::Out, T>
    where
        Self::Shape: Pooled<PK, PS>,
    {
        match (self.input, self.done) {
            (Some((x, relu)), _) => {
                let grad = if x.is_input { InputGradient::Skip } else { InputGradient::Compute };
                let y = fused::conv_pool(&self.conv, x.tensor, (PK, PS), relu, grad).expect("the CPU kernels do not fail");
                let n = y.shape().0;
                Ready::new(y.reshape_like(&<<Self::Shape as Pooled<PK, PS>>::Out as ImageShape>::batched(n)))
            }
            (None, done) => done.expect("a pending convolution has its input or its output").max_pool::<PK, PS>(ctx),
        }
    }
}
