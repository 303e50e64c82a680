//! `Conv2D`: slide small learned filters over the image.
use dfdx::prelude::*;
use rand_distr::Uniform;

use super::dims::{ConvOut, ConvShape, Padding, Valid};
use super::kernels;
use super::node::{Node, Op};
use super::stack::{out_shape, Ctx, Flow, Layer, PendingConv};

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
        kernels::conv_forward(&geom, &xs, &ws, &bs, &mut ys, true);
        let shape = (batch, Const::<OUT>, H::Output::default(), W::Output::default());
        let y = x.device().tensor_from_vec(ys, shape);

        if T::OWNS_TAPE {
            let (x_g, w_g, b_g, y_g) = (x.ghost(), self.weight.ghost(), self.bias.ghost(), y.ghost());
            tape.add_backward_op(move |grads| {
                let gy = std::mem::take(&mut **grads.get_or_alloc_mut(&y_g)?);
                kernels::conv_backward_bias(&geom, &gy, grads.get_or_alloc_mut(&b_g)?);
                let mut gx = std::mem::take(&mut **grads.get_or_alloc_mut(&x_g)?);
                kernels::conv_backward(&geom, &xs, &ws, &gy, Some(grads.get_or_alloc_mut(&w_g)?), Some(&mut gx), true);
                **grads.get_or_alloc_mut(&x_g)? = gx;
                **grads.get_or_alloc_mut(&y_g)? = gy;
                Ok(())
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
