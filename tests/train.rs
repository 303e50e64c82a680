//! Training: it learns, the same seed gives the same history, and a resumed run continues
//! exactly where an uninterrupted one would be.
mod common;
use common::*;
use mnist_cnn::history::History;
use mnist_cnn::train::{self, Checkpoint, FitConfig};
use mnist_cnn::{data, report};

fn config(epochs: usize, seed: u64) -> FitConfig {
    FitConfig { epochs, batch_size: 32, seed, verbose: false, ..FitConfig::default() }
}

/// Histories without the wall-clock column.
fn figures(h: &History) -> Vec<[f64; 4]> {
    h.epochs.iter().map(|e| [e.loss, e.accuracy, e.val_loss, e.val_accuracy]).collect()
}

#[test]
fn it_learns_and_the_same_seed_gives_the_same_history() {
    let m = data::load(&bundled()).unwrap();
    let (tr, te) = (m.train.take(2_000), m.test.take(1_000));
    let runs: Vec<Checkpoint> = [7, 7, 8]
        .into_iter()
        .map(|seed| {
            let mut run = Checkpoint::new(&config(2, seed));
            train::fit(&mut run, &tr, &te, &config(2, seed), |_| {}).unwrap();
            run
        })
        .collect();
    let h = &runs[0].history;
    assert_eq!(h.epochs.len(), 2);
    // 2 epochs on 2,000 images: far above chance (10%); the loss falls.
    assert!(h.epochs[1].val_accuracy > 0.85, "{h:?}");
    assert!(h.epochs[1].loss < h.epochs[0].loss, "{h:?}");
    assert_eq!(figures(h), figures(&runs[1].history), "same seed, same numbers");
    assert_ne!(figures(h), figures(&runs[2].history), "another seed, other numbers");
    let eval = train::evaluate(&runs[0].model, &te);
    assert_eq!(eval.accuracy, h.epochs[1].val_accuracy);
}

#[test]
fn resume_continues_exactly() {
    let m = data::load(&bundled()).unwrap();
    let (tr, te) = (m.train.take(640), m.test.take(200));
    let straight_dir = temp_dir("resume-straight");
    let mut straight = Checkpoint::new(&config(2, 1));
    let cfg = FitConfig { checkpoint_dir: Some(straight_dir.clone()), ..config(2, 1) };
    train::fit(&mut straight, &tr, &te, &cfg, |_| {}).unwrap();

    // Interrupted after one epoch, then resumed from the checkpoint on disk.
    let dir = temp_dir("resume-interrupted");
    let cfg1 = FitConfig { checkpoint_dir: Some(dir.clone()), ..config(1, 1) };
    let mut first = Checkpoint::new(&cfg1);
    train::fit(&mut first, &tr, &te, &cfg1, |_| {}).unwrap();
    let cfg2 = FitConfig { checkpoint_dir: Some(dir.clone()), ..config(2, 1) };
    let mut resumed = train::load_checkpoint(&dir, &cfg2, tr.len()).unwrap().expect("a checkpoint");
    assert_eq!(resumed.history.epochs.len(), 1);
    train::fit(&mut resumed, &tr, &te, &cfg2, |_| {}).unwrap();

    assert_eq!(figures(&resumed.history), figures(&straight.history));
    assert_eq!(resumed.model.3 .0.weight.as_vec(), straight.model.3 .0.weight.as_vec());
    // Only the latest checkpoint is kept.
    let kept: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(kept, ["epoch-002"]);
    // A checkpoint cannot continue a run with other settings.
    let other = FitConfig { batch_size: 64, ..cfg2 };
    let err = train::load_checkpoint(&dir, &other, tr.len()).err().expect("refused").to_string();
    assert!(err.contains("batch_size = 32, but this run has 64"), "{err}");
}

#[test]
fn history_csv_round_trips_and_bad_csv_is_an_error() {
    let dir = temp_dir("history");
    let m = data::load(&bundled()).unwrap();
    let mut run = Checkpoint::new(&config(1, 0));
    train::fit(&mut run, &m.train.take(200), &m.test.take(100), &config(1, 0), |_| {}).unwrap();
    let path = dir.join("history.csv");
    run.history.save_csv(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("epoch,loss,accuracy,val_loss,val_accuracy,seconds\n1,"), "{text}");
    assert_eq!(History::load_csv(&path).unwrap(), run.history);
    std::fs::write(&path, "epoch,loss\n1,banana\n").unwrap();
    assert!(History::load_csv(&path).unwrap_err().to_string().contains("row 1 is not an epoch"));
}

#[test]
fn reports_are_real_pictures() {
    let dir = temp_dir("reports");
    let m = data::load(&bundled()).unwrap();
    let mut run = Checkpoint::new(&config(2, 0));
    train::fit(&mut run, &m.train.take(300), &m.test.take(100), &config(2, 0), |_| {}).unwrap();
    let written = report::write_reports(&dir, &run.history, &run.model, &m).unwrap();
    let names: Vec<_> = written.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["accuracy.png", "loss.png", "samples.png", "pixels.png", "pooling.png", "predictions.png", "confusion.png", "misclassified.png", "filters.png", "feature_maps.png", "feature_maps_pooled.png", "digit_probabilities.png"]);
    for p in written {
        let img = image::open(&p).unwrap().to_rgb8();
        assert!(img.width() >= 400 && img.height() >= 300, "{}", p.display());
        let dark = img.pixels().filter(|px| px.0.iter().all(|&c| c < 100)).count();
        assert!(dark > 500, "{} is nearly blank", p.display());
    }
}
