"""KServe's own Python clients, unmodified: InferenceRESTClient (protocol v2) and InferenceGRPCClient.

They run in a process of their own (tests/v2/kserve_clients.py: kserve's gRPC module and Triton's
cannot share one process's protobuf pool) against the live server. Checked here: health (the REST
client reads `{"live": true}` / `{"ready": true}`), inference with binary and JSON tensors identical to
onnxruntime, and a bad request surfacing as the client's error with the server still ready.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from v2_harness import V2Server

import contract

pytestmark = pytest.mark.e2e

PROGRAM = Path(__file__).with_name("kserve_clients.py")


@pytest.fixture(scope="module")
def batch() -> np.ndarray:
    return np.random.default_rng(21).random((3, 1, 28, 28), dtype=np.float32)


@pytest.fixture(scope="module")
def results(
    v2_server: V2Server, batch: np.ndarray, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("kserve")
    np.save(folder / "batch.npy", batch)
    out = folder / "results.json"
    args = [v2_server.url, v2_server.grpc_host_port, str(folder / "batch.npy"), str(out)]
    done = subprocess.run([sys.executable, str(PROGRAM), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())


def test_rest_client(results: dict[str, Any], batch: np.ndarray, reference: ort.InferenceSession) -> None:
    rest = results["rest"]
    assert (rest["live"], rest["ready"], rest["model_ready"]) == (True, True, True)
    assert rest["id"] == "k1"
    want = reference.run(None, {contract.INPUT_NAME: batch})[0]
    assert set(rest["outputs"]) == {"binary=True", "binary=False"}
    for got in rest["outputs"].values():
        np.testing.assert_array_equal(np.array(got, np.float32).reshape(3, 10), want)
    assert rest["bad_request"]["status"] == 400
    assert "must have shape" in rest["bad_request"]["message"]


def test_grpc_client(results: dict[str, Any], batch: np.ndarray, reference: ort.InferenceSession) -> None:
    grpc = results["grpc"]
    assert (grpc["live"], grpc["ready"], grpc["model_ready"]) == (True, True, True)
    assert grpc["model_name"] == "digits"
    want = reference.run(None, {contract.INPUT_NAME: batch})[0]
    assert set(grpc["outputs"]) == {"binary=True", "binary=False"}
    for got in grpc["outputs"].values():
        np.testing.assert_array_equal(np.array(got, np.float32).reshape(3, 10), want)
    assert grpc["bad_request"]["status"] == "INVALID_ARGUMENT"
    assert "exactly one input 'image'" in grpc["bad_request"]["message"]
    assert grpc["ready_after"] is True
