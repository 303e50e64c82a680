//! A network is its stack of layers: [`Sequential`] makes any well-shaped tuple of the library's
//! layers something to train, evaluate, save, export and look inside.
use std::path::Path;

use dfdx::prelude::*;

use crate::data::{CLASSES, SIDE};
use crate::error::Result;
use crate::layers::{Ctx, Flow, Layer, Node, Ready, Summary};

/// One example as the network takes it: a 28x28 grey image, one channel.
pub type InputShape = (Const<1>, Const<SIDE>, Const<SIDE>);

/// A batch of images, with or without a gradient tape: `[batch, 1, 28, 28]`.
pub type Input<T> = Tensor<(usize, Const<1>, Const<SIDE>, Const<SIDE>), f32, Cpu, T>;

/// A batch of scores, one per class: `[batch, 10]`.
pub type Output<T> = Tensor<(usize, Const<CLASSES>), f32, Cpu, T>;

/// A network: a stack of layers `L` (a tuple of the library's layers, nested as you like, up to
/// six to a tuple) from a 28x28 image to ten scores, Keras's `Sequential`.
///
/// ```
/// use mnist_cnn::layers::{Conv2D, Dense, Flatten, MaxPool2D, ReLU};
/// use mnist_cnn::model::{self, Network, Sequential};
///
/// type Small = Sequential<((Conv2D<1, 8, 5>, ReLU), MaxPool2D<2>, Flatten, Dense<1152, 10>)>;
/// let net = Small::build(&model::device(0));
/// assert_eq!(net.summary().total_params(), 8 * 26 + 1152 * 10 + 10);
/// ```
///
/// Its tensors keep the stack's names (`0.0.weight`, ...), so a model file is the stack's.
#[derive(Debug, Clone)]
pub struct Sequential<L> {
    pub layers: L,
}

impl<L: TensorCollection<E, D>, E: Dtype, D: Device<E>> TensorCollection<E, D> for Sequential<L> {
    type To<E2: Dtype, D2: Device<E2>> = Sequential<L::To<E2, D2>>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(visitor: &mut V) -> std::result::Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(Self::module("", |s| &s.layers, |s| &mut s.layers), |layers| Sequential { layers })
    }
}

#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a network for MNIST",
    label = "not a network from a 28x28 image to 10 scores",
    note = "a network is a `Sequential` of layers whose first takes a [1, 28, 28] image and whose last gives [10] scores (e.g. `Dense<128, 10>`); each layer must take what the one before it gives"
)]
/// What [`crate::train::fit`], [`crate::train::evaluate`], [`Network::save`], the exporters and the
/// reports need of a network. Every [`Sequential`] whose stack takes a 28x28 image and gives ten
/// scores is one; nothing else need implement it.
pub trait Network: TensorCollection<f32, Cpu, To<f32, Cpu> = Self> + Clone + Sized + Send + Sync + 'static {
    /// A new network with random initial weights drawn from `dev`.
    fn build(dev: &Cpu) -> Self;
    /// The device its weights live on.
    fn device(&self) -> Cpu;
    /// Scores (logits) for a batch, as `ctx` says (inference or training).
    fn forward_with<T: Tape<f32, Cpu>>(&self, x: Input<T>, ctx: &mut Ctx) -> Output<T>;
    /// Keeps the running statistics that a training pass computed (batch normalisation).
    fn take_running(&mut self, running: Vec<(Vec<f32>, Vec<f32>)>);
    /// Each layer, in order, with its weights, output shape and parameter count.
    fn nodes(&self) -> Vec<Node>;

    /// The gradient of `objective` (one number made from the batch's scores: a class's score,
    /// the loss) with respect to every input value, `[batch, 1, 28, 28]` flattened: how much the
    /// objective grows as each pixel (on the 0..1 scale) grows. Inference (dropout off). What
    /// saliency maps and adversarial nudges are made of ([`crate::explain`]).
    fn input_gradient(&self, images: Input<NoneTape>, objective: impl FnOnce(Output<OwnedTape<f32, Cpu>>) -> Tensor<Rank0, f32, Cpu, OwnedTape<f32, Cpu>>) -> Vec<f32>;

    /// Scores (logits) for a batch: inference, so dropout (if any) is off.
    fn forward<T: Tape<f32, Cpu>>(&self, x: Input<T>) -> Output<T> {
        self.forward_with(x, &mut Ctx::inference())
    }
    /// Loads a network of this type saved by [`Network::save`] (Keras's `load_model`): a file of
    /// another network is refused, naming the first tensor that does not match.
    fn load(path: &Path) -> Result<Self> {
        super::file::load(path)
    }
    /// Saves the weights as safetensors, atomically (Keras's `model.save`).
    fn save(&self, path: &Path) -> Result<()> {
        super::file::save(self, path)
    }
    /// Each layer's output shape and parameter count, as Keras's `model.summary()` prints them.
    fn summary(&self) -> Summary {
        Summary::of(&self.nodes())
    }
    /// The layers and their settings in one line (`Conv2D(1->32, 3x3, stride 1, valid) -> ReLU
    /// -> ...`): what a checkpoint must match to be resumed by this network.
    fn architecture(&self) -> String {
        self.nodes().iter().map(|n| n.op.describe()).collect::<Vec<_>>().join(" -> ")
    }
    /// Every layer's output for one image (0-255 pixels), beside the layer: what the network
    /// makes of it, step by step.
    fn activations(&self, pixels: &[u8]) -> Vec<(Node, Vec<f32>)> {
        let x = crate::data::one_image(&self.device(), pixels);
        let mut ctx = Ctx::recording();
        let _ = self.forward_with(x, &mut ctx);
        self.nodes().into_iter().zip(ctx.recorded()).collect()
    }
}

