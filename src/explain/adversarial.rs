//! How to fool the network: the fast gradient sign method (Goodfellow, Shlens and Szegedy, 2015).
//! Every pixel moves by the same small amount, up or down, whichever way raises the loss of the
//! right answer: a change spread thin over the whole image, too faint for a person to read as a
//! stroke, but aimed exactly where the network is sensitive.
//!
//! [`fgsm`] takes one step of size epsilon; [`fool`] takes small steps, reading the gradient
//! again after each, until the network changes its mind (the basic iterative method of Kurakin,
//! Goodfellow and Bengio, 2017), which finds a smaller change; [`robustness`] measures a
//! network's accuracy on a whole split against the size of the step.
use dfdx::prelude::*;

use crate::data::{normalise, Split, CLASSES, PIXELS};
use crate::model::{argmax, Network};

use super::{batch_of, one_hot, probabilities_of};

/// For each image (0..1 values, 784 each) the direction, +1, -1 or 0 per pixel, that raises the
/// cross-entropy loss of its `labels` fastest: the sign of the loss's gradient.
pub fn directions<N: Network>(model: &N, images: &[f32], labels: &[usize]) -> Vec<f32> {
    let dev = model.device();
    let targets = one_hot(&dev, labels);
    let gradient = model.input_gradient(batch_of(&dev, images), |scores| cross_entropy_with_logits_loss(scores, targets));
    gradient.iter().map(|&g| if g > 0.0 { 1.0 } else if g < 0.0 { -1.0 } else { 0.0 }).collect()
}

/// One step of the fast gradient sign method: every pixel of `image` (0..1) moved by `epsilon`
/// against the network's reading of it as `label`, and kept within 0..1.
pub fn fgsm<N: Network>(model: &N, image: &[f32], label: usize, epsilon: f32) -> Vec<f32> {
    nudge(image, &directions(model, image, &[label]), epsilon, image, epsilon)
}

/// `image + step * direction`, within `most` of `original` and within 0..1.
fn nudge(image: &[f32], direction: &[f32], step: f32, original: &[f32], most: f32) -> Vec<f32> {
    image
        .iter()
        .zip(direction)
        .zip(original)
        .map(|((&x, &d), &o)| (x + step * d).clamp(o - most, o + most).clamp(0.0, 1.0))
        .collect()
}

/// A digit the network was made to misread.
#[derive(Debug, Clone, PartialEq)]
pub struct Fooled {
    /// The nudged image, 0..1 values.
    pub image: Vec<f32>,
    /// What the network now reads, and its ten probabilities for the nudged image.
    pub predicted: usize,
    pub probabilities: [f32; CLASSES],
    /// Steps taken.
    pub steps: usize,
    /// The largest change of any pixel (0..1): at most `steps * step`.
    pub change: f32,
    /// How many pixels changed at all.
    pub changed: usize,
}

impl Fooled {
    /// The change made to each pixel (nudged minus original), 784 values in -1..1.
    pub fn difference(&self, pixels: &[u8]) -> Vec<f32> {
        self.image.iter().zip(pixels).map(|(&x, &p)| x - normalise(p)).collect()
    }
}

/// Nudges `pixels` (0-255, a digit the network reads as `label`) by steps of `step` (0..1
/// scale), each in the direction of [`directions`] at the nudged image, every pixel kept within
/// `most` of where it started, until the network reads another digit. `None` when it still
/// reads `label` after `most / step` steps (or when it did not read `label` to begin with: a
/// digit already misread needs no fooling).
pub fn fool<N: Network>(model: &N, pixels: &[u8], label: usize, step: f32, most: f32) -> Option<Fooled> {
    assert_eq!(pixels.len(), PIXELS, "a digit has 28 x 28 pixels");
    let original: Vec<f32> = pixels.iter().map(|&p| normalise(p)).collect();
    if argmax(&probabilities_of(model, &original)[0]) != label {
        return None;
    }
    let mut image = original.clone();
    let most_steps = (most / step).round().max(1.0) as usize;
    for steps in 1..=most_steps {
        image = nudge(&image, &directions(model, &image, &[label]), step, &original, most);
        let probabilities = probabilities_of(model, &image)[0];
        let predicted = argmax(&probabilities);
        if predicted != label {
            let change = image.iter().zip(&original).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            let changed = image.iter().zip(&original).filter(|(a, b)| a != b).count();
            return Some(Fooled { image, predicted, probabilities, steps, change, changed });
        }
    }
    None
}

/// A network's accuracy on nudged images, for each size of nudge.
#[derive(Debug, Clone, PartialEq)]
pub struct Robustness {
    /// `(epsilon, accuracy)`: epsilon 0 is the plain accuracy.
    pub points: Vec<(f32, f64)>,
    /// Images the accuracy was measured on.
    pub images: usize,
}

/// The accuracy on `split` when every image is first moved one fast-gradient-sign step of each
/// size in `epsilons` (0..1 scale) against its own label.
pub fn robustness<N: Network>(model: &N, split: &Split, epsilons: &[f32]) -> Robustness {
    let mut correct = vec![0usize; epsilons.len()];
    for start in (0..split.len()).step_by(500) {
        let end = (start + 500).min(split.len());
        let images: Vec<f32> = (start..end).flat_map(|i| split.image(i).iter().map(|&p| normalise(p))).collect();
        let labels: Vec<usize> = split.labels[start..end].iter().map(|&l| l as usize).collect();
        let direction = crate::cpu::on_a_worker(|| directions(model, &images, &labels));
        for (e, &epsilon) in epsilons.iter().enumerate() {
            let nudged = nudge(&images, &direction, epsilon, &images, epsilon);
            let read = probabilities_of(model, &nudged);
            correct[e] += read.iter().zip(&labels).filter(|(p, &l)| argmax(&p[..]) == l).count();
        }
    }
    let n = split.len().max(1) as f64;
    Robustness { points: epsilons.iter().zip(correct).map(|(&e, c)| (e, c as f64 / n)).collect(), images: split.len() }
}

/// The nudge sizes the reports and the notebook measure: 0 to 0.3 of the pixel range.
pub const EPSILONS: [f32; 7] = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3];
