//! `Dense`: every input connected to every output (Keras's `Dense`, PyTorch's `nn.Linear`).
use super::tape::with_output_grad;
use std::sync::{Arc, Mutex};

use dfdx::prelude::*;
use rand_distr::Uniform;

use super::kernels;
use super::node::{Node, Op};
use super::stack::{Ctx, Flow, Layer, Ready};

/// Builder for [`Dense`], for dfdx's `dev.build_module::<Dense<5408, 128>, f32>()`.
pub mod builder {
    /// A fully connected layer from `I` inputs to `O` outputs.
    #[derive(Debug, Clone, Copy, Default)]
    pub struct Dense<const I: usize, const O: usize>;
}

impl<const I: usize, const O: usize> BuildOnDevice<Cpu, f32> for builder::Dense<I, O> {
    type Built = Dense<I, O, f32, Cpu>;
}

/// A fully connected layer: `y = x W^T + b` for a batch `x` of `[batch, I]`, giving `[batch, O]`.
///
/// The same layer as dfdx's `Linear` (the same tensors, names, shapes and initialisation, so
/// model files are interchangeable), with its own forward and backward passes: three matrix
/// products by the `gemm` crate with its AVX-512 kernels where the processor has them, which
/// dfdx's `Linear` (an older `gemm`) does not use.
///
/// Its input is `I` values: `[batch, I]`, or whatever has `I` values per example, such as
/// `Flatten`'s `[batch, Flat<C, H, W>]` with `C*H*W = I`; any other count fails to compile
/// (``Dense<I, O>: I must equal the number of values coming in``).
///
/// Generics: `I` inputs, `O` outputs; `E`/`D` dtype and device (the forward pass is implemented for
/// `f32` on [`Cpu`]). PyTorch: `nn.Linear(I, O)`; Keras: `Dense(O)` (with `activation=` inside
/// the layer; here the ReLU is a layer of its own). Initialisation as dfdx and PyTorch: weights
/// and biases uniform in `±1/sqrt(I)`.
#[derive(Debug, Clone)]
pub struct Dense<const I: usize, const O: usize, E: Dtype = f32, D: Storage<E> = Cpu> {
    /// `[O, I]`: one row of input weights per output.
    pub weight: Tensor<Rank2<O, I>, E, D>,
    /// `[O]`: added to each output.
    pub bias: Tensor<Rank1<O>, E, D>,
    /// The weights as a plain vector, kept for inference (see [`WeightCache`]).
    cache: WeightCache<Rank2<O, I>, E, D>,
}

/// A copy of a tensor's values kept between inference calls, so that predicting one image does
/// not copy 700,000 weights first. It is valid while the tensor still shares its storage with
/// the clone kept beside the copy: dfdx changes a tensor's values in place only when no other
/// tensor shares them (copy on write), so storage still shared has not changed. Training does
/// not use it (its backward pass keeps its own copy).
pub(crate) struct WeightCache<S: Shape, E: Dtype, D: Storage<E>>(Mutex<Option<Kept<S, E, D>>>);

/// The tensor whose values were copied (sharing its storage), and the copy.
type Kept<S, E, D> = (Tensor<S, E, D>, Arc<Vec<f32>>);

impl<S: Shape, E: Dtype, D: Storage<E>> Default for WeightCache<S, E, D> {
    fn default() -> Self {
        WeightCache(Mutex::new(None))
    }
}

/// A clone starts empty: the copy belongs to the layer it was made for.
impl<S: Shape, E: Dtype, D: Storage<E>> Clone for WeightCache<S, E, D> {
    fn clone(&self) -> Self {
        WeightCache::default()
    }
}

impl<S: Shape, E: Dtype, D: Storage<E>> std::fmt::Debug for WeightCache<S, E, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WeightCache")
    }
}

impl<const O: usize, const I: usize> WeightCache<Rank2<O, I>, f32, Cpu> {
    /// The values of `weight`, copied only if they are not those copied last time.
    fn values(&self, weight: &Tensor<Rank2<O, I>, f32, Cpu>) -> Arc<Vec<f32>> {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((tensor, values)) = &*kept {
            // The same storage (compared by the address of the first value, never read through).
            if std::ptr::eq(&tensor[[0, 0]], &weight[[0, 0]]) {
                return values.clone();
            }
        }
        let mut values = vec![0.0; O * I];
        weight.copy_into(&mut values);
        let values = Arc::new(values);
        *kept = Some((weight.clone(), values.clone()));
        values
    }
}

impl<const I: usize, const O: usize, E: Dtype, D: Storage<E>> NonMutableModule for Dense<I, O, E, D> {}

