//! Checks for the notebooks' exercises: a student changes a filter, a pool size or a number of
//! filters, and a check says whether the result is right, with a hint when it is not.
use std::fmt;

use crate::explain::adversarial::Robustness;
use crate::report::analysis::filter_response;
use crate::train::History;

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
        // A vertical edge changes from column to column and not along a column, so the filter
        // ignores it exactly when each column's three weights add up to 0.
        Check::new(false, format!("it also answers to vertical edges ({v:.1}). Make each column of the filter sum to 0, with its top and bottom rows opposite."))
    } else {
        Check::new(false, format!("it hardly answers to a horizontal edge ({h:.1}). Put +1s in one row and -1s in another."))
    }
}

/// Exercise: the side of the feature maps after a 3x3 convolution (no padding) on a 28x28
/// image and a `pool` x `pool` max pooling.
/// The hints name the step that went wrong without giving the number.
pub fn pooled_side(pool: usize, answer: usize) -> Check {
    let pool = pool.max(1);
    let want = (28 - 3 + 1) / pool;
    if answer == want {
        Check::new(true, format!("28 - 3 + 1 = 26, and 26 / {pool} = {want} (a remainder is dropped)."))
    } else if answer == 26_usize.div_ceil(pool) {
        Check::new(false, "close: pooling keeps only whole windows, so a remainder is dropped, not rounded up.")
    } else if answer == 28 / pool || answer == 28_usize.div_ceil(pool) {
        Check::new(false, "the pooling does not see the 28 x 28 image but the convolution's maps: how many positions does a 3 x 3 window have across 28 pixels?")
    } else if answer == 26 {
        Check::new(false, "that is the side after the convolution; now the pooling: each window of the pool's size becomes one value.")
    } else {
        Check::new(false, "two steps: how many positions does a 3 x 3 window have across 28 pixels (the convolution's output), then how many whole windows of the pool's size fit in that?")
    }
}

/// Exercise: the parameters of the lesson's network with `filters` filters instead of 32.
pub fn parameter_count(filters: usize, answer: usize) -> Check {
    let conv = filters * 3 * 3 + filters;
    let dense = filters * 13 * 13 * 128 + 128;
    let want = conv + dense + 128 * 10 + 10;
    let last = 128 * 10 + 10;
    let no_biases = filters * 9 + filters * 13 * 13 * 128 + 128 * 10;
    if answer == want {
        Check::new(true, format!("{conv} in Conv2D, {dense} in the first Dense layer, {last} in the last: {want}."))
    } else if answer == no_biases {
        Check::new(false, "the weights are right; each filter and each neuron also has a bias.")
    } else if answer == conv + dense || answer == dense + last || answer == conv + last {
        Check::new(false, "one layer is missing: count Conv2D, the first Dense layer and the last one.")
    } else if answer == conv + filters * 26 * 26 * 128 + 128 + last {
        Check::new(false, "the Dense layer comes after MaxPool2D: its inputs are the pooled maps, not the convolution's.")
    } else {
        Check::new(false, "count each layer's weights and biases: Conv2D (each filter has 3 x 3 weights and a bias), the first Dense layer (one weight for each of its inputs, which Flatten makes of the pooled maps, for each of its 128 neurons), and the last one.")
    }
}

/// Exercise: a network of your own with at least 99% validation accuracy (the last epoch's) and
/// fewer than 100,000 parameters (the lesson's has 693,962). Settings are chosen on the
/// validation set; the test set is for the one score at the end.
pub fn small_and_accurate(params: usize, val_accuracy: f64) -> Check {
    let pct = val_accuracy * 100.0;
    match (params < 100_000, val_accuracy >= 0.99) {
        (true, true) => Check::new(true, format!("{pct:.2}% of the validation digits with {} parameters.", crate::model::thousands(params))),
        (false, _) => Check::new(false, format!("{} parameters: fewer than 100,000, please. The Dense layer after Flatten holds most of them: pool once more, use fewer filters before it, or a narrower Dense layer.", crate::model::thousands(params))),
        (true, false) => Check::new(false, format!("{pct:.2}% of the validation digits (the goal is 99%). A BatchNorm2D after a convolution, a few more filters (each one adds its maps' share of weights to the Dense layer after Flatten: watch the count), or more epochs usually get there; in quick mode (1,800 training images) 99% is out of reach.")),
    }
}

