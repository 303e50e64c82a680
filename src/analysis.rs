//! Where the model fails and what it learned: the confusion matrix, the misclassified digits, and
//! the feature maps of one digit.
use crate::data::{Split, CLASSES};
use crate::layers::Op;
use crate::model::{self, argmax, Network};

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

/// A layer's output for one image: `values` of `shape` (channels first), after `layer`.
#[derive(Debug, Clone, PartialEq)]
pub struct Maps {
    pub layer: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// What the first convolution makes of one digit (0-255 pixels): its feature maps (after its
/// activation, if one follows it) and those maps after the pooling that follows, if any,
/// computed by the network's own layers. `None` for a network without a convolution.
pub fn first_maps<N: Network>(model: &N, pixels: &[u8]) -> Option<(Maps, Option<Maps>)> {
    let layers = model.activations(pixels);
    let conv = layers.iter().position(|(n, _)| matches!(n.op, Op::Conv2D { .. }))?;
    let maps = |i: usize| -> Maps {
        let (node, values) = &layers[i];
        Maps { layer: node.op.name(), shape: node.shape.clone(), values: values.clone() }
    };
    let mut at = conv;
    let mut activated = maps(at);
    if layers.get(at + 1).is_some_and(|(n, _)| n.op.is_activation()) {
        at += 1;
        activated = Maps { layer: format!("{} + {}", activated.layer, layers[at].0.op.name()), ..maps(at) };
    }
    let pooled = layers.get(at + 1).filter(|(n, _)| matches!(n.op, Op::MaxPool2D { .. } | Op::AvgPool2D { .. })).map(|_| maps(at + 1));
    Some((activated, pooled))
}

/// What the first layers make of one digit (0-255 pixels): the maps after the first Conv2D (and
/// its activation) and after the pooling that follows it, flattened (for the lesson `[32, 26,
/// 26]` and `[32, 13, 13]`); empty where the network has no such layer.
pub fn feature_maps<N: Network>(model: &N, pixels: &[u8]) -> (Vec<f32>, Vec<f32>) {
    match first_maps(model, pixels) {
        Some((activated, pooled)) => (activated.values, pooled.map(|p| p.values).unwrap_or_default()),
        None => (Vec::new(), Vec::new()),
    }
}

/// The learned filters of the first Conv2D, `[filters, inp * k * k]` flattened (the lesson's:
/// 32 of 3x3); empty for a network without a convolution.
pub fn filters<N: Network>(model: &N) -> Vec<f32> {
    model.nodes().into_iter().find_map(|n| match n.op {
        Op::Conv2D { weight, .. } => Some(weight),
        _ => None,
    }).unwrap_or_default()
}
