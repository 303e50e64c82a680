//! `explain`: looking at what a trained network does with a digit, from its gradient with respect
//! to the pixels ([`crate::model::Network::input_gradient`]): which pixels it looks at
//! ([`saliency`]), and how little it takes to fool it ([`adversarial`]).
pub mod adversarial;
pub mod saliency;

use dfdx::prelude::*;

use crate::data::{CLASSES, PIXELS};
use crate::model::{Input, Network};

/// A batch of images given as 0..1 values (a nudged digit need not be whole 0-255 levels).
pub(crate) fn batch_of(dev: &Cpu, images: &[f32]) -> Input<NoneTape> {
    assert!(images.len().is_multiple_of(PIXELS), "images of 28 x 28 values");
    dev.tensor_from_vec(images.to_vec(), (images.len() / PIXELS, Const, Const, Const))
}

/// The network's ten probabilities for each image of 0..1 values.
pub fn probabilities_of<N: Network>(model: &N, images: &[f32]) -> Vec<[f32; CLASSES]> {
    crate::model::probabilities(model, batch_of(&model.device(), images))
}

/// `[batch, 10]` one-hot rows for `classes`.
pub(crate) fn one_hot(dev: &Cpu, classes: &[usize]) -> Tensor<(usize, Const<CLASSES>), f32, Cpu> {
    let mut rows = vec![0.0; classes.len() * CLASSES];
    for (i, &c) in classes.iter().enumerate() {
        rows[i * CLASSES + c] = 1.0;
    }
    dev.tensor_from_vec(rows, (classes.len(), Const))
}

/// The network's ten scores (before the softmax) for each image of 0..1 values.
pub fn scores_of<N: Network>(model: &N, images: &[f32]) -> Vec<[f32; CLASSES]> {
    let scores = model.forward(batch_of(&model.device(), images)).as_vec();
    scores.chunks_exact(CLASSES).map(|c| c.try_into().expect("ten scores")).collect()
}
