//! Training in Keras words: `fit` for some epochs, keeping a `History`; `evaluate` on test data;
//! a checkpoint after every epoch so that an interrupted run can resume.
use std::{path::PathBuf, time::Instant};

use dfdx::prelude::*;
use rand::{rngs::StdRng, SeedableRng};

use crate::cpu::on_a_worker;
use crate::data::{Split, CLASSES};
use crate::error::{Error, Result};
use crate::layers::Ctx;
use crate::model::{argmax, Network};

mod adam;
mod checkpoint;
pub mod history;
mod progress;

pub use adam::Adam;
pub use checkpoint::{load_checkpoint, save_checkpoint, Checkpoint};
pub use history::{Epoch, History};
use progress::Progress;

/// How to train: the lesson's settings by default (10 epochs, batches of 32, Adam 1e-3).
#[derive(Debug, Clone)]
pub struct FitConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Seeds the initial weights (see [`model::device`](crate::model::device)) and each epoch's shuffle.
    pub seed: u64,
    pub learning_rate: f32,
    /// Draw a progress bar on standard error.
    pub verbose: bool,
    /// Where to keep a checkpoint after every epoch (none if `None`).
    pub checkpoint_dir: Option<PathBuf>,
    /// The learning rate is multiplied by this after every epoch (1: constant, as the lesson).
    pub lr_decay: f32,
    /// Move each training image a little at random each time it is seen (rotate, scale, shift:
    /// see [`Split::augmented_batch`]); the lesson uses the images as they are.
    pub augment: bool,
    /// The share of the training images held out as the validation set, watched after every
    /// epoch (Keras's `validation_split`, see [`Split::validation_split`]); the test set is
    /// kept for one evaluation at the end.
    pub validation_split: f64,
}

impl Default for FitConfig {
    fn default() -> Self {
        FitConfig {
            epochs: 10,
            batch_size: 32,
            seed: 0,
            learning_rate: 1e-3,
            verbose: true,
            checkpoint_dir: None,
            lr_decay: 1.0,
            augment: false,
            validation_split: 0.1,
        }
    }
}

impl FitConfig {
    /// The learning rate during `epoch` (1-based).
    pub fn learning_rate_at(&self, epoch: usize) -> f32 {
        self.learning_rate * self.lr_decay.powi(epoch as i32 - 1)
    }

    /// The better network's settings ([`crate::model::better`]): 20 epochs of batches of 64,
    /// Adam's learning rate from 1e-3 multiplied by 0.85 after each epoch (big steps first, fine
    /// ones at the end), and every training image moved a little (rotated, scaled, shifted) each
    /// time it is seen.
    pub fn better() -> FitConfig {
        FitConfig { epochs: 20, batch_size: 64, lr_decay: 0.85, augment: true, ..FitConfig::default() }
    }
}

/// Test-set figures: mean cross-entropy and share classified correctly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
}

/// The shuffle seed of `epoch` (1-based): a function of the run's seed, so that a resumed run
/// shuffles exactly as an uninterrupted one.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(epoch as u64)
}

/// Trains `run` until its history has `cfg.epochs` epochs, evaluating on `validation` after
/// each epoch (Keras's `validation_data`: images held out of the training set, see
/// [`Split::validation_split`], not the test set). Calls `on_epoch` after each epoch, after the
/// checkpoint.
pub fn fit<N: Network>(
    run: &mut Checkpoint<N>,
    train: &Split,
    validation: &Split,
    cfg: &FitConfig,
    mut on_epoch: impl FnMut(&Epoch),
) -> Result<()> {
    if cfg.batch_size == 0 {
        return Err(Error::BadSettings("the batch size must be at least 1".into()));
    }
    if train.is_empty() {
        return Err(Error::BadSettings("there are no training images to fit on".into()));
    }
    let dev = run.model.device();
    // A network made in an earlier notebook cell: its tensors renumbered (see `with_fresh_ids`).
    run.model = crate::model::with_fresh_ids(&run.model);
    let mut grads = run.model.alloc_grads();
    for epoch in run.history.epochs.len() + 1..=cfg.epochs {
        if cfg.verbose {
            eprintln!("Epoch {epoch}/{}", cfg.epochs);
        }
        let batches = train.shuffled_batches(cfg.batch_size, epoch_seed(cfg.seed, epoch));
        // Augmentation and dropout masks: drawn from the epoch's own seed, so a resumed run matches.
        let mut rng = StdRng::seed_from_u64(epoch_seed(cfg.seed, epoch) ^ 0xD1CE);
        run.optimizer.learning_rate = cfg.learning_rate_at(epoch);
        let mut bar = Progress::new(batches.len(), cfg.verbose);
        let start = Instant::now();
        let (loss_sum, correct, seen, g) = on_a_worker(|| {
            let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0usize, 0usize);
            let mut grads = grads;
            for (step, indices) in batches.iter().enumerate() {
                let (x, y) = match cfg.augment {
                    false => train.batch(&dev, indices),
                    true => train.augmented_batch(&dev, indices, &mut rng),
                };
                let mut ctx = Ctx::training(&mut rng);
                let logits = run.model.forward_with(x.traced(grads), &mut ctx);
                let running = ctx.take_running();
                let scores = logits.as_vec();
                let loss = cross_entropy_with_logits_loss(logits, y);
                loss_sum += loss.array() as f64 * indices.len() as f64;
                correct += scores
                    .chunks_exact(CLASSES)
                    .zip(indices)
                    .filter(|(s, &i)| argmax(s) == train.labels[i] as usize)
                    .count();
                seen += indices.len();
                grads = loss.backward();
                run.optimizer.update(&mut run.model, &mut grads)?;
                run.model.take_running(running);
                run.model.zero_grads(&mut grads);
                bar.update(step + 1, start.elapsed(), loss_sum / seen as f64, correct as f64 / seen as f64);
            }
            Ok::<_, Error>((loss_sum, correct, seen, grads))
        })?;
        grads = g;
        let seconds = start.elapsed().as_secs_f64();
        let val = evaluate(&run.model, validation);
        let row = Epoch {
            epoch,
            loss: loss_sum / seen as f64,
            accuracy: correct as f64 / seen as f64,
            val_loss: val.loss,
            val_accuracy: val.accuracy,
            seconds,
        };
        bar.finish(&row);
        run.history.epochs.push(row);
        if let Some(dir) = &cfg.checkpoint_dir {
            save_checkpoint(dir, run, cfg, train.len())?;
        }
        on_epoch(&row);
    }
    Ok(())
}

/// Mean cross-entropy and accuracy of `model` on `split` (Keras's `model.evaluate`).
pub fn evaluate<N: Network>(model: &N, split: &Split) -> Evaluation {
    on_a_worker(|| evaluate_here(model, split))
}

fn evaluate_here<N: Network>(model: &N, split: &Split) -> Evaluation {
    let dev = model.device();
    let (mut loss, mut correct) = (0.0f64, 0usize);
    for start in (0..split.len()).step_by(1000) {
        let end = (start + 1000).min(split.len());
        let (x, _) = split.range(&dev, start..end);
        let scores = model.forward(x).as_vec();
        for (s, &label) in scores.chunks_exact(CLASSES).zip(&split.labels[start..end]) {
            let max = s.iter().cloned().fold(f32::NEG_INFINITY, f32::max) as f64;
            let log_sum: f64 = s.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>().ln() + max;
            loss += log_sum - s[label as usize] as f64;
            correct += (argmax(s) == label as usize) as usize;
        }
    }
    let n = split.len().max(1) as f64;
    Evaluation { loss: loss / n, accuracy: correct as f64 / n }
}

