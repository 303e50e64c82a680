//! `report`: the lesson's pictures as PNG files in one folder, from a history and the data.
use std::path::{Path, PathBuf};

pub mod analysis;
pub mod plots;

use self::analysis::ConfusionMatrix;
use crate::data::TrainTest;
use crate::error::Result;
use crate::fsutil::write_atomic;
use crate::train::history::History;
use crate::model::Network;


/// The index of the training digit shown in the pixel-matrix and pooling pictures (a 5, the
/// first image of MNIST).
pub const SHOWCASE: usize = 0;

/// Writes every report picture of the lesson's model into `dir` (atomically, one file at a
/// time) and returns the paths: the pictures of [`write_run_reports`], and the look inside the
/// network (filters, feature maps) and at the data (samples, pixels, pooling).
pub fn write_reports<N: Network>(dir: &Path, history: &History, model: &N, data: &TrainTest) -> Result<Vec<PathBuf>> {
    let digit = data.train.image(SHOWCASE);
    let label = data.train.class_name(SHOWCASE);
    let mut written = write_run_reports(dir, history, model, data)?;
    let mut pictures = vec![
        ("samples.png", plots::digits_grid(&data.train, 4, 10)),
        ("pixels.png", plots::pixel_matrix(digit, label)),
        ("pooling.png", plots::pooling_illustration(digit)),
    ];
    // The look inside: the first convolution's filters and maps, and the pooled maps.
    if let Some((activated, pooled)) = analysis::first_maps(model, digit) {
        let (c, side) = (activated.shape[0], activated.shape[1]);
        pictures.push(("filters.png", plots::filters(&analysis::filters(model))));
        let title = format!("The {c} feature maps of \"{label}\" after {} ({side} x {side})", activated.layer);
        pictures.push(("feature_maps.png", plots::feature_maps(&activated.values, side, &title)));
        if let Some(pooled) = pooled {
            let side = pooled.shape[1];
            let title = format!("The same maps after {} ({side} x {side})", pooled.layer);
            pictures.push(("feature_maps_pooled.png", plots::feature_maps(&pooled.values, side, &title)));
        }
    }
    let title = format!("The model's probabilities for this \"{label}\"");
    pictures.push(("digit_probabilities.png", plots::probability_bars(&crate::app::predict::probabilities(model, digit), &title)));
    written.extend(write_all(dir, pictures)?);
    Ok(written)
}

/// Writes the pictures any trained network has: accuracy and loss per epoch, predictions on
/// test digits, the confusion matrix and the misclassified digits.
pub fn write_run_reports<N: Network>(dir: &Path, history: &History, model: &N, data: &TrainTest) -> Result<Vec<PathBuf>> {
    // One pass over the test set feeds the predictions, the confusion matrix and the misses.
    let all = analysis::predict_all(model, &data.test);
    let pictures = [
        ("accuracy.png", plots::accuracy_chart(history)),
        ("loss.png", plots::loss_chart(history)),
        ("predictions.png", plots::predictions(&data.test, &all, 2, 10)),
        ("confusion.png", plots::confusion_matrix(&ConfusionMatrix::new(&data.test, &all), &data.test.classes)),
        ("misclassified.png", plots::misclassified_gallery(&data.test, &analysis::misclassified(&data.test, &all), 3, 10)),
        ("saliency.png", saliency_picture(model, data, &all)),
        ("layers.png", plots::every_layer(&model.activations(data.train.image(SHOWCASE)), &format!("Every layer's output for the first training image, a \"{}\"", data.train.class_name(SHOWCASE)))),
        ("adversarial.png", plots::adversarial(&analysis::fooled(model, &data.test, 0, 4, analysis::FOOLING))),
    ];
    write_all(dir, pictures)
}

/// What the network looks at on the first five test digits it reads right and on its four most
/// confident mistakes.
fn saliency_picture<N: Network>(model: &N, data: &TrainTest, all: &[[f32; crate::data::CLASSES]]) -> plots::Picture {
    let right: Vec<usize> = (0..all.len()).filter(|&i| crate::model::argmax(&all[i]) == data.test.labels[i] as usize).take(5).collect();
    let wrong: Vec<usize> = analysis::misclassified(&data.test, all).iter().take(4).map(|m| m.index).collect();
    let looked = |is: &[usize]| is.iter().map(|&i| analysis::looked(model, &data.test, i, &all[i])).collect::<Vec<_>>();
    plots::saliency(&looked(&right), &looked(&wrong))
}

/// Writes `robustness.png` (accuracy against the size of a fast-gradient-sign nudge, one line
/// per network) and its figures as `robustness.csv` (`network,epsilon,accuracy`) into `dir`.
pub fn write_robustness(dir: &Path, curves: &[(&str, &crate::explain::adversarial::Robustness)]) -> Result<Vec<PathBuf>> {
    let mut csv = String::from("network,epsilon,accuracy\n");
    for (name, curve) in curves {
        for (epsilon, accuracy) in &curve.points {
            csv.push_str(&format!("{name},{epsilon},{accuracy}\n"));
        }
    }
    let (png, table) = (dir.join("robustness.png"), dir.join("robustness.csv"));
    write_atomic(&png, &plots::robustness_chart(curves).png())?;
    write_atomic(&table, csv.as_bytes())?;
    Ok(vec![png, table])
}

/// Writes the chart of validation accuracy per epoch of several runs to `path`.
pub fn write_comparison(path: &Path, runs: &[(&str, &History)]) -> Result<PathBuf> {
    write_atomic(path, &plots::comparison_chart(runs).png())?;
    Ok(path.to_path_buf())
}

fn write_all(dir: &Path, pictures: impl IntoIterator<Item = (&'static str, plots::Picture)>) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (name, picture) in pictures {
        let path = dir.join(name);
        write_atomic(&path, &picture.png())?;
        written.push(path);
    }
    Ok(written)
}