/// What a change of a training setting does to the validation accuracy, next to the lesson's
/// settings: what a student predicts before running it, and what the charts then show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It learns better: the last validation accuracy at least a percentage point above the lesson's.
    Better,
    /// About the same: within a point of the lesson's.
    AboutTheSame,
    /// It learns, but worse: at least a point below.
    Worse,
    /// It does not learn at all: no better than guessing (under 30%, where chance is 10%).
    DoesNotLearn,
}

impl Outcome {
    /// The outcome of the run `changed` beside the run `lesson`, from their last validation
    /// accuracies: what the comparison chart shows.
    pub fn of(lesson: &History, changed: &History) -> Outcome {
        let last = |h: &History| h.epochs.last().map_or(0.0, |e| e.val_accuracy);
        let (base, now) = (last(lesson), last(changed));
        if now < 0.3 {
            Outcome::DoesNotLearn
        } else if now >= base + 0.01 {
            Outcome::Better
        } else if now <= base - 0.01 {
            Outcome::Worse
        } else {
            Outcome::AboutTheSame
        }
    }
}

/// Exercise: predict what a learning rate of `rate` (Adam's, against the lesson's 0.001) does,
/// then train both and read the chart. Right when the guess is what the runs show; the message
/// says what they show and why such a rate does that.
pub fn learning_rate(guess: Outcome, rate: f32, lesson: &History, changed: &History) -> Check {
    let actual = Outcome::of(lesson, changed);
    let last = |h: &History| h.epochs.last().map_or(0.0, |e| e.val_accuracy * 100.0);
    let shown = format!("after {} epochs, {:.1}% with the lesson's rate, {:.1}% with {rate}", changed.epochs.len(), last(lesson), last(changed));
    let why = match actual {
        Outcome::DoesNotLearn => "each step is so large that the weights jump past any good value; once a ReLU's inputs are all negative it passes no gradient back, and the network stops learning",
        Outcome::Worse if rate > 0.001 => "the steps are too large to settle into a good minimum: the loss jumps around instead of falling",
        Outcome::Worse => "each step is small, so in the same number of epochs it gets less far",
        Outcome::Better if rate > 0.001 => "in few epochs larger steps get further, as long as they are not so large that they overshoot",
        Outcome::Better => "smaller steps settle more precisely, which here paid off within these epochs",
        Outcome::AboutTheSame => "Adam adapts each weight's step to its gradients, so a moderate change of the rate changes little",
    };
    if guess == actual {
        Check::new(true, format!("{shown}: {why}."))
    } else {
        Check::new(false, format!("the chart shows {shown}. Read the two lines at the last epoch: is the new one within a point of the lesson's (about the same), above or below it, or under 30% (not learning: chance is 10%)?"))
    }
}

