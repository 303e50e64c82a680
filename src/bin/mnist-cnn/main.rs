//! `mnist-cnn`: train the lesson's CNN, evaluate it, draw its reports, export it, serve it.
//! Thin: the command line ([`cli`]) and the files each command reads and writes; the work is in
//! the library.

/// A caching allocator: training allocates and frees the same large buffers every step, which
/// the system allocator hands back to the kernel (page faults) each time.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cli;
mod paths;

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use cli::{Cli, Command, DataArgs, FitArgs, NetworkName, Paths, Which};
use mnist_cnn::better::BetterModel;
use mnist_cnn::model::{self, Model, Network};
use mnist_cnn::train::{self, Checkpoint, History};
use mnist_cnn::{data, export, number, photo, predict, report, serve, Error, Result};

/// Loads the data set, or the first `limit` images of each part.
fn load_data(which: &Which, data: &DataArgs, limit: Option<usize>) -> Result<data::TrainTest> {
    let dataset = which.dataset.dataset();
    let mut sets = dataset.load(&data.data_dir.clone().unwrap_or_else(|| dataset.default_dir()))?;
    if let Some(n) = limit {
        sets.train = sets.train.take(n);
        sets.test = sets.test.take(n);
    }
    Ok(sets)
}

/// Trains a fresh network (or resumes one), saves it and its history, and evaluates it once on
/// the test images.
fn train_and_save<N: Network>(which: &Which, fit: &FitArgs, sets: &data::TrainTest, model: &Path, history: &Path, paths: &Paths) -> Result<()> {
    let dir = fit.checkpoints.clone().unwrap_or_else(|| paths.checkpoints.clone());
    let cfg = fit.config(which.network, dir.clone());
    let (train_part, validation) = sets.train.validation_split(cfg.validation_split);
    let fresh = || Checkpoint::<N>::start(&cfg);
    let mut run = match fit.resume {
        true => match train::load_checkpoint::<N>(&dir, &cfg, train_part.len())? {
            Some(run) => {
                eprintln!("Resuming after epoch {} from {}", run.history.epochs.len(), dir.display());
                run
            }
            None => {
                eprintln!("No checkpoint in {}: starting afresh", dir.display());
                fresh()
            }
        },
        false => fresh(),
    };
    eprintln!(
        "Training the {} network on {} images, validating after each epoch on {} held out from the training images, \
         batch size {}, {} epochs; the {} test images are used once, at the end",
        which.network.name(),
        train_part.len(),
        validation.len(),
        cfg.batch_size,
        cfg.epochs,
        sets.test.len(),
    );
    let started = Instant::now();
    train::fit(&mut run, &train_part, &validation, &cfg, |_| {})?;
    run.history.save_csv(history)?;
    run.model.save(model)?;
    let eval = train::evaluate(&run.model, &sets.test);
    println!("Test accuracy: {:.2}%  (loss {:.4})", eval.accuracy * 100.0, eval.loss);
    println!("Training took {:.0}s", started.elapsed().as_secs_f64());
    println!("Saved {} and {}", model.display(), history.display());
    Ok(())
}

/// Draws the reports of a saved run: the lesson's look inside the network too; the better
/// one's show its results; and the comparison charts when both networks have a history (their
/// accuracy per epoch) and a model (their robustness to adversarial nudges).
fn write_reports<N: Network>(network: NetworkName, sets: &data::TrainTest, model: &Path, history: &Path, reports: &Path, comparison: Option<&Paths>) -> Result<()> {
    let h = History::load_csv(history)?;
    let m = N::load(model)?;
    let mut written = match network {
        NetworkName::Lesson => report::write_reports(reports, &h, &m, sets)?,
        NetworkName::Better => report::write_run_reports(reports, &h, &m, sets)?,
    };
    if let Some(paths) = comparison {
        let (lesson, better, chart) = &paths.comparison;
        if lesson.exists() && better.exists() {
            let (lesson, better) = (History::load_csv(lesson)?, History::load_csv(better)?);
            written.push(report::write_comparison(chart, &[("lesson", &lesson), ("better", &better)])?);
        }
        let (lesson, better, dir) = &paths.robustness;
        if lesson.exists() && better.exists() {
            use mnist_cnn::explain::adversarial::{robustness, EPSILONS};
            let lesson = robustness(&model::Model::load(lesson)?, &sets.test, &EPSILONS);
            let better = robustness(&mnist_cnn::better::BetterModel::load(better)?, &sets.test, &EPSILONS);
            written.extend(report::write_robustness(dir, &[("lesson", &lesson), ("better", &better)])?);
        }
    }
    for p in written {
        println!("Wrote {}", p.display());
    }
    Ok(())
}

