//! [`Layer`]: what makes a layer, or a tuple of layers, a network's stack. Each layer says what
//! shape it turns its input into, runs its forward pass, and describes itself ([`Node`]); a tuple
//! of layers does all three by passing the batch from one element to the next. So a network is
//! its tuple of layers and nothing else (see [`crate::model::Sequential`]).
//!
//! Between layers flows a [`Flow`]: a computed batch ([`Ready`]), or a convolution not yet
//! computed ([`super::PendingConv`]), so that `Conv2D -> ReLU -> MaxPool2D` (and `Conv2D -> MaxPool2D`)
//! anywhere in a stack runs as one fused pass (`layers/fused.rs`). The shapes are types: a stack
//! whose layers do not fit together does not compile.
use dfdx::prelude::*;
use rand::rngs::StdRng;

use super::dims::{ImageShape, PoolOut};
use super::node::Node;
use super::pooling::{pool, Pooling};

/// What a forward pass needs besides the batch: whether it is training (dropout on, batch
/// normalisation on the batch's statistics), and what it collects on the way.
#[derive(Default)]
pub struct Ctx<'a> {
    /// In training: where dropout draws its masks (the run's seeded generator).
    pub(crate) rng: Option<&'a mut StdRng>,
    /// The new running mean and variance of each `BatchNorm2D` in training, in stack order.
    pub(crate) running: Vec<(Vec<f32>, Vec<f32>)>,
    /// Each layer's output for the first example of the batch, in stack order, when asked for.
    pub(crate) record: Option<Vec<Vec<f32>>>,
}

impl<'a> Ctx<'a> {
    /// Inference: dropout off, batch normalisation on its running statistics.
    pub fn inference() -> Self {
        Ctx::default()
    }
    /// Training, with dropout's masks drawn from `rng`.
    pub fn training(rng: &'a mut StdRng) -> Self {
        Ctx { rng: Some(rng), ..Ctx::default() }
    }
    /// Inference that keeps every layer's output (see [`Ctx::recorded`]).
    pub fn recording() -> Self {
        Ctx { record: Some(Vec::new()), ..Ctx::default() }
    }
    pub fn is_training(&self) -> bool {
        self.rng.is_some()
    }
    /// The outputs kept by a recording pass, one per layer ([`Layer::nodes`] order).
    pub fn recorded(self) -> Vec<Vec<f32>> {
        self.record.unwrap_or_default()
    }
    /// The new running statistics of each `BatchNorm2D` a training pass went through, in stack
    /// order, for [`Layer::take_running`] after the step.
    pub fn take_running(&mut self) -> Vec<(Vec<f32>, Vec<f32>)> {
        std::mem::take(&mut self.running)
    }
    pub(crate) fn keep<S: Shape, T>(&mut self, t: &Tensor<S, f32, Cpu, T>) {
        if let Some(record) = &mut self.record {
            record.push(t.as_vec());
        }
    }
}

/// A batch between two layers, of `Shape` per example.
pub trait Flow: Sized {
    type Shape: ImageShape;
    type Tape: Tape<f32, Cpu>;
    /// The batch, computed.
    fn ready(self) -> Ready<Self::Shape, Self::Tape>;
    /// `max(x, 0)`: on a pending convolution, remembered for the fused pass.
    fn relu(self, ctx: &mut Ctx) -> Self;
    /// `K`x`K` max pooling with stride `S`: on a pending convolution, the fused pass.
    fn max_pool<const K: usize, const S: usize>(self, ctx: &mut Ctx) -> Ready<<Self::Shape as Pooled<K, S>>::Out, Self::Tape>
    where
        Self::Shape: Pooled<K, S>;
}

/// A `(C, H, W)` shape that `K`x`K` pooling with stride `S` fits.
pub trait Pooled<const K: usize, const S: usize>: ImageShape {
    type Out: ImageShape;
}

impl<C: ConstDim, H: PoolOut<K, S>, W: PoolOut<K, S>, const K: usize, const S: usize> Pooled<K, S> for (C, H, W) {
    type Out = (C, H::Output, W::Output);
}

/// A computed batch: `[batch, ...S]`.
pub struct Ready<S: ImageShape, T> {
    pub tensor: Tensor<S::Batched, f32, Cpu, T>,
    /// The network's input, not a layer's output: the first layer need not compute its gradient.
    pub(crate) is_input: bool,
}

impl<S: ImageShape, T: Tape<f32, Cpu>> Ready<S, T> {
    /// A network's input batch.
    pub fn input(tensor: Tensor<S::Batched, f32, Cpu, T>) -> Self {
        Ready { tensor, is_input: true }
    }
    pub(crate) fn new(tensor: Tensor<S::Batched, f32, Cpu, T>) -> Self {
        Ready { tensor, is_input: false }
    }
}

impl<S: ImageShape, T: Tape<f32, Cpu>> Flow for Ready<S, T> {
    type Shape = S;
    type Tape = T;
    fn ready(self) -> Self {
        self
    }
    fn relu(self, ctx: &mut Ctx) -> Self {
        let y = self.tensor.relu();
        ctx.keep(&y);
        Ready::new(y)
    }
    fn max_pool<const K: usize, const S2: usize>(self, ctx: &mut Ctx) -> Ready<<S as Pooled<K, S2>>::Out, T>
    where
        S: Pooled<K, S2>,
    {
        // (C, H, W) on both sides: the batched tensors are (usize, C, H, W) and the pooled one.
        let y = pool_any::<S, K, S2, T>(self.tensor);
        ctx.keep(&y);
        Ready::new(y)
    }
}

