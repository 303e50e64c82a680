#!/usr/bin/env bash
# The project's test command (README, CI): every Rust test on the bundled data, then every
# notebook executed headlessly in quick mode. Installs what the notebooks need the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --locked
scripts/run-notebooks.sh
