#!/usr/bin/env bash
# Training speed of this checkout against another revision, on this machine, in one run: both
# binaries train the lesson's network (2 epochs, batch 32) and the better one (1 epoch on 12,000
# images, batch 64) three times, taking turns; prints images/s (from each history's seconds,
# which count training only) and whether both gave the same model, bit for bit.
# Usage: scripts/compare-speed.sh REV   (for example: scripts/compare-speed.sh HEAD~3)
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: scripts/compare-speed.sh REV}
old=target/compare-speed/$rev
work=$(mktemp -d)
if [ ! -x "$old/target/release/mnist-cnn" ]; then
  rm -rf "$old"; mkdir -p "$(dirname "$old")"
  git worktree add --detach "$old" "$rev" >/dev/null
  # Start from this checkout's compiled dependencies: only the crate itself is rebuilt.
  mkdir -p "$old/target" && cp -r target/release "$old/target/" 2>/dev/null || true
  (cd "$old" && cargo build -q --release --bin mnist-cnn)
fi
cargo build -q --release --bin mnist-cnn
for round in 1 2 3; do
  for who in old new; do
    bin=target/release/mnist-cnn; [ "$who" = old ] && bin=$old/target/release/mnist-cnn
    "$bin" train --epochs 2 --quiet --model "$work/$who.safetensors" --history "$work/$who-lesson-$round.csv" --checkpoints "$work/ck-$who" >/dev/null 2>>"$work/log"
    "$bin" train --network better --epochs 1 --limit 12000 --quiet --model "$work/$who-better.safetensors" --history "$work/$who-better-$round.csv" --checkpoints "$work/ckb-$who" >/dev/null 2>>"$work/log"
  done
done
python3 - "$work" "$rev" <<'PY'
import csv, glob, statistics, sys
work, rev = sys.argv[1], sys.argv[2]
for net, images in [("lesson", 54000), ("better", 10800)]:
    for who, name in [("old", rev), ("new", "this checkout")]:
        rates = []
        for f in sorted(glob.glob(f"{work}/{who}-{net}-*.csv")):
            rows = list(csv.DictReader(open(f)))
            rates.append(images * len(rows) / sum(float(r["seconds"]) for r in rows))
        print(f"{net:<6} {name:<14} images/s {' '.join(f'{r:6.0f}' for r in rates)}  median {statistics.median(rates):6.0f}")
PY
for m in "" -better; do
  cmp -s "$work/old$m.safetensors" "$work/new$m.safetensors" && echo "same model${m:+ ($m)}, bit for bit" || echo "the models differ${m:+ ($m)}"
done
