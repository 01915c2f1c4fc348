"""The Open Inference Protocol over gRPC: Triton's ``inference.GRPCInferenceService``, served by grpcio.

The service and its messages are Triton's generated stubs (``tritonclient.grpc.service_pb2[_grpc]``, the
same proto KServe's clients speak), not a copied .proto. :func:`grpc_lifespan` runs a ``grpc.aio`` server
on the app's event loop in every worker process (several workers share ``DIGITS_GRPC_PORT`` through
SO_REUSEPORT, grpc's ``grpc.so_reuseport`` option), so gRPC shares what HTTP has: the served model (and
its reloads, read from ``app.state`` per call), the inference limiter, the body limit (as the largest
message), the batch limit, the API key (``x-api-key`` or ``authorization: Bearer`` metadata), metrics
(``digits_grpc_*`` and the V2 statistics), the access log and a graceful stop (calls in flight get
``DIGITS_GRACEFUL_TIMEOUT`` seconds).

The model work is ``service.v2.inference``: a ``ModelInferRequest`` becomes the same request dict the REST
transport validates (``raw_input_contents`` as binary tensor data, typed ``contents`` as JSON-like data).
Every :class:`ProtocolError` becomes a gRPC status (:func:`status_code`); health, metadata and the
extensions that REST has (statistics, model configuration, repository index/load/unload) are here too.
The other RPCs of the service (shared memory, trace, log settings) stay UNIMPLEMENTED, as advertised.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
import grpc
from google.protobuf import json_format
from litestar import Litestar
from tritonclient.grpc import service_pb2, service_pb2_grpc

from service.metrics import GRPC_LATENCY, GRPC_REQUESTS
from service.model import DigitModel
from service.predictions import header_value
from service.readiness import not_ready_reason
from service.security import api_keys, key_matches
from service.settings import Settings
from service.v2 import inference
from service.v2 import repository as v2_repository
from service.v2.binary import BINARY_DATA_SIZE, tensor_to_binary
from service.v2.errors import ProtocolError
from service.v2.inference import InferenceResult, check_model
from service.v2.model_config import model_config
from service.v2.statistics import InferenceTimer, statistics

SERVICE_NAME = service_pb2.DESCRIPTOR.services_by_name["GRPCInferenceService"].full_name
log = logging.getLogger("service.grpc")
access_log = logging.getLogger("service.access")

# ProtocolError.status_code (as HTTP says it) -> gRPC status; anything over a limit is RESOURCE_EXHAUSTED.
STATUS_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
}
# The typed contents field that carries each datatype (FP16 has none: it must come as raw contents).
CONTENTS_FIELDS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def status_code(error: ProtocolError) -> grpc.StatusCode:
    if error.over_limit:
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    return STATUS_CODES.get(error.status_code, grpc.StatusCode.INVALID_ARGUMENT)


def parameter_values(parameters: Any) -> dict[str, Any]:
    """A protobuf map of InferParameter / ModelRepositoryParameter -> plain Python values."""
    values = {}
    for key, parameter in parameters.items():
        choice = parameter.WhichOneof("parameter_choice")
        values[key] = getattr(parameter, choice) if choice else None
    return values


def request_message(request: service_pb2.ModelInferRequest) -> tuple[dict[str, Any], bytes]:
    """A ModelInferRequest -> (the request dict REST would have parsed, the binary tensor data)."""
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise ProtocolError(
            f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs; give one per input"
        )
    inputs = []
    for position, tensor in enumerate(request.inputs):
        entry: dict[str, Any] = {
            "name": tensor.name,
            "datatype": tensor.datatype,
            "shape": list(tensor.shape),
            "parameters": parameter_values(tensor.parameters),
        }
        field = CONTENTS_FIELDS.get(tensor.datatype)
        typed = list(getattr(tensor.contents, field)) if field else []
        if raw:
            if typed:
                raise ProtocolError(
                    f"input '{tensor.name}' has both contents and raw_input_contents; give one"
                )
            entry["parameters"][BINARY_DATA_SIZE] = len(raw[position])
        else:
            entry["data"] = typed
        inputs.append(entry)
    message: dict[str, Any] = {
        "parameters": parameter_values(request.parameters),
        "inputs": inputs,
        "outputs": [
            {"name": output.name, "parameters": parameter_values(output.parameters)}
            for output in request.outputs
        ],
    }
    if request.id:
        message["id"] = request.id
    return message, b"".join(raw)


def infer_response(result: InferenceResult) -> service_pb2.ModelInferResponse:
    """The result with every output as raw_output_contents (what Triton answers and clients read) and the
    batch's prediction ids as the response parameter ``prediction_id``, as REST answers them."""
    response = service_pb2.ModelInferResponse(
        model_name=result.model_name, model_version=result.model_version, id=result.id or ""
    )
    response.parameters[inference.PREDICTION_ID_PARAMETER].string_param = header_value(result.prediction_ids)
    for output in result.outputs:
        response.outputs.add(name=output.name, datatype=output.datatype, shape=list(output.array.shape))
        response.raw_output_contents.append(tensor_to_binary(output.array, output.datatype))
    return response


