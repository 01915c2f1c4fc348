"""The OpenAPI document: the same bytes from every worker and restart, real examples, a description each."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from service import openapi_examples

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = "/schema/openapi.json"
FILLER = re.compile(r"^[A-Za-z]{20}$")  # polyfactory's random strings, as Litestar's generated examples had


def load_script() -> Any:
    """scripts/openapi_examples.py, whose send() replays a recorded request."""
    spec = importlib.util.spec_from_file_location(
        "openapi_examples_script", REPO_ROOT / "scripts/openapi_examples.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fetch_documents(server: str, count: int) -> list[bytes]:
    """``count`` fetches, each on a new connection, so the workers take turns answering."""
    documents = []
    for _ in range(count):
        with httpx.Client(base_url=server, timeout=30.0, headers={"connection": "close"}) as client:
            response = client.get(DOCUMENT)
            assert response.status_code == 200
            documents.append(response.content)
    return documents


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "responses" in operation
    ]


def example_values(node: Any) -> list[Any]:
    """Every value under an ``example``/``examples`` key anywhere in the document."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("example", "examples"):
                found.append(value)
            else:
                found += example_values(value)
    elif isinstance(node, list):
        for value in node:
            found += example_values(value)
    return found


def strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in strings(value)]
    return []


@pytest.fixture(scope="module")
def document(client) -> dict[str, Any]:
    return client.get(DOCUMENT).json()


@pytest.mark.e2e
def test_every_worker_and_every_restart_serves_the_same_document(start_server) -> None:
    """Two workers (each its own hash seed) and two restarts with seeds that used to reorder the V2 paths."""
    workers = start_server("--workers", "2", "--no-access-log")
    documents = fetch_documents(workers, 6)
    restarts = [start_server("--no-access-log", env={"PYTHONHASHSEED": seed}) for seed in ("1", "3")]
    for server in restarts:
        documents += fetch_documents(server, 1)
    assert len(set(documents)) == 1, "the document differs between processes"
    paths = list(json.loads(documents[0])["paths"])
    assert paths == sorted(paths)


def test_no_example_is_random_filler(document) -> None:
    values = example_values(document)
    assert values  # there are examples, and ...
    filler = [s for s in strings(values) if FILLER.match(s)]
    assert not filler, filler  # ... none of them is made up
    for name, schema in document["components"]["schemas"].items():
        assert "examples" not in schema, name  # generated per-schema examples are gone


def test_every_operation_says_what_it_does_its_limits_and_errors(document) -> None:
    for method, path, operation in operations(document):
        description = operation.get("description") or ""
        assert len(description) >= 50, (method, path)
        assert description != operation.get("summary"), (method, path)
        if path.startswith("/v2"):
            continue  # the protocol's operations: their descriptions come from service/v2
        for status in operation["responses"]:
            if status[0] in "45" and status != "401":  # 401 exists only with an API key configured
                assert status in description, (method, path, status)
    for path in ("/predict", "/predict/batch", "/fit-line"):
        assert "DIGITS_" in document["paths"][path]["post"]["description"], path  # the limits, by setting


def test_examples_are_the_real_requests_and_answers(document, client) -> None:
    paths = document["paths"]
    predict = paths["/predict"]["post"]
    upload = predict["requestBody"]["content"]["image/*"]["examples"]["picture"]["externalValue"]
    picture = client.get(upload)
    assert picture.status_code == 200
    assert picture.headers["content-type"] == "image/png"  # the example picture is served
    pixels = predict["requestBody"]["content"]["application/json"]["examples"]["pixels"]["value"]["pixels"]
    assert len(pixels) == 28
    assert all(len(row) == 28 for row in pixels)
    assert max(max(row) for row in pixels) == 255  # a real digit, not zeros
    assert (
        predict["responses"]["200"]["content"]["application/json"]["examples"]["picture"]["value"]["label"]
        == 7
    )
    batch = paths["/predict/batch"]["post"]
    answer = batch["responses"]["200"]["content"]["application/json"]["examples"]["picture"]["value"]
    assert [p["label"] for p in answer["predictions"]] == [7, 4]
    assert "multipart/form-data" in batch["requestBody"]["content"]
    fit = paths["/fit-line"]["post"]
    lesson = fit["requestBody"]["content"]["application/json"]["examples"]["lesson"]["value"]
    assert len(lesson["x"]) == len(lesson["y"]) == 100
    fitted = fit["responses"]["200"]["content"]["application/json"]["examples"]["lesson"]["value"]
    assert fitted["slope"] == pytest.approx(3, abs=0.2)
    assert fitted["intercept"] == pytest.approx(2, abs=0.2)
    infer = paths["/v2/models/{model_name}/infer"]["post"]
    tensor = infer["requestBody"]["content"]["application/json"]["examples"]["digit"]["value"]["inputs"][0]
    assert tensor["shape"] == [1, 1, 28, 28]
    assert len(tensor["data"]) == 784
    inferred = infer["responses"]["200"]["content"]["application/json"]["examples"]["digit"]["value"]
    probabilities = inferred["outputs"][0]["data"]
    assert max(range(10), key=probabilities.__getitem__) == 7


@pytest.fixture(scope="module")
def script() -> Any:
    return load_script()


@pytest.mark.parametrize("name", sorted(openapi_examples.STORED))
def test_each_stored_answer_is_what_the_service_answers_now(client, script, name) -> None:
    """Replays the recorded request; a changed answer means: run scripts/openapi_examples.py again."""
    recorded = openapi_examples.STORED[name]
    answer = script.send(client, recorded["request"])
    assert answer["status"] == recorded["response"]["status"]
    assert_same(answer["body"], recorded["response"]["body"])


def assert_same(actual: Any, expected: Any, where: str = "body") -> None:
    """Equal, floats within 1e-5 (another CPU's onnxruntime may round the last digits differently);
    prediction ids (V2: comma-separated in the ``prediction_id`` parameter) are new on every answer."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        assert actual.keys() == expected.keys(), where
        for key in expected:
            if key == "prediction_id":  # a new id on every answer: its shape, not its value
                assert re.fullmatch(r"[0-9a-f]{32}(,[0-9a-f]{32})*", actual[key]), f"{where}.{key}"
                continue
            assert_same(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), where
        assert len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_same(a, e, f"{where}[{i}]")
    elif isinstance(expected, float):
        assert actual == pytest.approx(expected, rel=1e-5, abs=1e-7), where
    else:
        assert actual == expected, where
