//! The progress bar of `fit`, as Keras draws it.
use std::io::Write;
use std::time::{Duration, Instant};

use super::Epoch;

/// A Keras-style progress bar on standard error, redrawn at most ten times a second.
pub(super) struct Progress {
    total: usize,
    enabled: bool,
    last: Option<Instant>,
}

impl Progress {
    pub(super) fn new(total: usize, enabled: bool) -> Self {
        Progress { total, enabled, last: None }
    }

    pub(super) fn update(&mut self, done: usize, elapsed: Duration, loss: f64, accuracy: f64) {
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

    pub(super) fn finish(&self, e: &Epoch) {
        if self.enabled {
            eprintln!(" - val_loss: {:.4} - val_accuracy: {:.4}", e.val_loss, e.val_accuracy);
        }
    }
}
