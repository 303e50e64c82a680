//! The bundled MNIST loads as the real thing, and every kind of damage is a clear error.
mod common;
use common::*;
use mnist_cnn::{data, Error};

#[test]
fn bundled_mnist_is_the_real_thing() {
    let m = data::load(&bundled()).unwrap();
    assert_eq!((m.train.len(), m.test.len()), (60_000, 10_000));
    assert_eq!(m.train.images.len(), 60_000 * 784);
    assert_eq!(m.train.labels[..10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    assert_eq!(m.test.labels[..10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    let count = |labels: &[u8]| (0..10).map(|d| labels.iter().filter(|&&l| l == d).count()).collect::<Vec<_>>();
    assert_eq!(count(&m.train.labels), [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    assert_eq!(count(&m.test.labels), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    // Pixels 0..=255 become 0..=1 in the tensors.
    let dev = Default::default();
    let (x, y) = m.train.range(&dev, 0..2);
    let xs = x.as_vec();
    assert_eq!(xs.len(), 2 * 784);
    assert!(xs.iter().all(|&v| (0.0..=1.0).contains(&v)));
    assert_eq!(xs.iter().cloned().fold(0.0, f32::max), 1.0);
    assert_eq!(y.as_vec()[..10], [0., 0., 0., 0., 0., 1., 0., 0., 0., 0.]);
}

#[test]
fn batches_cover_every_image_once_even_with_a_remainder() {
    let m = data::load(&bundled()).unwrap();
    let part = m.train.take(100);
    let batches = part.shuffled_batches(32, 7);
    assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [32, 32, 32, 4]);
    let mut all: Vec<usize> = batches.concat();
    all.sort();
    assert_eq!(all, (0..100).collect::<Vec<_>>());
    assert_eq!(part.shuffled_batches(32, 7), batches, "same seed, same order");
    assert_ne!(part.shuffled_batches(32, 8), batches, "another seed, another order");
    assert_eq!(m.train.shuffled_batches(128, 0).iter().map(Vec::len).sum::<usize>(), 60_000);
}

#[test]
fn missing_folder_is_a_clear_error() {
    let err = data::load(std::path::Path::new("/no/such/mnist")).unwrap_err();
    assert!(matches!(err, Error::MissingData { .. }), "{err}");
    assert!(err.to_string().contains("/no/such/mnist does not exist"), "{err}");
    assert!(err.to_string().contains("--data-dir"), "{err}");
}

#[test]
fn missing_file_is_a_clear_error() {
    let dir = copy_of_data("missing-file", true);
    std::fs::remove_file(dir.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    let err = data::load(&dir).unwrap_err().to_string();
    assert!(err.contains("t10k-labels-idx1-ubyte.gz does not exist"), "{err}");
}

#[test]
fn truncated_gz_is_a_clear_error() {
    let dir = copy_of_data("truncated", true);
    let f = dir.join("train-labels-idx1-ubyte.gz");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() / 2]).unwrap();
    let err = data::load(&dir).unwrap_err().to_string();
    assert!(err.contains("train-labels-idx1-ubyte.gz: cannot be decompressed"), "{err}");
    assert!(err.contains("git checkout -- data/mnist"), "{err}");
}

#[test]
fn wrong_checksum_is_a_clear_error() {
    let dir = copy_of_data("checksum", true);
    let f = dir.join("t10k-labels-idx1-ubyte.gz");
    let mut raw = gunzip(&f);
    raw[100] = (raw[100] + 1) % 10; // one label changed: still a valid IDX file
    gzip(&f, &raw);
    let err = data::load(&dir).unwrap_err().to_string();
    assert!(err.contains("t10k-labels-idx1-ubyte.gz: wrong checksum"), "{err}");
    assert!(err.contains("ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"), "{err}");
}

#[test]
fn wrong_idx_magic_is_a_clear_error() {
    let dir = copy_of_data("magic", false);
    let f = dir.join("train-labels-idx1-ubyte.gz");
    let mut raw = gunzip(&f);
    raw[3] = 3; // an images magic number in a labels file
    gzip(&f, &raw);
    let err = data::load(&dir).unwrap_err().to_string();
    assert!(err.contains("train-labels-idx1-ubyte.gz: wrong IDX magic number 0x00000803"), "{err}");
}

#[test]
fn image_label_count_mismatch_is_a_clear_error() {
    let dir = copy_of_data("count", false);
    let f = dir.join("t10k-labels-idx1-ubyte.gz");
    let mut raw = gunzip(&f);
    raw[4..8].copy_from_slice(&9_999u32.to_be_bytes());
    raw.pop();
    gzip(&f, &raw);
    let err = data::load(&dir).unwrap_err().to_string();
    assert!(err.contains("holds 9999 labels for the 10000 images"), "{err}");
}

#[test]
fn cli_reports_bad_data_without_panicking() {
    let out = cli(&["evaluate", "--data-dir", "/no/such/mnist"]);
    assert_clean_failure(&out, "/no/such/mnist does not exist");
    let dir = copy_of_data("cli-truncated", true);
    let f = dir.join("t10k-images-idx3-ubyte.gz");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..1000]).unwrap();
    let out = cli(&["evaluate", "--data-dir", dir.to_str().unwrap()]);
    assert_clean_failure(&out, "cannot be decompressed");
}