/// Exercise: which network keeps more of its accuracy when every pixel is nudged by `epsilon`
/// (fast gradient sign): `"lesson"` or `"better"`? Predict first, then the check measures.
pub fn harder_to_fool(guess: &str, epsilon: f32, lesson: &Robustness, better: &Robustness) -> Check {
    let at = |r: &Robustness| r.points.iter().find(|p| (p.0 - epsilon).abs() < 1e-6).map(|p| p.1);
    let (Some(l), Some(b)) = (at(lesson), at(better)) else {
        return Check::new(false, format!("measure both networks at epsilon {epsilon} first (it is not in their curves)."));
    };
    let truth = if b >= l { "better" } else { "lesson" };
    let measured = format!("at epsilon {epsilon} the better network reads {:.1}% of the nudged digits right, the lesson's {:.1}%", b * 100.0, l * 100.0);
    match guess.trim() {
        g if g == truth => Check::new(true, format!("{measured}.")),
        "lesson" | "better" => Check::new(false, format!("{measured}. Look at the chart below: where do the two curves part, and where do they meet again?")),
        _ => Check::new(false, "write \"lesson\" or \"better\" as your guess, then run this cell again."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hints lead to the answer: a filter made as the hint says is right, and the
    /// vertical-edge filter (whose rows, not columns, sum to 0) is told why it is not.
    #[test]
    fn the_edge_hint_leads_to_a_right_filter() {
        let vertical = [[1.0, 0.0, -1.0]; 3];
        let check = horizontal_edge_filter(vertical);
        assert!(!check.right && check.message.contains("each column of the filter sum to 0"), "{check}");
        let as_hinted = [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -1.0, -1.0]];
        assert!(horizontal_edge_filter(as_hinted).right);
        assert!(!horizontal_edge_filter([[0.0; 3]; 3]).right);
    }

    #[test]
    fn the_counting_hints_name_the_step_without_the_number() {
        assert!(pooled_side(3, 8).right);
        for wrong in [0, 9, 26, 5] {
            let check = pooled_side(3, wrong);
            assert!(!check.right && !check.message.contains(" 8"), "{wrong}: {check}");
        }
        let want = 16 * 10 + 16 * 13 * 13 * 128 + 128 + 1290;
        assert!(parameter_count(16, want).right);
        for wrong in [0, want - 16 - 128 - 10, want - 1290, 16 * 10 + 16 * 26 * 26 * 128 + 128 + 1290] {
            let check = parameter_count(16, wrong);
            assert!(!check.right && !check.message.contains(&want.to_string()), "{wrong}: {check}");
        }
    }

    fn history(val_accuracies: &[f64]) -> History {
        let epochs = val_accuracies
            .iter()
            .enumerate()
            .map(|(i, &v)| crate::train::Epoch { epoch: i + 1, loss: 0.0, accuracy: v, val_loss: 0.0, val_accuracy: v, seconds: 0.0 })
            .collect();
        History { epochs }
    }

    /// The check reads the outcome from the runs, so it is right exactly when the guess matches
    /// the chart; a wrong guess is told what to read, not the answer's reason.
    #[test]
    fn the_learning_rate_check_reads_the_runs() {
        let lesson = history(&[0.95, 0.97]);
        for (changed, outcome) in [(history(&[0.1, 0.11]), Outcome::DoesNotLearn), (history(&[0.9, 0.93]), Outcome::Worse), (history(&[0.96, 0.975]), Outcome::AboutTheSame), (history(&[0.97, 0.985]), Outcome::Better)] {
            assert_eq!(Outcome::of(&lesson, &changed), outcome);
            assert!(learning_rate(outcome, 0.1, &lesson, &changed).right);
            for other in [Outcome::Better, Outcome::AboutTheSame, Outcome::Worse, Outcome::DoesNotLearn] {
                if other != outcome {
                    let check = learning_rate(other, 0.1, &lesson, &changed);
                    assert!(!check.right && check.message.contains("Read the two lines") && check.message.contains("under 30%"), "{check}");
                }
            }
        }
    }

    /// The check measures: right exactly when the guess names the network with the higher
    /// accuracy at that nudge; anything else than the two names asks for a guess.
    #[test]
    fn the_fooling_check_reads_the_curves() {
        let curve = |a: f64| Robustness { points: vec![(0.0, 0.99), (0.1, a)], images: 100 };
        let (weak, strong) = (curve(0.5), curve(0.8));
        assert!(harder_to_fool("better", 0.1, &weak, &strong).right);
        assert!(!harder_to_fool("lesson", 0.1, &weak, &strong).right);
        assert!(harder_to_fool("lesson", 0.1, &strong, &weak).right);
        let check = harder_to_fool("?", 0.1, &weak, &strong);
        assert!(!check.right && check.message.contains("write"), "{check}");
        assert!(!harder_to_fool("better", 0.2, &weak, &strong).right);
    }
}
