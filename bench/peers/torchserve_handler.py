"""Peer (c): TorchServe running the same PyTorch model eagerly, with the same preprocessing.

A custom handler (TorchServe's documented way for anything beyond its stock image classifier): the
training CNN with the ONNX file's weights (``torch_model.py``), ``service.images`` for pictures.
Torch threads per worker: BENCH_TORCH_THREADS (default 1; TorchServe runs one process per worker).
Requests: POST /predictions/digits with multipart field ``image``, or JSON ``{"pixels": [...]}``.
The repository is found through DIGITS_REPO (TorchServe copies this file into its own folder).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(os.environ["DIGITS_REPO"])
sys.path[:0] = [str(REPO / "bench" / "peers"), str(REPO)]

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import MAX_PIXELS, MODEL_PATH, answer  # noqa: E402
from torch_model import load_from_onnx  # noqa: E402
from ts.torch_handler.base_handler import BaseHandler  # noqa: E402

from contract import MODEL_NAME, to_model_input  # noqa: E402
from service.images import read_digit  # noqa: E402


class DigitsHandler(BaseHandler):
    def initialize(self, context) -> None:
        torch.set_num_threads(int(os.environ.get("BENCH_TORCH_THREADS", "1")))
        self.model, self.version = load_from_onnx(MODEL_PATH)
        self.initialized = True

    def handle(self, data: list[dict], context) -> list[dict]:
        batch = []
        for row in data:
            payload = row.get("image") or row.get("data") or row.get("body")
            if isinstance(payload, dict):
                batch.append(np.asarray(payload["pixels"], dtype=np.uint8).reshape(28, 28))
            else:
                batch.append(read_digit(bytes(payload), max_pixels=MAX_PIXELS))
        with torch.no_grad():
            probabilities = torch.softmax(
                self.model(torch.from_numpy(to_model_input(np.stack(batch)))), dim=1
            )
        return [answer(row.tolist(), MODEL_NAME, self.version) for row in probabilities]
