//! The command line: subcommands and their flags (clap). Where each run's files go is in
//! [`crate::paths`].
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use mnist_cnn::{data, serve, train::FitConfig};

pub use crate::paths::{export_dir, model_path, Paths};

/// Handwritten digit recognition on MNIST with a compile-time-shaped CNN.
#[derive(Parser, Debug)]
#[command(name = "mnist-cnn", version, args_conflicts_with_subcommands = true, after_help = FILES_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// With no command: everything (`all`), with these flags.
    #[command(flatten)]
    pub all: RunArgs,
}

const FILES_HELP: &str = "\
Without a command, runs `all`. Each command has its own flags: mnist-cnn COMMAND --help.

The files: the lesson's network writes models/lesson.safetensors, reports/ and checkpoints/; the
better one models/better.safetensors, reports/better/ and checkpoints/better/ (and, when both
networks have a history, reports/comparison.png); Fashion-MNIST runs write models/fashion*.safetensors,
reports/fashion/... Quick runs (--limit, --dry-run) write under target/quick/ instead, so they
never replace a full run's files; --model, --history, --reports and --checkpoints say otherwise.";

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train, evaluate, save, write the reports (the default)
    #[command(after_help = FILES_HELP)]
    All(RunArgs),
    /// Train, evaluate and save the model and its history
    #[command(after_help = FILES_HELP)]
    Train(TrainArgs),
    /// Test accuracy and loss of the saved model
    #[command(after_help = FILES_HELP)]
    Evaluate(EvaluateArgs),
    /// Draw the report pictures from the saved history and model
    #[command(after_help = FILES_HELP)]
    Report(ReportArgs),
    /// Each layer's output shape and parameter count
    Summary(SummaryArgs),
    /// Write the saved model as ONNX and TensorFlow Lite (next to it, or in --out)
    #[command(after_help = FILES_HELP)]
    Export(ExportArgs),
    /// The top 3 digits for each PNG or JPEG image (--number: every digit of a number)
    #[command(after_help = FILES_HELP)]
    Predict(PredictArgs),
    /// A web page to draw a digit on and watch the model read it
    #[command(after_help = FILES_HELP)]
    Serve(ServeArgs),
    /// Write that page as a folder that reads digits on the device, with no server: any web
    /// server, or a phone once installed
    #[command(after_help = FILES_HELP)]
    Page(PageArgs),
}

/// Which network a run uses.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkName {
    /// The lesson's CNN
    Lesson,
    /// Three convolutions, dropout, moved images, a decaying learning rate
    Better,
}

impl NetworkName {
    pub fn name(self) -> &'static str {
        match self {
            NetworkName::Lesson => "lesson",
            NetworkName::Better => "better",
        }
    }
}

/// Which images.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetName {
    /// The lesson's handwritten digits
    Mnist,
    /// Zalando's Fashion-MNIST, from Debian's dataset-fashion-mnist
    Fashion,
}

impl DatasetName {
    pub fn dataset(self) -> data::Dataset {
        match self {
            DatasetName::Mnist => data::Dataset::Mnist,
            DatasetName::Fashion => data::Dataset::Fashion,
        }
    }
}

/// The network and the data set: together they name a run's files.
#[derive(Args, Debug, Clone)]
pub struct Which {
    /// The network
    #[arg(long, value_enum, default_value_t = NetworkName::Lesson)]
    pub network: NetworkName,
    /// The data set
    #[arg(long, value_enum, default_value_t = DatasetName::Mnist)]
    pub dataset: DatasetName,
    /// The model file [default: models/lesson.safetensors, see the files below]
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
}

/// Where the images come from, and how many.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// The data folder [default: data/mnist or $MNIST_DATA_DIR; for fashion
    /// /usr/share/datasets/fashion-mnist or $FASHION_MNIST_DIR]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Use only the first N training and test images (a quick run)
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub limit: Option<usize>,
}

