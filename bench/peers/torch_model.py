"""The training CNN with the shipped ONNX file's weights: the model both PyTorch peers run eagerly.

The training helper ships only the ONNX file, so the weights come from it: the training CNN
(``training.models.cnn``, width from the model card) is rebuilt and each ONNX Conv/Gemm initializer is
copied into the matching layer in graph order. The exporter folded each BatchNorm into its Conv, so
the BatchNorms are set to the identity plus the folded bias: the module still runs every layer a
tutorial's model runs, and its outputs match onnxruntime's (``parity`` checks it at startup).
"""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import torch
from common import MODEL_PATH  # also puts the repository on sys.path
from onnx import numpy_helper
from torch import nn

from contract import INPUT_NAME, OUTPUT_NAME, to_model_input
from training.models import cnn


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


def parity(model: nn.Module, path: os.PathLike = MODEL_PATH) -> float:
    """Max |torch - onnxruntime| probability on 16 random images (a wrong weight mapping shows here)."""
    probe = np.random.default_rng(0).integers(0, 256, (16, 28, 28), dtype=np.uint8)
    with torch.no_grad():
        ours = torch.softmax(model(torch.from_numpy(to_model_input(probe))), dim=1).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    reference = session.run([OUTPUT_NAME], {INPUT_NAME: to_model_input(probe)})[0]
    return float(np.abs(ours - reference).max())
