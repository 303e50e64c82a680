#!/usr/bin/env bash
# The project's test command (README, CI): every test, on the bundled data, offline.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --locked
