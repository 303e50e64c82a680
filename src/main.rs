//! `mnist-cnn`: train the lesson's CNN, evaluate it, draw its reports, print its summary.
//! Thin: flags, paths and exit codes; the work is in the library.
/// A caching allocator: training allocates and frees the same large buffers every step, which
/// the system allocator hands back to the kernel (page faults) each time.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use mnist_cnn::{
    data, history::History, model, report,
    train::{self, Checkpoint, FitConfig},
    Error, Result,
};

const USAGE: &str = "\
Handwritten digit recognition on MNIST with a compile-time-shaped CNN.

Usage: mnist-cnn [COMMAND] [FLAGS]

Commands:
  all        train, evaluate, save, write reports (the default)
  train      train, evaluate and save the model and its history
  evaluate   test accuracy and loss of the saved model
  report     draw the report pictures from the saved history and model
  summary    each layer's output shape and parameter count

Flags:
  --epochs N          epochs to train (default 10)
  --batch-size N      images per training step (default 32)
  --lr RATE           Adam learning rate (default 0.001)
  --seed N            seed for the initial weights and the shuffles (default 0)
  --limit N           use only the first N training and test images (a quick run)
  --dry-run           one epoch on 256 images, to check that everything runs
  --resume            continue from the latest checkpoint
  --threads N         CPU threads for the matrix products (default: all)
  --dataset NAME      mnist (the lesson's digits, the default) or fashion (Fashion-MNIST,
                      from Debian's dataset-fashion-mnist)
  --data-dir DIR      data folder (default data/mnist or $MNIST_DATA_DIR; for fashion
                      /usr/share/datasets/fashion-mnist or $FASHION_MNIST_DIR)
  --model FILE        model file (default models/lesson.safetensors)
  --history FILE      history CSV (default reports/history.csv)
  --reports DIR       folder for the report pictures (default reports)
  --checkpoints DIR   folder for per-epoch checkpoints (default checkpoints)
  --quiet             no progress bar
  -h, --help          this help

Quick runs (--limit, --dry-run) write to target/quick/ unless --model, --history,
--reports or --checkpoints say otherwise, so they never replace the full run's files.
Fashion-MNIST runs write to models/fashion.safetensors, reports/fashion/ and checkpoints/fashion/.";

struct Args {
    command: String,
    fit: FitConfig,
    limit: Option<usize>,
    resume: bool,
    dataset: data::Dataset,
    data_dir: PathBuf,
    model: PathBuf,
    history: PathBuf,
    reports: PathBuf,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Option<Args>> {
    let usage = |m: String| Error::Usage(format!("{m}\nRun `mnist-cnn --help` for the flags."));
    let mut command = None;
    let mut fit = FitConfig::default();
    let (mut limit, mut resume, mut dry_run) = (None, false, false);
    let mut dataset = data::Dataset::Mnist;
    let (mut data_dir, mut model, mut history, mut reports, mut checkpoints) = (None, None, None, None, None);
    while let Some(arg) = argv.next() {
        let mut value = |name: &str| argv.next().ok_or_else(|| usage(format!("{name} needs a value")));
        fn number<T: std::str::FromStr>(name: &str, v: String) -> Result<T> {
            v.parse().map_err(|_| Error::Usage(format!("{name} takes a number, not `{v}`")))
        }
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--epochs" => fit.epochs = number("--epochs", value("--epochs")?)?,
            "--batch-size" => fit.batch_size = number("--batch-size", value("--batch-size")?)?,
            "--lr" => fit.learning_rate = number("--lr", value("--lr")?)?,
            "--seed" => fit.seed = number("--seed", value("--seed")?)?,
            "--limit" => limit = Some(number("--limit", value("--limit")?)?),
            "--threads" => {
                let n: usize = number("--threads", value("--threads")?)?;
                std::env::set_var("RAYON_NUM_THREADS", n.to_string());
            }
            "--dry-run" => dry_run = true,
            "--resume" => resume = true,
            "--quiet" => fit.verbose = false,
            "--dataset" => {
                let name = value("--dataset")?;
                dataset = data::Dataset::parse(&name)
                    .ok_or_else(|| usage(format!("--dataset is `mnist` or `fashion`, not `{name}`")))?;
            }
            "--data-dir" => data_dir = Some(PathBuf::from(value("--data-dir")?)),
            "--model" => model = Some(PathBuf::from(value("--model")?)),
            "--history" => history = Some(PathBuf::from(value("--history")?)),
            "--reports" => reports = Some(PathBuf::from(value("--reports")?)),
            "--checkpoints" => checkpoints = Some(PathBuf::from(value("--checkpoints")?)),
            c if !c.starts_with('-') && command.is_none() => command = Some(c.to_string()),
            other => return Err(usage(format!("unknown argument `{other}`"))),
        }
    }
    if fit.batch_size == 0 {
        return Err(usage("--batch-size must be at least 1".into()));
    }
    if dry_run {
        fit.epochs = 1;
        limit = Some(limit.unwrap_or(256).min(256));
    }
    let base = if limit.is_some() { PathBuf::from("target/quick") } else { PathBuf::new() };
    let (model_name, sub) = match dataset {
        data::Dataset::Mnist => ("lesson", ""),
        data::Dataset::Fashion => ("fashion", "fashion"),
    };
    fit.checkpoint_dir = Some(checkpoints.unwrap_or_else(|| base.join("checkpoints").join(sub)));
    let command = command.unwrap_or_else(|| "all".into());
    if !["all", "train", "evaluate", "report", "summary"].contains(&command.as_str()) {
        return Err(usage(format!("unknown command `{command}`")));
    }
    Ok(Some(Args {
        command,
        fit,
        limit,
        resume,
        dataset,
        data_dir: data_dir.unwrap_or_else(|| dataset.default_dir()),
        model: model.unwrap_or_else(|| base.join(format!("models/{model_name}.safetensors"))),
        history: history.unwrap_or_else(|| base.join("reports").join(sub).join("history.csv")),
        reports: reports.unwrap_or_else(|| base.join("reports").join(sub)),
    }))
}

fn load_data(args: &Args) -> Result<data::Mnist> {
    let mut mnist = args.dataset.load(&args.data_dir)?;
    if let Some(n) = args.limit {
        mnist.train = mnist.train.take(n);
        mnist.test = mnist.test.take(n);
    }
    Ok(mnist)
}

fn train(args: &Args, mnist: &data::Mnist) -> Result<()> {
    let dir = args.fit.checkpoint_dir.as_deref().expect("set by parse");
    let mut run = match args.resume {
        true => match train::load_checkpoint(dir, &args.fit, mnist.train.len())? {
            Some(run) => {
                eprintln!("Resuming after epoch {} from {}", run.history.epochs.len(), dir.display());
                run
            }
            None => {
                eprintln!("No checkpoint in {}: starting afresh", dir.display());
                Checkpoint::new(&args.fit)
            }
        },
        false => Checkpoint::new(&args.fit),
    };
    eprintln!(
        "Training on {} images, testing on {}, batch size {}, {} epochs",
        mnist.train.len(),
        mnist.test.len(),
        args.fit.batch_size,
        args.fit.epochs
    );
    let history_path = args.history.clone();
    train::fit(&mut run, &mnist.train, &mnist.test, &args.fit, |_| {})?;
    run.history.save_csv(&history_path)?;
    model::save(&run.model, &args.model)?;
    let eval = train::evaluate(&run.model, &mnist.test);
    println!("Test accuracy: {:.2}%  (loss {:.4})", eval.accuracy * 100.0, eval.loss);
    println!("Saved {} and {}", args.model.display(), history_path.display());
    Ok(())
}

fn run(args: Args) -> Result<()> {
    match args.command.as_str() {
        "summary" => println!("{}", model::summary(&model::build(&model::device(args.fit.seed)))),
        "evaluate" => {
            let mnist = load_data(&args)?;
            let m = model::load(&args.model)?;
            let e = train::evaluate(&m, &mnist.test);
            println!("Test accuracy: {:.2}%  (loss {:.4}) on {} images", e.accuracy * 100.0, e.loss, mnist.test.len());
        }
        "report" => {
            let mnist = load_data(&args)?;
            let history = History::load_csv(&args.history)?;
            let m = model::load(&args.model)?;
            for p in report::write_reports(&args.reports, &history, &m, &mnist)? {
                println!("Wrote {}", p.display());
            }
        }
        "train" => train(&args, &load_data(&args)?)?,
        _ => {
            let started = Instant::now();
            let mnist = load_data(&args)?;
            println!("{}\n", model::summary(&model::build(&model::device(args.fit.seed))));
            train(&args, &mnist)?;
            let history = History::load_csv(&args.history)?;
            let m = model::load(&args.model)?;
            for p in report::write_reports(&args.reports, &history, &m, &mnist)? {
                println!("Wrote {}", p.display());
            }
            println!("Done in {:.0}s", started.elapsed().as_secs_f64());
        }
    }
    Ok(())
}

/// mimalloc's `mi_option_purge_delay` (its position in mimalloc's option list).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Keep freed memory instead of returning it to the kernel after 10 ms: each training step
    // frees and reallocates the same buffers, and fresh pages cost a page fault and a zero-fill.
    // SAFETY: setting an allocator option before any thread starts.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    match parse(std::env::args().skip(1)) {
        Ok(None) => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Some(args)) => match run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
