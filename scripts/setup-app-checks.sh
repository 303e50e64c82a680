#!/usr/bin/env bash
# What the app's checks need, installed once (each step is skipped when already done):
#  - Chromium and ChromeDriver from Debian, for the draw-a-digit page's browser test,
#  - in .venv/: LiteRT (Google's TFLite runtime) to run the exported .tflite file, and Selenium
#    to drive Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  echo "Installing Debian's chromium and chromium-driver..."
  (apt-get update -qq && apt-get install -y -qq chromium chromium-driver) >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
if ! .venv/bin/python -c "import ai_edge_litert, selenium" 2>/dev/null; then
  .venv/bin/pip install -q --disable-pip-version-check ai-edge-litert==2.3.0 numpy==2.4.6 selenium==4.51.0
fi
