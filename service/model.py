"""The ONNX digits model: load once, check it against ``contract``, run batches.

A model that is missing, unreadable or breaks the contract raises :class:`ModelError` with one line a
person can act on; ``python -m service`` prints it and exits non-zero instead of serving a broken model.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

import contract
from service.metrics import record_predictions

log = logging.getLogger(__name__)

PROBABILITY_TOLERANCE = 1e-3  # softmax rows must sum to 1 within this


class ModelError(RuntimeError):
    """The model file is missing, corrupt or does not meet the model contract."""


def session_options(intra_op_threads: int, inter_op_threads: int) -> ort.SessionOptions:
    """Threads chosen on purpose: by default one per inference, so parallelism comes from concurrent requests
    (thread pool) and worker processes instead of oversubscribing the cores; no spinning idle threads."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = inter_op_threads
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only; warnings would go to stderr unstructured
    return options


def _dims(shape: list[Any]) -> tuple[int | None, ...]:
    """onnxruntime shape -> tuple with None for symbolic/dynamic dimensions."""
    return tuple(d if isinstance(d, int) else None for d in shape)


def _matches(actual: tuple[int | None, ...], expected: tuple[int | None, ...]) -> bool:
    """Equal shapes, where None (the batch axis) must be dynamic in the model too: /predict/batch needs it."""
    return actual == expected


@dataclass(frozen=True)
class Classification:
    """One model call's answer for a batch of N images."""

    probabilities: np.ndarray  # float32 [N, 10]
    labels: np.ndarray  # int [N]
    digit_scores: np.ndarray  # float [N]: the model's digit_score, or the fallback score (top probability)
    looks_like_digit: np.ndarray  # bool [N]
    outputs: dict[str, np.ndarray]  # the graph's outputs by name, as it returned them (for V2)


def looks_like_digit(scores: np.ndarray, *, from_model: bool) -> np.ndarray:
    """contract's rule: digit_score >= DIGIT_SCORE_THRESHOLD; for a model without that output (version 1)
    the fallback, top probability >= FALLBACK_MIN_CONFIDENCE."""
    threshold = contract.DIGIT_SCORE_THRESHOLD if from_model else contract.FALLBACK_MIN_CONFIDENCE
    return np.asarray(scores) >= threshold


