"""Unit tests of the V2 framing and tensor codecs (pure functions, no server)."""

from __future__ import annotations

import gzip
import json
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from service.v2.binary import (
    ProtocolError,
    binary_chunks,
    binary_size,
    decompress,
    encode_body,
    parse_json_object,
    split_body,
    tensor_from_binary,
    tensor_from_json,
    tensor_to_binary,
)


def test_split_body_without_header_is_all_json() -> None:
    assert split_body(b'{"a": 1}', None) == (b'{"a": 1}', b"")


def test_split_body_with_header_cuts_at_length() -> None:
    assert split_body(b'{"a":1}\x00\x01', "7") == (b'{"a":1}', b"\x00\x01")
    assert split_body(b"{}", " 2 ") == (b"{}", b"")


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "", "0x10", "1e3", "٣", "9" * 40])
def test_split_body_rejects_non_integer_lengths(value: str) -> None:
    with pytest.raises(ProtocolError, match="must be a non-negative integer") as info:
        split_body(b"{}", value)
    assert info.value.status_code == 400


def test_split_body_rejects_length_past_the_body() -> None:
    with pytest.raises(ProtocolError, match="has only 2 bytes"):
        split_body(b"{}", "3")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty"),
        (b"[1, 2]", "must be an object, got list"),
        (b'"text"', "must be an object, got str"),
        (b'{"a": NaN}', "not valid JSON"),
        (b'{"a": 1', "not valid JSON"),
        (b"\xff\xfe\x00garbage", "binary data needs the Inference-Header-Content-Length header"),
        (b"[" * 100_000, "not valid JSON"),
    ],
)
def test_parse_json_object_rejects(raw: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_json_object(raw)


def test_parse_json_object_accepts_an_object() -> None:
    assert parse_json_object(b' {"inputs": []} ') == {"inputs": []}


@pytest.mark.parametrize("size", [-1, 1.5, "8", True])
def test_binary_size_must_be_a_non_negative_int(size: object) -> None:
    with pytest.raises(ProtocolError, match="binary_data_size must be a non-negative integer"):
        binary_size({"binary_data_size": size}, "image")


def test_binary_size_absent_means_inline_data() -> None:
    assert binary_size({}, "image") is None
    assert binary_size({"binary_data_size": 0}, "image") == 0


def test_binary_chunks_cut_in_order_and_skip_json_inputs() -> None:
    assert binary_chunks([2, None, 3], b"abcde") == [b"ab", None, b"cde"]


def test_binary_chunks_detect_truncation_and_trailing_bytes() -> None:
    with pytest.raises(ProtocolError, match="truncated: inputs declare 5 bytes but 4 bytes follow"):
        binary_chunks([2, 3], b"abcd")
    with pytest.raises(ProtocolError, match="1 bytes follow the JSON that no input"):
        binary_chunks([2], b"abc")


def test_tensor_from_binary_is_little_endian_row_major() -> None:
    expected = np.arange(6, dtype=np.float32).reshape(2, 3)
    raw = expected.astype("<f4").tobytes()
    np.testing.assert_array_equal(tensor_from_binary(raw, "FP32", [2, 3], "x"), expected)
    big_endian = np.arange(4, dtype=">i4").tobytes()
    assert tensor_from_binary(big_endian, "INT32", [4], "x").tolist() != [0, 1, 2, 3]


def test_tensor_from_binary_checks_size_against_shape() -> None:
    with pytest.raises(ProtocolError, match=r"binary_data_size is 8 bytes but shape \[3\] of FP32 needs 12"):
        tensor_from_binary(b"\x00" * 8, "FP32", [3], "x")


def test_unknown_datatype_is_refused() -> None:
    with pytest.raises(ProtocolError, match="unsupported datatype 'BYTES'"):
        tensor_from_binary(b"", "BYTES", [0], "x")


def test_tensor_from_json_accepts_flat_and_nested() -> None:
    flat = tensor_from_json([1, 2.5, 3, 4], "FP32", [2, 2], "x")
    nested = tensor_from_json([[1, 2.5], [3, 4]], "FP32", [2, 2], "x")
    np.testing.assert_array_equal(flat, nested)
    assert flat.dtype == np.float32
    assert flat.shape == (2, 2)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2, 3], "data has 3 elements in shape \\[3\\]; shape \\[2, 2\\] needs 4"),
        ([[1, 2, 3, 4]], "data has 4 elements in shape \\[1, 4\\]"),
        ([[1, 2], [3]], "not a rectangular array"),
        ([1, "2", 3, 4], "must hold FP32 values"),
        ([1, None, 3, 4], "must hold FP32 values"),
        ([1, 10**40, 3, 4], "must hold FP32 values"),
        ([{"a": 1}, 2, 3, 4], "must hold FP32 values"),
    ],
)
def test_tensor_from_json_rejects(data: list, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        tensor_from_json(data, "FP32", [2, 2], "x")


@pytest.mark.parametrize(
    ("data", "datatype", "message"),
    [
        ([True, False], "FP32", "must hold FP32 values \\(JSON numbers\\)"),
        ([1.5, 2], "UINT8", "must hold UINT8 values \\(integers\\)"),
        ([1, 0], "BOOL", "must hold BOOL values \\(true or false\\)"),
        ([-1, 2], "UINT8", "UINT8 values must lie in \\[0, 255\\]"),
        ([200, 2], "INT8", "INT8 values must lie in \\[-128, 127\\]"),
        ([2**63, 2**63], "INT64", "INT64 values must lie in"),
    ],
)
def test_tensor_from_json_takes_only_values_of_the_datatype(data: list, datatype: str, message: str) -> None:
    """No silent coercion: a boolean is not a number, and an integer out of range does not wrap around."""
    with pytest.raises(ProtocolError, match=message):
        tensor_from_json(data, datatype, [2], "x")


@pytest.mark.parametrize(
    ("data", "datatype"),
    [
        ([0, 255], "UINT8"),
        ([-128, 127], "INT8"),
        ([2**64 - 1, 2**63], "UINT64"),
        ([True, False], "BOOL"),
        ([1, 2.5], "FP64"),
    ],
)
def test_tensor_from_json_accepts_every_value_of_the_datatype(data: list, datatype: str) -> None:
    array = tensor_from_json(data, datatype, [2], "x")
    assert array.tolist() == data


def test_tensor_from_json_overflow_becomes_inf_for_the_caller_to_refuse() -> None:
    assert np.isinf(tensor_from_json([1e300], "FP32", [1], "x")).all()


@given(hnp.arrays(np.float32, hnp.array_shapes(max_dims=4, max_side=5)))
def test_binary_round_trip_is_exact(array: np.ndarray) -> None:
    raw = tensor_to_binary(array, "FP32")
    assert len(raw) == array.size * 4
    back = tensor_from_binary(raw, "FP32", list(array.shape), "x")
    np.testing.assert_array_equal(back, array)


@given(
    hnp.arrays(
        np.float32, st.integers(1, 20), elements=st.floats(allow_nan=False, allow_infinity=False, width=32)
    )
)
def test_json_round_trip_of_float32_is_exact(array: np.ndarray) -> None:
    """float32 -> JSON number (float64 repr) -> float32 loses nothing, so JSON outputs are exact too."""
    data = json.loads(json.dumps(array.tolist()))
    np.testing.assert_array_equal(tensor_from_json(data, "FP32", [array.size], "x"), array)


def test_encode_body_frames_binary_chunks_after_the_json() -> None:
    body, length = encode_body({"outputs": []}, [b"\x01\x02", b"\x03"])
    assert length == len(b'{"outputs":[]}')
    assert body == b'{"outputs":[]}\x01\x02\x03'
    assert encode_body({"a": 1}, []) == (b'{"a":1}', None)


def test_decompress_gzip_and_deflate_as_tritonclient_sends_them() -> None:
    data = b"x" * 1000
    assert decompress(gzip.compress(data), "gzip", limit=1000) == data
    assert decompress(zlib.compress(data), "deflate", limit=1000) == data
    assert decompress(data, None, limit=10) == data  # identity: the app's own body limit applies


def test_decompress_refuses_bombs_garbage_truncation_and_unknown_encodings() -> None:
    with pytest.raises(ProtocolError, match="over the limit of 999 bytes") as info:
        decompress(gzip.compress(b"x" * 1000), "gzip", limit=999)
    assert info.value.status_code == 413
    with pytest.raises(ProtocolError, match="not valid gzip data"):
        decompress(b"not gzip", "gzip", limit=1000)
    with pytest.raises(ProtocolError, match="truncated gzip data"):
        decompress(gzip.compress(b"x" * 1000)[:-12], "gzip", limit=1000)
    with pytest.raises(ProtocolError, match="unsupported Content-Encoding 'br'") as info:
        decompress(b"", "br", limit=1000)
    assert info.value.status_code == 415
