"""Runs a TFLite file with LiteRT (Google's TFLite runtime): images in, probabilities out.

Usage: litert_run.py MODEL.tflite IMAGES.f32 OUT.f32
  IMAGES.f32: little-endian float32 pixels 0..1, 784 per image (28 x 28, row by row)
  OUT.f32:    little-endian float32, 10 probabilities per image
Used by notebook 04 (through mnist_cnn::notebook::litert_probabilities) and check-tflite.py.
"""
import sys

import numpy as np
from ai_edge_litert.interpreter import Interpreter


def probabilities(model: str, images: np.ndarray) -> np.ndarray:
    """The file's ten probabilities for each 28x28 image (float32 0..1), one image at a time."""
    interpreter = Interpreter(model_path=model)
    interpreter.allocate_tensors()
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert inp["name"] == "image" and list(inp["shape"]) == [1, 28, 28, 1], inp
    assert out["name"] == "probabilities" and list(out["shape"]) == [1, 10], out
    got = np.empty((len(images), 10), dtype="<f4")
    for i, image in enumerate(images.reshape(-1, 28, 28, 1)):
        interpreter.set_tensor(inp["index"], image[None])
        interpreter.invoke()
        got[i] = interpreter.get_tensor(out["index"])[0]
    return got


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    model, images, out = sys.argv[1:]
    probabilities(model, np.fromfile(images, dtype="<f4").reshape(-1, 784)).tofile(out)
