//! Looking inside a trained network (src/explain): the gradient with respect to the pixels is
//! the true one (finite differences), saliency lies on the ink, fooling changes the answer by a
//! small, bounded change, and robustness falls as the nudge grows. Writes
//! target/export-check/inside.json: one test digit's every layer, saliency and fooling, for the
//! page's own copy of these (scripts/browser-test.py).
mod common;

use common::lesson_model;
use dfdx::prelude::*;
use mnist_cnn::explain::{adversarial, probabilities_of, saliency};
use mnist_cnn::model::{argmax, Network};
use mnist_cnn::{data, Result};

fn scores(model: &impl Network, image: &[f32]) -> Vec<f32> {
    mnist_cnn::explain::scores_of(model, image)[0].to_vec()
}

#[test]
fn the_gradient_is_the_scores_rate_of_change_pixel_by_pixel() -> Result<()> {
    let test = data::load(&data::default_dir())?.test;
    let better = mnist_cnn::better::BetterModel::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/better.safetensors"))?;
    gradient_checks(&lesson_model(), &test, "lesson");
    gradient_checks(&better, &test, "better");
    Ok(())
}

fn gradient_checks(model: &impl Network, test: &data::Split, name: &str) {
    let model = model.clone();
    let dev = model.device();
    let (mut ink, mut smooth, mut matched) = (0, 0, 0);
    for i in 0..8 {
        let pixels = test.image(i);
        let class = test.labels[i] as usize;
        // Ink of 255 makes identical 3x3 patches, so a pooling window holds exact ties: kinks at
        // the image itself, several at once, whose jumps in slope can cancel, so that the two
        // one-sided slopes agree while the gradient (first of a tie, as PyTorch's) takes neither
        // (PyTorch in float64 gives the same gradient and slopes). A small fixed jitter on the
        // ink breaks the ties; the gradient there is checked, and the image's own below.
        let mut seed = 0x9e37_79b9u32 ^ i as u32;
        let image: Vec<f32> = pixels
            .iter()
            .map(|&p| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let jitter = (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
                if p > 0 { data::normalise(p) + 0.02 * jitter } else { 0.0 }
            })
            .collect();
        let traced = dev.tensor_from_vec(image.clone(), (1, Const, Const, Const));
        let pick = dev.tensor_from_vec((0..10).map(|c| (c == class) as u8 as f32).collect(), (1, Const));
        let gradient = model.input_gradient(traced, |scores| (scores * pick).sum::<Rank0, _>());
        assert_eq!(gradient.len(), 784);
        // Each pixel of ink moved a little both ways, by two step sizes. Where the four slopes
        // differ the score has a kink near the image (a ReLU at 0, a pooling window changing
        // hands: the gradient takes one side), and the pixel is left out; elsewhere the gradient
        // must be the slope. Float32 rounds a score of 10-16 to 1e-6 (2e-6 above 16), so a slope
        // over 3e-4 comes in steps of that over 3e-4: the `quantum` allowed on top of 1%. Kinks
        // just either side of the image can still give agreeing slopes that the gradient rightly
        // does not take (PyTorch in float64 agrees): 1 pixel in 100 may miss (none did in 20
        // digits of each network on the machine that wrote this).
        let at = scores(&model, &image)[class];
        let quantum = (at.abs().max(1.0) * f32::EPSILON) / 3e-4;
        let slope = |p: usize, h: f32| {
            let mut moved = image.clone();
            moved[p] += h;
            (scores(&model, &moved)[class] - at) / h
        };
        for p in (0..784).filter(|&p| pixels[p] > 0) {
            ink += 1;
            let slopes = [slope(p, 1e-3), slope(p, -1e-3), slope(p, 3e-4), slope(p, -3e-4)];
            let slope = slopes.iter().sum::<f32>() / 4.0;
            let (low, high) = slopes.iter().fold((f32::MAX, f32::MIN), |(l, h), &s| (l.min(s), h.max(s)));
            if high - low > 0.01 + 0.02 * slope.abs() + 2.0 * quantum {
                continue;
            }
            smooth += 1;
            let g = gradient[p];
            if (slope - g).abs() <= 0.01 + 0.02 * g.abs() + quantum {
                matched += 1;
            } else {
                println!("{name}, digit {i}, pixel {p}: gradient {g}, slopes {slopes:?}");
            }
        }
        // The saliency map is the gradient at the image itself times the image: zero off the ink.
        let own = saliency::gradient(&model, pixels, class);
        let map = saliency::saliency(&model, pixels, class);
        assert!(map.iter().zip(pixels).zip(&own).all(|((&m, &p), &g)| m == g * data::normalise(p)));
        assert!(map.iter().zip(pixels).all(|(&m, &p)| p > 0 || m == 0.0));
        assert!(map.iter().any(|&m| m != 0.0));
    }
    println!("{name}: {smooth} of {ink} pixels of ink away from a kink, {matched} of them the slope");
    assert!(smooth * 10 >= ink * 7, "{name}: only {smooth} of {ink} pixels of ink away from a kink");
    assert!(matched * 100 >= smooth * 99, "{name}: the gradient is the slope at only {matched} of {smooth} pixels");
}

