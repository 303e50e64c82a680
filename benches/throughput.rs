//! Training and inference throughput (images per second) on real MNIST: the lesson's model
//! (training at batch 32 and 128, inference), or with `--network better` the better one
//! (training at batch 64, without moved images, as the PyTorch peer).
//! A benchmark, not a test: `cargo bench --bench throughput -- [--images N] [--repeats R] [--network lesson|better]`.
//! Prints one JSON object per figure (median of the repeats) and the peak memory; `scripts/bench.sh`
//! puts them beside the PyTorch and Keras peers. Threads: set `RAYON_NUM_THREADS`.
use std::time::Instant;

use mnist_cnn::better::BetterModel;
use mnist_cnn::model::{Model, Network};
use mnist_cnn::train::{self, Checkpoint, FitConfig};
use mnist_cnn::{data, model};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// One epoch of `N` on `train`, in images per second.
fn images_per_s<N: Network>(cfg: &FitConfig, train: &data::Split) -> f64 {
    let mut run: Checkpoint<N> = Checkpoint::start(cfg);
    let t = Instant::now();
    train::fit(&mut run, train, &train.take(0), cfg, |_| {}).unwrap();
    train.len() as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut images, mut repeats, mut network) = (9_600usize, 3usize, "lesson".to_string());
    while let Some(a) = args.next() {
        match a.as_str() {
            "--network" => network = args.next().expect("--network lesson|better"),
            "--images" => images = args.next().and_then(|v| v.parse().ok()).expect("--images N"),
            "--repeats" => repeats = args.next().and_then(|v| v.parse().ok()).expect("--repeats N"),
            _ => {} // cargo bench passes --bench
        }
    }
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    let mnist = data::load(&data::default_dir()).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1)
    });
    let train_set = mnist.train.take(images);
    let training = |batch_size: usize, name: &str, rate: &dyn Fn(&FitConfig) -> f64| {
        let cfg = FitConfig { epochs: 1, batch_size, verbose: false, ..FitConfig::default() };
        let rates: Vec<f64> = (0..repeats + 1).map(|_| rate(&cfg)).skip(1).collect(); // a warm-up first
        println!(r#"{{"what":"train","network":"{name}","batch":{batch_size},"threads":"{threads}","images_per_s":{:.0}}}"#, median(rates));
    };
    if network == "better" {
        training(64, "better", &|cfg| images_per_s::<BetterModel>(cfg, &train_set));
        return;
    }
    for batch_size in [32, 128] {
        training(batch_size, "lesson", &|cfg| images_per_s::<Model>(cfg, &train_set));
    }
    let net = model::build(&model::device(0));
    let dev = model::device(0);
    for batch in [1usize, 100, 1000] {
        let n = if batch == 1 { 2_000 } else { 10_000 };
        let rates: Vec<f64> = (0..repeats + 1)
            .map(|_| {
                let t = Instant::now();
                for start in (0..n).step_by(batch) {
                    let (x, _) = mnist.test.range(&dev, start..start + batch);
                    std::hint::black_box(model::probabilities(&net, x));
                }
                n as f64 / t.elapsed().as_secs_f64()
            })
            .skip(1)
            .collect();
        println!(r#"{{"what":"infer","batch":{batch},"threads":"{threads}","images_per_s":{:.0}}}"#, median(rates));
    }
    // Peak resident memory of this process (data, model, all the runs above), from the kernel.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    if let Some(kb) = status.lines().find_map(|l| l.strip_prefix("VmHWM:")) {
        let kb: f64 = kb.trim().trim_end_matches("kB").trim().parse().unwrap_or(0.0);
        println!(r#"{{"what":"peak_memory","threads":"{threads}","mb":{:.0}}}"#, kb / 1024.0);
    }
}
