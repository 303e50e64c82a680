//! A run's state after each epoch (weights, optimiser, history), saved so that an interrupted
//! run resumes where it stopped and gives the numbers of an uninterrupted one.
use std::{
    collections::HashMap,
    fs,
    path::{Path, PathBuf},
};

use super::{Adam, FitConfig, History};
use crate::error::{Error, Result};
use crate::model::{self, Model, Network};

/// Everything a run needs to continue: the weights, the optimiser's state, the history so far.
pub struct Checkpoint<N: Network = Model> {
    pub model: N,
    pub optimizer: Adam,
    pub history: History,
}

impl Checkpoint {
    /// A fresh start for the lesson's network: random weights from `cfg.seed`, an empty history.
    pub fn lesson(cfg: &FitConfig) -> Checkpoint {
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
    optimizer.check_fits(&model, &latest.join(OPTIMIZER_FILE))?;
    Ok(Some(Checkpoint { model, optimizer, history }))
}

