"""The digits model on V2 tensors, for any transport: request checks, inference, metadata.

Transport-neutral (no Litestar, no HTTP): the REST routes (``service.v2.routes``) and a gRPC servicer both
decode their message into an :class:`~service.v2.schemas.InferenceRequest` plus the bytes of binary
tensor data (``parameters.binary_data_size`` per input, as Triton's extension), call :func:`infer`, and
encode the :class:`InferenceResult` their own way. Every refusal is a :class:`ProtocolError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import metadata as package_metadata
from typing import Any

import numpy as np
import pydantic

import contract
from service.model import DigitModel
from service.predictions import Recorder, new_prediction_id
from service.v2.binary import (
    BINARY_DATA,
    BINARY_DATA_OUTPUT,
    BINARY_DATA_SIZE,
    BYTES,
    HEADER_LENGTH,
    binary_chunks,
    binary_size,
    tensor_from_binary,
    tensor_from_json,
)
from service.v2.errors import ProtocolError
from service.v2.schemas import InferenceRequest, MetadataTensor, ModelMetadata, RequestInput, ServerMetadata
from service.v2.statistics import InferenceTimer

SERVER_NAME = "digits-service"
PLATFORM = "onnxruntime_onnx"  # Triton's platform name for ONNX models served by onnxruntime
DATATYPE = "FP32"
PREDICTION_ID_PARAMETER = "prediction_id"  # response parameter: the ids of the batch, comma-separated
# Triton's names of the protocol extensions this server implements (REST and gRPC alike).
EXTENSIONS = ["binary_tensor_data", "classification", "model_configuration", "model_repository", "statistics"]
CLASSIFICATION = "classification"  # requested-output parameter: answer the top k classes as BYTES
UNSUPPORTED_PARAMETERS = {
    "shared_memory_region": "the shared memory extension is not supported; send the data in the request",
}
# The contract's shapes with the dynamic batch dimension written as the protocol's -1.
INPUT_SHAPE = [-1 if dim is None else dim for dim in contract.INPUT_SHAPE]
OUTPUT_SHAPE = [-1 if dim is None else dim for dim in contract.OUTPUT_SHAPE]
DIGIT_SCORE_SHAPE = [-1 if dim is None else dim for dim in contract.DIGIT_SCORE_SHAPE]


@dataclass(frozen=True)
class OutputTensor:
    """One output to answer: its values, and whether the client asked for them as binary data."""

    name: str
    datatype: str
    array: np.ndarray
    as_binary: bool


@dataclass(frozen=True)
class RequestedOutput:
    """An output to answer: as binary data or not, and as the top ``class_count`` classes if asked so."""

    name: str
    as_binary: bool
    class_count: int | None = None


@dataclass(frozen=True)
class InferenceResult:
    """What one inference request produced, before a transport encodes it."""

    model_name: str
    model_version: str
    id: str | None
    outputs: list[OutputTensor]
    batch: int
    prediction_ids: list[str] = field(default_factory=list)  # one per image, in batch order


def server_version() -> str:
    try:
        return package_metadata.version(SERVER_NAME)
    except package_metadata.PackageNotFoundError:
        return "0+unknown"


def server_metadata() -> ServerMetadata:
    """Server name, version and the protocol extensions it speaks."""
    return ServerMetadata(name=SERVER_NAME, version=server_version(), extensions=EXTENSIONS)


def model_metadata(model: DigitModel) -> ModelMetadata:
    """The model's real tensor names, datatypes and shapes (batch -1), and its version from the card."""
    return ModelMetadata(
        name=model.name,
        versions=[model.version],
        platform=PLATFORM,
        inputs=[MetadataTensor(name=model.input_name, datatype=DATATYPE, shape=INPUT_SHAPE)],
        outputs=[
            MetadataTensor(name=name, datatype=DATATYPE, shape=shape)
            for name, shape in zip(model.output_names, (OUTPUT_SHAPE, DIGIT_SCORE_SHAPE), strict=False)
        ],
    )


