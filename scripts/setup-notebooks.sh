#!/usr/bin/env bash
# Everything the notebooks need, installed once (each step is skipped when already done):
#  - evcxr_jupyter, the Rust kernel for Jupyter (pinned, --locked; about 7 min to build on 2 cores, on a fresh CI machine),
#  - a Python virtual environment in .venv/ with the Jupyter pieces that run notebooks headlessly,
#  - the kernel registered with Jupyter ("Rust") with the project's settings, and its cache warmed.
# Add JupyterLab to open the notebooks interactively: .venv/bin/pip install jupyterlab
set -euo pipefail
cd "$(dirname "$0")/.."
EVCXR_VERSION=0.22.0
export PATH="$HOME/.cargo/bin:$PATH"
if ! cargo install --list | grep -q "^evcxr_jupyter v$EVCXR_VERSION:"; then
  echo "Installing evcxr_jupyter $EVCXR_VERSION (a one-time build of about 7 minutes on 2 cores)..."
  cargo install --locked "evcxr_jupyter@$EVCXR_VERSION"
fi
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c "import nbclient, nbformat, nbconvert" 2>/dev/null; then
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check \
    jupyter_client==8.10.0 nbclient==0.11.0 nbformat==5.11.1 nbconvert==7.17.2
fi
# The kernel, registered inside .venv/ (its Jupyter prefers that to a user-wide "rust" kernel) and
# started by scripts/kernel.py with the project's settings (notebooks/evcxr/: evcxr's compilation
# cache, offline mode, the library optimised as in a release build). Written every time, so that
# it follows the checkout if it moves.
.venv/bin/python scripts/kernel.py install "$(command -v evcxr_jupyter)"
# Offline, the kernel finds every crate the library needs (for every platform, as cargo's
# resolver asks) in cargo's local copy.
cargo fetch --locked -q
# Warm the cache: build the library and its dependencies once, as a notebook's first cell does,
# so that the first cell of every notebook after this takes seconds (minutes the first time).
.venv/bin/python scripts/kernel.py warm
