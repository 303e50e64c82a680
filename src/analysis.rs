//! Where the model fails and what it learned: the confusion matrix, the misclassified digits, and
//! the feature maps of one digit.
use dfdx::prelude::*;

use crate::data::{Split, CLASSES};
use crate::model::{self, argmax, Model, Network};

/// `counts[label][predicted]`: how often a digit was taken for each digit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfusionMatrix {
    pub counts: [[usize; CLASSES]; CLASSES],
}

/// A test digit the model got wrong.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Miss {
    /// Its index in the split.
    pub index: usize,
    pub label: u8,
    pub predicted: u8,
    /// The probability the model gave its (wrong) answer.
    pub probability: f32,
}

/// The model's ten probabilities for every image of `split`, in batches of 1,000.
pub fn predict_all<N: Network>(model: &N, split: &Split) -> Vec<[f32; CLASSES]> {
    let dev = model.device();
    (0..split.len())
        .step_by(1000)
        .flat_map(|start| model::probabilities(model, split.range(&dev, start..(start + 1000).min(split.len())).0))
        .collect()
}

impl ConfusionMatrix {
    /// Counts (label, prediction) pairs; `probabilities[i]` belongs to image `i` of `split`.
    pub fn new(split: &Split, probabilities: &[[f32; CLASSES]]) -> Self {
        let mut counts = [[0; CLASSES]; CLASSES];
        for (p, &label) in probabilities.iter().zip(&split.labels) {
            counts[label as usize][argmax(p)] += 1;
        }
        ConfusionMatrix { counts }
    }

    /// Images counted.
    pub fn total(&self) -> usize {
        self.counts.iter().flatten().sum()
    }

    /// Share of all images classified correctly.
    pub fn accuracy(&self) -> f64 {
        (0..CLASSES).map(|d| self.counts[d][d]).sum::<usize>() as f64 / self.total().max(1) as f64
    }

    /// For each digit, the share of its images classified correctly.
    pub fn per_digit_accuracy(&self) -> [f64; CLASSES] {
        std::array::from_fn(|d| self.counts[d][d] as f64 / self.counts[d].iter().sum::<usize>().max(1) as f64)
    }
}

/// The misclassified images of `split`, the most confidently wrong first.
pub fn misclassified(split: &Split, probabilities: &[[f32; CLASSES]]) -> Vec<Miss> {
    let mut misses: Vec<Miss> = probabilities
        .iter()
        .zip(&split.labels)
        .enumerate()
        .filter_map(|(index, (p, &label))| {
            let predicted = argmax(p);
            (predicted != label as usize).then_some(Miss { index, label, predicted: predicted as u8, probability: p[predicted] })
        })
        .collect();
    misses.sort_by(|a, b| b.probability.total_cmp(&a.probability).then(a.index.cmp(&b.index)));
    misses
}

/// What the first layers make of one digit (0-255 pixels): the 32 maps after Conv2D + ReLU
/// (`[32, 26, 26]`, flattened) and after MaxPool2D (`[32, 13, 13]`), computed by the model's
/// own layers one after the other.
pub fn feature_maps(model: &Model, pixels: &[u8]) -> (Vec<f32>, Vec<f32>) {
    let activated = model.0.forward(crate::data::one_image(&model.device(), pixels));
    let pooled = model.1.forward(activated.clone());
    (activated.as_vec(), pooled.as_vec())
}

/// The 32 learned 3x3 filters of the first layer, `[32, 9]` flattened.
pub fn filters(model: &Model) -> Vec<f32> {
    model.0 .0.weight.as_vec()
}
