"""End to end: ``python -m service`` on a free port of 127.0.0.1, real HTTP, real model, real logs.

Uses the shared ``live_server`` (tests/conftest.py) for the happy paths and errors, and ``start_server``
for servers that need their own settings (several workers) or must fail to start.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
from repo_files import REPO_ROOT
from service_helpers import assert_problem, blank_png, draw_digit, mnist_like_one, strict_json

import contract

pytestmark = pytest.mark.e2e

PNG = "image/png"


@pytest.fixture(scope="module")
def http(live_server) -> httpx.Client:
    with httpx.Client(base_url=live_server, timeout=30.0) as client:
        yield client


def test_health_readiness_and_card(http) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    ready = http.get("/readyz").json()
    assert ready["status"] == "ready"
    card = http.get("/model").json()
    assert card["name"] == ready["model"]["name"] == "digits"
    assert card["version"] == ready["model"]["version"]
    assert card["metrics"]["test_accuracy"] > 0.9


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/"])
def test_head_answers_like_get_without_a_body(http, path) -> None:
    """Uptime checkers probe with HEAD: the GET's status and headers, no body (not 405)."""
    got, head = http.get(path), http.head(path)
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert int(head.headers["content-length"]) == len(got.content)


def test_a_picture_upload_is_read(http) -> None:
    response = http.post("/predict?include=preprocessed", files={"image": ("seven.png", draw_digit(7), PNG)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["label"] == 7
    assert abs(sum(body["probabilities"]) - 1) < 1e-5
    assert body["preprocessed"]


def test_raw_jpeg_body_json_pixels_and_batch(http) -> None:
    jpeg = http.post("/predict", content=draw_digit(0, fmt="JPEG"), headers={"content-type": "image/jpeg"})
    assert jpeg.json()["label"] == 0
    pixels = http.post("/predict", json={"pixels": mnist_like_one().ravel().tolist()})
    assert pixels.json()["label"] == 1
    files = [("image", (f"{d}.png", draw_digit(d), PNG)) for d in (1, 7, 0)]
    batch = http.post("/predict/batch", files=files)
    assert [p["label"] for p in batch.json()["predictions"]] == [1, 7, 0]


def test_a_picture_posted_with_no_content_type_is_read(http) -> None:
    """Tools that send no content type, or curl --data-binary @seven.png (form-urlencoded), over real HTTP."""
    request = http.build_request("POST", "/predict", content=draw_digit(7))
    request.headers.pop("content-type", None)  # httpx adds none for raw bytes; make sure
    response = http.send(request)
    assert response.status_code == 200, response.text
    assert response.json()["label"] == 7
    octets = {"content-type": "application/octet-stream"}
    assert http.post("/predict", content=draw_digit(0), headers=octets).json()["label"] == 0
    curl = {"content-type": "application/x-www-form-urlencoded"}  # curl --data-binary without -H
    assert http.post("/predict", content=draw_digit(7), headers=curl).json()["label"] == 7
    assert_problem(http.post("/predict", content=b"a=1&b=2", headers=curl), 415, "not accepted")


def test_fit_line_over_http_matches_the_closed_form(http) -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(1e-6, 1e-3, 300)
    y = 4e3 * x - 2.0 + rng.normal(0, 0.01, 300)
    response = http.post("/fit-line", json={"x": x.tolist(), "y": y.tolist()})
    body = strict_json(response.text)
    slope, intercept = np.polyfit(x, y, 1)
    assert body["status"] == "converged"
    assert abs(body["slope"] - slope) <= 1e-6 * abs(slope)
    assert abs(body["intercept"] - intercept) <= 1e-6 * abs(intercept)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("get", "/no/such/thing", {}, 404),
        ("delete", "/predict", {}, 405),
        ("post", "/predict", {"content": b"hi", "headers": {"content-type": "text/plain"}}, 415),
        ("post", "/fit-line", {"content": b"x=1", "headers": {"content-type": "text/csv"}}, 415),
        (
            "post",
            "/predict",
            {"content": b'{"pixels": [', "headers": {"content-type": "application/json"}},
            422,
        ),
        (
            "post",
            "/fit-line",
            {"content": b'{"x": [1, 2', "headers": {"content-type": "application/json"}},
            422,
        ),
        ("post", "/fit-line", {"json": {"x": [1, 1], "y": [1, 2]}}, 422),
        ("post", "/predict", {"content": blank_png(), "headers": {"content-type": PNG}}, 422),
        ("post", "/predict", {"content": b"GIF89a-truncated", "headers": {"content-type": "image/gif"}}, 422),
        ("post", "/predict?include=nope", {"json": {"pixels": [0] * 784}}, 422),
    ],
)
def test_errors_over_http_are_problem_details(http, method, path, kwargs, status) -> None:
    assert_problem(http.request(method.upper(), path, **kwargs), status)


def test_a_body_over_the_default_limit_is_413(http, live_server) -> None:
    limit = http.get("/model").json()["serving"]["max_body_bytes"]
    response = http.post("/predict", content=b"\0" * (limit + 1), headers={"content-type": PNG})
    assert_problem(response, 413, str(limit))


