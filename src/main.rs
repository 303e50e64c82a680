//! `mnist-cnn`: train the lesson's CNN, evaluate it, draw its reports, print its summary.
//! Thin: flags, paths and exit codes; the work is in the library.
/// A caching allocator: training allocates and frees the same large buffers every step, which
/// the system allocator hands back to the kernel (page faults) each time.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use mnist_cnn::{
    better::{self, BetterModel},
    data, export,
    history::History,
    model::{self, Model, Network},
    predict, report, serve,
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
  export     write the saved model as ONNX and TensorFlow Lite (next to it, or in --out)
  predict FILE...  the top 3 digits for each PNG or JPEG image
  serve      a local web page to draw a digit on and watch the model read it
  page       write that page as a folder that reads digits on the device, with no server
             (--out DIR, default target/page): any web server, or a phone once installed

Flags:
  --network NAME      lesson (the lesson's CNN, the default) or better (two convolution
                      blocks, dropout, shifted images, a decaying learning rate)
  --epochs N          epochs to train (default 10; better: 20)
  --batch-size N      images per training step (default 32; better: 64)
  --lr RATE           Adam learning rate (default 0.001)
  --seed N            seed for the initial weights and the shuffles (default 0)
  --limit N           use only the first N training and test images (a quick run)
  --validation-split F  the share of the training images held out to validate on after each
                      epoch (default 0.1, as Keras's validation_split; the test images are
                      used once, at the end)
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
  --out DIR           folder for export's files (default: the model's folder)
  --port N            port for serve (default 8080; 0 picks a free one)
  --host ADDR         address for serve (default 127.0.0.1: this computer only)
  --lan               serve to the local network (phones on the same Wi-Fi): listens on
                      every address and prints the one to open, with a QR code
  --max-connections N connections serve answers at once (default 512; more get a 503
                      asking them to retry)
  --client-timeout S  seconds a request may take to arrive (default 20; then a 408)
  -h, --help          this help

Quick runs (--limit, --dry-run) write to target/quick/ unless --model, --history,
--reports or --checkpoints say otherwise, so they never replace the full run's files.
Fashion-MNIST runs write to models/fashion.safetensors, reports/fashion/ and checkpoints/fashion/.
The better network writes to models/better.safetensors, reports/better/ and checkpoints/better/
(models/fashion-better.safetensors, reports/fashion/better/, ... for Fashion-MNIST), and, when
both networks have a history, the chart reports/comparison.png.";

/// Which network a run trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Net {
    Lesson,
    Better,
}

impl Net {
    fn name(self) -> &'static str {
        match self {
            Net::Lesson => "lesson",
            Net::Better => "better",
        }
    }
}

