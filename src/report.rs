//! `report`: the lesson's pictures as PNG files in one folder, from a history and the data.
use std::path::{Path, PathBuf};

use crate::analysis::{self, ConfusionMatrix};
use crate::data::Mnist;
use crate::error::Result;
use crate::fsutil::write_atomic;
use crate::history::History;
use crate::model::{self, Model};
use crate::plots;

/// The index of the training digit shown in the pixel-matrix and pooling pictures (a 5, the
/// first image of MNIST).
pub const SHOWCASE: usize = 0;

/// How many test digits the predictions picture shows.
const PREDICTED: usize = 20;

/// Writes every report picture into `dir` (atomically, one file at a time) and returns the paths.
/// The charts come from `history`, the predictions from `model`, the rest from the data.
pub fn write_reports(dir: &Path, history: &History, model: &Model, data: &Mnist) -> Result<Vec<PathBuf>> {
    let digit = data.train.image(SHOWCASE);
    let dev = model::device(0);
    let shown = PREDICTED.min(data.test.len());
    let probs = model::probabilities(model, data.test.range(&dev, 0..shown).0);
    let pictures = [
        ("accuracy.png", plots::accuracy_chart(history)),
        ("loss.png", plots::loss_chart(history)),
        ("samples.png", plots::digits_grid(&data.train, 4, 10)),
        ("pixels.png", plots::pixel_matrix(digit, data.train.class_name(SHOWCASE))),
        ("pooling.png", plots::pooling_illustration(digit)),
        ("predictions.png", plots::predictions(&data.test, &probs, 2, 10)),
    ];
    let all = analysis::predict_all(model, &data.test);
    let (activated, pooled) = analysis::feature_maps(model, digit);
    let label = data.train.class_name(SHOWCASE);
    let digit_probs = crate::predict::probabilities(model, digit);
    let inside = [
        ("confusion.png", plots::confusion_matrix(&ConfusionMatrix::new(&data.test, &all), &data.test.classes)),
        ("misclassified.png", plots::misclassified_gallery(&data.test, &analysis::misclassified(&data.test, &all), 3, 10)),
        ("filters.png", plots::filters(&analysis::filters(model))),
        ("feature_maps.png", plots::feature_maps(&activated, 26, &format!("The 32 feature maps of \"{label}\" after Conv2D + ReLU (26 x 26)"))),
        ("feature_maps_pooled.png", plots::feature_maps(&pooled, 13, "The same maps after MaxPool2D (13 x 13)")),
        ("digit_probabilities.png", plots::probability_bars(&digit_probs, &format!("The model's probabilities for this \"{label}\""))),
    ];
    let mut written = Vec::new();
    for (name, picture) in pictures.into_iter().chain(inside) {
        let path = dir.join(name);
        write_atomic(&path, &picture.png())?;
        written.push(path);
    }
    Ok(written)
}
