//! The MNIST digits: bundled in `data/mnist/`, checked, unpacked once, parsed, and served as raw
//! pixels (for pictures) or as normalised tensors in shuffled batches (for the model).
//! (`files.rs` reads and checks them).
use std::{
    ops::Range,
    path::{Path, PathBuf},
};

use dfdx::prelude::*;
use rand::{rngs::StdRng, seq::SliceRandom, Rng, SeedableRng};

use crate::error::{Error, Result};

mod augment;
mod files;

pub use augment::{augment, transform};
pub use files::load;

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
    pub fn load(self, dir: &Path) -> Result<TrainTest> {
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

/// A data set as it is loaded: its training images and its test images (for MNIST, 60,000 and
/// 10,000 handwritten digits; Fashion-MNIST has the same sizes).
#[derive(Clone, Debug)]
pub struct TrainTest {
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

/// One 28x28 image of 0-255 pixels as a batch of one for the model, `[1, 1, 28, 28]`, 0..1.
pub fn one_image(dev: &Cpu, pixels: &[u8]) -> Images {
    assert_eq!(pixels.len(), PIXELS, "a digit has 28 x 28 pixels");
    dev.tensor_from_vec(pixels.iter().map(|&p| normalise(p)).collect(), (1, Const, Const, Const))
}

/// A pixel 0..=255 as the model sees it: 0.0..=1.0.
pub fn normalise(p: u8) -> f32 {
    p as f32 / 255.0
}