struct Args {
    command: String,
    network: Net,
    fit: FitConfig,
    limit: Option<usize>,
    resume: bool,
    dataset: data::Dataset,
    data_dir: PathBuf,
    model: PathBuf,
    history: PathBuf,
    reports: PathBuf,
    /// Images for `predict`.
    files: Vec<PathBuf>,
    out: Option<PathBuf>,
    serve: serve::Options,
    /// The two networks' histories and the chart that compares them, when the paths are the defaults.
    comparison: Option<(PathBuf, PathBuf, PathBuf)>,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Option<Args>> {
    let usage = |m: String| Error::Usage(format!("{m}\nRun `mnist-cnn --help` for the flags."));
    let mut command = None;
    let mut network = Net::Lesson;
    let (mut epochs, mut batch_size, mut lr, mut seed, mut verbose) = (None, None, None, None, true);
    let (mut limit, mut resume, mut dry_run, mut validation_split) = (None, false, false, None);
    let mut dataset = data::Dataset::Mnist;
    let (mut data_dir, mut model, mut history, mut reports, mut checkpoints) = (None, None, None, None, None);
    let (mut files, mut out, mut serving) = (Vec::new(), None, serve::Options::default());
    while let Some(arg) = argv.next() {
        let mut value = |name: &str| argv.next().ok_or_else(|| usage(format!("{name} needs a value")));
        fn number<T: std::str::FromStr>(name: &str, v: String) -> Result<T> {
            v.parse().map_err(|_| Error::Usage(format!("{name} takes a number, not `{v}`")))
        }
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--network" => {
                network = match value("--network")?.as_str() {
                    "lesson" => Net::Lesson,
                    "better" => Net::Better,
                    other => return Err(usage(format!("--network is `lesson` or `better`, not `{other}`"))),
                }
            }
            "--epochs" => epochs = Some(number("--epochs", value("--epochs")?)?),
            "--batch-size" => batch_size = Some(number("--batch-size", value("--batch-size")?)?),
            "--lr" => lr = Some(number("--lr", value("--lr")?)?),
            "--seed" => seed = Some(number("--seed", value("--seed")?)?),
            "--limit" => limit = Some(number("--limit", value("--limit")?)?),
            "--validation-split" => {
                let f: f64 = number("--validation-split", value("--validation-split")?)?;
                if !(f > 0.0 && f < 1.0) {
                    return Err(usage(format!("--validation-split is a share of the training images, between 0 and 1 (not {f})")));
                }
                validation_split = Some(f);
            }
            "--threads" => {
                let n: usize = number("--threads", value("--threads")?)?;
                std::env::set_var("RAYON_NUM_THREADS", n.to_string());
            }
            "--dry-run" => dry_run = true,
            "--resume" => resume = true,
            "--quiet" => verbose = false,
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
            "--out" => out = Some(PathBuf::from(value("--out")?)),
            "--host" => serving.host = value("--host")?,
            "--port" => serving.port = number("--port", value("--port")?)?,
            "--lan" => serving.lan = true,
            "--max-connections" => {
                serving.limits.max_connections = number("--max-connections", value("--max-connections")?)?;
                if serving.limits.max_connections == 0 {
                    return Err(usage("--max-connections must be at least 1".into()));
                }
            }
            "--client-timeout" => {
                let seconds: u64 = number("--client-timeout", value("--client-timeout")?)?;
                if seconds == 0 {
                    return Err(usage("--client-timeout must be at least 1 second".into()));
                }
                serving.limits.client_timeout = std::time::Duration::from_secs(seconds);
            }
            c if !c.starts_with('-') && command.is_none() => command = Some(c.to_string()),
            f if !f.starts_with('-') && command.as_deref() == Some("predict") => files.push(PathBuf::from(f)),
            other => return Err(usage(format!("unknown argument `{other}`"))),
        }
    }
    let mut fit = match network {
        Net::Lesson => FitConfig::default(),
        Net::Better => better::fit_config(),
    };
    fit.epochs = epochs.unwrap_or(fit.epochs);
    fit.batch_size = batch_size.unwrap_or(fit.batch_size);
    fit.learning_rate = lr.unwrap_or(fit.learning_rate);
    fit.seed = seed.unwrap_or(fit.seed);
    fit.validation_split = validation_split.unwrap_or(fit.validation_split);
    fit.verbose = verbose;
    if fit.batch_size == 0 {
        return Err(usage("--batch-size must be at least 1".into()));
    }
    if dry_run {
        fit.epochs = 1;
        limit = Some(limit.unwrap_or(256).min(256));
    }
    let base = if limit.is_some() { PathBuf::from("target/quick") } else { PathBuf::new() };
    let (dataset_dir, prefix) = match dataset {
        data::Dataset::Mnist => ("", ""),
        data::Dataset::Fashion => ("fashion", "fashion"),
    };
    let (model_name, sub) = match (network, prefix) {
        (Net::Lesson, "") => ("lesson".to_string(), PathBuf::new()),
        (Net::Lesson, p) => (p.to_string(), PathBuf::from(dataset_dir)),
        (Net::Better, "") => ("better".to_string(), PathBuf::from("better")),
        (Net::Better, p) => (format!("{p}-better"), Path::new(dataset_dir).join("better")),
    };
    fit.checkpoint_dir = Some(checkpoints.unwrap_or_else(|| base.join("checkpoints").join(&sub)));
    let reports_root = base.join("reports").join(dataset_dir);
    let comparison = (history.is_none() && reports.is_none()).then(|| {
        (reports_root.join("history.csv"), reports_root.join("better/history.csv"), reports_root.join("comparison.png"))
    });
    let command = command.unwrap_or_else(|| "all".into());
    if !["all", "train", "evaluate", "report", "summary", "export", "predict", "serve", "page"].contains(&command.as_str()) {
        return Err(usage(format!("unknown command `{command}`")));
    }
    if command == "predict" && files.is_empty() {
        return Err(usage("predict needs the image files to read: mnist-cnn predict digit.png".into()));
    }
    Ok(Some(Args {
        command,
        network,
        fit,
        limit,
        resume,
        dataset,
        data_dir: data_dir.unwrap_or_else(|| dataset.default_dir()),
        model: model.unwrap_or_else(|| base.join(format!("models/{model_name}.safetensors"))),
        history: history.unwrap_or_else(|| base.join("reports").join(&sub).join("history.csv")),
        reports: reports.unwrap_or_else(|| base.join("reports").join(&sub)),
        files,
        out,
        serve: serving,
        comparison,
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

fn train<N: Network>(args: &Args, mnist: &data::Mnist) -> Result<()> {
    let dir = args.fit.checkpoint_dir.as_deref().expect("set by parse");
    let (train_part, validation) = mnist.train.validation_split(args.fit.validation_split);
    let mut run = match args.resume {
        true => match train::load_checkpoint::<N>(dir, &args.fit, train_part.len())? {
            Some(run) => {
                eprintln!("Resuming after epoch {} from {}", run.history.epochs.len(), dir.display());
                run
            }
            None => {
                eprintln!("No checkpoint in {}: starting afresh", dir.display());
                Checkpoint::start(&args.fit)
            }
        },
        false => Checkpoint::start(&args.fit),
    };
    eprintln!(
        "Training the {} network on {} images, validating after each epoch on {} held out from the training images, \
         batch size {}, {} epochs; the {} test images are used once, at the end",
        args.network.name(),
        train_part.len(),
        validation.len(),
        args.fit.batch_size,
        args.fit.epochs,
        mnist.test.len(),
    );
    let history_path = args.history.clone();
    let started = Instant::now();
    train::fit(&mut run, &train_part, &validation, &args.fit, |_| {})?;
    run.history.save_csv(&history_path)?;
    model::save(&run.model, &args.model)?;
    let eval = train::evaluate(&run.model, &mnist.test);
    println!("Test accuracy: {:.2}%  (loss {:.4})", eval.accuracy * 100.0, eval.loss);
    println!("Training took {:.0}s", started.elapsed().as_secs_f64());
    println!("Saved {} and {}", args.model.display(), history_path.display());
    Ok(())
}

fn write_reports<N: Network>(args: &Args, mnist: &data::Mnist) -> Result<()> {
    let history = History::load_csv(&args.history)?;
    let m: N = model::load_network(&args.model)?;
    // The lesson's reports look inside the network too; the better one's show its results.
    let mut written = match args.network {
        Net::Lesson => report::write_reports(&args.reports, &history, &m, mnist)?,
        Net::Better => report::write_run_reports(&args.reports, &history, &m, mnist)?,
    };
    if let Some((lesson, better, chart)) = &args.comparison {
        if lesson.exists() && better.exists() {
            let (lesson, better) = (History::load_csv(lesson)?, History::load_csv(better)?);
            written.push(report::write_comparison(chart, &[("lesson", &lesson), ("better", &better)])?);
        }
    }
    for p in written {
        println!("Wrote {}", p.display());
    }
    Ok(())
}

/// Prints the top 3 digits of each file; a file that cannot be read is reported and skipped,
/// and the command fails at the end if any could not.
fn predict_files<N: Network>(args: &Args) -> Result<()> {
    let m: N = model::load_network(&args.model)?;
    let mut failed = 0;
    for file in &args.files {
        match predict::read_digit(file) {
            Ok(pixels) => {
                let top = predict::top(&predict::probabilities(&m, &pixels), 3);
                let rest: Vec<String> = top[1..].iter().map(|(d, p)| format!("{d} ({:.1}%)", p * 100.0)).collect();
                println!("{}: {} ({:.1}%), then {}", file.display(), top[0].0, top[0].1 * 100.0, rest.join(", "));
            }
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    match failed {
        0 => Ok(()),
        n => Err(Error::Usage(format!("{n} of {} images could not be read", args.files.len()))),
    }
}

fn run<N: Network>(args: Args) -> Result<()> {
    match args.command.as_str() {
        "summary" => println!("{}", N::build(&model::device(args.fit.seed)).summary()),
        "evaluate" => {
            let mnist = load_data(&args)?;
            let m: N = model::load_network(&args.model)?;
            let e = train::evaluate(&m, &mnist.test);
            println!("Test accuracy: {:.2}%  (loss {:.4}) on {} images", e.accuracy * 100.0, e.loss, mnist.test.len());
        }
        "report" => write_reports::<N>(&args, &load_data(&args)?)?,
        "export" => {
            let m: N = model::load_network(&args.model)?;
            let dir = args.out.clone().unwrap_or_else(|| args.model.parent().map(Path::to_path_buf).unwrap_or_default());
            let stem = args.model.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| args.network.name().into());
            let (onnx, tflite) = (dir.join(format!("{stem}.onnx")), dir.join(format!("{stem}.tflite")));
            export::write_onnx(&m, &onnx)?;
            export::write_tflite(&m, &tflite)?;
            println!("Wrote {} (input [batch, 1, 28, 28])", onnx.display());
            println!("Wrote {} (input [1, 28, 28, 1])", tflite.display());
        }
        "predict" => predict_files::<N>(&args)?,
        "serve" => {
            let m: N = model::load_network(&args.model)?;
            serve::serve(&m, &args.serve)?;
        }
        "page" => {
            let m: N = model::load_network(&args.model)?;
            let dir = args.out.clone().unwrap_or_else(|| PathBuf::from("target/page"));
            let files = serve::write_site(&m, &dir)?;
            println!("Wrote the draw-a-digit page to {} ({} files, the network included).", dir.display(), files.len());
            println!("Serve the folder from any web server, for example `python3 -m http.server -d {}`;", dir.display());
            println!("from https (or localhost) a phone can install it and read digits offline.");
        }
        "train" => train::<N>(&args, &load_data(&args)?)?,
        _ => {
            let started = Instant::now();
            let mnist = load_data(&args)?;
            println!("{}\n", N::build(&model::device(args.fit.seed)).summary());
            train::<N>(&args, &mnist)?;
            write_reports::<N>(&args, &mnist)?;
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
        Ok(Some(args)) => match match args.network {
            Net::Lesson => run::<Model>(args),
            Net::Better => run::<BetterModel>(args),
        } {
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