@dataclass
class DigitModel:
    """An onnxruntime session for the digits model plus its card (ONNX ``metadata_props``)."""

    session: ort.InferenceSession = field(repr=False)
    path: Path
    name: str
    version: str
    metadata: dict[str, str]
    input_name: str = contract.INPUT_NAME
    output_name: str = contract.OUTPUT_NAME
    output_names: tuple[str, ...] = (contract.OUTPUT_NAME,)  # the graph's: probabilities [, digit_score]
    intra_op_threads: int = 1
    inter_op_threads: int = 1

    @classmethod
    def load(cls, path: Path, *, intra_op_threads: int = 1, inter_op_threads: int = 1) -> DigitModel:
        """Open ``path``, check it against the contract and run one inference on a blank image."""
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"model file not found: {path} (set DIGITS_MODEL_PATH or --model-path)")
        try:
            session = ort.InferenceSession(
                str(path),
                sess_options=session_options(intra_op_threads, inter_op_threads),
                providers=["CPUExecutionProvider"],
            )
        except Exception as exc:  # onnxruntime raises several private exception types
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"model file is not a loadable ONNX model: {path}: {reason}") from None
        metadata = dict(session.get_modelmeta().custom_metadata_map)
        check_contract(session, metadata, path)
        model = cls(
            session=session,
            path=path,
            name=metadata["name"],
            version=metadata["version"],
            metadata=metadata,
            output_names=tuple(o.name for o in session.get_outputs()),
            intra_op_threads=intra_op_threads,
            inter_op_threads=inter_op_threads,
        )
        model.self_test()
        return model

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """float32 [N, 1, 28, 28] in [0, 1] -> float32 probabilities [N, 10]; thread-safe."""
        return self.session.run([self.output_name], {self.input_name: batch})[0]

    @property
    def has_digit_score(self) -> bool:
        return contract.DIGIT_SCORE_NAME in self.output_names

    def classify(self, batch: np.ndarray) -> Classification:
        """The model call every serving route makes (/predict and V2 alike): probabilities, labels and
        whether each image looks like a digit at all, counted in the metrics (call time, batch size,
        predictions by label)."""
        started = time.perf_counter()
        results = self.session.run(list(self.output_names), {self.input_name: batch})
        outputs = dict(zip(self.output_names, results, strict=True))
        probabilities = outputs[self.output_name]
        labels = np.argmax(probabilities, axis=1)
        if self.has_digit_score:
            scores = outputs[contract.DIGIT_SCORE_NAME].reshape(len(labels))
        else:
            scores = probabilities.max(axis=1)
        flags = looks_like_digit(scores, from_model=self.has_digit_score)
        record_predictions([int(label) for label in labels], time.perf_counter() - started)
        return Classification(probabilities, labels, scores, flags, outputs)

    def self_test(self) -> None:
        """One inference on a blank image: the output must be one finite probability row summing to 1."""
        blank = np.zeros((1, 1, contract.IMAGE_SIZE, contract.IMAGE_SIZE), dtype=np.float32)
        try:
            out = self.predict(blank)
        except Exception as exc:
            raise ModelError(f"model failed a test inference: {self.path}: {exc}") from None
        if out.shape != (1, contract.NUM_CLASSES) or not np.all(np.isfinite(out)):
            raise ModelError(f"model test inference gave shape {out.shape} or non-finite values: {self.path}")
        total = float(out.sum())
        if abs(total - 1.0) > PROBABILITY_TOLERANCE or float(out.min()) < 0.0:
            raise ModelError(
                f"model output is not probabilities (row sums to {total:.4f}); "
                f"softmax must be inside the graph: {self.path}"
            )
        if self.has_digit_score:
            score = self.session.run([contract.DIGIT_SCORE_NAME], {self.input_name: blank})[0]
            if score.shape != (1, 1) or not 0.0 <= float(score[0, 0]) <= 1.0:
                raise ModelError(f"model digit_score is not one value in [0, 1] per image: {self.path}")

    def card(self) -> dict[str, Any]:
        """The metadata as a card: JSON objects/arrays parsed, everything else kept as the text it is."""
        return {key: _parse(value) for key, value in self.metadata.items()}


def _parse(value: str) -> Any:
    if value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            pass
    return value


def check_contract(session: ort.InferenceSession, metadata: dict[str, str], path: Path) -> None:
    """Raise ModelError naming the first way the model breaks ``contract``."""
    inputs, outputs = session.get_inputs(), session.get_outputs()
    problems = []
    if [i.name for i in inputs] != [contract.INPUT_NAME]:
        problems.append(f"inputs {[i.name for i in inputs]} != ['{contract.INPUT_NAME}']")
    elif inputs[0].type != "tensor(float)" or not _matches(_dims(inputs[0].shape), contract.INPUT_SHAPE):
        problems.append(
            f"input {inputs[0].type} {inputs[0].shape} != tensor(float) {list(contract.INPUT_SHAPE)}"
        )
    names = [o.name for o in outputs]
    if names not in ([contract.OUTPUT_NAME], [contract.OUTPUT_NAME, contract.DIGIT_SCORE_NAME]):
        problems.append(
            f"outputs {names} != ['{contract.OUTPUT_NAME}'] or "
            f"['{contract.OUTPUT_NAME}', '{contract.DIGIT_SCORE_NAME}']"
        )
    else:
        shapes = (contract.OUTPUT_SHAPE, contract.DIGIT_SCORE_SHAPE)
        for output, shape in zip(outputs, shapes, strict=False):
            if output.type != "tensor(float)" or not _matches(_dims(output.shape), shape):
                problems.append(
                    f"output {output.type} {output.shape} != tensor(float) {list(shape)} ({output.name})"
                )
    missing = [key for key in contract.REQUIRED_METADATA if key not in metadata]
    if missing:
        problems.append(f"metadata lacks {', '.join(missing)}")
    elif metadata["name"] != contract.MODEL_NAME:
        problems.append(f"metadata name {metadata['name']!r} != {contract.MODEL_NAME!r}")
    if problems:
        raise ModelError(f"model does not meet the contract: {path}: " + "; ".join(problems))
