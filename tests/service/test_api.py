"""The HTTP API through Litestar's test client: answers, errors and the OpenAPI document.

Answers are checked against a reference computed without the HTTP layer (onnxruntime on the shipped model,
``service.images`` for pictures), so a wiring mistake (wrong scaling, wrong order in a batch) fails here.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math

import numpy as np
import pytest
from litestar import get
from PIL import Image, ImageDraw
from service_helpers import (
    assert_problem,
    blank_png,
    draw_digit,
    mnist_like_one,
    strict_json,
)

import contract
from service import images
from service.model import DigitModel
from service.routes.model_card import _metrics

PNG = "image/png"
OCTETS = "application/octet-stream"
FORM = "application/x-www-form-urlencoded"  # what curl --data-binary sends without -H


def reference(model: DigitModel, pixels: np.ndarray) -> np.ndarray:
    """Probabilities straight from onnxruntime for uint8/0..255 pixels [N, 28, 28]."""
    return model.session.run([contract.OUTPUT_NAME], {contract.INPUT_NAME: contract.to_model_input(pixels)})[
        0
    ]


def check_prediction(body: dict, model: DigitModel) -> None:
    assert body["model"] == {"name": model.name, "version": model.version}
    probabilities = body["probabilities"]
    assert len(probabilities) == 10
    assert abs(sum(probabilities) - 1.0) < 1e-5
    assert body["label"] == int(np.argmax(probabilities))
    assert body["confidence"] == max(probabilities)
    assert 0 <= body["digit_score"] <= 1
    assert body["looks_like_digit"] is (body["digit_score"] >= contract.DIGIT_SCORE_THRESHOLD)


def reference_scores(model: DigitModel, pixels: np.ndarray) -> np.ndarray:
    """digit_score straight from onnxruntime for uint8/0..255 pixels [N, 28, 28]."""
    feed = {contract.INPUT_NAME: contract.to_model_input(pixels)}
    return model.session.run([contract.DIGIT_SCORE_NAME], feed)[0].ravel()


# --- health, readiness, model card ----------------------------------------------------------------------


def test_healthz(client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_names_the_loaded_model(client, shipped_model) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "model": {"name": "digits", "version": shipped_model.version},
    }


def test_model_card_carries_metrics_contract_and_limits(client, shipped_model) -> None:
    card = client.get("/model").json()
    assert card["name"] == "digits"
    assert card["version"] == shipped_model.metadata["version"]
    assert card["metrics"]["test_accuracy"] == float(shipped_model.metadata["test_accuracy"])
    assert card["metrics"]["validation_accuracy"] == float(shipped_model.metadata["validation_accuracy"])
    assert 0.9 < card["metrics"]["test_accuracy"] <= 1.0
    assert card["contract"]["input_name"] == contract.INPUT_NAME
    assert card["contract"]["input_shape"] == [None, 1, 28, 28]
    assert card["metadata"] == shipped_model.metadata
    assert card["serving"]["max_batch"] == 256
    assert card["history"] == json.loads(shipped_model.metadata["history"])  # the shipped card has one


def test_model_card_metrics_are_finite_numbers_only() -> None:
    card = {"test_accuracy": "0.99", "test_loss": "nan", "val_loss": "inf", "train_error": "n/a", "name": "1"}
    assert _metrics(card) == {"test_accuracy": 0.99}


# --- /predict --------------------------------------------------------------------------------------------


def test_json_pixels_flat_and_rows_are_fed_as_pixels_over_255(client, shipped_model) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(28, 28)).astype(np.uint8)
    expected = reference(shipped_model, pixels)[0]
    flat = client.post("/predict", json={"pixels": pixels.ravel().tolist()})
    rows = client.post("/predict", json={"pixels": pixels.tolist()})
    for response in (flat, rows):
        assert response.status_code == 200, response.text
        body = response.json()
        check_prediction(body, shipped_model)
        np.testing.assert_allclose(body["probabilities"], expected, rtol=0, atol=1e-6)
        assert "preprocessed" not in body


def test_json_pixels_read_an_mnist_one(client) -> None:
    body = client.post("/predict", json={"pixels": mnist_like_one().tolist()}).json()
    assert body["label"] == 1


@pytest.mark.parametrize("digit", [0, 1, 7])
def test_picture_upload_multipart_and_raw_body_agree_with_the_pipeline(client, shipped_model, digit) -> None:
    picture = draw_digit(digit)
    pixels = images.read_digit(picture, max_pixels=10**7)
    expected = reference(shipped_model, pixels)[0]
    multipart = client.post("/predict", files={"image": ("digit.png", picture, PNG)})
    raw = client.post("/predict", content=picture, headers={"content-type": PNG})
    for response in (multipart, raw):
        assert response.status_code == 200, response.text
        body = response.json()
        check_prediction(body, shipped_model)
        np.testing.assert_allclose(body["probabilities"], expected, rtol=0, atol=1e-6)
        assert body["label"] == digit  # a clear pen digit on paper is read right


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
@pytest.mark.parametrize(
    "headers", [{"content-type": OCTETS}, {}, {"content-type": FORM}], ids=["octets", "none", "curl"]
)
def test_a_picture_without_an_image_content_type_is_sniffed_and_read(client, fmt, headers) -> None:
    """application/octet-stream, no content type, or curl --data-binary without -H: the bytes tell."""
    picture = draw_digit(7, fmt=fmt)
    response = client.post("/predict", content=picture, headers=headers)
    assert response.status_code == 200, response.text
    labelled = client.post("/predict", content=picture, headers={"content-type": f"image/{fmt.lower()}"})
    assert without_id(response.json()) == without_id(labelled.json())  # each answer has its own id
    assert response.json()["label"] == 7


@pytest.mark.parametrize(
    "headers", [{"content-type": OCTETS}, {}, {"content-type": FORM}], ids=["octets", "none", "curl"]
)
def test_bytes_that_are_no_picture_stay_415(client, headers) -> None:
    for body in (b"hello", b"%PDF-1.7\n" + bytes(200), b""):
        response = client.post("/predict", content=body, headers=headers)
        assert_problem(response, 415, "not accepted")
        assert "accept-post" in response.headers
    batch = client.post("/predict/batch", content=draw_digit(1), headers=headers)
    assert_problem(batch, 415, "one image")


def test_include_preprocessed_returns_what_the_model_saw(client) -> None:
    picture = draw_digit(7, fmt="JPEG")
    response = client.post(
        "/predict?include=preprocessed", content=picture, headers={"content-type": "image/jpeg"}
    )
    assert response.status_code == 200
    seen = np.asarray(Image.open(io.BytesIO(base64.b64decode(response.json()["preprocessed"]))))
    assert seen.shape == (28, 28)
    assert seen.dtype == np.uint8
    np.testing.assert_array_equal(seen, images.read_digit(picture, max_pixels=10**7))


def test_batch_of_pictures_answers_in_order_like_single_requests(client) -> None:
    pictures = [draw_digit(7), draw_digit(0), draw_digit(1)]
    files = [("image", (f"d{i}.png", p, PNG)) for i, p in enumerate(pictures)]
    response = client.post("/predict/batch", files=files)
    assert response.status_code == 200, response.text
    batch = response.json()["predictions"]
    assert [p["label"] for p in batch] == [7, 0, 1]
    assert [p["looks_like_digit"] for p in batch] == [True] * 3
    for picture, predicted in zip(pictures, batch, strict=True):
        single = client.post("/predict", content=picture, headers={"content-type": PNG}).json()
        np.testing.assert_allclose(predicted["probabilities"], single["probabilities"], rtol=0, atol=1e-6)


def test_batch_of_json_instances(client, shipped_model) -> None:
    rng = np.random.default_rng(1)
    stack = rng.integers(0, 256, size=(5, 28, 28)).astype(np.uint8)
    instances = [stack[0].ravel().tolist(), *[s.tolist() for s in stack[1:]]]  # flat and rows mixed
    response = client.post("/predict/batch?include=preprocessed", json={"instances": instances})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"]["name"] == "digits"
    got = np.array([p["probabilities"] for p in body["predictions"]])
    np.testing.assert_allclose(got, reference(shipped_model, stack), rtol=0, atol=1e-6)
    # Every prediction carries the model's digit_score and the flag from it; random noise is no digit.
    scores = np.array([p["digit_score"] for p in body["predictions"]])
    np.testing.assert_allclose(scores, reference_scores(shipped_model, stack), rtol=0, atol=1e-6)
    assert [p["looks_like_digit"] for p in body["predictions"]] == [False] * 5
    first = np.asarray(Image.open(io.BytesIO(base64.b64decode(body["predictions"][0]["preprocessed"]))))
    np.testing.assert_array_equal(first, stack[0])


def test_predictions_are_counted_by_label_in_metrics(client) -> None:
    def count(label: str) -> float:
        for line in client.get("/metrics").text.splitlines():
            if line.startswith(f'digits_predictions_total{{label="{label}"}}'):
                return float(line.split()[-1])
        return 0.0

    before = count("1")
    client.post("/predict/batch", json={"instances": [mnist_like_one().tolist()] * 3})
    assert count("1") == before + 3


def test_metrics_label_requests_by_route_template_and_status(client) -> None:
    client.get("/healthz")
    client.get("/no/such/path/123")
    text = client.get("/metrics").text
    assert 'digits_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'digits_http_requests_total{method="GET",route="<unmatched>",status="404"}' in text
    assert "/no/such/path/123" not in text  # raw paths never become labels
    assert 'digits_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/healthz"}' in text


def test_one_structured_access_log_line_per_request(client, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="service.access"):
        client.post("/predict", json={"pixels": [255, *[0] * 783]})
    lines = [r for r in caplog.records if r.name == "service.access"]
    assert len(lines) == 1
    fields = lines[0].fields
    assert fields["method"] == "POST"
    assert fields["path"] == "/predict"
    assert fields["route"] == "/predict"
    assert fields["status"] == 200
    assert fields["latency_ms"] > 0


# --- errors: one problem+json shape, from routes and from the framework ----------------------------------

BAD_REQUESTS = [
    # (method, url, request kwargs, status, part of the detail)
    ("post", "/predict", {"content": b"hello", "headers": {"content-type": "text/plain"}}, 415, "text/plain"),
    ("post", "/predict", {"content": b"hello"}, 415, "not accepted"),
    (
        "post",
        "/predict/batch",
        {"content": draw_digit(1), "headers": {"content-type": PNG}},
        415,
        "one image",
    ),
    (
        "post",
        "/fit-line",
        {"content": b"x=1&y=2", "headers": {"content-type": "application/x-www-form-urlencoded"}},
        415,
        "application/json",
    ),
    (
        "post",
        "/predict",
        {"content": b'{"pixels": [1, 2', "headers": {"content-type": "application/json"}},
        422,
        "not valid JSON",
    ),
    ("post", "/predict", {"json": {"pixels": [0] * 783}}, 422, "784"),
    ("post", "/predict", {"json": {"pixels": [[0] * 28] * 27}}, 422, "28"),
    ("post", "/predict", {"json": {"pixels": [0] * 783 + [256]}}, 422, "less than or equal to 255"),
    ("post", "/predict", {"json": {"pixels": [0] * 783 + [-1]}}, 422, "greater than or equal to 0"),
    ("post", "/predict", {"json": {"pixels": [True] * 784}}, 422, "valid number"),
    ("post", "/predict", {"json": {"pixels": ["1"] * 784}}, 422, "valid number"),
    (
        "post",
        "/predict",
        {
            "content": b'{"pixels": [NaN' + b", 0" * 783 + b"]}",
            "headers": {"content-type": "application/json"},
        },
        422,
        "",
    ),
    ("post", "/predict", {"json": {"pixels": [0] * 784, "extra": 1}}, 422, "extra"),
    ("post", "/predict", {"json": [0] * 784}, 422, "pixels"),
    ("post", "/predict", {"json": {}}, 422, "pixels"),
    ("post", "/predict", {"content": b"not an image", "headers": {"content-type": PNG}}, 422, "image"),
    ("post", "/predict", {"content": b"", "headers": {"content-type": PNG}}, 422, "empty"),
    ("post", "/predict", {"content": blank_png(), "headers": {"content-type": PNG}}, 422, "ink"),
    ("post", "/predict", {"files": {"picture": ("d.png", draw_digit(1), PNG)}}, 422, "'image'"),
    (
        "post",
        "/predict",
        {"data": {"image": "not a file"}, "files": {"other": ("d.png", b"x", PNG)}},
        422,
        "file",
    ),
    (
        "post",
        "/predict",
        {"files": [("image", ("a.png", draw_digit(1), PNG)), ("image", ("b.png", draw_digit(0), PNG))]},
        422,
        "/predict/batch",
    ),
    (
        "post",
        "/predict",
        {"content": b"--x\r\ngarbage", "headers": {"content-type": "multipart/form-data; boundary=x"}},
        422,
        "",
    ),
    ("post", "/predict/batch", {"json": {"instances": []}}, 422, "at least 1"),
    (
        "post",
        "/predict/batch",
        {"files": [("image", ("a.png", draw_digit(1), PNG)), ("image", ("b.png", blank_png(), PNG))]},
        422,
        "image 1",
    ),
    ("post", "/predict?include=everything", {"json": {"pixels": [0] * 784}}, 422, "include"),
    ("get", "/no-such-route", {}, 404, "/no-such-route"),
    ("get", "/predict", {}, 405, "POST"),
    ("delete", "/healthz", {}, 405, "GET"),
]


@pytest.mark.parametrize(("method", "url", "kwargs", "status", "detail"), BAD_REQUESTS)
def test_bad_requests_answer_problem_details(client, method, url, kwargs, status, detail) -> None:
    response = getattr(client, method)(url, **kwargs) if kwargs else getattr(client, method)(url)
    body = assert_problem(response, status, detail)
    assert body["instance"] == url.split("?")[0]


def test_405_names_the_allowed_methods_in_the_allow_header(client) -> None:
    response = client.put("/model")
    assert_problem(response, 405)
    assert "GET" in response.headers["allow"]


def test_validation_errors_list_each_field(client) -> None:
    body = assert_problem(client.post("/predict", json={"pixels": [0] * 782 + [300, -3]}), 422)
    assert [e["field"] for e in body["errors"]] == ["body.pixels.flat.782", "body.pixels.flat.783"]


def test_body_over_the_limit_is_413(make_client) -> None:
    small = make_client(max_body_bytes=4096, fit_max_body_bytes=8192)
    assert_problem(
        small.post("/predict", content=b"\0" * 5000, headers={"content-type": PNG}), 413, "4096 bytes"
    )
    # /fit-line has its own limit: a body over the general one but under its own is served.
    points = {"x": list(range(1500)), "y": list(range(1500))}  # ~12.8 kB of JSON
    assert_problem(small.post("/fit-line", json=points), 413, "8192 bytes (DIGITS_FIT_MAX_BODY_BYTES)")
    half = {"x": list(range(900)), "y": list(range(900))}  # ~7 kB: over 4096, under 8192
    assert small.post("/fit-line", json=half).status_code == 200
    assert (
        small.post("/predict", content=draw_digit(1, size=60), headers={"content-type": PNG}).status_code
        == 200
    )


def test_image_over_the_pixel_limit_is_413_before_decoding(make_client) -> None:
    small = make_client(max_image_pixels=100 * 100)
    ok = small.post("/predict", content=draw_digit(1, size=100), headers={"content-type": PNG})
    assert ok.status_code == 200
    too_big = small.post("/predict", content=draw_digit(1, size=101), headers={"content-type": PNG})
    assert_problem(too_big, 413, "10000")


def phone_photo(path, *, progressive: bool = False) -> bytes:
    """A 48-megapixel (8000x6000) colour JPEG of a dark 7 on paper, as a phone camera writes it."""
    paper = Image.new("L", (8000, 6000), 225)
    pen = ImageDraw.Draw(paper)
    pen.line([(2600, 1400), (5400, 1400), (3700, 4800)], fill=40, width=420, joint="curve")
    paper.convert("RGB").save(path, format="JPEG", quality=85, progressive=progressive)
    return path.read_bytes()


def test_a_48_megapixel_phone_photo_is_read_under_the_default_limits(client, tmp_path) -> None:
    """Baseline JPEGs are decoded at 1/8 scale: 8000x6000 costs ~0.3 s (bench/decode_limits.py)."""
    photo = phone_photo(tmp_path / "photo.jpg")
    response = client.post("/predict", content=photo, headers={"content-type": "image/jpeg"})
    assert response.status_code == 200, response.text
    assert response.json()["label"] == 7


def test_pictures_decoded_at_full_size_keep_the_lower_limit(client, tmp_path) -> None:
    """A 48 MP PNG or progressive JPEG would be decoded whole (~0.3 GB): 413 before decoding."""
    progressive = phone_photo(tmp_path / "progressive.jpg", progressive=True)
    bits = io.BytesIO()
    Image.new("1", (8000, 6000), 1).save(bits, format="PNG")
    for picture, media_type in ((progressive, "image/jpeg"), (bits.getvalue(), PNG)):
        response = client.post("/predict", content=picture, headers={"content-type": media_type})
        body = assert_problem(response, 413, "decoded at full size")
        assert "40000000" in body["detail"]


def test_batch_over_the_limit_is_413(make_client) -> None:
    small = make_client(max_batch=2)
    instances = [[255, *[0] * 783]] * 3
    assert_problem(small.post("/predict/batch", json={"instances": instances}), 413, "DIGITS_MAX_BATCH")
    files = [("image", (f"{i}.png", draw_digit(1), PNG)) for i in range(3)]
    assert_problem(small.post("/predict/batch", files=files), 413, "limit is 2")
    assert small.post("/predict/batch", json={"instances": instances[:2]}).status_code == 200


def test_an_unexpected_error_is_a_500_problem_without_internals(make_client, caplog) -> None:
    test_client = make_client()

    @get("/test-only/boom", sync_to_thread=False)
    def boom() -> None:
        raise RuntimeError("secret internal state")

    test_client.app.register(boom)
    with caplog.at_level(logging.ERROR, logger="service.errors"):
        response = test_client.get("/test-only/boom")
    body = assert_problem(response, 500, "logged")
    assert "secret" not in response.text
    assert "RuntimeError" not in response.text
    assert any("secret internal state" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
    assert body["title"] == "Internal Server Error"


# --- /fit-line -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("low", "high"), [(0.0, 1000.0), (1e-6, 1e-3), (-1e6, 1e6)])
def test_fit_line_defaults_reach_the_closed_form(client, low, high) -> None:
    rng = np.random.default_rng(7)
    x = rng.uniform(low, high, size=200)
    y = -2.5 * x + 0.3 * (high - low) + rng.normal(0, 0.05 * (high - low), size=200)
    response = client.post("/fit-line", json={"x": x.tolist(), "y": y.tolist()})
    assert response.status_code == 200, response.text
    body = strict_json(response.text)
    exact = np.polyfit(x, y, 1)  # independent closed form
    assert body["status"] == "converged"
    assert abs(body["slope"] - exact[0]) <= 1e-6 * abs(exact[0])
    assert abs(body["intercept"] - exact[1]) <= 1e-6 * max(abs(exact[1]), np.std(y))
    assert abs(body["closed_form"]["slope"] - exact[0]) <= 1e-9 * abs(exact[0])
    assert 0.9 < body["r2"] <= 1.0
    assert len(body["loss_history"]) == len(body["history_epochs"]) <= 200
    assert "trajectory" not in body
    assert body["options"]["learning_rate"] > 0


def test_fit_line_points_form_and_trajectory(client) -> None:
    """Four points on y = 2x + 1, default options (learning rate 0.1; batch 32 > 4 points, so each epoch
    is one full-batch gradient step on the standardized data, whose Hessian is 2I). SGD starts at slope
    0 through the mean of y, (0, 4), and every step closes 1 - 2 * 0.1 = 20% of the way to (2, 1):
    step k is (2 * (1 - 0.8**k), 4 - 3 * (1 - 0.8**k))."""
    response = client.post("/fit-line?include=trajectory", json={"points": [[0, 1], [1, 3], [2, 5], [3, 7]]})
    body = response.json()
    assert response.status_code == 200
    assert body["slope"] == pytest.approx(2.0, rel=1e-9)
    assert body["intercept"] == pytest.approx(1.0, rel=1e-9)
    assert body["status"] == "converged"
    trajectory = body["trajectory"]
    assert len(trajectory) == body["epochs_run"] + 1  # the start, then one step per epoch (no thinning)
    assert trajectory[0] == [0.0, 4.0]
    expected = [[2 * (1 - 0.8**k), 4 - 3 * (1 - 0.8**k)] for k in range(len(trajectory))]
    np.testing.assert_allclose(trajectory, expected, rtol=0, atol=1e-9)
    # Converged: the first step whose gradient norm, twice the distance 0.8**k to the standardized
    # optimum (1, 0), is at most 1e-13, i.e. the first k with 1.25**k >= 2e13.
    assert body["epochs_run"] == math.ceil(math.log(2e13) / math.log(1.25)) == 138


def test_fit_line_through_the_origin(client) -> None:
    body = client.post("/fit-line", json={"x": [1, 2, 3], "y": [2, 4.5, 5.5], "fit_intercept": False}).json()
    assert body["intercept"] == 0.0
    assert body["slope"] == pytest.approx((2 + 9 + 16.5) / 14, rel=1e-9)


def test_a_diverging_learning_rate_is_a_result_with_finite_numbers(client) -> None:
    response = client.post("/fit-line", json={"x": [1, 2, 3, 4], "y": [1, 3, 2, 5], "learning_rate": 5.0})
    assert response.status_code == 200
    body = strict_json(response.text)  # raises on NaN / Infinity
    assert body["status"] == "diverged"
    assert len(body["loss_history"]) >= 2


BAD_FITS = [
    ({"x": [1], "y": [2]}, "at least 2"),
    ({"points": [[1, 2]]}, "at least 2"),
    ({"x": [1, 2, 3], "y": [1, 2]}, "x has 3 values but y has 2"),
    ({"x": [3, 3, 3], "y": [1, 2, 3]}, "equal"),
    ({"x": [1, 2], "y": [1, 2], "points": [[1, 1], [2, 2]]}, "not both"),
    ({"y": [1, 2]}, "send x and y"),
    ({"x": [1, "a"], "y": [1, 2]}, "number"),
    ({"x": [1, 2], "y": [1, 2], "learning_rate": 0}, "greater than 0"),
    ({"x": [1, 2], "y": [1, 2], "learning_rate": 11}, "greater than 0 and at most 10"),
    ({"x": [1, 2], "y": [1, 2], "epochs": 0}, "greater than or equal to 1"),
    ({"x": [1, 2], "y": [1, 2], "epochs": 1.5}, "integer"),
    ({"x": [1, 2], "y": [1, 2], "batch_size": 0}, "greater than or equal to 1"),
    ({"x": [1, 2], "y": [1, 2], "seed": -1}, "greater than or equal to 0"),
    ({"x": [1, 2], "y": [1, 2], "fit_intercept": "yes"}, "boolean"),
    ({"x": [1, 2], "y": [1, 2], "momentum": 0.9}, "extra"),
]


@pytest.mark.parametrize(("payload", "detail"), BAD_FITS)
def test_fit_line_rejects_bad_input_with_a_reason(client, payload, detail) -> None:
    assert_problem(client.post("/fit-line", json=payload), 422, detail)


@pytest.mark.parametrize(
    "body", [b'{"x": [1, NaN], "y": [1, 2]}', b'{"x": [1, 1e999], "y": [1, 2]}', b'{"x": [1, 2']
)
def test_fit_line_rejects_non_finite_and_malformed_json(client, body) -> None:
    assert_problem(client.post("/fit-line", content=body, headers={"content-type": "application/json"}), 422)


def test_a_learning_rate_above_the_maximum_is_told_the_range_and_why(client) -> None:
    """Not the validator's 'less than or equal to 10': the range, and that 1..10 diverges as a result."""
    refused = client.post("/fit-line", json={"x": [1, 2], "y": [1, 2], "learning_rate": 10.5})
    body = assert_problem(refused, 422)
    assert "less than or equal" not in body["detail"]
    for words in ("greater than 0 and at most 10", "standardized", "diverge"):
        assert words in body["detail"], body["detail"]
    assert body["errors"][0]["field"] == "body.learning_rate"
    largest = client.post("/fit-line", json={"x": [1, 2], "y": [1, 2], "learning_rate": 10})
    assert largest.json()["status"] == "diverged"


