#!/usr/bin/env bash
# The project's test command (README, CI): every Rust test on the bundled data, then every
# notebook executed headlessly in quick mode. Installs what the notebooks need the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
# Fashion-MNIST (the --dataset fashion switch) comes from Debian; its tests need it.
if [ ! -d /usr/share/datasets/fashion-mnist ] && [ -z "${FASHION_MNIST_DIR:-}" ]; then
  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null \
    || echo "warning: could not install dataset-fashion-mnist; the Fashion-MNIST tests will fail"
fi
cargo test --release --locked
scripts/run-notebooks.sh
