//! Reading the IDX files: each `.gz` file is decompressed into a cache (`target/mnist-cache/`
//! by default, or `$MNIST_CACHE_DIR`), the SHA-256 of its content is checked against
//! `SHA256SUMS` when the folder has one, its IDX header (magic number, count, 28x28) is checked,
//! and only then is it parsed with the `mnist` crate, which would panic on a bad file.
use std::{
    collections::HashMap,
    fs,
    io::Read,
    path::{Path, PathBuf},
};

use sha2::{Digest, Sha256};

use super::*;
use crate::error::{Error, Result};
use crate::fsutil::{self, write_atomic};

const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";
const IMAGES_MAGIC: u32 = 2051;
const LABELS_MAGIC: u32 = 2049;
const TRAIN_LEN: usize = 60_000;
const TEST_LEN: usize = 10_000;

fn cache_dir() -> PathBuf {
    std::env::var_os(CACHE_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/mnist-cache"))
}

/// Loads MNIST from `dir` (the four `.gz` IDX files, and `SHA256SUMS` if present).
pub fn load(dir: &Path) -> Result<TrainTest> {
    if !dir.is_dir() {
        return Err(Error::MissingData {
            path: dir.to_path_buf(),
            fix: format!(
                "Point --data-dir (or ${DATA_DIR_ENV}) at a folder with the four MNIST .gz files, \
                 or restore the bundled copy with `git checkout -- data/mnist`."
            ),
        });
    }
    let sums = read_sums(dir)?;
    let cache = cache_dir();
    let mut paths = HashMap::new();
    for (images, labels, count, part) in
        [(TRAIN_IMAGES, TRAIN_LABELS, TRAIN_LEN, "training"), (TEST_IMAGES, TEST_LABELS, TEST_LEN, "test")]
    {
        let (img_path, img) = unpack(dir, images, sums.get(images).map(String::as_str), &cache)?;
        let (lbl_path, lbl) = unpack(dir, labels, sums.get(labels).map(String::as_str), &cache)?;
        let (img_gz, lbl_gz) = (dir.join(format!("{images}.gz")), dir.join(format!("{labels}.gz")));
        let n_img = check_idx(&img_gz, &img, IMAGES_MAGIC)?;
        let n_lbl = check_idx(&lbl_gz, &lbl, LABELS_MAGIC)?;
        if n_img != n_lbl {
            return Err(corrupt(
                &lbl_gz,
                format!("holds {n_lbl} labels for the {n_img} images of {}", img_gz.display()),
            ));
        }
        if n_img != count {
            return Err(corrupt(
                &img_gz,
                format!("holds {n_img} images, but the MNIST {part} set has {count}"),
            ));
        }
        paths.insert(images, img_path);
        paths.insert(labels, lbl_path);
    }
    // All four files are in one cache folder, checked; the `mnist` crate parses them.
    let base = cache.to_string_lossy().into_owned();
    let names: Vec<String> = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS]
        .iter()
        .map(|n| paths[n].file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let m = mnist::MnistBuilder::new()
        .base_path(&base)
        .training_images_filename(&names[0])
        .training_labels_filename(&names[1])
        .test_images_filename(&names[2])
        .test_labels_filename(&names[3])
        .label_format_digit()
        .training_set_length(TRAIN_LEN as u32)
        .validation_set_length(0)
        .test_set_length(TEST_LEN as u32)
        .finalize();
    Ok(TrainTest {
        train: Split { images: m.trn_img, labels: m.trn_lbl, classes: DIGITS },
        test: Split { images: m.tst_img, labels: m.tst_lbl, classes: DIGITS },
    })
}

/// `SHA256SUMS`: `<hex>  <file name>` per line, for the uncompressed files.
fn read_sums(dir: &Path) -> Result<HashMap<String, String>> {
    let path = dir.join("SHA256SUMS");
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(Error::io("read", &path)(e)),
    };
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next_back()?.trim_start_matches('*').to_string(), it.next()?.to_lowercase()))
        })
        .collect())
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Decompresses `dir/name.gz` into the cache once (the cached copy is named by the hash of the
/// `.gz`, so another data folder never reuses it) and checks its content's SHA-256.
fn unpack(dir: &Path, name: &str, expected: Option<&str>, cache: &Path) -> Result<(PathBuf, Vec<u8>)> {
    let gz = dir.join(format!("{name}.gz"));
    let restore = "Restore it with `git checkout -- data/mnist` (or copy the original MNIST file there).";
    let packed = fsutil::read(&gz, restore)?;
    let raw = cache.join(format!("{name}-{}", &hex_sha256(&packed)[..16]));
    let verify = |content: &[u8]| -> Result<()> {
        match expected {
            Some(want) if hex_sha256(content) != want => Err(Error::CorruptData {
                path: gz.clone(),
                problem: format!(
                    "wrong checksum: its content has SHA-256 {}, but SHA256SUMS says {want}",
                    hex_sha256(content)
                ),
                fix: restore.to_string(),
            }),
            _ => Ok(()),
        }
    };
    if let Ok(content) = fs::read(&raw) {
        if verify(&content).is_ok() {
            return Ok((raw, content));
        }
    }
    let mut content = Vec::new();
    flate2::read::GzDecoder::new(&packed[..]).read_to_end(&mut content).map_err(|e| Error::CorruptData {
        path: gz.clone(),
        problem: format!("cannot be decompressed ({e}); the file is truncated or not gzip"),
        fix: restore.to_string(),
    })?;
    verify(&content)?;
    write_atomic(&raw, &content)?;
    Ok((raw, content))
}

fn corrupt(gz: &Path, problem: String) -> Error {
    Error::CorruptData {
        path: gz.to_path_buf(),
        problem,
        fix: "Use the original MNIST files (restore the bundled ones with `git checkout -- data/mnist`).".into(),
    }
}

/// Checks an IDX file's header and length and returns its item count, so that the `mnist`
/// crate never sees a bad file.
fn check_idx(gz: &Path, bytes: &[u8], magic: u32) -> Result<usize> {
    let bad = |problem: String| corrupt(gz, problem);
    let word = |i: usize| bytes.get(4 * i..4 * i + 4).map(|b| u32::from_be_bytes(b.try_into().unwrap()));
    let kind = if magic == IMAGES_MAGIC { "images" } else { "labels" };
    let short = || bad("too short to hold an IDX header".into());
    let found = word(0).ok_or_else(short)?;
    if found != magic {
        return Err(bad(format!(
            "wrong IDX magic number {found:#010x}: an MNIST {kind} file starts with {magic:#010x}"
        )));
    }
    let n = word(1).ok_or_else(short)? as usize;
    let (header, per) = if magic == IMAGES_MAGIC {
        let (rows, cols) = (word(2).ok_or_else(short)?, word(3).ok_or_else(short)?);
        if (rows, cols) != (SIDE as u32, SIDE as u32) {
            return Err(bad(format!("images are {rows}x{cols} pixels, not 28x28")));
        }
        (16, PIXELS)
    } else {
        (8, 1)
    };
    let want = header + n * per;
    if bytes.len() != want {
        return Err(bad(format!("is {} bytes long, but {n} {kind} need {want}", bytes.len())));
    }
    if magic == LABELS_MAGIC {
        if let Some(l) = bytes[header..].iter().find(|&&l| l as usize >= CLASSES) {
            return Err(bad(format!("holds label {l}, but labels are digits 0-9")));
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Random and mutated IDX files: each is read (its length then matches its count) or
    /// refused with a reason, never a panic.
    #[test]
    fn any_idx_bytes_are_read_or_refused_without_a_panic() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let mut images = [IMAGES_MAGIC, 2, 28, 28].iter().flat_map(|w| w.to_be_bytes()).collect::<Vec<u8>>();
        images.extend((0..2 * PIXELS).map(|i| i as u8));
        let mut labels = [LABELS_MAGIC, 3].iter().flat_map(|w| w.to_be_bytes()).collect::<Vec<u8>>();
        labels.extend([7, 2, 1]);
        let (mut read, mut refused) = (0, 0);
        for i in 0..20_000 {
            let (seed, magic, header, per) = if i % 2 == 0 { (&images, IMAGES_MAGIC, 16, PIXELS) } else { (&labels, LABELS_MAGIC, 8, 1) };
            let mut bytes = seed.clone();
            for _ in 0..rng.gen_range(1..4) {
                let at = rng.gen_range(0..bytes.len().min(24));
                match rng.gen_range(0..4) {
                    0 => bytes[at] = rng.gen(),
                    1 => bytes.truncate(rng.gen_range(0..=bytes.len())),
                    2 => bytes.extend((0..rng.gen_range(1..900)).map(|_| rng.gen::<u8>())),
                    _ if bytes.len() >= 8 => bytes[4..8].copy_from_slice(&rng.gen::<u32>().to_be_bytes()),
                    _ => {}
                }
                if bytes.is_empty() {
                    break;
                }
            }
            match check_idx(Path::new("x.gz"), &bytes, magic) {
                Ok(n) => {
                    assert_eq!(bytes.len(), header + n * per);
                    read += 1;
                }
                Err(e) => {
                    assert!(e.to_string().contains("x.gz"), "{e}");
                    refused += 1;
                }
            }
        }
        assert!(read > 0 && refused > 0, "{read} read, {refused} refused");
    }
}
