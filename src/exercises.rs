//! Checks for the notebooks' exercises: a student changes a filter, a pool size or a number of
//! filters, and a check says whether the result is right, with a hint when it is not.
use std::fmt;

use crate::plots::filter_response;

/// The verdict of a check cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub right: bool,
    pub message: String,
}

impl Check {
    fn new(right: bool, message: impl Into<String>) -> Check {
        Check { right, message: message.into() }
    }

    pub fn evcxr_display(&self) {
        println!("EVCXR_BEGIN_CONTENT text/plain\n{self}\nEVCXR_END_CONTENT");
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", if self.right { "Right!" } else { "Not yet:" }, self.message)
    }
}

/// A 28x28 test image: bright on one side of a straight edge, dark on the other.
fn edge_image(horizontal: bool) -> Vec<u8> {
    (0..28 * 28).map(|i| if (if horizontal { i / 28 } else { i % 28 }) < 14 { 255 } else { 0 }).collect()
}

/// The strongest response of `filter` anywhere on `image`.
fn strongest(filter: [[f32; 3]; 3], image: &[u8]) -> f32 {
    filter_response(image, filter).iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// Exercise: make a filter that finds horizontal edges (the vertical-edge filter, turned).
/// Right when it answers strongly to a horizontal edge and not at all to a vertical one.
pub fn horizontal_edge_filter(filter: [[f32; 3]; 3]) -> Check {
    let (h, v) = (strongest(filter, &edge_image(true)), strongest(filter, &edge_image(false)));
    if h >= 1.0 && v <= 0.05 * h {
        Check::new(true, format!("it answers {h:.1} to a horizontal edge and {v:.1} to a vertical one."))
    } else if v > 0.05 * h.max(1e-6) {
        Check::new(false, format!("it also answers to vertical edges ({v:.1}). Make each row of the filter sum to 0, with the top row and the bottom row opposite."))
    } else {
        Check::new(false, format!("it hardly answers to a horizontal edge ({h:.1}). Put +1s in one row and -1s in another."))
    }
}

/// Exercise: the side of the feature maps after a 3x3 convolution (no padding) on a 28x28
/// image and a `pool` x `pool` max pooling.
pub fn pooled_side(pool: usize, answer: usize) -> Check {
    let want = (28 - 3 + 1) / pool.max(1);
    if answer == want {
        Check::new(true, format!("28 - 3 + 1 = 26, and 26 / {pool} = {want} (a remainder is dropped)."))
    } else {
        Check::new(false, format!("the convolution leaves 28 - 3 + 1 = 26 pixels per side; pooling by {pool} divides that, dropping any remainder."))
    }
}

/// Exercise: the parameters of the lesson's network with `filters` filters instead of 32.
pub fn parameter_count(filters: usize, answer: usize) -> Check {
    let conv = filters * 3 * 3 + filters;
    let dense = filters * 13 * 13 * 128 + 128;
    let want = conv + dense + 128 * 10 + 10;
    if answer == want {
        Check::new(true, format!("{conv} in Conv2D, {dense} in the first Dense layer, 1,290 in the last: {want}."))
    } else {
        Check::new(false, format!("count each layer: Conv2D has {filters} x (3 x 3 + 1); Flatten gives {filters} x 13 x 13 inputs to Dense(128), each with a weight, plus 128 biases; Dense(10) has 128 x 10 + 10."))
    }
}

/// Exercise: a network of your own with at least 99% test accuracy and fewer than 100,000
/// parameters (the lesson's has 693,962 for about 98.8%).
pub fn small_and_accurate(params: usize, accuracy: f64) -> Check {
    let pct = accuracy * 100.0;
    match (params < 100_000, accuracy >= 0.99) {
        (true, true) => Check::new(true, format!("{pct:.2}% with {} parameters.", crate::model::thousands(params))),
        (false, _) => Check::new(false, format!("{} parameters: fewer than 100,000, please. The Dense layer after Flatten holds most of them: pool once more, or use fewer filters before it.", crate::model::thousands(params))),
        (true, false) => Check::new(false, format!("{pct:.2}% (the goal is 99%). More filters in the second Conv2D, a BatchNorm2D after it, or more epochs usually get there; in quick mode (2,000 images) 99% is out of reach.")),
    }
}