def test_a_tiny_x_spread_whose_slope_fits_a_float64_is_fitted(client) -> None:
    """x around 1e-300: the slope 1e300 is a float64 (the old check refused anything above 1e150)."""
    response = client.post("/fit-line", json={"x": [1e-300, 2e-300, 3e-300], "y": [1, 2, 3]})
    assert response.status_code == 200, response.text
    body = strict_json(response.text)
    assert body["slope"] == pytest.approx(1e300, rel=1e-9)
    assert body["closed_form"]["slope"] == pytest.approx(1e300, rel=1e-12)
    refused = client.post("/fit-line", json={"x": [1e-300, 2e-300], "y": [0, 1e100]})  # slope 1e400
    assert_problem(refused, 422, "would not fit in a float64")


def test_fit_line_work_budget(make_client) -> None:
    small = make_client(fit_max_work=10_000, fit_max_points=500)
    x = list(range(100))
    assert small.post("/fit-line", json={"x": x, "y": x, "epochs": 100}).status_code == 200
    assert_problem(small.post("/fit-line", json={"x": x, "y": x, "epochs": 101}), 422, "DIGITS_FIT_MAX_WORK")
    many = list(range(501))
    assert_problem(
        small.post("/fit-line", json={"x": many, "y": many, "epochs": 1}), 422, "DIGITS_FIT_MAX_POINTS"
    )


