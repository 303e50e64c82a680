//! [`Layer`]: what makes a layer, or a tuple of layers, a network's stack. Each layer says what
//! shape it turns its input into, runs its forward pass, and describes itself ([`Node`]); a tuple
//! of layers does all three by passing the batch from one element to the next. So a network is
//! its tuple of layers and nothing else (see [`crate::model::Sequential`]).
//!
//! Between layers flows a [`Flow`]: a computed batch ([`Ready`]), or a convolution not yet
//! computed ([`PendingConv`]), so that `Conv2D -> ReLU -> MaxPool2D` (and `Conv2D -> MaxPool2D`)
//! anywhere in a stack runs as one fused pass ([`super::fused`]). The shapes are types: a stack
//! whose layers do not fit together does not compile.
use dfdx::prelude::*;
use rand::rngs::StdRng;

use super::dims::{ConvOut, ConvShape, ImageShape, Padding, PoolOut};
use super::fused::{self, InputGradient};
use super::node::Node;
use super::Conv2D;

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
    super::pool::pool(x, geom, <S::Out as ImageShape>::batched(n), super::pool::Pooling::Max)
}

/// A convolution whose output is not computed yet: if a (ReLU and a) max pooling follow, the
/// three run as one fused pass; anything else computes it first.
pub struct PendingConv<const IN: usize, const OUT: usize, const K: usize, const S: usize, P: Padding, H, W, T>
where
    H: ConvOut<K, S, P>,
    W: ConvOut<K, S, P>,
{
    conv: Conv2D<IN, OUT, K, S, P, f32, Cpu>,
    /// The input still to convolve, and whether a ReLU follows.
    input: Option<(Ready<(Const<IN>, H, W), T>, bool)>,
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
