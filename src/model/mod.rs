//! Networks: [`Sequential`] makes any well-shaped stack of the library's layers a [`Network`]
//! to train, evaluate, save, export and look inside; the lesson's network ([`Lesson`]) and a
//! better one ([`better`]) are such stacks, each defined in one place.
use dfdx::prelude::*;

use crate::data::{Images, Split, CLASSES};

pub mod better;
mod file;
mod lesson;
mod network;

pub use crate::layers::{thousands, LayerSummary, Summary};
pub use file::{load_bytes_into, load_into, save};
pub use lesson::{Lesson, Model};
pub use network::{Input, InputShape, Network, Output, Sequential};
pub(crate) use network::with_fresh_ids;

/// The model's output for a batch: `[batch, 10]`.
pub type Logits = Tensor<(usize, Const<10>), f32, Cpu>;

/// A CPU device whose random numbers (initial weights) come from `seed`.
pub fn device(seed: u64) -> Cpu {
    Cpu::seed_from_u64(seed)
}

/// A new lesson model with random initial weights drawn from `dev` (`Model::build`).
pub fn build(dev: &Cpu) -> Model {
    Model::build(dev)
}

/// Loads the lesson's model saved by [`save`] (`Model::load`; any network: `N::load`).
pub fn load(path: &std::path::Path) -> crate::Result<Model> {
    Model::load(path)
}

/// Softmax of the logits: ten probabilities per image that sum to 1.
pub fn probabilities<N: Network>(model: &N, images: Images) -> Vec<[f32; CLASSES]> {
    let batch = images.shape().0;
    let forward = || model.forward(images).softmax::<Axis<1>>().as_vec();
    // A batch on one of rayon's threads (see `on_a_worker`); a single image on this one.
    let probs = if batch > 1 { crate::cpu::on_a_worker(forward) } else { forward() };
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

/// The model's ten probabilities for every image of `split`, in batches of 1,000.
pub fn predict_all<N: Network>(model: &N, split: &Split) -> Vec<[f32; CLASSES]> {
    let dev = model.device();
    (0..split.len())
        .step_by(1000)
        .flat_map(|start| probabilities(model, split.range(&dev, start..(start + 1000).min(split.len())).0))
        .collect()
}