def check_model(model: DigitModel, model_name: str, model_version: str | None) -> None:
    """404 unless the URL names this server's model (and, if given, its version from the model card)."""
    if model_name != model.name:
        raise ProtocolError(f"unknown model '{model_name}'; this server serves '{model.name}'", 404)
    if model_version is not None and model_version != model.version:
        raise ProtocolError(
            f"unknown version '{model_version}' of model '{model.name}'; available: ['{model.version}']", 404
        )


def validate_request(message: dict[str, Any]) -> InferenceRequest:
    """A decoded inference request message (REST: the JSON object) -> the checked request model."""
    try:
        return InferenceRequest.model_validate(message)
    except pydantic.ValidationError as exc:
        problems = [
            f"{'.'.join(str(part) for part in error['loc']) or 'request'}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)
        ]
        raise ProtocolError("invalid inference request: " + "; ".join(problems[:5])) from None


def reject_unsupported(parameters: dict[str, Any], where: str) -> None:
    for key, message in UNSUPPORTED_PARAMETERS.items():
        if key in parameters:
            raise ProtocolError(f"{where}: {message}")


def read_input(request: InferenceRequest, binary: bytes, model: DigitModel, max_batch: int) -> np.ndarray:
    """The one input checked against the model contract -> float32 [N, 1, 28, 28] in [0, 1]."""
    names = [tensor.name for tensor in request.inputs]
    if names != [model.input_name]:
        raise ProtocolError(f"model '{model.name}' takes exactly one input '{model.input_name}', got {names}")
    tensor: RequestInput = request.inputs[0]
    where = f"input '{tensor.name}'"
    reject_unsupported(tensor.parameters, where)
    if tensor.datatype != DATATYPE:
        raise ProtocolError(f"{where} must have datatype {DATATYPE}, got '{tensor.datatype}'")
    if len(tensor.shape) != len(INPUT_SHAPE) or tensor.shape[1:] != INPUT_SHAPE[1:]:
        raise ProtocolError(f"{where} must have shape {['N', *INPUT_SHAPE[1:]]}, got {tensor.shape}")
    batch = tensor.shape[0]
    if batch < 1:
        raise ProtocolError(f"{where}: the batch dimension must be at least 1, got {batch}")
    if batch > max_batch:
        raise ProtocolError(
            f"{where}: batch of {batch} is over this server's limit of {max_batch} (DIGITS_MAX_BATCH)",
            over_limit=True,
        )

    size = binary_size(tensor.parameters, tensor.name)
    if size is not None and tensor.data is not None:
        raise ProtocolError(f"{where} has both 'data' and parameters.{BINARY_DATA_SIZE}; give one")
    if size is None and tensor.data is None:
        raise ProtocolError(
            f"{where} has no data: give 'data' or parameters.{BINARY_DATA_SIZE} with binary data"
        )
    if size and not binary:
        raise ProtocolError(
            f"{where} declares {BINARY_DATA_SIZE} but no binary data follows the JSON "
            f"(is the {HEADER_LENGTH} header set?)"
        )
    chunk = binary_chunks([size], binary)[0]
    if chunk is not None:
        array = tensor_from_binary(chunk, tensor.datatype, tensor.shape, tensor.name)
    else:
        array = tensor_from_json(tensor.data or [], tensor.datatype, tensor.shape, tensor.name)
    if not np.all(np.isfinite(array)):
        raise ProtocolError(f"{where} holds NaN or infinite values")
    if array.size and (float(array.min()) < 0.0 or float(array.max()) > 1.0):
        raise ProtocolError(
            f"{where} values must be in [0, 1] (pixels / {contract.PIXEL_MAX:g}), as the model contract says"
        )
    return array


