//! Where a training step's time goes: a network of the library trained on real MNIST, each part
//! of the step timed on its own (batch, forward pass, loss, backward pass, Adam, zeroing).
//! A benchmark, not a test: `cargo bench --bench steps -- [BATCH] [IMAGES] [lesson|better|lenet5]`
//! (default 32, 9600, lesson); threads: `RAYON_NUM_THREADS`. Prints microseconds per step and
//! images per second.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use dfdx::prelude::*;
use mnist_cnn::better::BetterModel;
use mnist_cnn::layers::{Conv2D, Ctx, Dense, Flatten, MaxPool2D, ReLU};
use mnist_cnn::model::{Model, Network, Sequential};
use mnist_cnn::train::Adam;
use mnist_cnn::{data, model};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let number = |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (batch, images) = (number(0, 32), number(1, 9_600));
    match args.get(2).map(String::as_str).unwrap_or("lesson") {
        "lesson" => steps::<Model>(batch, images),
        "better" => steps::<BetterModel>(batch, images),
        "lenet5" => steps::<LeNet5>(batch, images),
        other => {
            eprintln!("error: the network is `lesson`, `better` or `lenet5`, not `{other}`");
            std::process::exit(2);
        }
    }
}

/// Caffe's LeNet as examples/lenet5.rs defines it.
type LeNet5 = Sequential<(
    (Conv2D<1, 20, 5>, MaxPool2D<2>),
    (Conv2D<20, 50, 5>, MaxPool2D<2>),
    Flatten,
    (Dense<800, 500>, ReLU),
    Dense<500, 10>,
)>;

fn steps<N: Network>(batch: usize, images: usize) {
    let mnist = data::load(&data::default_dir()).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1)
    });
    let train = mnist.train.take(images);
    if batch == 0 || batch > train.len() {
        eprintln!("error: the batch ({batch}) must be between 1 and the number of images ({})", train.len());
        std::process::exit(2);
    }
    let dev = model::device(0);
    let mut m = N::build(&dev);
    let mut opt = Adam::new(1e-3);
    let mut grads = m.alloc_grads();
    let mut rng = rand::SeedableRng::seed_from_u64(0);
    let names = ["batch", "forward", "loss", "backward", "adam", "zero grads"];
    let mut t = [Duration::ZERO; 6];
    let mut lap = |i: usize, since: &mut Instant| {
        t[i] += since.elapsed();
        *since = Instant::now();
    };
    let all = Instant::now();
    let steps = images / batch;
    // On one of rayon's threads, as `train::fit` runs its steps.
    mnist_cnn::cpu::on_a_worker(|| for s in 0..steps {
        let idx: Vec<usize> = (s * batch..(s + 1) * batch).collect();
        let mut c = Instant::now();
        let (x, y) = train.batch(&dev, &idx);
        lap(0, &mut c);
        let mut ctx = Ctx::training(&mut rng);
        let logits = m.forward_with(x.traced(grads), &mut ctx);
        let running = ctx.take_running();
        lap(1, &mut c);
        let loss = cross_entropy_with_logits_loss(logits, y);
        std::hint::black_box(loss.array());
        lap(2, &mut c);
        grads = loss.backward();
        lap(3, &mut c);
        opt.update(&mut m, &mut grads).unwrap();
        m.take_running(running);
        lap(4, &mut c);
        m.zero_grads(&mut grads);
        lap(5, &mut c);
    });
    let total = all.elapsed();
    for (name, d) in names.iter().zip(t) {
        println!("{name:>15} {:8.1} us/step", d.as_secs_f64() * 1e6 / steps as f64);
    }
    println!("{:>15} {:8.1} us/step, {:.0} images/s", "total", total.as_secs_f64() * 1e6 / steps as f64, (steps * batch) as f64 / total.as_secs_f64());
}
