"""Peer (b): what a tutorial would write. FastAPI, an ``async def`` upload handler, the PyTorch model
run eagerly in the request (``torch.no_grad``), the same preprocessing (``service.images``).

The module is the training CNN with the shipped ONNX file's weights (``torch_model.py``); its
outputs are checked against onnxruntime's at startup (max |diff| printed).

Run (from the peers venv):
    uvicorn fastapi_torch:app --app-dir bench/peers --port 3001 --workers 2
Torch threads: BENCH_TORCH_THREADS (unset: torch's default = one per core in each worker; "1": pinned).
Routes: POST /predict (multipart field ``image``), POST /predict_pixels (JSON ``{"pixels": [...]}``).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from common import MAX_PIXELS, MODEL_PATH, answer  # also puts the repository on sys.path
from fastapi import FastAPI, File, UploadFile
from pydantic import BaseModel
from torch_model import load_from_onnx, parity

from contract import MODEL_NAME, to_model_input
from service.images import read_digit

if os.environ.get("BENCH_TORCH_THREADS"):
    torch.set_num_threads(int(os.environ["BENCH_TORCH_THREADS"]))


model, VERSION = load_from_onnx(MODEL_PATH)
print(f"fastapi_torch: torch vs onnxruntime max |diff| = {parity(model):.2e}", flush=True)

app = FastAPI()


class Pixels(BaseModel):
    pixels: list[int]


def infer(pixels: np.ndarray) -> dict:
    x = torch.from_numpy(to_model_input(pixels))
    with torch.no_grad():
        probabilities = torch.softmax(model(x), dim=1)[0]
    return answer(probabilities.tolist(), MODEL_NAME, VERSION)


@app.post("/predict")
async def predict(image: UploadFile = File(...)) -> dict:  # noqa: B008 (FastAPI's documented idiom)
    data = await image.read()
    return infer(read_digit(data, max_pixels=MAX_PIXELS))


@app.post("/predict_pixels")
async def predict_pixels(body: Pixels) -> dict:
    return infer(np.asarray(body.pixels, dtype=np.uint8))


@app.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}
