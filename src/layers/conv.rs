//! `Conv2D`: slide small learned filters over the image.
use dfdx::prelude::*;
use rand_distr::Uniform;

use super::dims::ConvOut;
use super::kernels;

/// Builder for [`Conv2D`], used in model types: `dev.build_module::<Conv2D<1, 32, 3>, f32>()`.
pub mod builder {
    /// A 2D convolution from `IN` to `OUT` channels with `K`x`K` filters (stride 1, no padding).
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Conv2D<const IN: usize, const OUT: usize, const K: usize>;
}

impl<const IN: usize, const OUT: usize, const K: usize> BuildOnDevice<Cpu, f32>
    for builder::Conv2D<IN, OUT, K>
{
    type Built = Conv2D<IN, OUT, K, f32, Cpu>;
}

/// A 2D convolution: `OUT` filters of `IN x K x K` weights (plus one bias each) slide over the
/// image with stride 1 and no padding, so a `[batch, IN, H, W]` input gives
/// `[batch, OUT, H-K+1, W-K+1]`. The output shape is a type: a kernel that does not fit the image
/// is a compile error.
///
/// Generics: `IN` input channels, `OUT` filters, `K` the filter side; `E`/`D` dtype and device
/// (the forward pass is implemented for `f32` on [`Cpu`]).
///
/// PyTorch: `nn.Conv2d(IN, OUT, K)`; Keras: `Conv2D(OUT, (K, K))` (Keras puts the ReLU inside the
/// layer; here it is a layer of its own, as in PyTorch). Initialisation follows PyTorch: weights
/// and biases uniform in `±1/sqrt(IN*K*K)`.
///
/// Inputs must be contiguous tensors (every dfdx operation returns one).
#[derive(Debug, Clone)]
pub struct Conv2D<const IN: usize, const OUT: usize, const K: usize, E: Dtype, D: Storage<E>> {
    /// `[OUT, IN, K, K]`: one `IN x K x K` filter per output channel.
    pub weight: Tensor<Rank4<OUT, IN, K, K>, E, D>,
    /// `[OUT]`: added to every position of each output channel.
    pub bias: Tensor<Rank1<OUT>, E, D>,
}

impl<const IN: usize, const OUT: usize, const K: usize, E, D> TensorCollection<E, D>
    for Conv2D<IN, OUT, K, E, D>
where
    E: Dtype + num_traits::Float + rand_distr::uniform::SampleUniform,
    D: Device<E>,
{
    type To<E2: Dtype, D2: Device<E2>> = Conv2D<IN, OUT, K, E2, D2>;

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
            |(weight, bias)| Conv2D { weight, bias },
        )
    }
}

impl<const IN: usize, const OUT: usize, const K: usize, E, D: Storage<E>> Conv2D<IN, OUT, K, E, D>
where
    E: Dtype + num_traits::Float + rand_distr::uniform::SampleUniform,
{
    /// PyTorch's default: uniform in `±1/sqrt(fan_in)`, `fan_in = IN * K * K`.
    fn init() -> Uniform<E> {
        let b = E::ONE / E::from_usize(IN * K * K).unwrap().sqrt();
        Uniform::new(-b, b)
    }
}

impl<const IN: usize, const OUT: usize, const K: usize, E: Dtype, D: Storage<E>> NonMutableModule
    for Conv2D<IN, OUT, K, E, D>
{
}

impl<B, H, W, const IN: usize, const OUT: usize, const K: usize, T>
    Module<Tensor<(B, Const<IN>, H, W), f32, Cpu, T>> for Conv2D<IN, OUT, K, f32, Cpu>
where
    B: Dim,
    H: ConvOut<K>,
    W: ConvOut<K>,
    T: Tape<f32, Cpu>,
{
    type Output = Tensor<(B, Const<OUT>, H::Output, W::Output), f32, Cpu, T>;
    type Error = CpuError;

    fn try_forward(
        &self,
        x: Tensor<(B, Const<IN>, H, W), f32, Cpu, T>,
    ) -> Result<Self::Output, CpuError> {
        let (batch, _, _, _) = *x.shape();
        let geom = kernels::ConvGeom {
            batch: batch.size(),
            inp: IN,
            out: OUT,
            k: K,
            h: H::SIZE,
            w: W::SIZE,
        };
        let (x, mut tape) = x.split_tape();
        let mut xs = vec![0.0; geom.input_len()];
        x.copy_into(&mut xs);
        let mut ws = vec![0.0; OUT * IN * K * K];
        self.weight.copy_into(&mut ws);
        let mut bs = vec![0.0; OUT];
        self.bias.copy_into(&mut bs);

        let mut ys = vec![0.0; geom.output_len()];
        kernels::conv_forward(&geom, &xs, &ws, &bs, &mut ys);
        let shape = (batch, Const::<OUT>, H::Output::default(), W::Output::default());
        let y = x.device().tensor_from_vec(ys, shape);

        if T::OWNS_TAPE {
            let (x_g, w_g, b_g, y_g) = (x.ghost(), self.weight.ghost(), self.bias.ghost(), y.ghost());
            tape.add_backward_op(move |grads| {
                let gy = std::mem::take(&mut **grads.get_or_alloc_mut(&y_g)?);
                kernels::conv_backward_weight(&geom, &xs, &gy, grads.get_or_alloc_mut(&w_g)?);
                kernels::conv_backward_bias(&geom, &gy, grads.get_or_alloc_mut(&b_g)?);
                kernels::conv_backward_input(&geom, &ws, &gy, grads.get_or_alloc_mut(&x_g)?);
                **grads.get_or_alloc_mut(&y_g)? = gy;
                Ok(())
            });
        }
        Ok(y.put_tape(tape))
    }
}
