//! The lesson's CNN as one type, its summary, its probabilities, and its file.
use std::{fmt, path::Path};

use dfdx::nn::builders::ReLU;
use dfdx::prelude::*;
use ::safetensors::tensor::{Dtype as SafeDtype, SafeTensors};

use crate::data::{Images, CLASSES, SIDE};
use crate::error::{Error, Result};
use crate::fsutil::{self, write_atomic_with};
use crate::layers::{self, builder::{Conv2D, Dense}, conv_relu_pool, Flatten, InputGradient, MaxPool2D};

/// The lesson's network, layer by layer as Keras lists it; the comments give each output shape.
///
/// Keras: `Sequential([Conv2D(32, (3,3), activation="relu", input_shape=(28,28,1)),
/// MaxPooling2D((2,2)), Flatten(), Dense(128, activation="relu"), Dense(10, activation="softmax")])`.
/// A Keras layer with `activation="relu"` is a layer followed by a [`ReLU`] here. The last layer
/// gives logits (scores): [`probabilities`] applies the softmax, and training applies it inside
/// the cross-entropy, which is the numerically safe way.
pub type Lesson = (
    (Conv2D<1, 32, 3>, ReLU),  // [batch, 32, 26, 26]: 32 filters of 3x3 slide over the 28x28 image
    MaxPool2D<2>,              // [batch, 32, 13, 13]: the highest value of each 2x2 block
    Flatten,                   // [batch, 5408]:       32 * 13 * 13 values in one row
    (Dense<5408, 128>, ReLU), // [batch, 128]:        the dense (fully connected) layer
    Dense<128, 10>,           // [batch, 10]:         one score per digit
);

/// The lesson's network with its weights, on the CPU: what [`build`] makes of [`Lesson`].
pub type Model = (
    (layers::Conv2D<1, 32, 3, f32, Cpu>, ReLU),
    MaxPool2D<2>,
    Flatten,
    (layers::Dense<5408, 128, f32, Cpu>, ReLU),
    layers::Dense<128, 10, f32, Cpu>,
);

/// The model's output for a batch: `[batch, 10]`.
pub type Logits = Tensor<(usize, Const<10>), f32, Cpu>;

/// A CPU device whose random numbers (initial weights) come from `seed`.
pub fn device(seed: u64) -> Cpu {
    Cpu::seed_from_u64(seed)
}

/// A new model with random initial weights drawn from `dev`.
pub fn build(dev: &Cpu) -> Model {
    dev.build_module::<Lesson, f32>()
}

/// A batch of images, with or without a gradient tape: `[batch, 1, 28, 28]`.
pub type Input<T> = Tensor<(usize, Const<1>, Const<SIDE>, Const<SIDE>), f32, Cpu, T>;

/// A batch of scores, one per class: `[batch, 10]`.
pub type Output<T> = Tensor<(usize, Const<CLASSES>), f32, Cpu, T>;

/// What [`crate::train::fit`], [`crate::train::evaluate`], [`save`] and [`load`] need of a network:
/// the lesson's [`Model`] and the [`crate::better::BetterModel`] both are one.
pub trait Network: TensorCollection<f32, Cpu> + Sized + Send + Sync {
    /// The network's name in file names, checkpoints and messages (`lesson`, `better`).
    const NAME: &'static str;
    /// A new network with random initial weights drawn from `dev`.
    fn build(dev: &Cpu) -> Self;
    /// The device its weights live on.
    fn device(&self) -> Cpu;
    /// Scores (logits) for a batch: inference, so dropout (if any) is off.
    fn forward<T: Tape<f32, Cpu>>(&self, x: Input<T>) -> Output<T>;
    /// Scores for a training batch: dropout (if any) is on and draws its masks from `rng`, so that
    /// a run is a function of its seed. Without dropout, the same as [`Network::forward`].
    fn forward_train(&self, x: Input<OwnedTape<f32, Cpu>>, rng: &mut rand::rngs::StdRng) -> Output<OwnedTape<f32, Cpu>> {
        let _ = rng;
        self.forward(x)
    }
    /// Each layer's output shape and parameter count, as Keras's `model.summary()` prints them.
    fn summary(&self) -> Summary;
}