impl<const I: usize, const O: usize, E, D> TensorCollection<E, D> for Dense<I, O, E, D>
where
    E: Dtype + num_traits::Float + rand_distr::uniform::SampleUniform,
    D: Device<E>,
{
    type To<E2: Dtype, D2: Device<E2>> = Dense<I, O, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(visitor: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor("weight", |s| &s.weight, |s| &mut s.weight, TensorOptions::reset_with(|t| t.try_fill_with_distr(Self::init()))),
                Self::tensor("bias", |s| &s.bias, |s| &mut s.bias, TensorOptions::reset_with(|t| t.try_fill_with_distr(Self::init()))),
            ),
            |(weight, bias)| Dense { weight, bias, cache: WeightCache::default() },
        )
    }
}

impl<const I: usize, const O: usize, E, D: Storage<E>> Dense<I, O, E, D>
where
    E: Dtype + num_traits::Float + rand_distr::uniform::SampleUniform,
{
    /// Uniform in `±1/sqrt(I)`, as dfdx's `Linear` and PyTorch's `nn.Linear`.
    fn init() -> Uniform<E> {
        let b = E::ONE / E::from_usize(I).unwrap().sqrt();
        Uniform::new(-b, b)
    }
}

impl<B: Dim, X: ConstDim, const I: usize, const O: usize, T: Tape<f32, Cpu>> Module<Tensor<(B, X), f32, Cpu, T>>
    for Dense<I, O, f32, Cpu>
{
    type Output = Tensor<(B, Const<O>), f32, Cpu, T>;
    type Error = CpuError;

    fn try_forward(&self, x: Tensor<(B, X), f32, Cpu, T>) -> Result<Self::Output, CpuError> {
        #[allow(clippy::let_unit_value)]
        let () = <Self as Layer<(X,)>>::FITS;
        let (batch, _) = *x.shape();
        let n = batch.size();
        // The forward product is split over threads from 64 rows on: below that, handing out the
        // work costs more than it saves (`cargo bench --bench steps`). The backward products
        // (outputs of the weights' size) are always worth splitting.
        let parallel = n >= 64;
        let (x, mut tape) = x.split_tape();
        let mut xs = vec![0.0; n * I];
        x.copy_into(&mut xs);
        let ws = if T::OWNS_TAPE {
            let mut ws = vec![0.0; O * I];
            self.weight.copy_into(&mut ws);
            Arc::new(ws)
        } else {
            self.cache.values(&self.weight)
        };
        let mut bs = vec![0.0; O];
        self.bias.copy_into(&mut bs);

        // y = bias + x W^T: W is [O, I], read as its transpose [I, O].
        let mut ys: Vec<f32> = (0..n).flat_map(|_| bs.iter().copied()).collect();
        kernels::matmul_strided(n, I, O, &xs, (I, 1), &ws, (1, I), &mut ys, true, parallel);
        let y = x.device().tensor_from_vec(ys, (batch, Const::<O>));

        if T::OWNS_TAPE {
            let (x_g, w_g, b_g, y_g) = (x.ghost(), self.weight.ghost(), self.bias.ghost(), y.ghost());
            tape.add_backward_op(move |grads| {
                with_output_grad!(grads, &y_g, |gy| {
                    // dW += gy^T x: gy [n, O] read as its transpose [O, n].
                    kernels::matmul_strided(O, n, I, &gy, (1, O), &xs, (I, 1), grads.get_or_alloc_mut(&w_g)?, true, true);
                    let gb: &mut [f32] = grads.get_or_alloc_mut(&b_g)?;
                    for row in gy.chunks_exact(O) {
                        gb.iter_mut().zip(row).for_each(|(g, r)| *g += r);
                    }
                    // dx += gy W.
                    kernels::matmul_strided(n, O, I, &gy, (O, 1), &ws, (I, 1), grads.get_or_alloc_mut(&x_g)?, true, true);
                    Ok(())
                })
            });
        }
        Ok(y.put_tape(tape))
    }
}

impl<X: ConstDim, const I: usize, const O: usize> Layer<(X,)> for Dense<I, O, f32, Cpu> {
    type Out = (Const<O>,);
    const FITS: () = assert!(X::SIZE == I, "Dense<I, O>: I must equal the number of values coming in (after Flatten: channels x height x width)");
    type Next<F: Flow<Shape = (X,)>> = Ready<Self::Out, F::Tape>;

    fn flow<F: Flow<Shape = (X,)>>(&self, x: F, ctx: &mut Ctx) -> Self::Next<F> {
        let y = self.forward(x.ready().tensor);
        ctx.keep(&y);
        Ready::new(y)
    }

    fn nodes(&self, nodes: &mut Vec<Node>) {
        let op = Op::Dense { weight: self.weight.as_vec(), bias: self.bias.as_vec(), inp: I, out: O };
        nodes.push(Node { op, shape: vec![O], params: self.num_trainable_params() });
    }
}
