#!/usr/bin/env bash
# The project's test command (README, CI): every Rust test on the bundled data; the exported
# TFLite files run by LiteRT; the draw-a-digit page driven in headless Chromium; every notebook
# executed headlessly in quick mode. Installs what it needs the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
# Fashion-MNIST (the --dataset fashion switch) comes from Debian; its tests need it.
if [ ! -d /usr/share/datasets/fashion-mnist ] && [ -z "${FASHION_MNIST_DIR:-}" ]; then
  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null \
    || echo "warning: could not install dataset-fashion-mnist; the Fashion-MNIST tests will fail"
fi
cargo test --release --locked
scripts/setup-app-checks.sh
# tests/export.rs wrote target/export-check/: LiteRT must give the library's probabilities.
.venv/bin/python scripts/check-tflite.py
.venv/bin/python scripts/browser-test.py
scripts/run-notebooks.sh