#[test]
fn a_few_small_steps_fool_the_network_and_stay_small() -> Result<()> {
    let (model, test) = (lesson_model(), data::load(&data::default_dir())?.test);
    let (step, most) = (0.01, 0.3);
    let (mut fooled, mut tried, mut largest) = (0, 0, 0.0f32);
    for i in 0..100 {
        let (pixels, label) = (test.image(i), test.labels[i] as usize);
        let read = argmax(&probabilities_of(&model, &pixels.iter().map(|&p| data::normalise(p)).collect::<Vec<_>>())[0]);
        let result = adversarial::fool(&model, pixels, label, step, most);
        if read != label {
            assert!(result.is_none(), "a misread digit needs no fooling");
            continue;
        }
        tried += 1;
        let Some(f) = result else { continue };
        fooled += 1;
        // The network really reads the nudged image as another digit.
        let again = probabilities_of(&model, &f.image)[0];
        assert_eq!(argmax(&again), f.predicted);
        assert_ne!(f.predicted, label);
        // Bounded: each pixel within `steps * step` (and `most`) of where it was, and within 0..1.
        let diff = f.difference(pixels);
        let change = diff.iter().fold(0.0f32, |m, d| m.max(d.abs()));
        assert!((change - f.change).abs() < 1e-6 && change <= f.steps as f32 * step + 1e-5 && change <= most + 1e-6);
        assert!(f.image.iter().all(|v| (0.0..=1.0).contains(v)));
        largest = largest.max(f.change);
    }
    println!("fooled {fooled} of {tried} test digits, largest change {largest}");
    assert!(fooled * 100 >= tried * 95, "fooled {fooled} of {tried}");
    Ok(())
}

#[test]
fn robustness_falls_as_the_nudge_grows_and_starts_at_the_plain_accuracy() -> Result<()> {
    if std::env::var("FULL").is_ok() {
        let test = data::load(&data::default_dir())?.test;
        let better = mnist_cnn::better::BetterModel::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/better.safetensors"))?;
        let t = std::time::Instant::now();
        println!("lesson {:?} {:?}", adversarial::robustness(&lesson_model(), &test, &adversarial::EPSILONS), t.elapsed());
        let t = std::time::Instant::now();
        println!("better {:?} {:?}", adversarial::robustness(&better, &test, &adversarial::EPSILONS), t.elapsed());
    }
    let (model, test) = (lesson_model(), data::load(&data::default_dir())?.test.take(1000));
    let curve = adversarial::robustness(&model, &test, &[0.0, 0.1, 0.2]);
    let plain = mnist_cnn::train::evaluate(&model, &test).accuracy;
    assert_eq!(curve.images, 1000);
    assert!((curve.points[0].1 - plain).abs() < 1e-9, "{curve:?} vs {plain}");
    assert!(curve.points[1].1 < plain - 0.1 && curve.points[2].1 < curve.points[1].1, "{curve:?}");
    // One step of fgsm is what robustness measures: the first image's nudge, by hand.
    let image: Vec<f32> = test.image(0).iter().map(|&p| data::normalise(p)).collect();
    let nudged = adversarial::fgsm(&model, &image, test.labels[0] as usize, 0.1);
    assert!(nudged.iter().zip(&image).all(|(a, b)| (a - b).abs() <= 0.1 + 1e-6 && (0.0..=1.0).contains(a)));
    Ok(())
}

/// What the page's own copy of the network must give for a few test digits (browser-test.py):
/// every layer's output, the saliency of the answer, and the fooling.
#[test]
fn writes_the_inside_of_a_few_digits_for_the_page() -> Result<()> {
    let test = data::load(&data::default_dir())?.test;
    let better = mnist_cnn::better::BetterModel::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/better.safetensors"))?;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/export-check");
    std::fs::create_dir_all(&dir).unwrap();
    mnist_cnn::write_atomic(&dir.join("inside.json"), inside(&lesson_model(), &test, &[0, 1, 3]).to_string().as_bytes())?;
    mnist_cnn::write_atomic(&dir.join("inside-better.json"), inside(&better, &test, &[0]).to_string().as_bytes())?;
    Ok(())
}

/// Test digits `indices` as `model` sees them: every layer, the rows the page shows (the
/// summary's, but for Flatten and Dropout), the saliency of its answer, and its fooling.
fn inside(model: &impl Network, test: &data::Split, indices: &[usize]) -> serde_json::Value {
    let (step, most) = mnist_cnn::analysis::FOOLING;
    let rows: Vec<String> = model.summary().layers.into_iter().map(|l| l.name).filter(|n| n != "Flatten" && !n.starts_with("Dropout")).collect();
    let cases: Vec<_> = indices
        .iter()
        .map(|&i| {
            let (pixels, label) = (test.image(i), test.labels[i] as usize);
            let predicted = argmax(&mnist_cnn::predict::probabilities(model, pixels));
            let fooled = adversarial::fool(model, pixels, label, step, most);
            serde_json::json!({
                "pixels": pixels, "label": label, "predicted": predicted,
                // Dropout does nothing at inference, and the page's copy of the network leaves it out.
                "layers": model.activations(pixels).iter().filter(|(n, _)| !matches!(n.op, mnist_cnn::layers::Op::Dropout { .. })).map(|(n, v)| serde_json::json!({ "op": n.op.name(), "shape": n.shape, "values": v })).collect::<Vec<_>>(),
                "rows": rows,
                "saliency": saliency::saliency(model, pixels, predicted),
                "fooled": fooled.map(|f| serde_json::json!({ "predicted": f.predicted, "steps": f.steps, "change": f.change })),
            })
        })
        .collect();
    serde_json::Value::from(cases)
}
