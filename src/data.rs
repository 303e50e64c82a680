//! The MNIST digits: bundled in `data/mnist/`, checked, unpacked once, parsed, and served as raw
//! pixels (for pictures) or as normalised tensors in shuffled batches (for the model).
//!
//! Each `.gz` file is decompressed into a cache (`target/mnist-cache/` by default, or
//! `$MNIST_CACHE_DIR`), the SHA-256 of its content is checked against `SHA256SUMS` when the
//! folder has one, its IDX header (magic number, count, 28x28) is checked, and only then is it
//! parsed with the `mnist` crate, which would panic on a bad file.
use std::{
    collections::HashMap,
    fs,
    io::Read,
    ops::Range,
    path::{Path, PathBuf},
};

use dfdx::prelude::*;
use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::fsutil::{self, write_atomic};

/// Image side in pixels.
pub const SIDE: usize = 28;
/// Pixels per image.
pub const PIXELS: usize = SIDE * SIDE;
/// Classes: the digits 0 to 9.
pub const CLASSES: usize = 10;

/// A batch of images as the model takes them: `[batch, 1, 28, 28]`, values 0..1.
pub type Images = Tensor<(usize, Const<1>, Const<28>, Const<28>), f32, Cpu>;
/// One-hot labels for a batch: `[batch, 10]`.
pub type OneHot = Tensor<(usize, Const<10>), f32, Cpu>;

/// The environment variable that overrides the data folder.
pub const DATA_DIR_ENV: &str = "MNIST_DATA_DIR";
/// The environment variable that overrides the decompression cache folder.
pub const CACHE_DIR_ENV: &str = "MNIST_CACHE_DIR";

const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";
const IMAGES_MAGIC: u32 = 2051;
const LABELS_MAGIC: u32 = 2049;
const TRAIN_LEN: usize = 60_000;
const TEST_LEN: usize = 10_000;

/// The class names of MNIST: the digits.
pub const DIGITS: [&str; CLASSES] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
/// The class names of Fashion-MNIST.
pub const FASHION: [&str; CLASSES] =
    ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
/// The environment variable that overrides the Fashion-MNIST folder.
pub const FASHION_DIR_ENV: &str = "FASHION_MNIST_DIR";

/// Which data set: the lesson's handwritten digits, or Zalando's Fashion-MNIST (the same format
/// and sizes, ten kinds of clothing instead of digits, harder to tell apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dataset {
    Mnist,
    Fashion,
}

impl Dataset {
    /// `mnist` or `fashion`.
    pub fn parse(name: &str) -> Option<Dataset> {
        match name {
            "mnist" | "digits" => Some(Dataset::Mnist),
            "fashion" | "fashion-mnist" => Some(Dataset::Fashion),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dataset::Mnist => "mnist",
            Dataset::Fashion => "fashion",
        }
    }

    /// Where its files are: MNIST is bundled (`data/mnist`, or `$MNIST_DATA_DIR`); Fashion-MNIST
    /// comes from Debian's `dataset-fashion-mnist` (`/usr/share/datasets/fashion-mnist`, or
    /// `$FASHION_MNIST_DIR`).
    pub fn default_dir(self) -> PathBuf {
        match self {
            Dataset::Mnist => default_dir(),
            Dataset::Fashion => std::env::var_os(FASHION_DIR_ENV)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/usr/share/datasets/fashion-mnist")),
        }
    }

    pub fn classes(self) -> [&'static str; CLASSES] {
        match self {
            Dataset::Mnist => DIGITS,
            Dataset::Fashion => FASHION,
        }
    }

