"""Write the OpenAPI document's examples from a real run: service/openapi_examples.json and the pictures.

Every example request is sent to the real app (``create_app`` on the shipped model, in process) and the
answer it gets is stored beside it, so the document shows what the service really says:

- two pictures drawn the way the web page's canvas exports them (black strokes on white, 280x280 PNG),
  written to service/static/examples/ (the document links them as ``externalValue``);
- the MNIST-format pixels the service made of the 7 (``?include=preprocessed``): the JSON pixels example;
- the lesson's data for /fit-line (100 points around y = 3x + 2, the web page's recipe) and a diverging
  learning rate; the V2 infer body is the same 7 as FP32 pixels / 255.

tests/service/test_openapi.py replays every stored request and fails when an answer changed (a new model,
a new field): then run this again and commit what it wrote.

    PYTHONPATH=. .venv/bin/python scripts/openapi_examples.py
"""

from __future__ import annotations

import base64
import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from litestar.testing import TestClient
from PIL import Image, ImageDraw

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from service.app import create_app  # noqa: E402
from service.openapi_examples import EXAMPLES_FILE, PICTURES  # noqa: E402
from service.settings import Settings  # noqa: E402

CANVAS = 280  # the web page's drawing box, in CSS pixels
STROKES = {  # polylines in canvas coordinates, as a finger or mouse would draw them
    "digit-7.png": [[(70, 62), (208, 58), (128, 226)]],
    "digit-4.png": [[(150, 46), (72, 170), (214, 170)], [(170, 96), (170, 238)]],
}
LESSON_POINTS = 100  # service/static/linefit.js: 100 points, x uniform in [-1, 1], y = 3x + 2 + N(0, 0.5)


def draw(strokes: list[list[tuple[int, int]]]) -> bytes:
    """Anti-aliased strokes (drawn 4x larger, then reduced) like a canvas export."""
    scale = 4
    image = Image.new("L", (CANVAS * scale, CANVAS * scale), 255)
    pen = ImageDraw.Draw(image)
    for line in strokes:
        pen.line([(x * scale, y * scale) for x, y in line], fill=0, width=22 * scale, joint="curve")
        for x, y in (line[0], line[-1]):
            r = 11 * scale
            pen.ellipse([x * scale - r, y * scale - r, x * scale + r, y * scale + r], fill=0)
    buffer = io.BytesIO()
    image.resize((CANVAS, CANVAS), Image.Resampling.LANCZOS).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def lesson_data() -> dict[str, list[float]]:
    rng = np.random.default_rng(42)
    x = rng.uniform(-1, 1, LESSON_POINTS)
    y = 3 * x + 2 + rng.normal(0, 0.5, LESSON_POINTS)
    return {"x": np.round(x, 3).tolist(), "y": np.round(y, 3).tolist()}


def send(client: TestClient, spec: dict[str, Any]) -> dict[str, Any]:
    """POST one recorded request (JSON, the example pictures as multipart, or a blank PNG) -> the answer."""
    if "json" in spec:
        response = client.post(spec["url"], json=spec["json"])
    elif "pictures" in spec:
        files = [("image", (name, (PICTURES / name).read_bytes(), "image/png")) for name in spec["pictures"]]
        response = client.post(spec["url"], files=files)
    else:
        blank = io.BytesIO()
        Image.new("L", (spec["blank_png"],) * 2, 255).save(blank, format="PNG")
        response = client.post(spec["url"], content=blank.getvalue(), headers={"content-type": "image/png"})
    return {"status": response.status_code, "body": response.json()}


def seen_pixels(client: TestClient, picture: bytes) -> list[list[int]]:
    """The 28x28 MNIST-format pixels the service made of a picture (?include=preprocessed)."""
    response = client.post(
        "/predict?include=preprocessed", content=picture, headers={"content-type": "image/png"}
    )
    seen = Image.open(io.BytesIO(base64.b64decode(response.json()["preprocessed"])))
    return np.asarray(seen).tolist()


def main() -> None:
    pictures = {name: draw(strokes) for name, strokes in STROKES.items()}
    PICTURES.mkdir(parents=True, exist_ok=True)
    for name, data in pictures.items():
        (PICTURES / name).write_bytes(data)
    seven, four = pictures["digit-7.png"], pictures["digit-4.png"]
    with TestClient(create_app(Settings(access_log=False))) as client:
        rows, rows4 = (seen_pixels(client, picture) for picture in (seven, four))
        tensor = [round(value / 255, 4) for row in rows for value in row]
        requests = {
            "predict_picture": {"url": "/predict", "pictures": ["digit-7.png"]},
            "predict_pixels": {"url": "/predict", "json": {"pixels": rows}},
            "batch_pictures": {"url": "/predict/batch", "pictures": ["digit-7.png", "digit-4.png"]},
            "batch_pixels": {"url": "/predict/batch", "json": {"instances": [rows, rows4]}},
            "predict_blank": {"url": "/predict", "blank_png": CANVAS},
            "fit_lesson": {"url": "/fit-line", "json": {**lesson_data(), "learning_rate": 0.3}},
            "fit_diverging": {
                "url": "/fit-line",
                "json": {"points": [[0, 1], [1, 3], [2, 5], [3, 7]], "learning_rate": 1.5},
            },
            "fit_refused": {
                "url": "/fit-line",
                "json": {"x": [0, 1, 2, 3], "y": [1, 3, 5, 7], "learning_rate": 50},
            },
            "v2_infer": {
                "url": "/v2/models/digits/infer",
                "json": {
                    "inputs": [{"name": "image", "shape": [1, 1, 28, 28], "datatype": "FP32", "data": tensor}]
                },
            },
            "v2_infer_wrong_shape": {
                "url": "/v2/models/digits/infer",
                "json": {
                    "inputs": [{"name": "image", "shape": [1, 784], "datatype": "FP32", "data": tensor}]
                },
            },
        }
        examples = {
            name: {"request": spec, "response": send(client, spec)} for name, spec in requests.items()
        }
    # One example a line: diffs show which answer changed, without 784 lines per picture.
    lines = [f"{json.dumps(name)}: {json.dumps(example)}" for name, example in examples.items()]
    EXAMPLES_FILE.write_text("{\n" + ",\n".join(lines) + "\n}\n")
    for name, example in examples.items():
        print(f"{name:22} {example['response']['status']}")
    print(
        f"wrote {EXAMPLES_FILE.relative_to(REPO)} and {', '.join(pictures)} in {PICTURES.relative_to(REPO)}"
    )


if __name__ == "__main__":
    main()
