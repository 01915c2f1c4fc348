"""The model contract: the one place that says what the digits model takes and gives.

Training (which makes the model) and the service (which serves it) both import this module and
nothing of each other. A consumer of the ONNX file needs nothing but what is written here: the
normalization lives inside the graph, so the input is plain pixels scaled to [0, 1].
"""

from __future__ import annotations

import numpy as np

MODEL_NAME = "digits"
INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"
IMAGE_SIZE = 28  # MNIST: 28x28, white digit on black, centred by centre of mass in a 20x20 box
NUM_CLASSES = 10
PIXEL_MAX = 255.0  # uint8 pixels -> model input = pixels / PIXEL_MAX, in [0, 1]
INPUT_SHAPE = (None, 1, IMAGE_SIZE, IMAGE_SIZE)  # None: dynamic batch
OUTPUT_SHAPE = (None, NUM_CLASSES)
OPSET = 17

# Mean and standard deviation of the MNIST training pixels in [0, 1]; applied inside the graph only.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

# Keys every exported model carries in its ONNX metadata_props (the model card).
REQUIRED_METADATA = (
    "name",
    "version",
    "test_accuracy",
    "validation_accuracy",
    "trained_at",
    "data_sha256",
    "settings",
)


def to_model_input(pixels: np.ndarray) -> np.ndarray:
    """uint8 (or 0..255 float) pixels shaped [..., 28, 28] -> float32 [N, 1, 28, 28] in [0, 1]."""
    array = np.asarray(pixels, dtype=np.float32).reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE)
    return array * np.float32(1.0 / PIXEL_MAX)


# Optional second output (models from version 2 on): how much the picture looks like a digit at all.
# float32 [N, 1] in [0, 1] (one column: Triton and V2 see an ordinary batched tensor); a score
# >= DIGIT_SCORE_THRESHOLD means "looks like a digit". The threshold
# is fixed here: each trained model shifts its score so that the cut it chose on validation sits at
# this value. The label and probabilities are still meaningful (and returned) below it.
DIGIT_SCORE_NAME = "digit_score"
DIGIT_SCORE_SHAPE = (None, 1)
DIGIT_SCORE_THRESHOLD = 0.5
# For a model without that output (version 1) the score is the top probability and the same rule,
# score >= FALLBACK_MIN_CONFIDENCE, decides: a weak test (it lets about a third of non-digits pass).
FALLBACK_MIN_CONFIDENCE = 0.9
