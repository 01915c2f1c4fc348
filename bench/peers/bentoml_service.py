"""Peer (a): BentoML serving the same ONNX model with the same preprocessing, written the way
BentoML's docs show (a ``@bentoml.service`` class, ``@bentoml.api`` methods, a PIL image parameter).

Run (from the peers venv, see bench/setup_peers.sh):
    bentoml serve bentoml_service:Digits --working-dir bench/peers --port 3000
Workers: BENCH_WORKERS (default 2 = this machine's cores, like the service). Sync APIs run in BentoML's
thread pool; onnxruntime gets 1 intra-op thread per worker, as the service does.
Routes: POST /predict (multipart field ``image``), POST /predict_pixels (JSON ``{"pixels": [...]}``).
"""

from __future__ import annotations

import os

import bentoml
import numpy as np
import onnxruntime as ort
from common import MODEL_PATH, answer  # also puts the repository on sys.path
from PIL import Image as PILImage
from PIL import ImageOps

from contract import INPUT_NAME, MODEL_NAME, OUTPUT_NAME, to_model_input
from service.images import to_mnist

WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))


@bentoml.service(workers=WORKERS, traffic={"timeout": 30})
class Digits:
    def __init__(self) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(MODEL_PATH), options, providers=["CPUExecutionProvider"])
        self.version = self.session.get_modelmeta().custom_metadata_map.get("version", "1")

    def _infer(self, pixels: np.ndarray) -> dict:
        probabilities = self.session.run([OUTPUT_NAME], {INPUT_NAME: to_model_input(pixels)})[0][0]
        return answer(probabilities.tolist(), MODEL_NAME, self.version)

    @bentoml.api
    def predict(self, image: PILImage.Image) -> dict:
        image.load()
        ImageOps.exif_transpose(image, in_place=True)  # as service.images.decode_image does
        return self._infer(to_mnist(image))

    @bentoml.api
    def predict_pixels(self, pixels: list[int]) -> dict:
        return self._infer(np.asarray(pixels, dtype=np.uint8))
