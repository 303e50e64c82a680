//! Where the committed model fails, checked against `evaluate` on the real test set.
mod common;
use common::*;
use mnist_cnn::analysis::{self, ConfusionMatrix};
use mnist_cnn::{data, model, train};

#[test]
fn confusion_matrix_and_misses_agree_with_evaluate() {
    let m = data::load(&bundled()).unwrap();
    let net = model::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/lesson.safetensors")).unwrap();
    let probs = analysis::predict_all(&net, &m.test);
    assert_eq!(probs.len(), 10_000);
    let cm = ConfusionMatrix::new(&m.test, &probs);
    assert_eq!(cm.total(), 10_000);
    for d in 0..10 {
        let images = m.test.labels.iter().filter(|&&l| l as usize == d).count();
        assert_eq!(cm.counts[d].iter().sum::<usize>(), images, "row {d} counts every {d}");
    }
    let eval = train::evaluate(&net, &m.test);
    assert_eq!(cm.accuracy(), eval.accuracy);
    // The committed model is the lesson's: at least 98.5% on the test set.
    assert!(cm.accuracy() >= 0.985, "{}", cm.accuracy());
    let per_digit = cm.per_digit_accuracy();
    assert!(per_digit.iter().all(|&a| a > 0.95), "{per_digit:?}");

    let misses = analysis::misclassified(&m.test, &probs);
    assert_eq!(misses.len(), 10_000 - (0..10).map(|d| cm.counts[d][d]).sum::<usize>());
    assert!(misses.iter().all(|x| x.label != x.predicted && x.label == m.test.labels[x.index]));
    assert!(misses.windows(2).all(|w| w[0].probability >= w[1].probability), "most confident first");

    // The least sure digit (notebook 4 shows it): no image's top probability is lower, and on it
    // the probability is shared, as the notebook says (no answer gets even two thirds).
    let top = |p: &[f32; 10]| p[model::argmax(p)];
    let least = analysis::least_sure(&probs).unwrap();
    assert!(probs.iter().all(|p| top(p) >= top(&probs[least])));
    assert!(top(&probs[least]) < 2.0 / 3.0, "{:?}", probs[least]);
    assert_eq!(analysis::least_sure(&[]), None);
}

#[test]
fn feature_maps_have_the_layer_shapes_and_pooling_keeps_maxima() {
    let m = data::load(&bundled()).unwrap();
    let net = model::build(&model::device(1));
    let (activated, pooled) = analysis::feature_maps(&net, m.train.image(0));
    assert_eq!((activated.len(), pooled.len()), (32 * 26 * 26, 32 * 13 * 13));
    assert!(activated.iter().all(|&v| v >= 0.0), "after ReLU");
    // Each pooled value is the largest of its 2x2 block.
    for c in 0..32 {
        for r in 0..13 {
            for k in 0..13 {
                let at = |y: usize, x: usize| activated[c * 676 + y * 26 + x];
                let block = at(2 * r, 2 * k).max(at(2 * r, 2 * k + 1)).max(at(2 * r + 1, 2 * k)).max(at(2 * r + 1, 2 * k + 1));
                assert_eq!(pooled[c * 169 + r * 13 + k], block);
            }
        }
    }
    assert_eq!(analysis::filters(&net).len(), 32 * 9);
}

#[test]
fn exercise_checks_accept_right_answers_and_hint_at_wrong_ones() {
    use mnist_cnn::exercises;
    let right = exercises::horizontal_edge_filter([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -1.0, -1.0]]);
    assert!(right.right, "{right}");
    let vertical = exercises::horizontal_edge_filter(mnist_cnn::analysis::VERTICAL_EDGE);
    assert!(!vertical.right && vertical.message.contains("vertical edges"), "{vertical}");
    assert!(!exercises::horizontal_edge_filter([[0.0; 3]; 3]).right);
    assert!(exercises::pooled_side(2, 13).right);
    assert!(exercises::pooled_side(3, 8).right);
    assert!(!exercises::pooled_side(3, 9).right);
    // The lesson's own count, from the model summary.
    let net = mnist_cnn::model::build(&mnist_cnn::model::device(0));
    let total = mnist_cnn::model::summary(&net).total_params();
    assert!(exercises::parameter_count(32, total).right);
    assert!(exercises::parameter_count(16, 16 * 10 + 16 * 169 * 128 + 128 + 1290).right);
    assert!(!exercises::parameter_count(16, total).right);
}