def presented_key(context: grpc.aio.ServicerContext) -> bytes | None:
    """The key from ``x-api-key`` or ``authorization: Bearer`` metadata, as HTTP takes it."""
    bearer = None
    for key, value in context.invocation_metadata() or ():
        text = value if isinstance(value, str) else value.decode("latin-1")
        if key == "x-api-key":
            return text.strip().encode()
        if key == "authorization":
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                bearer = token.strip().encode()
    return bearer


def _client(context: grpc.aio.ServicerContext) -> str | None:
    peer = context.peer() or ""  # e.g. "ipv4:127.0.0.1:53412", "ipv6:[::1]:53412"
    _, _, address = peer.partition(":")
    host = address.rsplit(":", 1)[0] if ":" in address else address
    return host.strip("[]") or None


Handler = Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[Any]]


def rpc(*, public: bool = False) -> Callable[[Handler], Handler]:
    """Every RPC: the API key (unless public, as HTTP health), ProtocolError -> status, metrics, log."""

    def decorate(method: Handler) -> Handler:
        name = method.__name__

        @functools.wraps(method)
        async def call(self: InferenceServicer, request: Any, context: grpc.aio.ServicerContext) -> Any:
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            try:
                if not public:
                    self.authorize(context)
                return await method(self, request, context)
            except ProtocolError as exc:
                code = status_code(exc)
                await context.abort(code, str(exc))
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception:
                code = grpc.StatusCode.INTERNAL
                log.exception("unexpected error in gRPC %s", name)
                await context.abort(code, "internal server error; the server log has the details")
            finally:
                self.record(name, code, time.perf_counter() - started, context)

        return call

    return decorate


def unsupported(name: str, what: str) -> Handler:
    """An RPC of the service this server does not implement: UNIMPLEMENTED, logged as any call (the
    generated base class would raise NotImplementedError, which grpc logs as an unexpected error)."""

    async def refuse(self: InferenceServicer, request: Any, context: grpc.aio.ServicerContext) -> Any:
        raise ProtocolError(f"{what} is not supported by this server (see its metadata's extensions)", 501)

    refuse.__name__ = name
    return rpc()(refuse)