    /// Loads the data set from `dir` (checked as [`load`] does) with its class names.
    pub fn load(self, dir: &Path) -> Result<Mnist> {
        if self == Dataset::Fashion && !dir.is_dir() {
            return Err(Error::MissingData {
                path: dir.to_path_buf(),
                fix: format!(
                    "Install Fashion-MNIST with `apt-get install dataset-fashion-mnist`, or point \
                     --data-dir (or ${FASHION_DIR_ENV}) at a folder with its four .gz files."
                ),
            });
        }
        let mut data = load(dir)?;
        data.train.classes = self.classes();
        data.test.classes = self.classes();
        Ok(data)
    }
}

/// The bundled data folder: `$MNIST_DATA_DIR` if set, else `data/mnist` in this crate.
pub fn default_dir() -> PathBuf {
    std::env::var_os(DATA_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist"))
}

fn cache_dir() -> PathBuf {
    std::env::var_os(CACHE_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/mnist-cache"))
}

/// One part of the data set (training or test): images as raw 0-255 bytes, row by row, and
/// their labels.
#[derive(Clone, Debug)]
pub struct Split {
    /// `len() * 784` bytes, 0 = black background, 255 = full ink.
    pub images: Vec<u8>,
    /// One class 0..=9 per image (for MNIST, the digit itself).
    pub labels: Vec<u8>,
    /// The name of each class, for pictures.
    pub classes: [&'static str; CLASSES],
}

/// MNIST: 60,000 training and 10,000 test images of handwritten digits.
#[derive(Clone, Debug)]
pub struct Mnist {
    pub train: Split,
    pub test: Split,
}

impl Split {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The raw 0-255 pixels of image `i`, 28 rows of 28.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * PIXELS..(i + 1) * PIXELS]
    }

    /// The first `n` images (all of them if there are fewer), for quick runs.
    pub fn take(&self, n: usize) -> Split {
        let n = n.min(self.len());
        Split { images: self.images[..n * PIXELS].to_vec(), labels: self.labels[..n].to_vec(), classes: self.classes }
    }

    /// Keras's `validation_split`: the last `fraction` of the images held out to watch the
    /// training with (taken before any shuffling, as Keras takes them), and the rest to train
    /// on. Returns `(train, validation)`.
    pub fn validation_split(&self, fraction: f64) -> (Split, Split) {
        let held = ((self.len() as f64 * fraction.clamp(0.0, 1.0)).round() as usize).min(self.len());
        let cut = self.len() - held;
        let part = |r: Range<usize>| Split { images: self.images[r.start * PIXELS..r.end * PIXELS].to_vec(), labels: self.labels[r].to_vec(), classes: self.classes };
        (part(0..cut), part(cut..self.len()))
    }

    /// The name of image `i`'s class.
    pub fn class_name(&self, i: usize) -> &'static str {
        self.classes[self.labels[i] as usize]
    }

    /// Images `indices` as a normalised tensor (pixel / 255) and their labels one-hot.
    pub fn batch(&self, dev: &Cpu, indices: &[usize]) -> (Images, OneHot) {
        self.batch_of(dev, indices, |pixels, x| x.extend(pixels.iter().map(|&p| normalise(p))))
    }

    /// Like [`Split::batch`], each image moved a little at random, anew each time it is seen:
    /// rotated by up to 10 degrees, scaled by 90-110%, shifted by up to 2 pixels across and down.
    /// A digit written slightly tilted, larger or off-centre is still that digit, so the network
    /// learns the shape rather than the exact pixels (data augmentation).
    pub fn augmented_batch(&self, dev: &Cpu, indices: &[usize], rng: &mut impl Rng) -> (Images, OneHot) {
        self.batch_of(dev, indices, |pixels, x| {
            let image: Vec<f32> = pixels.iter().map(|&p| normalise(p)).collect();
            x.extend(augment(&image, rng));
        })
    }

    /// The images at `indices` (each appended to the batch by `push`) and their one-hot labels.
    fn batch_of(&self, dev: &Cpu, indices: &[usize], mut push: impl FnMut(&[u8], &mut Vec<f32>)) -> (Images, OneHot) {
        let mut x = Vec::with_capacity(indices.len() * PIXELS);
        let mut y = vec![0.0f32; indices.len() * CLASSES];
        for (row, &i) in indices.iter().enumerate() {
            push(self.image(i), &mut x);
            y[row * CLASSES + self.labels[i] as usize] = 1.0;
        }
        let n = indices.len();
        (dev.tensor_from_vec(x, (n, Const, Const, Const)), dev.tensor_from_vec(y, (n, Const)))
    }

    /// Images in `range` in order, as [`Split::batch`] does.
    pub fn range(&self, dev: &Cpu, range: Range<usize>) -> (Images, OneHot) {
        self.batch(dev, &range.collect::<Vec<_>>())
    }

    /// Indices in batches of `batch_size`, shuffled by `seed` (the same seed, the same order).
    /// The last batch holds the remainder, so every image is seen once per epoch.
    pub fn shuffled_batches(&self, batch_size: usize, seed: u64) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(&mut StdRng::seed_from_u64(seed));
        order.chunks(batch_size.max(1)).map(<[usize]>::to_vec).collect()
    }
}