/// Prints the top 3 digits of each file; a file that cannot be read is reported and skipped,
/// and the command fails at the end if any could not.
fn predict_files<N: Network>(model: &Path, files: &[std::path::PathBuf], numbers: bool, photos: bool) -> Result<()> {
    let m = N::load(model)?;
    let mut failed = 0;
    for file in files {
        let said = if numbers { read_number(&m, file) } else { read_digit(&m, file, photos) };
        match said {
            Ok(line) => println!("{}: {line}", file.display()),
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    match failed {
        0 => Ok(()),
        n => Err(Error::BadImage {
            what: format!("{n} of {} images", files.len()),
            problem: "could not be read (see above)".into(),
            fix: if numbers { "Give PNG or JPEG files with one number each." } else { "Give PNG or JPEG files with one digit each." }.into(),
        }),
    }
}

/// "7 (99.1%), then 1 (0.5%), 9 (0.2%)"
fn read_digit<N: Network>(m: &N, file: &Path, is_photo: bool) -> Result<String> {
    let pixels = if is_photo { photo::read_digit(file)? } else { predict::read_digit(file)? };
    let top = predict::top(&predict::probabilities(m, &pixels), 3);
    let rest: Vec<String> = top[1..].iter().map(|(d, p)| format!("{d} ({:.1}%)", p * 100.0)).collect();
    Ok(format!("{} ({:.1}%), then {}", top[0].0, top[0].1 * 100.0, rest.join(", ")))
}

/// "2026 (4 digits: 2 at x 12-40, 99.9%; 0 at x 45-70, 98.7%; ...)"
fn read_number<N: Network>(m: &N, file: &Path) -> Result<String> {
    let digits = number::read_number(m, &predict::read_image(file)?);
    if digits.is_empty() {
        return Err(Error::NoDigit { what: file.display().to_string() });
    }
    let each: Vec<String> = digits
        .iter()
        .map(|d| format!("{} at x {}-{}, {:.1}%", d.value(), d.bounds.x, d.bounds.x + d.bounds.width - 1, d.probabilities[d.value()] * 100.0))
        .collect();
    Ok(format!("{} ({} digits: {})", number::text(&digits), digits.len(), each.join("; ")))
}

fn run<N: Network>(command: Command) -> Result<()> {
    match command {
        Command::All(a) => {
            let started = Instant::now();
            let quick = a.data.limit.is_some() || a.fit.dry_run;
            let paths = Paths::new(a.which.dataset, a.which.network, quick);
            let model = cli::model_path(&a.which, quick);
            let (history, reports) = (a.output.history.clone().unwrap_or_else(|| paths.history.clone()), a.output.reports.clone().unwrap_or_else(|| paths.reports.clone()));
            let comparison = (a.output.history.is_none() && a.output.reports.is_none()).then_some(&paths);
            let sets = load_data(&a.which, &a.data, a.data.limit(a.fit.dry_run))?;
            println!("{}\n", N::build(&model::device(a.fit.seed)).summary());
            train_and_save::<N>(&a.which, &a.fit, &sets, &model, &history, &paths)?;
            write_reports::<N>(a.which.network, &sets, &model, &history, &reports, comparison)?;
            println!("Done in {:.0}s", started.elapsed().as_secs_f64());
        }
        Command::Train(t) => {
            let quick = t.data.limit.is_some() || t.fit.dry_run;
            let paths = Paths::new(t.which.dataset, t.which.network, quick);
            let history = t.history.clone().unwrap_or_else(|| paths.history.clone());
            let sets = load_data(&t.which, &t.data, t.data.limit(t.fit.dry_run))?;
            train_and_save::<N>(&t.which, &t.fit, &sets, &cli::model_path(&t.which, quick), &history, &paths)?;
        }
        Command::Evaluate(e) => {
            let quick = e.data.limit.is_some();
            let sets = load_data(&e.which, &e.data, e.data.limit)?;
            let m = N::load(&cli::model_path(&e.which, quick))?;
            let r = train::evaluate(&m, &sets.test);
            println!("Test accuracy: {:.2}%  (loss {:.4}) on {} images", r.accuracy * 100.0, r.loss, sets.test.len());
        }
        Command::Report(r) => {
            let quick = r.data.limit.is_some();
            let paths = Paths::new(r.which.dataset, r.which.network, quick);
            let (history, reports) = (r.output.history.clone().unwrap_or_else(|| paths.history.clone()), r.output.reports.clone().unwrap_or_else(|| paths.reports.clone()));
            let comparison = (r.output.history.is_none() && r.output.reports.is_none()).then_some(&paths);
            let sets = load_data(&r.which, &r.data, r.data.limit)?;
            write_reports::<N>(r.which.network, &sets, &cli::model_path(&r.which, quick), &history, &reports, comparison)?;
        }
        Command::Summary(_) => println!("{}", N::build(&model::device(0)).summary()),
        Command::Export(x) => {
            let model = cli::model_path(&x.which, false);
            let m = N::load(&model)?;
            let dir = cli::export_dir(x.out.as_deref(), &model);
            let stem = model.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
            let (onnx, tflite) = (dir.join(format!("{stem}.onnx")), dir.join(format!("{stem}.tflite")));
            export::write_onnx(&m, &onnx)?;
            export::write_tflite(&m, &tflite)?;
            println!("Wrote {} (input [batch, 1, 28, 28])", onnx.display());
            println!("Wrote {} (input [1, 28, 28, 1])", tflite.display());
        }
        Command::Predict(p) => predict_files::<N>(&cli::model_path(&p.which, false), &p.files, p.number, p.photo)?,
        Command::Serve(s) => serve::serve(&N::load(&cli::model_path(&s.which, false))?, &s.options())?,
        Command::Page(p) => {
            let m = N::load(&cli::model_path(&p.which, false))?;
            let files = serve::write_site(&m, &p.out)?;
            println!("Wrote the draw-a-digit page to {} ({} files, the network included).", p.out.display(), files.len());
            println!("Serve the folder from any web server, for example `python3 -m http.server -d {}`;", p.out.display());
            println!("from https (or localhost) a phone can install it and read digits offline.");
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
    // Usage mistakes: clap prints them with the usage and exits with code 2; --help exits 0.
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::All(cli.all));
    let (network, threads) = match &command {
        Command::All(a) => (a.which.network, a.fit.threads),
        Command::Train(t) => (t.which.network, t.fit.threads),
        Command::Evaluate(e) => (e.which.network, None),
        Command::Report(r) => (r.which.network, None),
        Command::Summary(s) => (s.network, None),
        Command::Export(x) => (x.which.network, None),
        Command::Predict(p) => (p.which.network, None),
        Command::Serve(s) => (s.which.network, None),
        Command::Page(p) => (p.which.network, None),
    };
    if let Some(n) = threads {
        if let Err(e) = mnist_cnn::cpu::set_threads(n) {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    let result = match network {
        NetworkName::Lesson => run::<Model>(command),
        NetworkName::Better => run::<BetterModel>(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