/// Max pooling of a batch of any `(C, H, W)` shape that `Pooled` accepts.
fn pool_any<S: Pooled<K, ST>, const K: usize, const ST: usize, T: Tape<f32, Cpu>>(
    x: Tensor<S::Batched, f32, Cpu, T>,
) -> Tensor<<S::Out as ImageShape>::Batched, f32, Cpu, T> {
    let dims = x.shape().concrete();
    let (n, c, h, w) = (dims.as_ref()[0], dims.as_ref()[1], dims.as_ref()[2], dims.as_ref()[3]);
    let geom = super::kernels::PoolGeom { planes: n * c, h, w, k: K, s: ST };
    pool(x, geom, <S::Out as ImageShape>::batched(n), Pooling::Max)
}

/// A layer, or a stack of layers (a tuple), that takes examples of shape `In`.
///
/// Implemented by every layer of the library and by tuples of them (nested as you like), so that
/// `Sequential<(Conv2D<1, 32, 3>, ReLU, MaxPool2D<2>, Flatten, Dense<5408, 10>)>` is a network.
/// A layer that does not fit after the one before it is a compile error naming both.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot take examples of shape `{In}`",
    label = "this layer (or stack) does not fit its input",
    note = "each layer takes the shape the layer before it gives: Conv2D<IN, ..> needs IN channels, Dense<I, ..> needs I values (put a Flatten before it), MaxPool2D<K> needs feature maps of at least K x K"
)]
pub trait Layer<In: ImageShape>: TensorCollection<f32, Cpu, To<f32, Cpu> = Self> + Clone + std::fmt::Debug + Send + Sync + 'static {
    /// The shape of one example after this layer.
    type Out: ImageShape;
    /// Evaluated when a network is built: a check the trait bounds cannot express (a Dense
    /// layer's width against what comes in) fails here, at compile time.
    const FITS: () = ();
    /// What flows out when `F` flows in.
    type Next<F: Flow<Shape = In>>: Flow<Shape = Self::Out, Tape = F::Tape>;
    /// The forward pass.
    fn flow<F: Flow<Shape = In>>(&self, x: F, ctx: &mut Ctx) -> Self::Next<F>;
    /// Appends this layer's description (each layer of a stack, in order).
    fn nodes(&self, nodes: &mut Vec<Node>);
    /// Takes the running statistics a training pass computed (batch normalisation), in order.
    fn take_running(&mut self, _running: &mut std::vec::IntoIter<(Vec<f32>, Vec<f32>)>) {}
}

/// The output shape of `L` as numbers, channels first.
pub(crate) fn out_shape<In: ImageShape, L: Layer<In>>() -> Vec<usize> {
    <L::Out as Default>::default().concrete().into_iter().collect()
}

/// `<Ln as Layer<Sn>>::Next<... <L0 as Layer<In>>::Next<X>>>`: what flows out of a tuple.
macro_rules! chain_next {
    ($x:ty;) => { $x };
    ($x:ty; [$l:ident $in:ident $out:ident $i:tt] $($rest:tt)*) => { chain_next!(<$l as Layer<$in>>::Next<$x>; $($rest)*) };
}

/// A tuple of layers is a layer: each element takes what the one before it gives. The shapes in
/// between are named (`S1`, `S2`, ...) so that each bound reads `L1: Layer<S1, Out = S2>`.
macro_rules! tuple_layer {
    ($([$l:ident $in:ident $out:ident $i:tt])+; $last:ident; $($s:ident)+) => {
        impl<In: ImageShape, $($s: ImageShape,)+ $($l,)+> Layer<In> for ($($l,)+)
        where
            $($l: Layer<$in, Out = $out>,)+
        {
            type Out = $last;
            const FITS: () = { $(let () = <$l as Layer<$in>>::FITS;)+ };
            type Next<X: Flow<Shape = In>> = chain_next!(X; $([$l $in $out $i])+);
            fn flow<X: Flow<Shape = In>>(&self, x: X, ctx: &mut Ctx) -> Self::Next<X> {
                $(let x = self.$i.flow(x, ctx);)+
                x
            }
            fn nodes(&self, nodes: &mut Vec<Node>) {
                $(self.$i.nodes(nodes);)+
            }
            fn take_running(&mut self, running: &mut std::vec::IntoIter<(Vec<f32>, Vec<f32>)>) {
                $(self.$i.take_running(running);)+
            }
        }
    };
}

// dfdx's tuples hold up to six modules: nest them for longer stacks (blocks of layers).
tuple_layer!([L0 In S1 0]; S1; S1);
tuple_layer!([L0 In S1 0] [L1 S1 S2 1]; S2; S1 S2);
tuple_layer!([L0 In S1 0] [L1 S1 S2 1] [L2 S2 S3 2]; S3; S1 S2 S3);
tuple_layer!([L0 In S1 0] [L1 S1 S2 1] [L2 S2 S3 2] [L3 S3 S4 3]; S4; S1 S2 S3 S4);
tuple_layer!([L0 In S1 0] [L1 S1 S2 1] [L2 S2 S3 2] [L3 S3 S4 3] [L4 S4 S5 4]; S5; S1 S2 S3 S4 S5);
tuple_layer!([L0 In S1 0] [L1 S1 S2 1] [L2 S2 S3 2] [L3 S3 S4 3] [L4 S4 S5 4] [L5 S5 S6 5]; S6; S1 S2 S3 S4 S5 S6);
