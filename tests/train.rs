//! Training: it learns, the same seed gives the same history, and a resumed run continues
//! exactly where an uninterrupted one would be.
mod common;
use common::*;
use mnist_cnn::train::History;
use mnist_cnn::train::{self, Checkpoint, FitConfig};
use mnist_cnn::better::BetterModel;
use mnist_cnn::{data, model, report};

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
            let mut run = Checkpoint::lesson(&config(2, seed));
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
    let mut straight = Checkpoint::lesson(&config(2, 1));
    let cfg = FitConfig { checkpoint_dir: Some(straight_dir.clone()), ..config(2, 1) };
    train::fit(&mut straight, &tr, &te, &cfg, |_| {}).unwrap();

    // Interrupted after one epoch, then resumed from the checkpoint on disk.
    let dir = temp_dir("resume-interrupted");
    let cfg1 = FitConfig { checkpoint_dir: Some(dir.clone()), ..config(1, 1) };
    let mut first = Checkpoint::lesson(&cfg1);
    train::fit(&mut first, &tr, &te, &cfg1, |_| {}).unwrap();
    let cfg2 = FitConfig { checkpoint_dir: Some(dir.clone()), ..config(2, 1) };
    let mut resumed: Checkpoint = train::load_checkpoint(&dir, &cfg2, tr.len()).unwrap().expect("a checkpoint");
    assert_eq!(resumed.history.epochs.len(), 1);
    train::fit(&mut resumed, &tr, &te, &cfg2, |_| {}).unwrap();

    assert_eq!(figures(&resumed.history), figures(&straight.history));
    assert_eq!(resumed.model.layers.3 .0.weight.as_vec(), straight.model.layers.3 .0.weight.as_vec());
    // Only the latest checkpoint is kept.
    let kept: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(kept, ["epoch-002"]);
    // A checkpoint cannot continue a run with other settings.
    let other = FitConfig { batch_size: 64, ..cfg2 };
    let err = train::load_checkpoint::<model::Model>(&dir, &other, tr.len()).err().expect("refused").to_string();
    assert!(err.contains("batch_size = 32, but this run has 64"), "{err}");
}

#[test]
fn history_csv_round_trips_and_bad_csv_is_an_error() {
    let dir = temp_dir("history");
    let m = data::load(&bundled()).unwrap();
    let mut run = Checkpoint::lesson(&config(1, 0));
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
    let mut run = Checkpoint::lesson(&config(2, 0));
    train::fit(&mut run, &m.train.take(300), &m.test.take(100), &config(2, 0), |_| {}).unwrap();
    let written = report::write_reports(&dir, &run.history, &run.model, &m).unwrap();
    let names: Vec<_> = written.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["accuracy.png", "loss.png", "predictions.png", "confusion.png", "misclassified.png", "saliency.png", "layers.png", "adversarial.png", "samples.png", "pixels.png", "pooling.png", "filters.png", "feature_maps.png", "feature_maps_pooled.png", "digit_probabilities.png"]);
    for p in written {
        let img = image::open(&p).unwrap().to_rgb8();
        assert!(img.width() >= 400 && img.height() >= 300, "{}", p.display());
        let dark = img.pixels().filter(|px| px.0.iter().all(|&c| c < 100)).count();
        assert!(dark > 500, "{} is nearly blank", p.display());
    }
}

#[test]
fn the_better_network_learns_and_resumes_exactly_with_dropout_and_moved_images() {
    let m = data::load(&bundled()).unwrap();
    let (tr, te) = (m.train.take(3_200), m.test.take(500));
    let cfg = |epochs, dir: &std::path::Path| FitConfig {
        epochs,
        verbose: false,
        checkpoint_dir: Some(dir.to_path_buf()),
        ..FitConfig::better()
    };
    let straight_dir = temp_dir("better-straight");
    let mut straight: Checkpoint<BetterModel> = Checkpoint::start(&cfg(2, &straight_dir));
    train::fit(&mut straight, &tr, &te, &cfg(2, &straight_dir), |_| {}).unwrap();
    // Far above chance (10%) after 2 short epochs.
    assert!(straight.history.epochs[1].val_accuracy > 0.85, "{:?}", straight.history);

    let dir = temp_dir("better-interrupted");
    let mut first: Checkpoint<BetterModel> = Checkpoint::start(&cfg(1, &dir));
    train::fit(&mut first, &tr, &te, &cfg(1, &dir), |_| {}).unwrap();
    let mut resumed: Checkpoint<BetterModel> = train::load_checkpoint(&dir, &cfg(2, &dir), tr.len()).unwrap().unwrap();
    train::fit(&mut resumed, &tr, &te, &cfg(2, &dir), |_| {}).unwrap();
    assert_eq!(figures(&resumed.history), figures(&straight.history));
    assert_eq!(resumed.model.layers.4 .2.weight.as_vec(), straight.model.layers.4 .2.weight.as_vec());
    // The learning rate decays by epoch, from the settings alone.
    assert_eq!(resumed.optimizer.learning_rate, cfg(2, &dir).learning_rate_at(2));
    // A lesson checkpoint cannot continue a better run.
    let err = train::load_checkpoint::<model::Model>(&dir, &cfg(2, &dir), tr.len()).err().unwrap().to_string();
    assert!(err.contains("made with architecture = Conv2D(1->32, 3x3, stride 1, valid) -> ReLU -> MaxPool2D(2x2, stride 2) -> Conv2D(32->64"), "{err}");
    assert!(err.contains("Resume with the network that made it"), "{err}");
}

#[test]
fn moved_images_keep_their_ink_where_expected() {
    let m = data::load(&bundled()).unwrap();
    let image: Vec<f32> = m.train.image(0).iter().map(|&p| data::normalise(p)).collect();
    assert_eq!(data::transform(&image, 0.0, 1.0, 0.0, 0.0), image, "no move, the same image");
    let shifted = data::transform(&image, 0.0, 1.0, 2.0, -1.0);
    for y in 1..27 {
        for x in 2..28 {
            assert!((shifted[(y - 1) * 28 + x] - image[y * 28 + x - 2]).abs() < 1e-6);
        }
    }
    // A rotation keeps the amount of ink, give or take the interpolation.
    let turned = data::transform(&image, 10f32.to_radians(), 1.0, 0.0, 0.0);
    let ink = |v: &[f32]| v.iter().sum::<f32>();
    assert!((ink(&turned) / ink(&image) - 1.0).abs() < 0.05);
    assert_ne!(turned, image);
}
