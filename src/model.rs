//! A network is its stack of layers: [`Sequential`] makes any well-shaped tuple of the library's
//! layers something to train, evaluate, save, export and look inside. Here too: the lesson's
//! network, its probabilities, and its file.
use std::path::Path;

use dfdx::prelude::*;
use ::safetensors::tensor::{Dtype as SafeDtype, SafeTensors};

use crate::data::{Images, CLASSES, SIDE};
use crate::error::{Error, Result};
use crate::fsutil::{self, write_atomic_with};
use crate::layers::{Conv2D, Ctx, Dense, Flatten, Flow, Layer, MaxPool2D, Node, Ready, ReLU};

pub use crate::layers::{LayerSummary, Summary};

/// The lesson's network, layer by layer as Keras lists it; the comments give each output shape.
///
/// Keras: `Sequential([Conv2D(32, (3,3), activation="relu", input_shape=(28,28,1)),
/// MaxPooling2D((2,2)), Flatten(), Dense(128, activation="relu"), Dense(10, activation="softmax")])`.
/// A Keras layer with `activation="relu"` is a pair `(layer, ReLU)` here. The last layer gives
/// logits (scores): [`probabilities`] applies the softmax, and training applies it inside the
/// cross-entropy, which is the numerically safe way.
pub type Lesson = (
    (Conv2D<1, 32, 3>, ReLU), // [batch, 32, 26, 26]: 32 filters of 3x3 slide over the 28x28 image
    MaxPool2D<2>,             // [batch, 32, 13, 13]: the highest value of each 2x2 block
    Flatten,                  // [batch, 5408]:       32 * 13 * 13 values in one row
    (Dense<5408, 128>, ReLU), // [batch, 128]:        the dense (fully connected) layer
    Dense<128, 10>,           // [batch, 10]:         one score per digit
);

/// The lesson's network with its weights: what [`build`] makes.
pub type Model = Sequential<Lesson>;

/// The model's output for a batch: `[batch, 10]`.
pub type Logits = Tensor<(usize, Const<10>), f32, Cpu>;

/// A CPU device whose random numbers (initial weights) come from `seed`.
pub fn device(seed: u64) -> Cpu {
    Cpu::seed_from_u64(seed)
}