# --- the OpenAPI document ----------------------------------------------------------------------------------


def test_openapi_document_describes_every_route_body_and_error(client) -> None:
    document = client.get("/schema/openapi.json").json()
    paths = document["paths"]
    for path in ("/predict", "/predict/batch", "/fit-line", "/healthz", "/readyz", "/model", "/metrics"):
        assert path in paths, path
    predict = paths["/predict"]["post"]
    assert set(predict["requestBody"]["content"]) == {"application/json", "multipart/form-data", "image/*"}
    pixels_schema = predict["requestBody"]["content"]["application/json"]["schema"]
    assert pixels_schema["required"] == ["pixels"]
    assert {p["name"] for p in predict["parameters"]} == {"include"}
    batch = paths["/predict/batch"]["post"]["requestBody"]["content"]
    files = batch["multipart/form-data"]["schema"]["properties"]["image"]
    assert files == {"type": "array", "items": {"type": "string", "format": "binary"}, "minItems": 1}
    assert batch["application/json"]["schema"]["required"] == ["instances"]
    fit_body = paths["/fit-line"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    options = {"learning_rate", "epochs", "batch_size", "seed", "fit_intercept"}
    assert set(fit_body["properties"]) == {"x", "y", "points", *options}
    assert fit_body["properties"]["learning_rate"]["exclusiveMinimum"] == 0
    assert fit_body["oneOf"] == [{"required": ["x", "y"]}, {"required": ["points"]}]
    for path in ("/predict", "/predict/batch", "/fit-line"):
        responses = paths[path]["post"]["responses"]
        assert "200" in responses
        assert "201" not in responses
        assert "400" not in responses  # validation failures are answered 422, and documented so
        assert responses["422"]["content"]["application/problem+json"]["schema"]["$ref"].endswith("/Problem")
    assert {"413", "415"} <= paths["/predict"]["post"]["responses"].keys()
    expected = {"Prediction", "BatchPrediction", "FitLineResponse", "ModelCard", "Problem"}
    assert expected <= document["components"]["schemas"].keys()
    prediction = document["components"]["schemas"]["Prediction"]
    assert {"looks_like_digit", "digit_score"} <= set(prediction["required"])
    assert prediction["properties"]["looks_like_digit"]["type"] == "boolean"
    assert "digit_score" in prediction["properties"]["looks_like_digit"]["description"]


def without_id(body: dict) -> dict:
    """A prediction without its prediction_id (every answer gets a new one)."""
    return {key: value for key, value in body.items() if key != "prediction_id"}


@pytest.mark.parametrize("value", [0, 255, 7])
def test_blank_json_pixels_are_the_same_422_as_a_blank_picture(client, value) -> None:
    """A constant field has no digit: it used to answer "1" at 98.8% (all 0) instead of "no ink"."""
    picture = client.post("/predict", content=blank_png(), headers={"content-type": PNG})
    assert_problem(picture, 422, "no ink")
    assert_problem(client.post("/predict", json={"pixels": [value] * 784}), 422, "no ink")
    assert_problem(client.post("/predict", json={"pixels": [[value] * 28] * 28}), 422, "no ink")
    digit = mnist_like_one().ravel().tolist()
    batch = client.post("/predict/batch", json={"instances": [digit, [value] * 784]})
    assert_problem(batch, 422, "instance 1")
