"""How long the notebooks' Rust kernel makes a class wait, measured, against the command line.

  cold:  a new kernel's start (which builds and reads the library: see kernel.py) and the first
         code cell of 03-training (the library's `:dep`, the data), with an empty compilation
         cache: the first notebook a student ever opens;
  warm:  the same in another new kernel once the cache and the template folder hold the build
         (as setup-notebooks.sh leaves them): every notebook after;
  epoch: one epoch of the lesson's training (54,000 images, batch 32, seed 0) in each warm kernel,
         and the same epoch from the command line (`mnist-cnn train --epochs 1`), each from the
         seconds its History records.

Kernels start from the kernelspec scripts/setup-notebooks.sh installs (the one students use),
with a scratch cache (XDG_CACHE_HOME) and template (MNIST_CNN_KERNEL_TEMPLATE) so that the cold
figure is cold and the real ones are left alone; the cold kernel's build becomes the scratch
template, as `kernel.py warm` does. Usage: .venv/bin/python scripts/kernel-timings.py [--runs N]
(N warm kernels and N command-line epochs, default 3; the figures are medians)
"""
import csv, json, os, pathlib, subprocess, sys, tempfile, time
from kernel import keep_as_template, root, run_cell, start, stop

runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 3
book = json.loads((root / "notebooks" / "03-training.ipynb").read_text())
first_cell = "".join(next(c for c in book["cells"] if c["cell_type"] == "code")["source"])
epoch_cell = """
let cfg = FitConfig { epochs: 1, batch_size: 32, seed: 0, verbose: false, ..FitConfig::default() };
let mut run = Checkpoint::lesson(&cfg);
train::fit(&mut run, &train_set, &validation_set, &cfg, |_| ()).unwrap();
println!("EPOCH_SECONDS {} LOSS {}", run.history.epochs[0].seconds, run.history.epochs[0].loss);
"""


with tempfile.TemporaryDirectory(prefix="kernel-timings-") as scratch:
    scratch = pathlib.Path(scratch)
    os.environ["MNIST_CNN_KERNEL_TEMPLATE"] = str(scratch / "template")
    starts, firsts, epochs = [], [], []
    for i in range(1 + runs):
        started = time.perf_counter()
        km, kc = start(XDG_CACHE_HOME=str(scratch / "cache"), EVCXR_TMPDIR="")
        starts.append(time.perf_counter() - started)
        try:
            seconds, _ = run_cell(kc, first_cell)
            firsts.append(seconds)
            print(f"kernel {i + 1}: start {starts[-1]:.1f} s, first cell {seconds:.1f} s "
                  f"({'cold cache' if i == 0 else 'warm cache'})", flush=True)
            if i > 0:
                _, text = run_cell(kc, epoch_cell)
                epochs.append(float(text.split("EPOCH_SECONDS")[1].split()[0]))
                kernel_loss = float(text.split("LOSS")[1].split()[0])
                print(f"kernel {i + 1}: an epoch {epochs[-1]:.1f} s", flush=True)
        finally:
            pid = km.provisioner.process.pid
            stop(km, kc)
        if i == 0:
            keep_as_template(pid)
    subprocess.run(["cargo", "build", "--release", "--locked", "-q"], cwd=root, check=True)
    clis = []
    for _ in range(runs):
        history = scratch / "history.csv"
        subprocess.run([str(root / "target" / "release" / "mnist-cnn"), "train", "--epochs", "1", "--quiet",
                        "--model", str(scratch / "model.safetensors"), "--history", str(history),
                        "--checkpoints", str(scratch / "checkpoints")], cwd=root, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with history.open() as f:
            row = next(csv.DictReader(f))
        clis.append(float(row["seconds"]))
        cli_loss = float(row["loss"])
        print(f"command line: an epoch {clis[-1]:.1f} s", flush=True)

median = lambda xs: sorted(xs)[len(xs) // 2]
warm, warm_start, kernel_epoch, cli = median(firsts[1:]), median(starts[1:]), median(epochs), median(clis)
print(f"\nkernel start: cold {starts[0]:.0f} s, warm {warm_start:.1f} s; first cell: cold {firsts[0]:.1f} s, "
      f"warm {warm:.1f} s; start and first cell, warm: {median([a + b for a, b in zip(starts[1:], firsts[1:])]):.1f} s")
print(f"an epoch: kernel {kernel_epoch:.1f} s, command line {cli:.1f} s ({kernel_epoch / cli:.2f}x); medians of {runs} runs")
print(f"the epoch's training loss: kernel {kernel_loss!r}, command line {cli_loss!r} "
      f"({'the same' if kernel_loss == cli_loss else 'DIFFERENT'})")
