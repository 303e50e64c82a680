//! Training and inference throughput of the lesson's model (images per second), on real MNIST.
//! A benchmark, not a test: `cargo bench --bench throughput -- [--images N] [--repeats R]`.
//! Prints one JSON object per figure (median of the repeats) and the peak memory; `scripts/bench.sh`
//! puts them beside the PyTorch and Keras peers. Threads: set `RAYON_NUM_THREADS`.
use std::time::Instant;

use mnist_cnn::train::{self, Checkpoint, FitConfig};
use mnist_cnn::{data, model};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut images, mut repeats) = (9_600usize, 3usize);
    while let Some(a) = args.next() {
        match a.as_str() {
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
    let empty = mnist.test.take(0);
    for batch_size in [32, 128] {
        let cfg = FitConfig { epochs: 1, batch_size, verbose: false, ..FitConfig::default() };
        let rates: Vec<f64> = (0..repeats + 1)
            .map(|_| {
                let mut run = Checkpoint::new(&cfg);
                let t = Instant::now();
                train::fit(&mut run, &train_set, &empty, &cfg, |_| {}).unwrap();
                train_set.len() as f64 / t.elapsed().as_secs_f64()
            })
            .skip(1) // warm-up
            .collect();
        println!(r#"{{"what":"train","batch":{batch_size},"threads":"{threads}","images_per_s":{:.0}}}"#, median(rates));
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
