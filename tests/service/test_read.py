"""POST /read through Litestar's test client: numbers, boxes, the one-digit case, errors, OpenAPI.

Lines are drawn by hand here (thick pen digits 0, 1 and 7 side by side, tests/service/service_helpers);
accuracy on handwriting (MNIST digits, three spacings, three renderings) is tests/images/test_read_accuracy.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image
from service_helpers import assert_problem, blank_png, draw_digit, encode

from service import reading

PNG = "image/png"


def line_of(digits: str, *, gap: int = 40, size: int = 160) -> tuple[bytes, tuple[int, int]]:
    """Hand-drawn digits (0, 1, 7) side by side on one light sheet; the PNG and its size."""
    tiles = [Image.open(io.BytesIO(draw_digit(int(d), size=size))).convert("L") for d in digits]
    width = sum(tile.width for tile in tiles) + gap * (len(tiles) + 1)
    sheet = Image.new("L", (width, size + 2 * gap), 235)
    x = gap
    for tile in tiles:
        sheet.paste(tile, (x, gap))
        x += tile.width + gap
    return encode(sheet), sheet.size


def test_reads_a_number_left_to_right_with_boxes(client) -> None:
    data, (width, height) = line_of("1707")
    response = client.post("/read", content=data, headers={"content-type": PNG})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["text"] == "1707"
    assert [d["label"] for d in body["digits"]] == [1, 7, 0, 7]
    lefts = [d["box"]["x"] for d in body["digits"]]
    assert lefts == sorted(lefts)
    for digit in body["digits"]:
        box = digit["box"]
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= width
        assert box["y"] >= 0
        assert box["y"] + box["height"] <= height
        assert digit["confidence"] == max(digit["probabilities"])
        assert abs(sum(digit["probabilities"]) - 1) < 1e-5
    assert body["model"] == body["digits"][0]["model"]


def test_one_digit_reads_exactly_as_predict(client) -> None:
    for digit in (0, 1, 7):
        files = {"image": ("d.png", draw_digit(digit), PNG)}
        read, predict = client.post("/read", files=files).json(), client.post("/predict", files=files).json()
        assert read["text"] == str(predict["label"])
        assert read["digits"][0]["probabilities"] == predict["probabilities"]


def test_boxes_are_in_the_pixels_as_sent_for_a_big_picture(client) -> None:
    data, (width, _) = line_of("71", size=900, gap=200)  # decoded reduced: boxes scaled back
    body = client.post("/read", content=data, headers={"content-type": PNG}).json()
    assert body["text"] == "71"
    seven, one = (d["box"] for d in body["digits"])
    assert 380 <= seven["x"] <= 440  # the 7 starts 60/240 into its 900-px tile, at 200 px, less the pen
    assert one["x"] + one["width"] <= width
    assert 500 <= seven["height"] <= 900


def test_preprocessed_gives_each_digit_as_the_model_saw_it(client) -> None:
    data, _ = line_of("10")
    body = client.post("/read?include=preprocessed", content=data, headers={"content-type": PNG}).json()
    for digit in body["digits"]:
        seen = np.asarray(Image.open(io.BytesIO(base64.b64decode(digit["preprocessed"]))))
        assert seen.shape == (28, 28)
        assert seen.max() > 200


def test_specks_are_ignored(client) -> None:
    data, _ = line_of("17")
    sheet = Image.open(io.BytesIO(data))
    for x, y in ((5, 5), (sheet.width - 8, 10), (sheet.width // 2, sheet.height - 8)):
        sheet.paste(20, (x, y, x + 3, y + 3))
    body = client.post("/read", content=encode(sheet), headers={"content-type": PNG}).json()
    assert body["text"] == "17"


@pytest.mark.parametrize(
    ("kwargs", "status", "detail"),
    [
        ({"content": blank_png(), "headers": {"content-type": PNG}}, 422, "no ink"),
        ({"json": {"pixels": [1] * 784}}, 415, "/predict"),
        ({"content": b"not an image", "headers": {"content-type": PNG}}, 422, "not a readable image"),
        ({"content": b"x", "headers": {"content-type": "text/plain"}}, 415, "not accepted"),
        ({"files": {"other": ("d.png", b"x", PNG)}}, 422, "'image'"),
    ],
)
def test_errors_are_problems(client, kwargs, status, detail) -> None:
    assert_problem(client.post("/read", **kwargs), status, detail)


def test_more_digits_than_the_limit_is_422(client) -> None:
    data, _ = line_of("1" * (reading.MAX_DIGITS + 1), gap=30, size=60)
    assert_problem(client.post("/read", content=data, headers={"content-type": PNG}), 422, "at most 32")


def test_openapi_documents_read(client) -> None:
    document = client.get("/schema/openapi.json").json()
    operation = document["paths"]["/read"]["post"]
    assert set(operation["requestBody"]["content"]) == {"multipart/form-data", "image/*"}
    assert {"200", "413", "415", "422"} <= set(operation["responses"])
    schema = document["components"]["schemas"]["ReadResult"]
    assert {"text", "digits", "model"} <= set(schema["properties"])
    assert schema["properties"]["text"]["examples"] == ["2026"]


def odd_pictures() -> list[tuple[str, bytes]]:
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8))
    checker = Image.fromarray(((np.indices((96, 96)).sum(axis=0) // 8 % 2) * 255).astype(np.uint8))
    stripes = Image.fromarray(np.tile((np.arange(600) % 7 == 0).astype(np.uint8) * 255, (80, 1)))
    return [
        ("1x1", encode(Image.new("L", (1, 1), 0))),
        ("a line 1 px high", encode(Image.new("L", (500, 1), 0))),
        ("a column 1 px wide", encode(Image.new("L", (1, 500), 0))),
        ("noise", encode(noise)),
        ("checkerboard", encode(checker)),
        ("vertical stripes", encode(stripes)),
        ("transparent", encode(Image.new("RGBA", (50, 50), (0, 0, 0, 0)))),
    ]


@pytest.mark.parametrize(("name", "data"), odd_pictures())
def test_odd_pictures_are_answered_never_a_500(client, name, data) -> None:
    response = client.post("/read", content=data, headers={"content-type": PNG})
    assert response.status_code in (200, 422), (name, response.text)
    if response.status_code == 200:
        body = response.json()
        assert len(body["text"]) == len(body["digits"]) <= reading.MAX_DIGITS
