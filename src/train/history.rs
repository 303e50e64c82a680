//! `History`: what Keras's `model.fit` returns, one row per epoch, kept as CSV.
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil::{self, write_atomic};

/// One epoch's figures, named as Keras names them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Epoch {
    /// 1-based.
    pub epoch: usize,
    /// Mean training cross-entropy over the epoch's batches (the weights change as it goes).
    pub loss: f64,
    /// Share of training images classified correctly during the epoch.
    pub accuracy: f64,
    /// Cross-entropy on the validation images (held out of the training set) after the epoch.
    pub val_loss: f64,
    /// Share of the validation images classified correctly after the epoch.
    pub val_accuracy: f64,
    /// Wall-clock seconds of the epoch's training (not the evaluation).
    pub seconds: f64,
}

/// The per-epoch record of a training run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub epochs: Vec<Epoch>,
}

impl History {
    pub fn last(&self) -> Option<&Epoch> {
        self.epochs.last()
    }

    /// Writes the history as CSV (a header row, then one row per epoch), atomically.
    pub fn save_csv(&self, path: &Path) -> Result<()> {
        let mut w = csv::Writer::from_writer(Vec::new());
        for e in &self.epochs {
            w.serialize(e).expect("serialising to memory cannot fail");
        }
        let bytes = w.into_inner().expect("flushing to memory cannot fail");
        let bytes = if self.epochs.is_empty() {
            b"epoch,loss,accuracy,val_loss,val_accuracy,seconds\n".to_vec()
        } else {
            bytes
        };
        write_atomic(path, &bytes)
    }

    /// Reads a history written by [`History::save_csv`].
    pub fn load_csv(path: &Path) -> Result<History> {
        let bad = |problem: String| Error::BadHistory { path: path.to_path_buf(), problem };
        let text = fsutil::read(path, "Train first with `mnist-cnn train`, which writes it.")?;
        let mut epochs = Vec::new();
        for (i, row) in csv::Reader::from_reader(&text[..]).deserialize::<Epoch>().enumerate() {
            let e = row.map_err(|e| bad(format!("row {} is not an epoch: {e}", i + 1)))?;
            if e.epoch != i + 1 {
                return Err(bad(format!("row {} is epoch {}, expected {}", i + 1, e.epoch, i + 1)));
            }
            epochs.push(e);
        }
        Ok(History { epochs })
    }
}