/// A pixel 0..=255 as the model sees it: 0.0..=1.0.
/// A 28x28 image (0..1) moved at random as training moves it: rotated by up to 10 degrees
/// either way, scaled by 90-110%, shifted by up to 2 pixels across and down.
pub fn augment(image: &[f32], rng: &mut impl Rng) -> Vec<f32> {
    let angle = rng.gen_range(-10.0f32..=10.0).to_radians();
    let scale = rng.gen_range(0.9f32..=1.1);
    let (dx, dy) = (rng.gen_range(-2.0f32..=2.0), rng.gen_range(-2.0f32..=2.0));
    transform(image, angle, scale, dx, dy)
}

/// A 28x28 image rotated by `angle` (radians, counter-clockwise) and scaled by `scale` about its
/// centre, then moved `dx` pixels right and `dy` down; each output pixel is read from the input
/// by bilinear interpolation, and from outside the image as background (0).
pub fn transform(image: &[f32], angle: f32, scale: f32, dx: f32, dy: f32) -> Vec<f32> {
    let centre = (SIDE as f32 - 1.0) / 2.0;
    let (sin, cos) = angle.sin_cos();
    let at = |x: isize, y: isize| {
        if (0..SIDE as isize).contains(&x) && (0..SIDE as isize).contains(&y) {
            image[y as usize * SIDE + x as usize]
        } else {
            0.0
        }
    };
    let mut out = vec![0.0; PIXELS];
    for y in 0..SIDE {
        for x in 0..SIDE {
            // Where this output pixel comes from: the inverse of shift(rotate(scale(.))).
            let (u, v) = (x as f32 - centre - dx, y as f32 - centre - dy);
            let sx = (cos * u + sin * v) / scale + centre;
            let sy = (-sin * u + cos * v) / scale + centre;
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            out[y * SIDE + x] = (1.0 - fy) * ((1.0 - fx) * at(x0, y0) + fx * at(x0 + 1, y0))
                + fy * ((1.0 - fx) * at(x0, y0 + 1) + fx * at(x0 + 1, y0 + 1));
        }
    }
    out
}

/// One 28x28 image of 0-255 pixels as a batch of one for the model, `[1, 1, 28, 28]`, 0..1.
pub fn one_image(dev: &Cpu, pixels: &[u8]) -> Images {
    assert_eq!(pixels.len(), PIXELS, "a digit has 28 x 28 pixels");
    dev.tensor_from_vec(pixels.iter().map(|&p| normalise(p)).collect(), (1, Const, Const, Const))
}

pub fn normalise(p: u8) -> f32 {
    p as f32 / 255.0
}

/// Loads MNIST from `dir` (the four `.gz` IDX files, and `SHA256SUMS` if present).
pub fn load(dir: &Path) -> Result<Mnist> {
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
    Ok(Mnist {
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
