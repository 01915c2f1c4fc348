"""Peer (b): what a tutorial would write. FastAPI, an ``async def`` upload handler, the PyTorch model
run eagerly in the request (``torch.no_grad``), the same preprocessing (``service.images``).

The training helper ships only the ONNX file, so the weights come from it: the training CNN
(``training.models.cnn``, width from the model card) is rebuilt and each ONNX Conv/Gemm initializer is
copied into the matching layer in graph order. The exporter folded each BatchNorm into its Conv, so
the BatchNorms are set to the identity plus the folded bias: the module still runs every layer a
tutorial's model runs, and its outputs match onnxruntime's (checked at startup, max |diff| printed).

Run (from the peers venv):
    uvicorn fastapi_torch:app --app-dir bench/peers --port 3001 --workers 2
Torch threads: BENCH_TORCH_THREADS (unset: torch's default = one per core in each worker; "1": pinned).
Routes: POST /predict (multipart field ``image``), POST /predict_pixels (JSON ``{"pixels": [...]}``).
"""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import torch
from common import MAX_PIXELS, MODEL_PATH, answer  # also puts the repository on sys.path
from fastapi import FastAPI, File, UploadFile
from onnx import numpy_helper
from pydantic import BaseModel
from torch import nn

from contract import INPUT_NAME, MODEL_NAME, OUTPUT_NAME, to_model_input
from service.images import read_digit
from training.models import cnn

if os.environ.get("BENCH_TORCH_THREADS"):
    torch.set_num_threads(int(os.environ["BENCH_TORCH_THREADS"]))


def load_from_onnx(path: os.PathLike) -> tuple[nn.Module, str]:
    """training.models.cnn with the ONNX file's weights (Conv+BN folded by the exporter)."""
    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    width = int(json.loads(meta.get("settings", "{}")).get("width", 32))
    weights = {t.name: numpy_helper.to_array(t).copy() for t in proto.graph.initializer}
    for node in proto.graph.node:  # the exporter dedups equal tensors behind Identity nodes
        if node.op_type == "Identity" and node.input[0] in weights:
            weights[node.output[0]] = weights[node.input[0]]
    layers = [n for n in proto.graph.node if n.op_type in ("Conv", "Gemm")]
    model = cnn(width).eval()
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if len(layers) != len(convs) + len(linears):
        wanted = len(convs) + len(linears)
        raise RuntimeError(f"ONNX graph has {len(layers)} Conv/Gemm nodes, the module {wanted}")
    with torch.no_grad():
        for node, conv, norm in zip(layers[: len(convs)], convs, norms, strict=True):
            conv.weight.copy_(torch.from_numpy(weights[node.input[1]]))
            norm.weight.fill_(1.0)
            norm.running_mean.zero_()
            norm.running_var.fill_(1.0 - norm.eps)  # (x - 0) / sqrt(1 - eps + eps) * 1 + bias = x + bias
            norm.bias.copy_(torch.from_numpy(weights[node.input[2]]))
        gemm, linear = layers[-1], linears[0]
        transposed = any(a.name == "transB" and a.i == 1 for a in gemm.attribute)
        w = weights[gemm.input[1]]
        linear.weight.copy_(torch.from_numpy(w if transposed else w.T))
        linear.bias.copy_(torch.from_numpy(weights[gemm.input[2]]))
    return model, meta.get("version", "1")


model, VERSION = load_from_onnx(MODEL_PATH)
# Startup check: the rebuilt module answers what the ONNX file answers.
_probe = np.random.default_rng(0).integers(0, 256, (16, 28, 28), dtype=np.uint8)
with torch.no_grad():
    _ours = torch.softmax(model(torch.from_numpy(to_model_input(_probe))), dim=1).numpy()
_ref = ort.InferenceSession(str(MODEL_PATH), providers=["CPUExecutionProvider"]).run(
    [OUTPUT_NAME], {INPUT_NAME: to_model_input(_probe)}
)[0]
print(f"fastapi_torch: torch vs onnxruntime max |diff| = {np.abs(_ours - _ref).max():.2e}", flush=True)

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