class InferenceServicer(service_pb2_grpc.GRPCInferenceServiceServicer):
    """Triton's GRPCInferenceService on the app's state: the model is read per call, so reloads apply."""

    def __init__(self, state: Any, settings: Settings) -> None:
        self.state = state
        self.settings = settings
        self.keys = api_keys(settings)

    @property
    def model(self) -> DigitModel:
        return self.state.model

    def authorize(self, context: grpc.aio.ServicerContext) -> None:
        if not self.keys:
            return
        presented = presented_key(context)
        if presented is None:
            raise ProtocolError(
                "this service needs an API key: send 'x-api-key: <key>' or 'authorization: Bearer <key>' "
                "metadata",
                401,
            )
        if not key_matches(presented, self.keys):
            raise ProtocolError("the API key is not valid", 401)

    def record(self, name: str, code: grpc.StatusCode, seconds: float, context: Any) -> None:
        GRPC_REQUESTS.labels(name, code.name).inc()
        GRPC_LATENCY.labels(name).observe(seconds)
        if self.settings.access_log:
            fields = {
                "transport": "grpc",
                "method": name,
                "path": f"/{SERVICE_NAME}/{name}",  # what the HTTP/2 request named
                "route": f"/{SERVICE_NAME}/{name}",
                "status": code.name,
                "latency_ms": round(seconds * 1000, 3),
                "client": _client(context),
            }
            access_log.info("request", extra={"fields": fields})

    async def _ready(self) -> bool:
        return await not_ready_reason(self.state.get("model"), self.state.inference_limiter) is None

    # -------------------------------------------------------------------------------------- health

    @rpc(public=True)
    async def ServerLive(self, request: Any, context: Any) -> service_pb2.ServerLiveResponse:
        return service_pb2.ServerLiveResponse(live=True)

    @rpc(public=True)
    async def ServerReady(self, request: Any, context: Any) -> service_pb2.ServerReadyResponse:
        return service_pb2.ServerReadyResponse(ready=await self._ready())

    @rpc()
    async def ModelReady(self, request: Any, context: Any) -> service_pb2.ModelReadyResponse:
        """Not ready (rather than an error) for a model or version this server lacks, as Triton."""
        try:
            check_model(self.model, request.name, request.version or None)
        except ProtocolError:
            return service_pb2.ModelReadyResponse(ready=False)
        return service_pb2.ModelReadyResponse(ready=await self._ready())

    # ------------------------------------------------------------------------------------ metadata

    @rpc()
    async def ServerMetadata(self, request: Any, context: Any) -> service_pb2.ServerMetadataResponse:
        metadata = inference.server_metadata()
        return service_pb2.ServerMetadataResponse(
            name=metadata.name, version=metadata.version, extensions=metadata.extensions
        )

    @rpc()
    async def ModelMetadata(self, request: Any, context: Any) -> service_pb2.ModelMetadataResponse:
        model = self.model
        check_model(model, request.name, request.version or None)
        return json_format.ParseDict(
            inference.model_metadata(model).model_dump(), service_pb2.ModelMetadataResponse()
        )

    # ----------------------------------------------------------------------------------- inference

    @rpc()
    async def ModelInfer(self, request: Any, context: Any) -> service_pb2.ModelInferResponse:
        timer = InferenceTimer()
        model = self.model
        check_model(model, request.model_name, request.model_version or None)
        return await anyio.to_thread.run_sync(
            functools.partial(self._infer, model, request, timer), limiter=self.state.inference_limiter
        )

    def _infer(
        self, model: DigitModel, request: Any, timer: InferenceTimer
    ) -> service_pb2.ModelInferResponse:
        """Decode, infer and encode: CPU work, in an inference worker thread (as REST)."""
        timer.lap("queue")
        try:
            message, binary = request_message(request)
            validated = inference.validate_request(message)
            store = self.state.get("store")  # the sample store (issue 17), when on: REST and gRPC alike
            recorder = store.writer if store is not None else None
            result = inference.infer(
                model,
                validated,
                binary,
                self.settings.max_batch,
                timer,
                recorder,
                f"/{SERVICE_NAME}/ModelInfer",
            )
            response = infer_response(result)
        except ProtocolError:
            timer.failed(model)
            raise
        timer.lap("compute_output")
        timer.succeeded(model, result.batch)
        return response

    # ---------------------------------------------------------------------------------- extensions

    @rpc()
    async def ModelConfig(self, request: Any, context: Any) -> service_pb2.ModelConfigResponse:
        model = self.model
        check_model(model, request.name, request.version or None)
        return service_pb2.ModelConfigResponse(config=model_config(model, self.settings.max_batch))

    @rpc()
    async def ModelStatistics(self, request: Any, context: Any) -> service_pb2.ModelStatisticsResponse:
        model = self.model
        if request.name:
            check_model(model, request.name, request.version or None)
        stats = await anyio.to_thread.run_sync(statistics, model)  # reads every worker's metrics files
        return json_format.ParseDict(stats, service_pb2.ModelStatisticsResponse())

    @rpc()
    async def RepositoryIndex(self, request: Any, context: Any) -> service_pb2.RepositoryIndexResponse:
        entries = v2_repository.repository_index(self.model, self.settings, request.ready)
        return service_pb2.RepositoryIndexResponse(
            models=[service_pb2.RepositoryIndexResponse.ModelIndex(**entry) for entry in entries]
        )

    @rpc()
    async def RepositoryModelLoad(
        self, request: Any, context: Any
    ) -> service_pb2.RepositoryModelLoadResponse:
        parameters = parameter_values(request.parameters)
        await v2_repository.load(
            self.state.reloader, self.model, self.settings, request.model_name, parameters
        )
        return service_pb2.RepositoryModelLoadResponse()

    @rpc()
    async def RepositoryModelUnload(
        self, request: Any, context: Any
    ) -> service_pb2.RepositoryModelUnloadResponse:
        v2_repository.unload(self.model, self.settings, request.model_name)
        return service_pb2.RepositoryModelUnloadResponse()

    ModelStreamInfer = unsupported("ModelStreamInfer", "streaming inference")
    SystemSharedMemoryStatus = unsupported("SystemSharedMemoryStatus", "the shared memory extension")
    SystemSharedMemoryRegister = unsupported("SystemSharedMemoryRegister", "the shared memory extension")
    SystemSharedMemoryUnregister = unsupported("SystemSharedMemoryUnregister", "the shared memory extension")
    CudaSharedMemoryStatus = unsupported("CudaSharedMemoryStatus", "the CUDA shared memory extension")
    CudaSharedMemoryRegister = unsupported("CudaSharedMemoryRegister", "the CUDA shared memory extension")
    CudaSharedMemoryUnregister = unsupported("CudaSharedMemoryUnregister", "the CUDA shared memory extension")
    TraceSetting = unsupported("TraceSetting", "the trace extension")
    LogSettings = unsupported("LogSettings", "the logging extension")