def binary_flag(parameters: dict[str, Any], key: str, default: bool, where: str) -> bool:
    value = parameters.get(key, default)
    if not isinstance(value, bool):
        raise ProtocolError(f"{where}: parameter '{key}' must be true or false, got {value!r}")
    return value


def class_count(parameters: dict[str, Any], where: str) -> int | None:
    """The classification extension's ``k`` (top classes to answer), if the output asks for it."""
    count = parameters.get(CLASSIFICATION)
    if count is None:
        return None
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= contract.NUM_CLASSES:
        raise ProtocolError(
            f"{where}: parameter '{CLASSIFICATION}' must be an integer from 1 to {contract.NUM_CLASSES} "
            f"(the classes to answer), got {count!r}"
        )
    return count


def requested_outputs(request: InferenceRequest, model: DigitModel) -> list[RequestedOutput]:
    """The outputs to return; no `outputs` means all, as JSON by default."""
    default = binary_flag(request.parameters, BINARY_DATA_OUTPUT, False, "request")
    if not request.outputs:
        return [RequestedOutput(name, default) for name in model.output_names]
    selected: list[RequestedOutput] = []
    for output in request.outputs:
        where = f"output '{output.name}'"
        if output.name not in model.output_names:
            raise ProtocolError(
                f"unknown output '{output.name}'; model '{model.name}' has outputs {list(model.output_names)}"
            )
        if any(chosen.name == output.name for chosen in selected):
            raise ProtocolError(f"{where} is requested twice")
        reject_unsupported(output.parameters, where)
        as_binary = binary_flag(output.parameters, BINARY_DATA, default, where)
        selected.append(RequestedOutput(output.name, as_binary, class_count(output.parameters, where)))
    return selected


def classify_top(probabilities: np.ndarray, count: int) -> np.ndarray:
    """Triton's classification output: BYTES [N, count] of "probability:index", most probable first.

    The digits model's class index is the digit itself, so it has no label file and no third field.
    """
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :count]
    rows = [
        [f"{row[index]:f}:{index}".encode() for index in top]
        for row, top in zip(probabilities, order, strict=True)
    ]
    return np.array(rows, dtype=object).reshape(len(rows), count)


def output_tensor(requested: RequestedOutput, values: np.ndarray) -> OutputTensor:
    if requested.class_count is None:
        return OutputTensor(requested.name, DATATYPE, values, requested.as_binary)
    return OutputTensor(
        requested.name, BYTES, classify_top(values, requested.class_count), requested.as_binary
    )


def infer(
    model: DigitModel,
    request: InferenceRequest,
    binary: bytes,
    max_batch: int,
    timer: InferenceTimer | None = None,
    recorder: Recorder | None = None,
    route: str = "/v2/models/{model_name}/infer",
) -> InferenceResult:
    """Check the request against the model contract, run the model, pick the outputs: CPU work, so
    transports call this in an inference worker thread. ``timer`` gets the compute_input (everything
    up to the model call) and compute_infer laps of the statistics extension. Each image gets a
    prediction id (transports answer them as the response parameter ``prediction_id``), handed to the
    sample store's ``recorder`` when it is on."""
    images = read_input(request, binary, model, max_batch)
    outputs = requested_outputs(request, model)
    if timer is not None:
        timer.lap("compute_input")
    answer = model.classify(images)
    if timer is not None:
        timer.lap("compute_infer")
    ids = [new_prediction_id() for _ in range(len(answer.labels))]
    if recorder is not None:
        pixels = images[:, 0] * contract.PIXEL_MAX
        recorder.record(
            route,
            ids,
            pixels,
            answer.probabilities,
            model.name,
            model.version,
            [bool(x) for x in answer.looks_like_digit],
        )
    return InferenceResult(
        model_name=model.name,
        model_version=model.version,
        id=request.id,
        outputs=[output_tensor(requested, answer.outputs[requested.name]) for requested in outputs],
        batch=len(images),
        prediction_ids=ids,
    )
