"""Pydantic models of the Open Inference Protocol (KServe V2) REST messages.

They validate the JSON part of a request (binary tensor data lives after it, see `service.v2.binary`)
and describe every response in the OpenAPI document. Field names follow the protocol text exactly.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

# The protocol's $parameters: "name": $string | $number | $boolean. Clients add their own keys
# (tritonclient sends e.g. "priority", "sequence_id"), so unknown keys are kept and ignored.
Parameters = dict[str, Any]


class RequestInput(BaseModel):
    """One input tensor: data inline as JSON, or `parameters.binary_data_size` bytes after the JSON."""

    model_config = ConfigDict(extra="ignore")

    name: StrictStr
    shape: list[StrictInt] = Field(description="Full shape including the batch dimension.")
    datatype: StrictStr = Field(description="Tensor data type, e.g. FP32.")
    parameters: Parameters = Field(default_factory=dict)
    data: list[Any] | None = Field(
        default=None, description="Row-major elements, flat or nested; absent when sent as binary data."
    )


class RequestOutput(BaseModel):
    """A requested output; `parameters.binary_data: true` asks for it as binary data."""

    model_config = ConfigDict(extra="ignore")

    name: StrictStr
    parameters: Parameters = Field(default_factory=dict)


class InferenceRequest(BaseModel):
    """The JSON object of `POST /v2/models/{name}/infer` (the header part when binary data follows)."""

    model_config = ConfigDict(extra="ignore")  # tritonclient's own example sends "model_name" here

    id: StrictStr | None = None
    parameters: Parameters = Field(default_factory=dict)
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = None


class ResponseOutput(BaseModel):
    """One output tensor: `data` as JSON, or `parameters.binary_data_size` bytes after the JSON."""

    name: str
    shape: list[int]
    datatype: str
    parameters: Parameters | None = None
    data: list[float | str] | None = Field(
        default=None, description="Row-major elements; BYTES elements (classification) as text."
    )


class InferenceResponse(BaseModel):
    """The JSON object of a successful inference (the header part when binary data follows)."""

    model_name: str
    model_version: str | None = None
    id: str | None = None
    parameters: Parameters | None = None
    outputs: list[ResponseOutput]


class MetadataTensor(BaseModel):
    """Name, datatype and shape of a model input or output; variable dimensions are -1."""

    name: str
    datatype: str
    shape: list[int]


class ServerMetadata(BaseModel):
    """`GET /v2`: who this server is and which protocol extensions it speaks."""

    name: str
    version: str
    extensions: list[str]


class ModelMetadata(BaseModel):
    """`GET /v2/models/{name}`: the model's versions, platform and tensors."""

    name: str
    versions: list[str]
    platform: str
    inputs: list[MetadataTensor]
    outputs: list[MetadataTensor]


class ErrorResponse(BaseModel):
    """Every failed V2 request answers this shape, as the protocol requires."""

    error: str


class ServerLive(BaseModel):
    """`GET /v2/health/live`."""

    live: bool


class ServerReady(BaseModel):
    """`GET /v2/health/ready`."""

    ready: bool


class ModelReady(BaseModel):
    """`GET /v2/models/{name}/ready`."""

    name: str
    ready: bool


class RepositoryIndexRequest(BaseModel):
    """`POST /v2/repository/index` (the body may be empty)."""

    ready: StrictBool = Field(False, description="Only the models ready for inference.")


class RepositoryIndexEntry(BaseModel):
    """One model version of the repository index."""

    name: str
    version: str
    state: str = Field(description="READY (served) or UNAVAILABLE")
    reason: str


class RepositoryLoadRequest(BaseModel):
    """`POST /v2/repository/models/{name}/load` or `/unload` (the body may be empty)."""

    parameters: Parameters = Field(default_factory=dict)


class RepositoryLoadResponse(BaseModel):
    """A model (re)loaded: KServe's answer to `POST /v2/repository/models/{name}/load`."""

    name: str
    load: bool