def server_options(settings: Settings) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", settings.max_body_bytes),  # the body limit, as HTTP
        ("grpc.so_reuseport", 1 if settings.workers > 1 else 0),  # workers share the port; one alone owns it
    ]


def listen_address(settings: Settings) -> str:
    host = f"[{settings.host}]" if ":" in settings.host else settings.host  # IPv6 literal
    return f"{host}:{settings.grpc_port}"


@asynccontextmanager
async def grpc_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Serve gRPC beside HTTP while the app runs (after the model and reloader); off for port 0."""
    settings: Settings = app.state.settings
    if settings.grpc_port == 0:
        yield
        return
    server = grpc.aio.server(options=server_options(settings))
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
        InferenceServicer(app.state, settings), server
    )
    address = listen_address(settings)
    try:
        server.add_insecure_port(address)
    except RuntimeError as exc:
        raise RuntimeError(
            f"cannot listen for gRPC on {address} ({exc}); is the port in use? "
            "Set DIGITS_GRPC_PORT (--grpc-port), or 0 to turn gRPC off"
        ) from None
    await server.start()
    log.info("gRPC serving", extra={"fields": {"address": address}})
    try:
        yield
    finally:
        await server.stop(settings.graceful_timeout)  # calls in flight finish; new ones are refused
        log.info("gRPC stopped", extra={"fields": {"address": address}})