impl Network for Model {
    const NAME: &'static str = "lesson";

    fn build(dev: &Cpu) -> Self {
        dev.build_module::<Lesson, f32>()
    }

    fn device(&self) -> Cpu {
        self.0 .0.weight.device().clone()
    }

    fn forward<T: Tape<f32, Cpu>>(&self, x: Input<T>) -> Output<T> {
        forward(self, x)
    }

    fn summary(&self) -> Summary {
        summary(self)
    }
}

/// The model's forward pass: the same numbers as dfdx's `model.forward(x)`, which runs the
/// layers one after the other, with Conv2D, ReLU and MaxPool2D fused into one pass over each
/// image (see [`crate::layers::conv_relu_pool`]), and no gradient computed for the input images.
/// Works with or without a gradient tape on `x`.
pub fn forward<T: Tape<f32, Cpu>>(model: &Model, x: Input<T>) -> Output<T> {
    let x = conv_relu_pool(&model.0 .0, &model.1, x, InputGradient::Skip).expect("the CPU kernels do not fail");
    let x = model.2.forward(x);
    let x = model.3.forward(x);
    model.4.forward(x)
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

/// One row of [`Summary`]: a layer, its output shape and its number of parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerSummary {
    pub name: &'static str,
    /// Output shape without the batch axis, channels first.
    pub shape: Vec<usize>,
    pub params: usize,
}

/// What Keras's `model.summary()` prints: each layer's output shape and parameter count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub layers: Vec<LayerSummary>,
}

impl Summary {
    pub fn total_params(&self) -> usize {
        self.layers.iter().map(|l| l.params).sum()
    }
}

/// Runs one blank image through the model layer by layer and records what comes out, so the
/// shapes shown are the ones the code really produces.
pub fn summary(model: &Model) -> Summary {
    let dev = model.0 .0.weight.device().clone();
    let x: Images = dev.zeros_like(&(1, Const, Const::<SIDE>, Const::<SIDE>));
    let row = |name, shape: &[usize], params| LayerSummary { name, shape: shape[1..].to_vec(), params };
    let x = model.0.forward(x);
    let conv = row("Conv2D + ReLU", &x.shape().concrete(), model.0.num_trainable_params());
    let x = model.1.forward(x);
    let pool = row("MaxPool2D", &x.shape().concrete(), 0);
    let x = model.2.forward(x);
    let flat = row("Flatten", &x.shape().concrete(), 0);
    let x = model.3.forward(x);
    let dense = row("Dense + ReLU", &x.shape().concrete(), model.3.num_trainable_params());
    let x = model.4.forward(x);
    let out = row("Dense", &x.shape().concrete(), model.4.num_trainable_params());
    Summary { layers: vec![conv, pool, flat, dense, out] }
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

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = "─".repeat(62);
        writeln!(f, "{:<20} {:<26} {:>14}", "Layer", "Output shape", "Param #")?;
        writeln!(f, "{line}")?;
        for l in &self.layers {
            let shape = format!("[batch, {}]", l.shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "));
            writeln!(f, "{:<20} {:<26} {:>14}", l.name, shape, thousands(l.params))?;
        }
        writeln!(f, "{line}")?;
        write!(f, "Total params: {}", thousands(self.total_params()))
    }
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
    let bad = |problem: String| Error::BadModel {
        path: path.to_path_buf(),
        problem,
        fix: "Train a model with `mnist-cnn train`, or point --model at a file that it saved.".into(),
    };
    let bytes = fsutil::read(path, "Train a model first with `mnist-cnn train` (or point --model at one).")?;
    let file = SafeTensors::deserialize(&bytes)
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
