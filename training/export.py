"""ONNX export: the trained model plus softmax in one self-contained graph that meets ``contract``.

The graph takes ``image`` float32 [N, 1, 28, 28] (pixels / 255) and returns ``probabilities`` float32
[N, 10]; normalization and softmax are inside it. Before anything is written, the exported graph is run
in onnxruntime on the whole given image set and compared with torch: any probability differing by more
than ``PARITY_TOLERANCE`` raises :class:`ParityError`. The model card goes into ``metadata_props``.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from contract import (
    DIGIT_SCORE_NAME,
    IMAGE_SIZE,
    INPUT_NAME,
    OPSET,
    OUTPUT_NAME,
    REQUIRED_METADATA,
    to_model_input,
)

PARITY_TOLERANCE = 1e-5
# digit_score passes standardized features through an MLP and a sigmoid: float32 rounding (BatchNorm
# folded into the convolutions by the exporter) moves it a little more than the probabilities.
SCORE_PARITY_TOLERANCE = 1e-4


class ParityError(RuntimeError):
    """onnxruntime and torch disagree on the exported model."""


class ExportModule(nn.Module):
    """model (pixels in [0, 1] -> logits; normalization is its first layer) followed by softmax."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(image), dim=1)


def as_exported(model: nn.Module) -> nn.Module:
    """A single network returns logits: add the softmax. ``training.ensemble.Ensemble`` already
    returns probabilities (and the digit score): export it as it is."""
    from training.ensemble import Ensemble

    return model if isinstance(model, Ensemble) else ExportModule(model)


def output_names(model: nn.Module) -> list[str]:
    from training.ensemble import Ensemble

    if isinstance(model, Ensemble) and model.head is not None:
        return [OUTPUT_NAME, DIGIT_SCORE_NAME]
    return [OUTPUT_NAME]


def to_onnx(model: nn.Module) -> onnx.ModelProto:
    """Export with the TorchScript-based exporter (``dynamo=False``): a small, clean graph (BatchNorm
    folded into the convolutions) with a dynamic batch axis and the weights embedded (no external data).

    Why not the default torch.export-based exporter of torch 2.14: it needs ``onnxscript``, which is
    not among the training dependencies, and gains nothing for a plain feed-forward CNN. The legacy
    path is deprecated but supported in 2.14; its deprecation warning is silenced here.
    """
    module = as_exported(model).eval()
    names = output_names(model)
    buffer = io.BytesIO()
    dummy = torch.zeros(2, 1, IMAGE_SIZE, IMAGE_SIZE)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            module,
            (dummy,),
            buffer,
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=names,
            dynamic_axes={name: {0: "batch"} for name in [INPUT_NAME, *names]},
            do_constant_folding=True,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    onnx.checker.check_model(proto, full_check=True)
    return proto


def session(proto: onnx.ModelProto) -> ort.InferenceSession:
    return ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def run(
    sess: ort.InferenceSession, images: np.ndarray, batch_size: int = 1000, output: str = OUTPUT_NAME
) -> np.ndarray:
    """One output (default: probabilities) for uint8 images [N, 28, 28] through an onnxruntime session."""
    return np.concatenate(
        [
            sess.run([output], {INPUT_NAME: to_model_input(images[i : i + batch_size])})[0]
            for i in range(0, len(images), batch_size)
        ]
    )


@torch.no_grad()
def torch_outputs(model: nn.Module, images: np.ndarray, batch_size: int = 1000) -> list[np.ndarray]:
    """Every output of the exported module (probabilities first) computed by torch."""
    module = as_exported(model).eval()
    batches = []
    for i in range(0, len(images), batch_size):
        out = module(torch.from_numpy(to_model_input(images[i : i + batch_size])))
        batches.append([t.numpy() for t in (out if isinstance(out, tuple) else (out,))])
    return [np.concatenate(parts) for parts in zip(*batches, strict=True)]


def torch_probabilities(model: nn.Module, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    return torch_outputs(model, images, batch_size)[0]


def check_parity(reference: np.ndarray, candidate: np.ndarray, tolerance: float = PARITY_TOLERANCE) -> float:
    """Largest absolute difference between two probability arrays; raises ParityError above tolerance."""
    if reference.shape != candidate.shape:
        raise ParityError(f"ONNX output shape {candidate.shape} != torch output shape {reference.shape}")
    difference = np.abs(reference - candidate).reshape(len(reference), -1)
    worst = float(np.max(difference))
    if not worst <= tolerance:  # also catches NaN
        row = int(np.argmax(np.max(difference, axis=1)))
        raise ParityError(
            f"ONNX export disagrees with torch: max |difference| {worst:.3g} > {tolerance:g} "
            f"(worst on image {row}). The exported model was not written."
        )
    return worst


def set_metadata(proto: onnx.ModelProto, metadata: Mapping[str, object]) -> None:
    missing = [key for key in REQUIRED_METADATA if key not in metadata]
    if missing:
        raise ValueError(f"model card is missing required metadata: {', '.join(missing)}")
    del proto.metadata_props[:]
    for key, value in metadata.items():
        text = value if isinstance(value, str) else json.dumps(value)
        proto.metadata_props.add(key=key, value=text)


def read_metadata(path: Path) -> dict[str, str]:
    proto = onnx.load(str(path), load_external_data=False)
    return {prop.key: prop.value for prop in proto.metadata_props}


def save(proto: onnx.ModelProto, path: Path) -> None:
    """Write one self-contained file (weights inline), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_bytes(proto.SerializeToString())
    partial.replace(path)