impl<L> Network for Sequential<L>
where
    L: Layer<InputShape, Out = (Const<CLASSES>,)>,
{
    fn build(dev: &Cpu) -> Self {
        // Every layer's width checks, at compile time (see `Layer::FITS`).
        #[allow(clippy::let_unit_value)]
        let () = L::FITS;
        Sequential { layers: BuildModule::build(dev) }
    }

    fn device(&self) -> Cpu {
        let mut first = FirstDevice(None);
        let _ = Self::iter_tensors(&mut RecursiveWalker { m: self, f: &mut first });
        first.0.unwrap_or_default()
    }

    fn forward_with<T: Tape<f32, Cpu>>(&self, x: Input<T>, ctx: &mut Ctx) -> Output<T> {
        self.layers.flow(Ready::input(x), ctx).ready().tensor
    }

    fn input_gradient(&self, images: Input<NoneTape>, objective: impl FnOnce(Output<OwnedTape<f32, Cpu>>) -> Tensor<Rank0, f32, Cpu, OwnedTape<f32, Cpu>>) -> Vec<f32> {
        let model = with_fresh_ids(self);
        // Not `Ready::input`: the first layer must pass the gradient on to the pixels.
        let traced = images.clone().traced(Gradients::leaky());
        let scores = model.layers.flow(Ready::new(traced), &mut Ctx::inference()).ready().tensor;
        objective(scores).backward().get(&images).as_vec()
    }

    fn take_running(&mut self, running: Vec<(Vec<f32>, Vec<f32>)>) {
        self.layers.take_running(&mut running.into_iter());
    }

    fn nodes(&self) -> Vec<Node> {
        let mut nodes = Vec::new();
        self.layers.nodes(&mut nodes);
        nodes
    }
}

impl<L> Sequential<L> {
    /// A new network with random initial weights drawn from `dev` (see [`super::device`]). A stack that
    /// does not fit is refused here, by the compiler, with the first layer that does not fit.
    pub fn build(dev: &Cpu) -> Self
    where
        Self: Network,
    {
        <Self as Network>::build(dev)
    }
}

/// The same network in new tensors, made by the code that runs now. The tape keys gradients by
/// tensor id, and in a notebook each cell's code counts ids from zero with its own copy of dfdx
/// (it links its own), so a network made in an earlier cell can share ids with the tensors of
/// this cell's pass, and their gradients would be mixed. Call it before a pass with a tape.
pub(crate) fn with_fresh_ids<N: Network>(model: &N) -> N {
    model.to_device(&model.device())
}

/// Finds the device of a network's first tensor.
struct FirstDevice(Option<Cpu>);

impl TensorVisitor<f32, Cpu> for FirstDevice {
    type Viewer = ViewTensorRef;
    type Err = ();
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(&mut self, _: TensorOptions<S, f32, Cpu>, t: &Tensor<S, f32, Cpu>) -> std::result::Result<Option<Tensor<S, f32, Cpu>>, ()> {
        self.0.get_or_insert_with(|| t.device().clone());
        Ok(None)
    }
}
