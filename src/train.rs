//! Training in Keras words: `fit` for some epochs, keeping a `History`; `evaluate` on test data;
//! a checkpoint after every epoch so that an interrupted run can resume.
use std::{
    collections::HashMap,
    fs,
    io::Write,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use dfdx::prelude::*;
use rand::{rngs::StdRng, SeedableRng};

use crate::data::{Split, CLASSES};
use crate::error::{Error, Result};
use crate::history::{Epoch, History};
use crate::layers::Ctx;
use crate::model::{self, argmax, Model, Network};
use crate::optim::Adam;

/// How to train: the lesson's settings by default (10 epochs, batches of 32, Adam 1e-3).
#[derive(Debug, Clone)]
pub struct FitConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Seeds the initial weights (see [`model::device`]) and each epoch's shuffle.
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
}

/// Test-set figures: mean cross-entropy and share classified correctly.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    pub loss: f64,
    pub accuracy: f64,
}

/// Everything a run needs to continue: the weights, the optimiser's state, the history so far.
pub struct Checkpoint<N: Network = Model> {
    pub model: N,
    pub optimizer: Adam,
    pub history: History,
}

impl Checkpoint {
    /// A fresh start for the lesson's model: random weights from `cfg.seed`, an empty history.
    pub fn new(cfg: &FitConfig) -> Checkpoint {
        Checkpoint::start(cfg)
    }
}

impl<N: Network> Checkpoint<N> {
    /// A fresh start for any network: `Checkpoint::<BetterModel>::start(&cfg)`.
    pub fn start(cfg: &FitConfig) -> Checkpoint<N> {
        Checkpoint {
            model: N::build(&model::device(cfg.seed)),
            optimizer: Adam::new(cfg.learning_rate),
            history: History::default(),
        }
    }
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
        return Err(Error::Usage("the batch size must be at least 1".into()));
    }
    if train.is_empty() {
        return Err(Error::Usage("there are no training images to fit on".into()));
    }
    let dev = run.model.device();
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

/// Runs `work` on one of rayon's threads (this one, if it is one), waiting for it: the parallel
/// parts of the work then start without waking a thread and handing the work over, which a
/// training step does a dozen times. On two cores this took training at batch 32 from 11,800 to
/// 14,400 images/s, on one from 10,500 to 11,200 (`cargo bench --bench steps`, best of five).
/// Rayon's threads have 2 MB stacks (the work here keeps its data on the heap); and when two
/// threads of a program call this at once, one call's work may run inside the other's wait.
pub fn on_a_worker<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| work())
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

const MODEL_FILE: &str = "model.safetensors";
const OPTIMIZER_FILE: &str = "optimizer.safetensors";
const HISTORY_FILE: &str = "history.csv";

/// The settings a checkpoint must share with the run that resumes it.
fn run_signature<N: Network>(model: &N, cfg: &FitConfig, train_len: usize) -> HashMap<String, String> {
    HashMap::from([
        ("architecture".to_string(), model.architecture()),
        ("augment".to_string(), cfg.augment.to_string()),
        ("seed".to_string(), cfg.seed.to_string()),
        ("batch_size".to_string(), cfg.batch_size.to_string()),
        ("train_images".to_string(), train_len.to_string()),
    ])
}

/// Writes `dir/epoch-NNN/` (model, optimiser, history) through a temporary folder renamed into
/// place, so a crash leaves either the whole checkpoint or none of it; then removes older ones.
pub fn save_checkpoint<N: Network>(dir: &Path, run: &Checkpoint<N>, cfg: &FitConfig, train_len: usize) -> Result<()> {
    let epoch = run.history.epochs.len();
    let tmp = dir.join(format!(".epoch-{epoch:03}.tmp-{}", std::process::id()));
    let done = dir.join(format!("epoch-{epoch:03}"));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(Error::io("create folder", &tmp))?;
    model::save(&run.model, &tmp.join(MODEL_FILE))?;
    run.optimizer.save(&tmp.join(OPTIMIZER_FILE), run_signature(&run.model, cfg, train_len))?;
    run.history.save_csv(&tmp.join(HISTORY_FILE))?;
    let _ = fs::remove_dir_all(&done);
    fs::rename(&tmp, &done).map_err(Error::io("rename", &tmp))?;
    for old in checkpoints(dir)? {
        if old != done {
            let _ = fs::remove_dir_all(old);
        }
    }
    Ok(())
}

/// Complete checkpoint folders in `dir`, oldest first.
fn checkpoints(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("epoch-")))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(Error::io("read folder", dir)(e)),
    };
    found.sort();
    Ok(found)
}

/// The latest checkpoint in `dir`, if any, checked against `cfg`: a checkpoint of another seed,
/// batch size or training set cannot continue this run.
pub fn load_checkpoint<N: Network>(dir: &Path, cfg: &FitConfig, train_len: usize) -> Result<Option<Checkpoint<N>>> {
    let Some(latest) = checkpoints(dir)?.pop() else { return Ok(None) };
    let (optimizer, meta) = Adam::load(&latest.join(OPTIMIZER_FILE))?;
    let mut model = N::build(&model::device(cfg.seed));
    for (key, want) in run_signature(&model, cfg, train_len) {
        // Checkpoints from before a setting existed were made with its default; those from before
        // the architecture was recorded are checked by their tensors' names and shapes on loading.
        let have = match (meta.get(&key), key.as_str()) {
            (Some(have), _) => have.clone(),
            (None, "architecture") => continue,
            (None, "augment") => "false".to_string(),
            (None, _) => String::new(),
        };
        if have != want {
            let fix = match key.as_str() {
                "architecture" => "Resume with the network that made it, or start afresh without --resume.".to_string(),
                _ => format!("Resume with the same settings (--{} {have}), or start afresh without --resume.", key.replace('_', "-")),
            };
            return Err(Error::BadModel {
                path: latest.clone(),
                problem: format!("this checkpoint was made with {key} = {have}, but this run has {want}"),
                fix,
            });
        }
    }
    let history = History::load_csv(&latest.join(HISTORY_FILE))?;
    model::load_into(&mut model, &latest.join(MODEL_FILE))?;
    Ok(Some(Checkpoint { model, optimizer, history }))
}

/// A Keras-style progress bar on standard error, redrawn at most ten times a second.
struct Progress {
    total: usize,
    enabled: bool,
    last: Option<Instant>,
}

impl Progress {
    fn new(total: usize, enabled: bool) -> Self {
        Progress { total, enabled, last: None }
    }

    fn update(&mut self, done: usize, elapsed: Duration, loss: f64, accuracy: f64) {
        if !self.enabled || (done < self.total && self.last.is_some_and(|t| t.elapsed() < Duration::from_millis(100))) {
            return;
        }
        self.last = Some(Instant::now());
        let width = 30;
        let filled = done * width / self.total.max(1);
        let bar: String = (0..width)
            .map(|i| if i < filled { '=' } else if i == filled { '>' } else { '.' })
            .collect();
        let digits = self.total.to_string().len();
        eprint!(
            "\r{done:>digits$}/{} [{bar}] {:.0}s - loss: {loss:.4} - accuracy: {accuracy:.4}",
            self.total,
            elapsed.as_secs_f64()
        );
        let _ = std::io::stderr().flush();
    }

    fn finish(&self, e: &Epoch) {
        if self.enabled {
            eprintln!(" - val_loss: {:.4} - val_accuracy: {:.4}", e.val_loss, e.val_accuracy);
        }
    }
}
