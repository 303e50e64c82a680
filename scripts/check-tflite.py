"""The TFLite files that mnist-cnn exports, run by LiteRT (Google's TFLite runtime), must give the
library's probabilities within 1e-4 on 1,000 test images.

Reads the fixture that `cargo test --test export` writes to target/export-check/.
"""
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from litert_run import probabilities  # noqa: E402

CHECK = pathlib.Path(__file__).resolve().parent.parent / "target" / "export-check"


def check(name: str) -> bool:
    model = CHECK / f"{name}.tflite"
    if not model.exists():
        print(f"{model} is missing: run `cargo test --release --test export` first", file=sys.stderr)
        return False
    images = np.fromfile(CHECK / f"{name}.images.f32", dtype="<f4").reshape(-1, 28, 28, 1)
    want = np.fromfile(CHECK / f"{name}.probabilities.f32", dtype="<f4").reshape(-1, 10)
    got = probabilities(str(model), images)
    worst = float(np.abs(got - want).max())
    same = int((got.argmax(1) == want.argmax(1)).sum())
    ok = worst <= 1e-4 and same == len(want)
    print(f"tflite {name}: {len(want)} images, largest difference {worst:.2e}, same prediction {same}/{len(want)}: {'ok' if ok else 'FAILED'}")
    return ok


if __name__ == "__main__":
    results = [check(name) for name in ("lesson", "better", "zoo", "lenet5")]
    sys.exit(0 if all(results) else 1)
