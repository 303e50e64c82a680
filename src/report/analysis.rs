//! Where the model fails and what it learned: the confusion matrix, the misclassified digits, and
//! the feature maps of one digit.
use crate::data::{Split, CLASSES};
use crate::layers::Op;
use dfdx::prelude::*;

use crate::layers::{Conv2D, MaxPool2D};
use crate::model::{argmax, Network};

/// The lesson's probabilities for a whole split (kept here, where the notebooks look for it).
pub use crate::model::predict_all;

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

/// The image the model is least sure of: the one whose highest probability is the lowest
/// (`None` for no images). On an ambiguous digit two or three answers share the probability.
pub fn least_sure(probabilities: &[[f32; CLASSES]]) -> Option<usize> {
    let top = |p: &[f32; CLASSES]| p[argmax(p)];
    (0..probabilities.len()).min_by(|&a, &b| top(&probabilities[a]).total_cmp(&top(&probabilities[b])))
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

// What one filter and one pooling make of an image, for the pictures and the exercises.

/// The vertical-edge filter of the pooling picture: each output is (left column) - (right
/// column) of a 3x3 patch, so it is positive on a stroke's right edge (ink on the left, dark on
/// the right) and negative on its left edge.
pub const VERTICAL_EDGE: [[f32; 3]; 3] = [[1.0, 0.0, -1.0], [1.0, 0.0, -1.0], [1.0, 0.0, -1.0]];

/// A small grid of numbers for the 2x2 max-pooling picture.
pub const POOL_EXAMPLE: [[f32; 4]; 4] = [[1.0, 3.0, 2.0, 1.0], [4.0, 6.0, 5.0, 0.0], [3.0, 1.0, 1.0, 2.0], [0.0, 2.0, 7.0, 4.0]];

/// `image` (0-255) through a one-filter [`Conv2D`] holding `filter`, as the model's first
/// layer would compute it: `[26 x 26]` responses.
pub fn filter_response(image: &[u8], filter: [[f32; 3]; 3]) -> Vec<f32> {
    let dev: Cpu = Default::default();
    let conv = Conv2D::<1, 1, 3> { weight: dev.tensor([[filter]]), bias: dev.zeros(), padding: Default::default() };
    let x = dev.tensor_from_vec(image.iter().map(|&p| p as f32 / 255.0).collect(), (1usize, Const::<1>, Const::<28>, Const::<28>));
    conv.forward(x).as_vec()
}

/// `values` (`side x side`, one channel) through [`MaxPool2D<2>`]: `side/2 x side/2` maxima.
pub fn max_pool_2x2<const S: usize>(values: &[f32]) -> Vec<f32>
where
    Const<S>: crate::layers::dims::PoolOut<2, 2>,
{
    let dev: Cpu = Default::default();
    let x = dev.tensor_from_vec(values.to_vec(), (1usize, Const::<1>, Const::<S>, Const::<S>));
    MaxPool2D::<2>.forward(x).as_vec()
}

/// Where `filter` answers most strongly on `pixels` (the top-left corner of that 3x3 window).
pub fn strongest_window(pixels: &[u8], filter: [[f32; 3]; 3]) -> (usize, usize) {
    let response = filter_response(pixels, filter);
    let best = (0..response.len()).max_by(|&a, &b| response[a].total_cmp(&response[b])).unwrap_or(0);
    (best / 26, best % 26)
}

// What the network looks at, and how it is fooled (src/explain), for the pictures.

/// Test digit `index` of `split` with the network's reading and its saliency: the map of its
/// answer, and for a mistake also the map of the true digit.
pub fn looked<N: Network>(model: &N, split: &Split, index: usize, probabilities: &[f32; CLASSES]) -> crate::explain::saliency::Looked {
    use crate::explain::saliency::saliency;
    let (pixels, label) = (split.image(index), split.labels[index] as usize);
    let predicted = argmax(probabilities);
    let mut maps = vec![(predicted, saliency(model, pixels, predicted))];
    if predicted != label {
        maps.push((label, saliency(model, pixels, label)));
    }
    crate::explain::saliency::Looked { pixels: pixels.to_vec(), label, predicted, probability: probabilities[predicted], maps }
}

/// The first `count` digits of `split` (from `start`) that the network reads right and that
/// steps of `step` (up to `most` per pixel) make it misread: each with its label, the
/// probability it gave the label, and the fooled digit.
pub fn fooled<N: Network>(model: &N, split: &Split, start: usize, count: usize, (step, most): (f32, f32)) -> Vec<(Vec<u8>, usize, f32, crate::explain::adversarial::Fooled)> {
    (start..split.len())
        .filter_map(|i| {
            let (pixels, label) = (split.image(i), split.labels[i] as usize);
            let p = crate::app::predict::probabilities(model, pixels)[label];
            crate::explain::adversarial::fool(model, pixels, label, step, most).map(|f| (pixels.to_vec(), label, p, f))
        })
        .take(count)
        .collect()
}

/// The step and the largest change the reports and the page fool the network with: steps of
/// 1% of the pixel range, at most 30%.
pub const FOOLING: (f32, f32) = (0.01, 0.3);
