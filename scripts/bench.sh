#!/usr/bin/env bash
# Throughput of mnist-cnn beside its peers (PyTorch, Keras) on this machine, in one run:
# training images/s of the lesson's network at batch 32 and 128, of the better network and of
# LeNet-5 (examples/lenet5.rs) at batch 64, with 1 and 2 threads; inference at batch 1, 100 and
# 1000; peak memory; each of our figures is printed as a ratio over the peer's.
# Usage: scripts/bench.sh [IMAGES]   (default 9600 training images per measurement)
# The peers run from ../shared/bench/peers in the virtual environment $PEERS_VENV
# (default ~/.cache/mnist-cnn/peers); `scripts/bench.sh --install-peers` creates it (about 5 GB).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${PEERS_VENV:-$HOME/.cache/mnist-cnn/peers}
peers=$(cd "${PEERS_DIR:-../shared/bench/peers}" 2>/dev/null && pwd || true)
if [ "${1:-}" = "--install-peers" ]; then
  python3 -m venv "$venv" && "$venv/bin/pip" install -q numpy torch tensorflow-cpu
  exit 0
fi
images=${1:-9600}
export MNIST_DIR=${MNIST_DIR:-$PWD/../shared/datasets/mnist}
out=$(mktemp -d)
cargo bench -q --bench throughput --no-run
cargo build -q --release --example lenet5
for t in 1 2; do
  echo "== mnist-cnn, $t thread(s) ($images training images, median of 3 after a warm-up)"
  RAYON_NUM_THREADS=$t cargo bench -q --bench throughput -- --images "$images" | tee -a "$out/ours.jsonl"
  RAYON_NUM_THREADS=$t cargo bench -q --bench throughput -- --images "$images" --network better | tee -a "$out/ours.jsonl"
  # LeNet-5 as the example defines it: one epoch at batch 64 (its own images/s line), the median
  # of 3 runs after a warm-up, as the other figures.
  for run in 0 1 2 3; do
    RAYON_NUM_THREADS=$t target/release/examples/lenet5 --epochs 1 --batch-size 64 --limit "$images" --out "$out/lenet5" 2>/dev/null \
      | sed -n 's/^Training: \([0-9]*\) images\/s.*/\1/p' > "$out/lenet5-$run"
  done
  lenet=$(cat "$out"/lenet5-[123] | sort -n | sed -n 2p)
  echo "{\"what\":\"train\",\"network\":\"lenet5\",\"batch\":64,\"threads\":\"$t\",\"images_per_s\":$lenet}" | tee -a "$out/ours.jsonl"
done
if [ -z "$peers" ] || [ ! -x "$venv/bin/python" ]; then
  echo "No peers (venv $venv, scripts $peers): run scripts/bench.sh --install-peers to compare."; exit 0
fi
for t in 1 2; do
  for run in lesson:32 lesson:128 better:64 lenet5:64; do
    arch=${run%:*}; bs=${run#*:}
    echo "== PyTorch, $arch, $t thread(s), batch $bs, 1 epoch on the same $images images"
    (cd "$peers" && OMP_WAIT_POLICY=PASSIVE /usr/bin/time -f "PEAK_KB %M" "$venv/bin/python" train_torch.py --arch "$arch" --epochs 1 --bs $bs --threads $t --limit "$images" 2>&1) \
      | grep -E '^\{|PEAK_KB' | sed "s/^/{\"peer\":\"torch\",\"network\":\"$arch\",\"threads\":$t,\"batch\":$bs,\"row\":/; s/\$/}/; s/\"row\":PEAK_KB \([0-9]*\)}/\"peak_kb\":\1}/" | tee -a "$out/peers.jsonl"
  done
done
for bs in 32 128; do
  echo "== Keras (its default threads), batch $bs, 1 epoch on the same $images images"
  (cd "$peers" && /usr/bin/time -f "PEAK_KB %M" "$venv/bin/python" train_keras.py --epochs 1 --bs $bs --limit "$images" 2>&1) \
    | grep -E '^EPOCH|PEAK_KB' | sed "s/^EPOCH /{\"peer\":\"keras\",\"network\":\"lesson\",\"threads\":0,\"batch\":$bs,\"row\":/; s/^PEAK_KB \([0-9]*\)/{\"peer\":\"keras\",\"threads\":0,\"batch\":$bs,\"peak_kb\":\1/; s/\$/}/" | tee -a "$out/peers.jsonl"
done
echo "== PyTorch inference, 1 and 2 threads"
(cd "$peers" && OMP_WAIT_POLICY=PASSIVE "$venv/bin/python" infer_probe.py 1,2) | tee "$out/infer.jsonl"
"$venv/bin/python" - "$out" <<'PY'
import json, sys, os
d = sys.argv[1]
rows = lambda f: [json.loads(l) for l in open(os.path.join(d, f)) if l.strip()]
ours, peers, infer = rows("ours.jsonl"), rows("peers.jsonl"), rows("infer.jsonl")
print("\n== mnist-cnn over its peers (images/s; ratio > 1 means mnist-cnn is faster)")
for o in ours:
    t = int(o["threads"]) if o["threads"].isdigit() else 0
    if o["what"] == "train":
        for p in peers:
            net = o.get("network", "lesson")
            if p["batch"] == o["batch"] and "row" in p and p.get("network", "lesson") == net and (p["threads"] in (t, 0)):
                r = p["row"]["img_s"]
                who = f"{p['peer']} {p['threads']}t" if p["threads"] else f"{p['peer']} dflt"
                print(f"train {net:<6} batch {o['batch']:>4}, {t} thread(s): mnist-cnn {o['images_per_s']:>7.0f} | {who:<10} {r:>7.0f} | ratio {o['images_per_s'] / r:.2f}")
    elif o["what"] == "infer":
        match = [p for p in infer if p["bs"] == o["batch"] and p["threads"] == t]
        if match:
            r = match[0]["best_img_s"]
            print(f"infer batch {o['batch']:>4}, {t} thread(s): mnist-cnn {o['images_per_s']:>7.0f} | torch {t}t    {r:>7.0f} | ratio {o['images_per_s'] / r:.2f}")
        else:
            print(f"infer batch {o['batch']:>4}, {t} thread(s): mnist-cnn {o['images_per_s']:>7.0f} | (no peer figure)")
    else:
        print(f"peak memory, {t} thread(s): mnist-cnn {o['mb']:.0f} MB (all runs of the process)")
for p in peers:
    if "peak_kb" in p:
        print(f"peak memory {p['peer']} batch {p['batch']} threads {p['threads'] or 'default'}: {p['peak_kb'] / 1024:.0f} MB")
PY