/// How to train. Defaults that differ by network are `None` here and taken from [`FitConfig`].
#[derive(Args, Debug, Clone)]
pub struct FitArgs {
    #[arg(long, value_name = "N", value_parser = at_least_one, help = per_network("Epochs to train", |c| c.epochs.to_string()))]
    pub epochs: Option<usize>,
    #[arg(long, value_name = "N", value_parser = at_least_one, help = per_network("Images per training step", |c| c.batch_size.to_string()))]
    pub batch_size: Option<usize>,
    #[arg(long, value_name = "RATE", help = per_network("Adam's learning rate", |c| c.learning_rate.to_string()))]
    pub lr: Option<f32>,
    /// Seed of the initial weights and the shuffles
    #[arg(long, value_name = "N", default_value_t = FitConfig::default().seed)]
    pub seed: u64,
    /// The share of the training images held out to validate on after each epoch (Keras's
    /// validation_split; the test images are used once, at the end)
    #[arg(long, value_name = "F", value_parser = share, default_value_t = FitConfig::default().validation_split)]
    pub validation_split: f64,
    /// One epoch on 256 images, to check that everything runs
    #[arg(long)]
    pub dry_run: bool,
    /// Continue from the latest checkpoint
    #[arg(long)]
    pub resume: bool,
    /// Folder for the checkpoint kept after each epoch [default: checkpoints, see the files below]
    #[arg(long, value_name = "DIR")]
    pub checkpoints: Option<PathBuf>,
    /// No progress bar
    #[arg(long)]
    pub quiet: bool,
    /// CPU threads for the matrix products [default: all]
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub threads: Option<usize>,
}

/// Where the history and the pictures go.
#[derive(Args, Debug, Clone)]
pub struct OutputArgs {
    /// The history CSV [default: reports/history.csv, see the files below]
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// Folder for the report pictures [default: reports]
    #[arg(long, value_name = "DIR")]
    pub reports: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub which: Which,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub fit: FitArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    #[command(flatten)]
    pub which: Which,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub fit: FitArgs,
    /// The history CSV [default: reports/history.csv, see the files below]
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub which: Which,
    #[command(flatten)]
    pub data: DataArgs,
}

#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    #[command(flatten)]
    pub which: Which,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Args, Debug, Clone)]
pub struct SummaryArgs {
    /// The network
    #[arg(long, value_enum, default_value_t = NetworkName::Lesson)]
    pub network: NetworkName,
}

#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    #[command(flatten)]
    pub which: Which,
    /// Folder for the .onnx and .tflite files [default: the model's folder]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
pub struct PredictArgs {
    #[command(flatten)]
    pub which: Which,
    /// PNG or JPEG images, one digit each (or one number each, with --number)
    #[arg(required = true, value_name = "IMAGE")]
    pub files: Vec<PathBuf>,
    /// Each image holds a number (digits side by side): read every digit, left to right
    #[arg(long, conflicts_with = "photo")]
    pub number: bool,
    /// Each image is a photo of a digit on paper (ruled or squared, uneven light, the desk at the
    /// edges): the lines, shadows and desk are taken out first
    #[arg(long)]
    pub photo: bool,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub which: Which,
    /// Address to listen on (127.0.0.1: this computer only)
    #[arg(long, value_name = "ADDR", default_value_t = serve::Options::default().host)]
    pub host: String,
    /// Port (0 picks a free one)
    #[arg(long, value_name = "N", default_value_t = serve::Options::default().port)]
    pub port: u16,
    /// Serve to the local network (phones on the same Wi-Fi): listen on every address, print the
    /// one to open, with a QR code
    #[arg(long)]
    pub lan: bool,
    /// Connections answered at once (more get a 503 asking them to retry)
    #[arg(long, value_name = "N", value_parser = at_least_one, default_value_t = serve::Limits::default().max_connections)]
    pub max_connections: usize,
    /// Seconds a request may take to arrive (then a 408)
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u64).range(1..), default_value_t = serve::Limits::default().client_timeout.as_secs())]
    pub client_timeout: u64,
}

