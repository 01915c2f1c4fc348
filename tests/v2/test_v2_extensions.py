"""The protocol extensions over HTTP with tritonclient.http, unmodified: statistics, model configuration,
repository index (load/unload refused without a key), classification; statistics agree with /metrics.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import httpx
import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as triton
from google.protobuf import text_format
from prometheus_client.parser import text_string_to_metric_families
from repo_files import SHIPPED_MODEL
from tritonclient.grpc import model_config_pb2
from tritonclient.utils import InferenceServerException
from v2_harness import V2Server

import contract
from service.settings import REPO_ROOT
from service.v2.model_config import message_json

VERSION = SHIPPED_MODEL.parent.name  # the served model's version: its folder in models/digits

pytestmark = pytest.mark.e2e

CONFIG_PBTXT = REPO_ROOT / "models" / "digits" / "config.pbtxt"


@pytest.fixture(scope="module")
def client(v2_server: V2Server) -> Iterator[triton.InferenceServerClient]:
    with triton.InferenceServerClient(url=v2_server.host_port) as client:
        yield client


def image(batch: np.ndarray) -> triton.InferInput:
    tensor = triton.InferInput("image", list(batch.shape), "FP32")
    tensor.set_data_from_numpy(batch)
    return tensor


def batch_of(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 1, 28, 28), dtype=np.float32)


def test_server_metadata_lists_exactly_the_extensions(client: triton.InferenceServerClient) -> None:
    assert client.get_server_metadata()["extensions"] == [
        "binary_tensor_data",
        "classification",
        "model_configuration",
        "model_repository",
        "statistics",
    ]


@pytest.mark.parametrize("binary", [True, False])
def test_classification_gives_the_top_classes(
    client: triton.InferenceServerClient, reference: ort.InferenceSession, binary: bool
) -> None:
    batch = batch_of(5, seed=3)
    want = reference.run(None, {contract.INPUT_NAME: batch})[0]
    asked = triton.InferRequestedOutput("probabilities", binary_data=binary, class_count=3)
    result = client.infer("digits", [image(batch)], outputs=[asked])
    got = result.as_numpy("probabilities")
    assert got.shape == (5, 3)
    assert result.get_output("probabilities")["datatype"] == "BYTES"
    for row, classes in zip(want, got, strict=True):
        top = np.argsort(-row, kind="stable")[:3]
        # "probability:index"; tritonclient gives bytes for binary data, text for JSON data
        fields = [(item.decode() if isinstance(item, bytes) else item).split(":") for item in classes]
        assert [int(index) for _, index in fields] == top.tolist()
        assert [float(value) for value, _ in fields] == pytest.approx(row[top], abs=1e-6)


def test_model_configuration_has_the_facts_of_config_pbtxt(
    client: triton.InferenceServerClient, v2_server: V2Server
) -> None:
    served = client.get_model_config("digits")
    shipped = text_format.Parse(CONFIG_PBTXT.read_text(), model_config_pb2.ModelConfig())
    expected = message_json(shipped)
    for key in ("name", "platform", "input", "output", "version_policy"):
        assert served[key] == expected[key], key
    assert served["max_batch_size"] == v2_server.max_batch  # this server's limit, not Triton's
    assert client.get_model_config("digits", VERSION) == served


def test_repository_index_and_model_control(client: triton.InferenceServerClient) -> None:
    index = client.get_model_repository_index()
    assert index == [{"name": "digits", "version": VERSION, "state": "READY", "reason": ""}]
    for call in (client.load_model, client.unload_model):
        with pytest.raises(InferenceServerException, match="set DIGITS_API_KEY") as info:
            call("digits")
        assert info.value.status() == "403"
    assert client.is_model_ready("digits")


def _metric(families: dict[str, dict[tuple[str, str], float]], sample: str, phase: str = "") -> float:
    return families[sample].get((VERSION, phase), 0.0)


def _scrape(url: str) -> dict[str, dict[tuple[str, str], float]]:
    samples: dict[str, dict[tuple[str, str], float]] = {}
    for family in text_string_to_metric_families(httpx.get(f"{url}/metrics").text):
        for sample in family.samples:
            if sample.labels.get("model") == "digits":
                key = (sample.labels["version"], sample.labels.get("phase", ""))
                samples.setdefault(sample.name, {})[key] = sample.value
    return samples


def test_statistics_count_successes_and_failures_as_metrics_do(
    client: triton.InferenceServerClient, v2_server: V2Server
) -> None:
    before = client.get_inference_statistics("digits")["model_stats"][0]
    client.infer("digits", [image(batch_of(4, seed=1))])
    client.infer("digits", [image(batch_of(1, seed=2))])
    with pytest.raises(InferenceServerException):
        client.infer("digits", [image(batch_of(1, seed=2) * 2)])  # values above 1: refused
    stats = client.get_inference_statistics("digits", VERSION)
    (after,) = stats["model_stats"]
    assert (after["name"], after["version"]) == ("digits", VERSION)
    assert after["inference_count"] - before["inference_count"] == 5
    assert after["execution_count"] - before["execution_count"] == 2
    phases = after["inference_stats"]
    assert phases["success"]["count"] - before["inference_stats"]["success"]["count"] == 2
    assert phases["fail"]["count"] - before["inference_stats"]["fail"]["count"] == 1
    for phase in ("queue", "compute_input", "compute_infer", "compute_output"):
        assert phases[phase]["count"] == phases["success"]["count"]
        assert 0 < phases[phase]["ns"] < phases["success"]["ns"]
    assert after["last_inference"] > before["last_inference"]

    # The very same figures as /metrics (nothing runs in between: this module is the only client).
    metrics = _scrape(v2_server.url)
    assert _metric(metrics, "digits_v2_inferences_total") == after["inference_count"]
    assert _metric(metrics, "digits_v2_executions_total") == after["execution_count"]
    for phase, figures in phases.items():
        if phase.startswith("cache"):
            continue
        assert _metric(metrics, "digits_v2_request_phase_seconds_count", phase) == figures["count"]
        total = _metric(metrics, "digits_v2_request_phase_seconds_sum", phase)
        assert math.isclose(total * 1e9, figures["ns"], abs_tol=1.0)


def test_statistics_of_unknown_models_are_404(client: triton.InferenceServerClient) -> None:
    with pytest.raises(InferenceServerException) as info:
        client.get_inference_statistics("mnist")
    assert info.value.status() == "404"
    all_models = client.get_inference_statistics()
    assert [stat["name"] for stat in all_models["model_stats"]] == ["digits"]
