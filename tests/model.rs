//! The lesson's model: its summary, its probabilities, and its file.
mod common;
use common::*;
use dfdx::nn::builders::{Linear, ReLU};
use dfdx::prelude::*;
use mnist_cnn::layers::{builder::Conv2D, Flatten, MaxPool2D};
use mnist_cnn::{data, model, Error};

#[test]
fn summary_matches_keras() {
    let s = model::summary(&model::build(&model::device(0)));
    let rows: Vec<(Vec<usize>, usize)> = s.layers.iter().map(|l| (l.shape.clone(), l.params)).collect();
    assert_eq!(
        rows,
        [
            (vec![32, 26, 26], 320),
            (vec![32, 13, 13], 0),
            (vec![5408], 0),
            (vec![128], 692_352),
            (vec![10], 1_290)
        ]
    );
    assert_eq!(s.total_params(), 693_962);
    assert!(s.to_string().contains("Total params: 693,962"));
}

#[test]
fn probabilities_sum_to_one() {
    let m = data::load(&bundled()).unwrap();
    let net = model::build(&model::device(3));
    let dev = model::device(0);
    for p in model::probabilities(&net, m.test.range(&dev, 0..20).0) {
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        assert!(p.iter().all(|&v| v > 0.0));
    }
}

#[test]
fn saved_model_loads_with_the_same_weights() {
    let dir = temp_dir("model-roundtrip");
    let path = dir.join("m.safetensors");
    let net = model::build(&model::device(5));
    model::save(&net, &path).unwrap();
    let back = model::load(&path).unwrap();
    assert_eq!(back.layers.0 .0.weight.as_vec(), net.layers.0 .0.weight.as_vec());
    assert_eq!(back.layers.3 .0.weight.as_vec(), net.layers.3 .0.weight.as_vec());
    assert_eq!(back.layers.4.bias.as_vec(), net.layers.4.bias.as_vec());
    // Nothing but the file itself is left behind (the write went through a renamed temp file).
    let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, ["m.safetensors"]);
}

#[test]
fn corrupt_model_file_is_a_clear_error() {
    let dir = temp_dir("model-corrupt");
    let path = dir.join("m.safetensors");
    model::save(&model::build(&model::device(0)), &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
    let err = model::load(&path).unwrap_err();
    assert!(matches!(err, Error::BadModel { .. }));
    assert!(err.to_string().contains("is not a safetensors model file"), "{err}");
    std::fs::write(&path, b"hello").unwrap();
    assert!(model::load(&path).unwrap_err().to_string().contains("is not a safetensors model file"));
    let out = cli(&["evaluate", "--model", path.to_str().unwrap()]);
    assert_clean_failure(&out, "is not a safetensors model file");
}

/// Same layer names, 16 filters instead of 32: every tensor is there, with other shapes.
type Narrower = ((Conv2D<1, 16, 3>, ReLU), MaxPool2D<2>, Flatten, (Linear<2704, 128>, ReLU), Linear<128, 10>);

#[test]
fn model_file_of_another_shape_is_a_clear_error() {
    let dir = temp_dir("model-shape");
    let path = dir.join("narrow.safetensors");
    let dev: Cpu = Default::default();
    dev.build_module::<Narrower, f32>().save_safetensors(&path).unwrap();
    let err = model::load(&path).unwrap_err().to_string();
    assert!(err.contains("tensor `0.0.weight` has shape [16, 1, 3, 3], but this model needs [32, 1, 3, 3]"), "{err}");
    let out = cli(&["evaluate", "--model", path.to_str().unwrap()]);
    assert_clean_failure(&out, "it was saved by another model");
    let other = dir.join("linear.safetensors");
    dev.build_module::<Linear<4, 2>, f32>().save_safetensors(&other).unwrap();
    assert!(model::load(&other).unwrap_err().to_string().contains("has no tensor `0.0.weight`"));
}

#[test]
fn missing_model_file_says_to_train_first() {
    let out = cli(&["evaluate", "--model", "/no/such/model.safetensors"]);
    assert_clean_failure(&out, "mnist-cnn train");
}

/// Random and mutated model files (the header most, where the structure is): each is loaded
/// or refused with a reason, never a panic; and a refused file leaves the model as it was.
#[test]
fn any_model_bytes_are_loaded_or_refused_without_a_panic() {
    use rand::{Rng, SeedableRng};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/lesson.safetensors");
    let good = std::fs::read(&path).unwrap();
    let header = 8 + u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let mut m = model::build(&model::device(1));
    let before = m.layers.0 .0.weight.as_vec();
    let (mut loaded, mut refused) = (0, 0);
    for _ in 0..2_000 {
        let mut bytes = good.clone();
        for _ in 0..rng.gen_range(1..4) {
            match rng.gen_range(0..5) {
                0 => {
                    let at = rng.gen_range(0..header);
                    bytes[at] = rng.gen();
                }
                1 => {
                    let at = rng.gen_range(0..header);
                    let tokens = b"{}[]\":,0123456789.e-FUI";
                    bytes[at] = tokens[rng.gen_range(0..tokens.len())];
                }
                2 => bytes.truncate(rng.gen_range(0..bytes.len())),
                3 => bytes[..8].copy_from_slice(&rng.gen_range(0..header as u64 * 2).to_le_bytes()),
                _ => {
                    let at = rng.gen_range(header..bytes.len());
                    bytes[at] = rng.gen();
                }
            }
            if bytes.len() < 8 {
                break;
            }
        }
        match model::load_bytes_into(&mut m, &bytes, &path) {
            Ok(()) => {
                loaded += 1;
                m = model::build(&model::device(1));
            }
            Err(e) => {
                assert!(matches!(e, Error::BadModel { .. }), "{e}");
                assert_eq!(m.layers.0 .0.weight.as_vec(), before, "a refused file changed the model");
                refused += 1;
            }
        }
    }
    assert!(loaded > 0 && refused > 0, "{loaded} loaded, {refused} refused");
}

/// Notebook 8's exercise says how far its network's second convolution can grow within 100,000
/// parameters: 40 filters stay under, 48 do not.
#[test]
fn notebook_8s_parameter_hint_is_right() {
    use mnist_cnn::layers::{Conv2D, Dense, Flatten, MaxPool2D, ReLU, Same};
    use mnist_cnn::model::{Network, Sequential};
    type With<const F: usize, const D: usize> = Sequential<(
        ((Conv2D<1, 16, 5>, ReLU), MaxPool2D<2>),
        ((Conv2D<16, F, 3, 1, Same>, ReLU), MaxPool2D<2>),
        Flatten,
        (Dense<D, 64>, ReLU),
        Dense<64, 10>,
    )>;
    assert_eq!(With::<32, 1152>::build(&model::device(0)).summary().total_params(), 79_498);
    assert_eq!(With::<40, 1440>::build(&model::device(0)).summary().total_params(), 99_090);
    assert_eq!(With::<48, 1728>::build(&model::device(0)).summary().total_params(), 118_682);
}