def test_read_a_number_over_http_with_metrics(http) -> None:
    """/read end to end: a line of drawn digits (raw body and multipart), counted in the metrics."""
    from PIL import Image

    tiles = [Image.open(io.BytesIO(draw_digit(d, size=160))) for d in (7, 1, 0)]
    sheet = Image.new("L", (3 * 160 + 80, 200), 235)
    for i, tile in enumerate(tiles):
        sheet.paste(tile, (20 + i * 180, 20))
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    raw = http.post("/read", content=buffer.getvalue(), headers={"content-type": PNG})
    assert raw.status_code == 200, raw.text
    assert raw.json()["text"] == "710"
    assert [d["box"]["x"] < e["box"]["x"] for d, e in itertools.pairwise(raw.json()["digits"])] == [True] * 2
    form = http.post("/read", files={"image": ("n.png", buffer.getvalue(), PNG)})
    assert form.json()["text"] == "710"
    blank = http.post("/read", content=blank_png(), headers={"content-type": PNG})
    assert blank.status_code == 422
    assert blank.headers["content-type"].startswith("application/problem+json")
    text = http.get("/metrics").text
    assert re.search(r'digits_http_requests_total\{method="POST",route="/read",status="200"\} [2-9]', text)


def test_metrics_and_access_log_see_every_request(http, live_server) -> None:
    http.get("/healthz")
    http.post("/predict", json={"pixels": mnist_like_one().tolist()})
    http.get("/missing-for-metrics")
    text = http.get("/metrics").text
    assert re.search(r'digits_http_requests_total\{method="POST",route="/predict",status="200"\} [1-9]', text)
    assert re.search(
        r'digits_http_requests_total\{method="GET",route="<unmatched>",status="404"\} [1-9]', text
    )
    assert re.search(r'digits_predictions_total\{label="1"\} [1-9]', text)
    assert "digits_inference_seconds_bucket" in text
    lines = [json.loads(line) for line in live_server.log().splitlines() if line.startswith("{")]
    requests = [entry for entry in lines if entry.get("logger") == "service.access"]
    missing = [entry for entry in requests if entry["path"] == "/missing-for-metrics"]
    assert len(missing) == 1
    assert missing[0]["status"] == 404
    assert missing[0]["method"] == "GET"
    assert missing[0]["latency_ms"] >= 0
    assert any(entry.get("msg") == "model loaded" for entry in lines)  # the card is logged at startup


def test_several_workers_serve_and_share_one_metrics_view(start_server) -> None:
    server = start_server("--workers", "2", "--no-access-log")
    deadline = time.monotonic() + 60  # /readyz answers once the first worker is up; wait for the second
    while server.log().count("Application startup complete") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    count = 20
    with httpx.Client(base_url=server, timeout=30.0) as client:
        for _ in range(count):
            assert client.get("/healthz").status_code == 200
        totals = []
        for _ in range(4):  # whichever worker answers /metrics, it reports all workers' counts
            text = client.get("/metrics").text
            match = re.search(
                r'digits_http_requests_total\{method="GET",route="/healthz",status="200"\} (\S+)', text
            )
            totals.append(float(match.group(1)))
    assert totals == [float(count)] * 4
    pids = set(re.findall(r"Started server process \[(\d+)\]", server.log()))
    assert len(pids) == 2  # two worker processes (the supervisor logs "Started parent process")


def run_service(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_help_lists_every_setting_and_its_environment_variable() -> None:
    result = run_service("--help")
    assert result.returncode == 0
    for flag, variable in [
        ("--port", "DIGITS_PORT"),
        ("--model-path", "DIGITS_MODEL_PATH"),
        ("--workers", "DIGITS_WORKERS"),
    ]:
        assert flag in result.stdout
        assert variable in result.stdout


@pytest.mark.parametrize(
    ("make_model", "message"),
    [
        (lambda path: None, "model file not found"),
        (lambda path: path.write_bytes(b"\x08\x01garbage"), "not a loadable ONNX model"),
    ],
)
def test_a_missing_or_corrupt_model_stops_startup_with_one_line(tmp_path, make_model, message) -> None:
    model_path = tmp_path / "model.onnx"
    make_model(model_path)
    result = run_service("--model-path", str(model_path), "--port", "0")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert str(model_path) in lines[0]


def test_an_invalid_setting_stops_startup_with_one_line() -> None:
    result = run_service("--port", "99999")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "port" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_the_served_model_reproduces_its_card_accuracy_on_the_mnist_test_set(http, shipped_model) -> None:
    """All 10,000 official test digits through HTTP (JSON pixels, batches of 250): every label equals
    onnxruntime's on the same file, and the accuracy is the one the model card states."""
    from training import data  # numpy-only loader; the test process may import training, the service never

    test = data.load("wheel").test
    served = []
    for start in range(0, len(test), 250):
        chunk = test.images[start : start + 250]
        response = http.post("/predict/batch", json={"instances": chunk.tolist()})
        assert response.status_code == 200, response.text
        served.extend(p["label"] for p in response.json()["predictions"])
    served = np.array(served)
    direct = np.argmax(shipped_model.predict(contract.to_model_input(test.images)), axis=1)
    np.testing.assert_array_equal(served, direct)
    accuracy = float(np.mean(served == test.labels))
    assert accuracy == pytest.approx(float(shipped_model.metadata["test_accuracy"]), abs=5e-5)
