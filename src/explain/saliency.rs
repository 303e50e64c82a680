//! What the network looks at: which pixels of a digit speak for a class and which against it.
//!
//! The map is *gradient x input*: for each pixel, how fast the class's score grows as the pixel
//! brightens, times how bright it is. Positive where the ink supports the class, negative where
//! it argues for another, zero where there is no ink. The score is the one before the softmax
//! (the logit): once the network is sure, the softmax barely moves and its gradient says little.
//! The plain [`gradient`] also shows where *adding* ink would change the answer.
use dfdx::prelude::*;

use crate::data::{normalise, one_image, PIXELS};
use crate::model::Network;

/// How the score of `class` changes with each pixel of `pixels` (0-255, 28x28), per unit of
/// brightness (0..1): 784 values.
pub fn gradient<N: Network>(model: &N, pixels: &[u8], class: usize) -> Vec<f32> {
    let dev = model.device();
    let pick = super::one_hot(&dev, &[class]);
    model.input_gradient(one_image(&dev, pixels), |scores| (scores * pick).sum::<Rank0, _>())
}

/// The gradient x input map of `class` for a digit: 784 values, positive for ink that speaks for
/// `class`, negative for ink that speaks against it.
pub fn saliency<N: Network>(model: &N, pixels: &[u8], class: usize) -> Vec<f32> {
    assert_eq!(pixels.len(), PIXELS, "a digit has 28 x 28 pixels");
    gradient(model, pixels, class).iter().zip(pixels).map(|(g, &p)| g * normalise(p)).collect()
}

/// A digit and what the network made of it, for the saliency picture (`plots::saliency`): its pixels, its true label, the
/// network's answer with its probability, and the gradient x input map of each class shown.
#[derive(Debug, Clone)]
pub struct Looked {
    pub pixels: Vec<u8>,
    pub label: usize,
    pub predicted: usize,
    pub probability: f32,
    /// `(class, map)`: one map for a digit read right (its answer), two for a mistake (the
    /// answer, then the true label).
    pub maps: Vec<(usize, Vec<f32>)>,
}
