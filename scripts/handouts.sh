#!/usr/bin/env bash
# Handouts for students without Rust (a phone, a school laptop): one folder that opens offline,
# from a USB stick (file://) or any static web host: an index page, every notebook as HTML with
# its committed full run and pictures embedded, the report pictures, and the draw-a-digit page,
# which reads digits on the device.
# Usage: scripts/handouts.sh [OUT]   (default target/handouts)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/handouts}
# nbconvert, in the notebooks' virtual environment (the kernel itself is not needed here).
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import nbconvert" 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check nbformat==5.11.1 nbconvert==7.17.2
fi
cargo build -q --release
rm -rf "$out"
mkdir -p "$out"
target/release/mnist-cnn page --out "$out/page" >/dev/null
.venv/bin/python scripts/handouts.py "$out"
echo "Wrote the handouts to $out/ (open $out/index.html)"
