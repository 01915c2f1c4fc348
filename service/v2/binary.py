"""Framing and tensor codecs of the Open Inference Protocol, with Triton's binary tensor data extension.

A V2 request body is a JSON object, optionally followed by raw tensor bytes. When bytes follow, the
`Inference-Header-Content-Length` header gives the JSON's length and each binary input carries
`parameters.binary_data_size`; the chunks follow in input order, little-endian, row-major, no padding.
Responses are framed the same way. Everything here is pure (bytes and numpy in, bytes and numpy out)
and model-agnostic; `service.v2.inference` applies the digits model's contract on top.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from service.v2.errors import ProtocolError

HEADER_LENGTH = "Inference-Header-Content-Length"
BINARY_DATA_SIZE = "binary_data_size"  # input/response-output parameter: bytes of this tensor's chunk
BINARY_DATA = "binary_data"  # requested-output parameter: answer this output as binary data
BINARY_DATA_OUTPUT = "binary_data_output"  # request parameter: default of BINARY_DATA for all outputs

# Protocol datatypes this server can read, as little-endian numpy dtypes. BYTES (length-prefixed
# strings) is only ever written (the classification extension's output); as an input it is refused.
BYTES = "BYTES"
NUMPY_DTYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
# numpy kinds of JSON `data` each datatype accepts: JSON true/false become "b", integers "i" (or "u"
# above int64), other numbers "f"; strings and nulls never pass. BOOL takes only booleans, the integer
# types only integers (range-checked), the float types any number, but no booleans. (numpy decides the
# kind for the whole list: a boolean among integers reads as an integer.)
_JSON_KINDS = {"b": "b", "u": "iu", "i": "iu", "f": "iuf"}
_DIGITS = re.compile(r"[0-9]{1,19}")  # fits an int64, so int() never meets a huge string


def decompress(body: bytes, content_encoding: str | None, *, limit: int) -> bytes:
    """Undo a gzip/deflate `Content-Encoding` (tritonclient's request compression), never past `limit`."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding not in ("gzip", "deflate"):
        raise ProtocolError(f"unsupported Content-Encoding {content_encoding!r}; use gzip or deflate", 415)
    decoder = zlib.decompressobj(zlib.MAX_WBITS | 16 if encoding == "gzip" else zlib.MAX_WBITS)
    try:
        data = decoder.decompress(body, limit + 1)
    except zlib.error as exc:
        raise ProtocolError(f"request body is not valid {encoding} data: {exc}") from None
    if len(data) > limit:
        raise ProtocolError(f"decompressed request body is over the limit of {limit} bytes", 413)
    if not decoder.eof:
        raise ProtocolError(f"request body is truncated {encoding} data")
    return data


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """Split a body into (JSON, binary tail) using the `Inference-Header-Content-Length` header value."""
    if header_length is None:
        return body, b""
    text = header_length.strip()
    if not _DIGITS.fullmatch(text):
        raise ProtocolError(f"{HEADER_LENGTH} must be a non-negative integer, got {header_length!r}")
    length = int(text)
    if length > len(body):
        raise ProtocolError(f"{HEADER_LENGTH} is {length} but the request body has only {len(body)} bytes")
    return body[:length], body[length:]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """Parse the JSON part of a request; it must be an object (NaN/Infinity literals are not JSON)."""
    if not raw.strip():
        raise ProtocolError("request body is empty; expected a JSON inference request object")
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        hint = "" if raw.lstrip()[:1] in (b"{", b"[") else f" (binary data needs the {HEADER_LENGTH} header)"
        raise ProtocolError(f"request body is not valid JSON: {exc}{hint}") from None
    if not isinstance(value, dict):
        raise ProtocolError(f"request JSON must be an object, got {type(value).__name__}")
    return value


def binary_size(parameters: dict[str, Any], tensor: str) -> int | None:
    """The `binary_data_size` parameter of a tensor, validated; None when the tensor has inline data."""
    size = parameters.get(BINARY_DATA_SIZE)
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ProtocolError(
            f"input '{tensor}': {BINARY_DATA_SIZE} must be a non-negative integer, got {size!r}"
        )
    return size


def binary_chunks(sizes: Sequence[int | None], binary: bytes) -> list[bytes | None]:
    """Cut the bytes after the JSON into one chunk per binary tensor, in order; all bytes must be used."""
    chunks: list[bytes | None] = []
    offset = 0
    for size in sizes:
        if size is None:
            chunks.append(None)
            continue
        if offset + size > len(binary):
            raise ProtocolError(
                f"binary tensor data is truncated: inputs declare {sum(s or 0 for s in sizes)} bytes "
                f"but {len(binary)} bytes follow the JSON"
            )
        chunks.append(binary[offset : offset + size])
        offset += size
    if offset != len(binary):
        extra = len(binary) - offset
        raise ProtocolError(f"{extra} bytes follow the JSON that no input's {BINARY_DATA_SIZE} accounts for")
    return chunks


def _dtype(datatype: str) -> np.dtype:
    try:
        return NUMPY_DTYPES[datatype]
    except KeyError:
        raise ProtocolError(f"unsupported datatype {datatype!r}; supported: {sorted(NUMPY_DTYPES)}") from None


def tensor_from_binary(chunk: bytes, datatype: str, shape: Sequence[int], tensor: str) -> np.ndarray:
    """Raw little-endian row-major bytes -> array of `shape` in native byte order."""
    dtype = _dtype(datatype)
    expected = math.prod(shape) * dtype.itemsize
    if len(chunk) != expected:
        raise ProtocolError(
            f"input '{tensor}': {BINARY_DATA_SIZE} is {len(chunk)} bytes but shape {list(shape)} "
            f"of {datatype} needs {expected}"
        )
    return np.frombuffer(chunk, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def tensor_from_json(data: list[Any], datatype: str, shape: Sequence[int], tensor: str) -> np.ndarray:
    """JSON `data`, flat or nested in the tensor's own shape, row-major -> array of `shape`."""
    dtype = _dtype(datatype)
    try:
        array = np.array(data)  # no dtype yet: strings, nulls and ragged nesting must show up, not coerce
    except (ValueError, TypeError, OverflowError, RecursionError):
        raise ProtocolError(f"input '{tensor}': data is not a rectangular array of numbers") from None
    if array.dtype.kind not in _JSON_KINDS[dtype.kind]:
        kind = "true or false" if dtype.kind == "b" else "integers" if dtype.kind in "iu" else "JSON numbers"
        raise ProtocolError(f"input '{tensor}': data must hold {datatype} values ({kind})")
    if dtype.kind in "iu" and array.size:
        limits = np.iinfo(dtype)
        if array.min() < limits.min or array.max() > limits.max:
            raise ProtocolError(
                f"input '{tensor}': {datatype} values must lie in [{limits.min}, {limits.max}]"
            )
    count = math.prod(shape)
    if array.shape != tuple(shape) and not (array.ndim == 1 and array.size == count):
        raise ProtocolError(
            f"input '{tensor}': data has {array.size} elements in shape {list(array.shape)}; shape "
            f"{list(shape)} needs {count} elements, flat or nested in that shape"
        )
    with np.errstate(over="ignore", invalid="ignore"):  # overflow shows up as inf, checked by the caller
        return array.astype(dtype.newbyteorder("=")).reshape(shape)


def tensor_to_binary(array: np.ndarray, datatype: str) -> bytes:
    """Array -> the extension's little-endian row-major bytes (BYTES: each element length-prefixed)."""
    if datatype == BYTES:
        return b"".join(len(item).to_bytes(4, "little") + item for item in array.ravel().tolist())
    return np.ascontiguousarray(array, dtype=_dtype(datatype)).tobytes()


def tensor_to_json(array: np.ndarray, datatype: str) -> list[Any]:
    """Array -> the protocol's flat row-major JSON `data` (BYTES elements as text)."""
    if datatype == BYTES:
        return [item.decode() for item in array.ravel().tolist()]
    return array.ravel().tolist()


def encode_body(header: dict[str, Any], chunks: Sequence[bytes]) -> tuple[bytes, int | None]:
    """JSON header + binary chunks -> (body, JSON length for the header, or None when all JSON)."""
    head = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    if not chunks:
        return head, None
    return head + b"".join(chunks), len(head)