/// A new lesson model with random initial weights drawn from `dev`.
pub fn build(dev: &Cpu) -> Model {
    Model::build(dev)
}

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
/// What [`crate::train::fit`], [`crate::train::evaluate`], [`save`], the exporters and the
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

    /// Scores (logits) for a batch: inference, so dropout (if any) is off.
    fn forward<T: Tape<f32, Cpu>>(&self, x: Input<T>) -> Output<T> {
        self.forward_with(x, &mut Ctx::inference())
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
    /// A new network with random initial weights drawn from `dev` (see [`device`]). A stack that
    /// does not fit is refused here, by the compiler, with the first layer that does not fit.
    pub fn build(dev: &Cpu) -> Self
    where
        Self: Network,
    {
        <Self as Network>::build(dev)
    }
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

/// Softmax of the logits: ten probabilities per image that sum to 1.
pub fn probabilities<N: Network>(model: &N, images: Images) -> Vec<[f32; CLASSES]> {
    let batch = images.shape().0;
    let forward = || model.forward(images).softmax::<Axis<1>>().as_vec();
    // A batch on one of rayon's threads (see `on_a_worker`); a single image on this one.
    let probs = if batch > 1 { crate::train::on_a_worker(forward) } else { forward() };
    probs.chunks_exact(CLASSES).map(|c| c.try_into().unwrap()).collect()
}

/// The index of the largest value: the predicted digit.
pub fn argmax(scores: &[f32]) -> usize {
    scores.iter().enumerate().fold(0, |best, (i, &v)| if v > scores[best] { i } else { best })
}

/// Each layer's output shape and parameter count (Keras's `model.summary()`).
pub fn summary<N: Network>(model: &N) -> Summary {
    model.summary()
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Saves the weights as safetensors, atomically.
pub fn save<N: Network>(model: &N, path: &Path) -> Result<()> {
    write_atomic_with(path, |tmp| {
        model.save_safetensors(tmp).map_err(|e| Error::BadModel {
            path: path.to_path_buf(),
            problem: format!("could not be written: {e}"),
            fix: "Check that the folder is writable and the disk is not full.".into(),
        })
    })
}

/// Loads the lesson's model saved by [`save`] (see [`load_network`]).
pub fn load(path: &Path) -> Result<Model> {
    load_network(path)
}

/// Loads a network saved by [`save`]. A file that is not safetensors, or that holds tensors of
/// other names, types or shapes (another model), is refused with the name of the culprit.
pub fn load_network<N: Network>(path: &Path) -> Result<N> {
    let mut model = N::build(&device(0));
    load_into(&mut model, path)?;
    Ok(model)
}

/// Loads the weights in `path` into `model` (all of them or, on error, none).
pub fn load_into<M: TensorCollection<f32, Cpu>>(model: &mut M, path: &Path) -> Result<()> {
    let bytes = fsutil::read(path, "Train a model first with `mnist-cnn train` (or point --model at one).")?;
    load_bytes_into(model, &bytes, path)
}

/// [`load_into`] from the file's bytes (`path` names it in errors).
pub fn load_bytes_into<M: TensorCollection<f32, Cpu>>(model: &mut M, bytes: &[u8], path: &Path) -> Result<()> {
    let bad = |problem: String| Error::BadModel {
        path: path.to_path_buf(),
        problem,
        fix: "Train a model with `mnist-cnn train`, or point --model at a file that it saved.".into(),
    };
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| bad(format!("is not a safetensors model file ({e:?}); it may be truncated or corrupt")))?;
    let mut staged = Vec::new();
    let mut reader = Reader { file: &file, staged: &mut staged, problem: None };
    M::iter_tensors(&mut RecursiveWalker { m: (&*model, String::new()), f: &mut reader })
        .map_err(|_| ())
        .ok();
    if let Some(p) = reader.problem {
        return Err(bad(p));
    }
    let expected: Vec<&str> = staged.iter().map(|(n, _)| n.as_str()).collect();
    if let Some(extra) = file.names().into_iter().find(|n| !expected.contains(&n.as_str())) {
        return Err(bad(format!("holds a tensor `{extra}` that this model does not have: it is another model")));
    }
    let mut writer = Writer { staged: staged.into_iter() };
    M::iter_tensors(&mut RecursiveWalker { m: model, f: &mut writer })?;
    Ok(())
}

/// Checks every tensor of the file against the model and stages its values.
struct Reader<'a, 'f> {
    file: &'a SafeTensors<'f>,
    staged: &'a mut Vec<(String, Vec<f32>)>,
    problem: Option<String>,
}

impl TensorVisitor<f32, Cpu> for Reader<'_, '_> {
    type Viewer = (ViewTensorRef, ViewTensorName);
    type Err = ();
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, f32, Cpu>,
        (t, name): (&Tensor<S, f32, Cpu>, String),
    ) -> Result<Option<Tensor<S, f32, Cpu>>, ()> {
        let want: Vec<usize> = t.shape().concrete().into_iter().collect();
        let fail = |this: &mut Self, p: String| {
            this.problem.get_or_insert(p);
            Err(())
        };
        let view = match self.file.tensor(&name) {
            Ok(v) => v,
            Err(_) => return fail(self, format!("has no tensor `{name}`: it was saved by another model")),
        };
        if view.dtype() != SafeDtype::F32 {
            return fail(self, format!("tensor `{name}` is {:?}, but this model uses F32", view.dtype()));
        }
        if view.shape() != want.as_slice() {
            return fail(
                self,
                format!(
                    "tensor `{name}` has shape {:?}, but this model needs {want:?}: it was saved by another model",
                    view.shape()
                ),
            );
        }
        let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        self.staged.push((name, values));
        Ok(None)
    }
}

/// Copies the staged values into the model, in the same visiting order.
struct Writer {
    staged: std::vec::IntoIter<(String, Vec<f32>)>,
}

impl TensorVisitor<f32, Cpu> for Writer {
    type Viewer = ViewTensorMut;
    type Err = CpuError;
    type E2 = f32;
    type D2 = Cpu;

    fn visit<S: Shape>(
        &mut self,
        _: TensorOptions<S, f32, Cpu>,
        t: &mut Tensor<S, f32, Cpu>,
    ) -> Result<Option<Tensor<S, f32, Cpu>>, CpuError> {
        let (_, values) = self.staged.next().expect("visited in the same order as Reader");
        t.copy_from(&values);
        Ok(None)
    }
}
