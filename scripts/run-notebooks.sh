#!/usr/bin/env bash
# Runs the notebooks headlessly (quick mode unless --full); see scripts/run-notebooks.py.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-notebooks.sh
export PATH="$HOME/.cargo/bin:$PATH"
exec .venv/bin/python scripts/run-notebooks.py "$@"
