//! Caffe's LeNet for MNIST, defined here, outside the library, as a student would: the network
//! is its stack of layers, and the library trains it, summarises it, saves it and exports it.
//!
//! ```sh
//! cargo run --release --example lenet5                      # 10 epochs, files in target/lenet5/
//! cargo run --release --example lenet5 -- --dry-run         # one epoch on 256 images
//! cargo run --release --example lenet5 -- --epochs 3 --batch-size 128 --out my-lenet
//! ```
//!
//! Writes `lenet5.safetensors`, `history.csv`, `lenet5.onnx`, `lenet5.tflite`, and the
//! library's probabilities for the first 1,000 test images (`lenet5.images.f32`,
//! `lenet5.probabilities.f32`), against which another runtime's answers can be checked.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use mnist_cnn::layers::{Conv2D, Dense, Flatten, MaxPool2D, ReLU};
use mnist_cnn::model::{self, Network, Sequential};
use mnist_cnn::train::{self, Checkpoint, FitConfig};
use mnist_cnn::{data, export};

/// LeNet (Caffe's `lenet_train_test.prototxt`): two convolutions, each followed by max pooling,
/// then a dense layer of 500 with a ReLU, and ten outputs. 431,080 parameters.
type LeNet5 = Sequential<(
    (Conv2D<1, 20, 5>, MaxPool2D<2>),  // [batch, 20, 12, 12]: 20 filters of 5x5 on 28x28 give 24x24, pooled
    (Conv2D<20, 50, 5>, MaxPool2D<2>), // [batch, 50, 4, 4]:   50 filters of 5x5x20 give 8x8, pooled
    Flatten,                           // [batch, 800]
    (Dense<800, 500>, ReLU),           // [batch, 500]
    Dense<500, 10>,                    // [batch, 10]
)>;

/// Train Caffe's LeNet on MNIST with the mnist-cnn library.
#[derive(Parser, Debug)]
struct Args {
    /// Epochs to train.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Images per training step.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    /// Seed of the initial weights and the shuffles.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Use only the first N training and test images.
    #[arg(long)]
    limit: Option<usize>,
    /// One epoch on 256 images, to check that everything runs.
    #[arg(long)]
    dry_run: bool,
    /// Folder for the model, its history and its exports.
    #[arg(long, default_value = "target/lenet5")]
    out: PathBuf,
    /// The MNIST folder.
    #[arg(long, default_value_os_t = data::default_dir())]
    data_dir: PathBuf,
}

fn run(args: Args) -> mnist_cnn::Result<()> {
    let mut mnist = data::load(&args.data_dir)?;
    let limit = if args.dry_run { Some(args.limit.unwrap_or(256).min(256)) } else { args.limit };
    if let Some(n) = limit {
        mnist.train = mnist.train.take(n);
        mnist.test = mnist.test.take(n);
    }
    let cfg = FitConfig {
        epochs: if args.dry_run { 1 } else { args.epochs },
        batch_size: args.batch_size,
        learning_rate: args.lr,
        seed: args.seed,
        ..FitConfig::default()
    };
    let mut run: Checkpoint<LeNet5> = Checkpoint::start(&cfg);
    println!("{}\n", run.model.summary());
    // A tenth of the training images held out to validate on after each epoch; the test
    // images once, at the end.
    let (train_part, validation) = mnist.train.validation_split(cfg.validation_split);
    train::fit(&mut run, &train_part, &validation, &cfg, |_| {})?;
    let seconds: f64 = run.history.epochs.iter().map(|e| e.seconds).sum();
    let seen = train_part.len() * run.history.epochs.len();
    println!("Training: {:.0} images/s ({seen} images in {seconds:.1} s)", seen as f64 / seconds);
    let eval = train::evaluate(&run.model, &mnist.test);
    println!("Test accuracy: {:.2}%  (loss {:.4}) on {} images", eval.accuracy * 100.0, eval.loss, mnist.test.len());

    let out = &args.out;
    std::fs::create_dir_all(out).map_err(mnist_cnn::Error::io("create folder", out))?;
    model::save(&run.model, &out.join("lenet5.safetensors"))?;
    run.history.save_csv(&out.join("history.csv"))?;
    export::write_onnx(&run.model, &out.join("lenet5.onnx"))?;
    export::write_tflite(&run.model, &out.join("lenet5.tflite"))?;
    let full_test = data::load(&args.data_dir)?.test;
    export::write_reference(&run.model, &full_test.take(1000), out, "lenet5")?;
    println!("Wrote {}: lenet5.safetensors, history.csv, lenet5.onnx, lenet5.tflite", out.display());
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.batch_size == 0 {
        eprintln!("error: --batch-size must be at least 1");
        return ExitCode::from(2);
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
