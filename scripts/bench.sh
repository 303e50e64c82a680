#!/usr/bin/env bash
# Throughput of mnist-cnn beside its peers (PyTorch, Keras) on this machine, in one run.
# Usage: scripts/bench.sh [IMAGES]   (default 9600 training images per measurement)
# The peers run from ../shared/bench/peers in the virtual environment $PEERS_VENV
# (default ~/.cache/mnist-cnn/peers); `scripts/bench.sh --install-peers` creates it (about 5 GB).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${PEERS_VENV:-$HOME/.cache/mnist-cnn/peers}
peers=${PEERS_DIR:-../shared/bench/peers}
if [ "${1:-}" = "--install-peers" ]; then
  python3 -m venv "$venv" && "$venv/bin/pip" install -q numpy torch tensorflow-cpu
  exit 0
fi
images=${1:-9600}
export MNIST_DIR=${MNIST_DIR:-$PWD/../shared/datasets/mnist}
out=$(mktemp -d)
echo "== mnist-cnn ($images training images, median of 3 after a warm-up)"
cargo bench -q --bench throughput -- --images "$images" | tee "$out/ours.jsonl"
if [ ! -x "$venv/bin/python" ]; then
  echo "No peers venv at $venv: run scripts/bench.sh --install-peers to compare."; exit 0
fi
echo "== PyTorch (1 thread, 1 epoch on the same $images images)"
for bs in 32 128; do
  (cd "$peers" && OMP_WAIT_POLICY=PASSIVE "$venv/bin/python" train_torch.py --epochs 1 --bs $bs --threads 1 --limit "$images") \
    | grep '^{' | sed "s/^/{\"peer\":\"torch\",\"batch\":$bs,\"row\":/; s/\$/}/" | tee -a "$out/peers.jsonl"
done
echo "== Keras (default threads, 1 epoch on the same $images images)"
for bs in 32 128; do
  (cd "$peers" && "$venv/bin/python" train_keras.py --epochs 1 --bs $bs --limit "$images" 2>/dev/null) \
    | grep '^EPOCH' | sed "s/^EPOCH /{\"peer\":\"keras\",\"batch\":$bs,\"row\":/; s/\$/}/" | tee -a "$out/peers.jsonl"
done
echo "== PyTorch inference (1 thread)"
(cd "$peers" && OMP_WAIT_POLICY=PASSIVE "$venv/bin/python" infer_probe.py 1) | tee "$out/infer.jsonl"
"$venv/bin/python" - "$out" <<'PY'
import json, sys, os
d = sys.argv[1]
ours = [json.loads(l) for l in open(os.path.join(d, "ours.jsonl"))]
peers = [json.loads(l) for l in open(os.path.join(d, "peers.jsonl"))]
infer = [json.loads(l) for l in open(os.path.join(d, "infer.jsonl"))]
print("\n== mnist-cnn over its peers (images/s; ratio > 1 means mnist-cnn is faster)")
for o in ours:
    if o["what"] == "train":
        for p in peers:
            if p["batch"] == o["batch"]:
                r = p["row"]["img_s"]
                print(f"train batch {o['batch']:>4}: mnist-cnn {o['images_per_s']:>7.0f} | {p['peer']:<6} {r:>7.0f} | ratio {o['images_per_s'] / r:.2f}")
    else:
        for p in infer:
            if p["bs"] == o["batch"]:
                print(f"infer batch {o['batch']:>4}: mnist-cnn {o['images_per_s']:>7.0f} | torch  {p['best_img_s']:>7.0f} | ratio {o['images_per_s'] / p['best_img_s']:.2f}")
PY