#[derive(Args, Debug, Clone)]
pub struct PageArgs {
    #[command(flatten)]
    pub which: Which,
    /// Folder to write the page to
    #[arg(long, value_name = "DIR", default_value = "target/page")]
    pub out: PathBuf,
}

impl ServeArgs {
    pub fn options(&self) -> serve::Options {
        let mut options = serve::Options { host: self.host.clone(), port: self.port, lan: self.lan, ..Default::default() };
        options.limits.max_connections = self.max_connections;
        options.limits.client_timeout = Duration::from_secs(self.client_timeout);
        options
    }
}

impl FitArgs {
    /// The network's own settings, with what the flags change.
    pub fn config(&self, network: NetworkName, checkpoints: PathBuf) -> FitConfig {
        let base = training_defaults(network);
        FitConfig {
            epochs: if self.dry_run { 1 } else { self.epochs.unwrap_or(base.epochs) },
            batch_size: self.batch_size.unwrap_or(base.batch_size),
            learning_rate: self.lr.unwrap_or(base.learning_rate),
            seed: self.seed,
            validation_split: self.validation_split,
            verbose: !self.quiet,
            checkpoint_dir: Some(checkpoints),
            ..base
        }
    }
}

impl DataArgs {
    /// The images a run uses: all of them, the first `--limit`, or 256 for a dry run.
    pub fn limit(&self, dry_run: bool) -> Option<usize> {
        match dry_run {
            true => Some(self.limit.unwrap_or(256).min(256)),
            false => self.limit,
        }
    }
}

pub fn training_defaults(network: NetworkName) -> FitConfig {
    match network {
        NetworkName::Lesson => FitConfig::default(),
        NetworkName::Better => FitConfig::better(),
    }
}

/// A flag's help with its default for each network, from the settings the code trains with.
fn per_network(what: &str, value: fn(&FitConfig) -> String) -> String {
    let (lesson, better) = (value(&FitConfig::default()), value(&FitConfig::better()));
    format!("{what} [default: {lesson}; better: {better}]")
}

fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{s}` is not a whole number")),
    }
}

fn share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f > 0.0 && f < 1.0 => Ok(f),
        Ok(f) => Err(format!("is a share of the training images, between 0 and 1 (not {f})")),
        Err(_) => Err(format!("`{s}` is not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_take_the_networks_own_defaults() {
        let cli = Cli::try_parse_from(["mnist-cnn", "train", "--network", "better", "--lr=0.01"]).unwrap();
        let Some(Command::Train(t)) = cli.command else { panic!("{cli:?}") };
        let cfg = t.fit.config(t.which.network, "c".into());
        assert_eq!((cfg.epochs, cfg.batch_size, cfg.learning_rate), (20, 64, 0.01));
        assert!(cfg.augment);
        let cli = Cli::try_parse_from(["mnist-cnn", "--dry-run"]).unwrap();
        assert!(cli.command.is_none());
        let cfg = cli.all.fit.config(cli.all.which.network, "c".into());
        assert_eq!((cfg.epochs, cfg.batch_size), (1, 32));
        assert_eq!(cli.all.data.limit(true), Some(256));
    }

    #[test]
    fn usage_mistakes_are_refused() {
        for args in [
            &["mnist-cnn", "train", "--batch-size", "0"][..],
            &["mnist-cnn", "train", "--validation-split", "1.5"],
            &["mnist-cnn", "train", "--network", "bigger"],
            &["mnist-cnn", "predict"],
            &["mnist-cnn", "serve", "--client-timeout", "0"],
            &["mnist-cnn", "--limit", "5", "train"],
            &["mnist-cnn", "fly"],
        ] {
            let e = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}: {e}");
        }
    }
}
