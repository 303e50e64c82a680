//! Where a training step's time goes: the lesson's model trained on real MNIST, each part of the
//! step timed on its own (batch, first layer, dense layers, loss, backward pass, Adam).
//! A benchmark, not a test: `cargo bench --bench steps -- [BATCH] [IMAGES]` (default 32, 9600);
//! threads: `RAYON_NUM_THREADS`. Prints microseconds per step and images per second.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::{Duration, Instant};

use dfdx::prelude::*;
use mnist_cnn::layers::{conv_relu_pool, InputGradient};
use mnist_cnn::optim::Adam;
use mnist_cnn::{data, model};

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let (batch, images) = (args.first().copied().unwrap_or(32), args.get(1).copied().unwrap_or(9_600));
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
    let mut m = model::build(&dev);
    let mut opt = Adam::new(1e-3);
    let mut grads = m.alloc_grads();
    let names = ["batch", "conv+relu+pool", "dense 1+relu", "dense 2", "loss", "backward", "adam", "zero grads"];
    let mut t = [Duration::ZERO; 8];
    let mut lap = |i: usize, since: &mut Instant| {
        t[i] += since.elapsed();
        *since = Instant::now();
    };
    let all = Instant::now();
    let steps = images / batch;
    // On one of rayon's threads, as `train::fit` runs its steps.
    mnist_cnn::train::on_a_worker(|| for s in 0..steps {
        let idx: Vec<usize> = (s * batch..(s + 1) * batch).collect();
        let mut c = Instant::now();
        let (x, y) = train.batch(&dev, &idx);
        lap(0, &mut c);
        let h = conv_relu_pool(&m.0 .0, &m.1, x.traced(grads), InputGradient::Skip).unwrap();
        let h = m.2.forward(h);
        lap(1, &mut c);
        let h = m.3.forward(h);
        lap(2, &mut c);
        let logits = m.4.forward(h);
        lap(3, &mut c);
        let loss = cross_entropy_with_logits_loss(logits, y);
        std::hint::black_box(loss.array());
        lap(4, &mut c);
        grads = loss.backward();
        lap(5, &mut c);
        opt.update(&mut m, &mut grads).unwrap();
        lap(6, &mut c);
        m.zero_grads(&mut grads);
        lap(7, &mut c);
    });
    let total = all.elapsed();
    for (name, d) in names.iter().zip(t) {
        println!("{name:>15} {:8.1} us/step", d.as_secs_f64() * 1e6 / steps as f64);
    }
    println!("{:>15} {:8.1} us/step, {:.0} images/s", "total", total.as_secs_f64() * 1e6 / steps as f64, (steps * batch) as f64 / total.as_secs_f64());
}
