"""Prediction ids, POST /feedback and GET /feedback/summary through the app (Litestar's TestClient around
``create_app``, a real store on SQLite or PostgreSQL), and the answers with the store off or down."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from litestar.testing import TestClient
from repo_files import SHIPPED_MODEL
from sqlalchemy import select

from service.app import create_app
from service.metrics import STORE_SAMPLES
from service.model import DigitModel
from service.predictions import new_prediction_id
from service.settings import Settings
from service.store import database
from service.store.schema import samples

ONE = [[0] * 28 for _ in range(28)]
for row in range(4, 24):
    ONE[row][13] = ONE[row][14] = 255

VERSION = SHIPPED_MODEL.parent.name  # the served model's version


@pytest.fixture(scope="module")
def shipped_model() -> DigitModel:
    return DigitModel.load(Settings().model_path)


@pytest.fixture
def make_client(shipped_model: DigitModel) -> Iterator[Callable[..., TestClient]]:
    opened: list[TestClient] = []

    def _make(**overrides: Any) -> TestClient:
        client = TestClient(create_app(Settings(**overrides), model=shipped_model))
        opened.append(client.__enter__())
        return opened[-1]

    yield _make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client, store_url: str) -> TestClient:
    return make_client(store_url=store_url)


def stored_rows(url: str) -> list:
    engine = database.create_store_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(select(samples).order_by(samples.c.seq)).all()
    finally:
        engine.dispose()


def test_ids_in_body_and_header_and_stored(client: TestClient, store_url: str) -> None:
    one = client.post("/predict", json={"pixels": ONE})
    assert one.status_code == 200
    pid = one.json()["prediction_id"]
    assert one.headers["x-prediction-id"] == pid
    batch = client.post("/predict/batch", json={"instances": [ONE, ONE, ONE]})
    ids = [p["prediction_id"] for p in batch.json()["predictions"]]
    assert batch.headers["x-prediction-id"] == ",".join(ids)
    assert len({pid, *ids}) == 4
    v2 = client.post(
        "/v2/models/digits/infer",
        json={"inputs": [{"name": "image", "datatype": "FP32", "shape": [2, 1, 28, 28],
                          "data": (np.array([ONE, ONE], dtype=np.float32) / 255).ravel().tolist()}]},
    )  # fmt: skip
    assert v2.status_code == 200, v2.text
    v2_ids = v2.json()["parameters"]["prediction_id"].split(",")
    assert len(v2_ids) == 2
    assert v2.headers["x-prediction-id"] == ",".join(v2_ids)

    client.app.state.store.writer.flush()
    stored = {r.prediction_id: r for r in stored_rows(store_url)}
    assert set(stored) == {pid, *ids, *v2_ids}
    assert stored[pid].route == "/predict"
    assert {stored[i].route for i in ids} == {"/predict/batch"}
    assert {stored[i].route for i in v2_ids} == {"/v2/models/{model_name}/infer"}
    picture = np.frombuffer(stored[pid].pixels, dtype=np.uint8).reshape(28, 28)
    assert np.array_equal(picture, np.array(ONE, dtype=np.uint8))  # exactly what the model saw
    assert np.array_equal(np.frombuffer(stored[v2_ids[0]].pixels, dtype=np.uint8).reshape(28, 28), picture)
    assert stored[pid].predicted == one.json()["label"]
    assert stored[pid].looks_like_digit is one.json()["looks_like_digit"]
    assert stored[v2_ids[0]].looks_like_digit is not None  # V2 answers carry the flag too
    assert '"feedback": true' in client.get("/").text  # the page offers corrections


def test_an_uploaded_picture_is_stored_as_the_28x28_not_the_upload(
    client: TestClient, store_url: str
) -> None:
    answer = client.post(
        "/predict?include=preprocessed", files={"image": ("d.png", digit_png(), "image/png")}
    )
    assert answer.status_code == 200
    client.app.state.store.writer.flush()
    (row,) = stored_rows(store_url)
    assert len(row.pixels) == 784
    import io

    from PIL import Image

    seen = np.array(Image.open(io.BytesIO(base64.b64decode(answer.json()["preprocessed"]))))
    assert np.array_equal(np.frombuffer(row.pixels, dtype=np.uint8).reshape(28, 28), seen)


def digit_png() -> bytes:
    import io

    from PIL import Image, ImageDraw

    picture = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(picture).line([(100, 30), (100, 170)], fill=0, width=18)
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def test_feedback_updates_and_the_summary_follows(client: TestClient) -> None:
    answer = client.post("/predict", json={"pixels": ONE}).json()
    pid, said = answer["prediction_id"], answer["label"]
    other = (said + 1) % 10
    # no flush: feedback may arrive before the writer thread has written the row
    first = client.post("/feedback", json={"prediction_id": pid, "label": other})
    assert first.status_code == 200, first.text
    assert first.json() == {"prediction_id": pid, "label": other, "not_a_digit": False}
    (version,) = client.get("/feedback/summary").json()["versions"]
    assert (version["labelled"], version["correct"], version["not_a_digit"]) == (1, 0, 0)
    assert version["confusion"][other][said] == 1
    assert version["accuracy"] == 0

    again = client.post("/feedback", json={"prediction_id": pid, "not_a_digit": True})
    assert again.status_code == 200
    assert again.json() == {"prediction_id": pid, "not_a_digit": True}
    (version,) = client.get("/feedback/summary").json()["versions"]
    assert (version["labelled"], version["not_a_digit"]) == (0, 1)
    assert "accuracy" not in version
    assert sum(map(sum, version["confusion"])) == 0

    right = client.post("/feedback", json={"prediction_id": pid, "label": said})
    assert right.status_code == 200
    (version,) = client.get("/feedback/summary").json()["versions"]
    assert (version["labelled"], version["correct"], version["accuracy"]) == (1, 1, 1.0)

    deadline = time.monotonic() + 10  # the figures on /metrics come from the database, cached briefly
    while time.monotonic() < deadline:
        text = client.get("/metrics").text
        if f'digits_feedback_accuracy{{model="digits",version="{VERSION}"}} 1.0' in text:
            break
        time.sleep(0.1)
    assert f'digits_feedback_accuracy{{model="digits",version="{VERSION}"}} 1.0' in text
    assert f'digits_feedback_samples{{kind="labelled",model="digits",version="{VERSION}"}} 1.0' in text
    assert f'digits_store_rows{{model="digits",version="{VERSION}"}} 1.0' in text


OLD_ID = "0" * 32  # made in 1970: no waiting for it


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"prediction_id": OLD_ID, "label": 3}, 404),
        ({"prediction_id": "nope", "label": 3}, 422),
        ({"prediction_id": OLD_ID, "label": 10}, 422),
        ({"prediction_id": OLD_ID, "label": -1}, 422),
        ({"prediction_id": OLD_ID, "label": "3"}, 422),
        ({"prediction_id": OLD_ID, "label": 3.0}, 422),
        ({"prediction_id": OLD_ID}, 422),
        ({"prediction_id": OLD_ID, "label": 3, "not_a_digit": True}, 422),
        ({"prediction_id": OLD_ID, "not_a_digit": False}, 422),
        ({"prediction_id": OLD_ID, "label": 3, "extra": 1}, 422),
        ({"label": 3}, 422),
        ([], 422),
    ],
)
def test_bad_feedback_gets_a_problem(make_client, tmp_path, body: Any, status: int) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    database.migrate(database.create_store_engine(url))
    client = make_client(store_url=url)
    answer = client.post("/feedback", json=body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["status"] == status


def test_feedback_edge_cases(make_client, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    database.migrate(database.create_store_engine(url))
    client = make_client(store_url=url, store_sample_rate=0.0)
    assert (
        client.post("/feedback", content=b"{", headers={"content-type": "application/json"}).status_code
        == 422
    )
    assert client.post("/feedback", content=b"x", headers={"content-type": "text/plain"}).status_code == 415
    # a fresh id that was never stored (sampled out): waited for briefly, then 404
    pid = client.post("/predict", json={"pixels": ONE}).json()["prediction_id"]
    started = time.monotonic()
    missing = client.post("/feedback", json={"prediction_id": pid, "label": 1})
    assert missing.status_code == 404
    assert "DIGITS_STORE_SAMPLE_RATE" in missing.json()["detail"]
    assert 2 < time.monotonic() - started < 10
    assert client.get("/feedback/summary").json() == {"versions": []}


def test_with_the_store_off_feedback_says_so(make_client) -> None:
    client = make_client()
    for answer in (
        client.post("/feedback", json={"prediction_id": new_prediction_id(), "label": 3}),
        client.get("/feedback/summary"),
    ):
        assert answer.status_code == 409
        assert answer.json()["detail"] == "the sample store is off: set DIGITS_STORE_URL (docs/feedback.md)"
    assert client.post("/feedback", json={"prediction_id": "x"}).status_code == 422  # shape first
    page = client.get("/").text
    assert '"feedback": false' in page
    assert "digits_feedback_accuracy" not in client.get("/metrics").text
    answer = client.post("/predict", json={"pixels": ONE})
    assert answer.headers["x-prediction-id"] == answer.json()["prediction_id"]  # ids do not need the store


def test_feedback_needs_the_api_key_and_is_rate_limited(make_client, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    database.migrate(database.create_store_engine(url))
    client = make_client(store_url=url, api_key="sesame", rate_limit=2)
    body = {"prediction_id": OLD_ID, "label": 3}
    assert client.post("/feedback", json=body).status_code == 401
    assert client.get("/feedback/summary").status_code == 401
    key = {"x-api-key": "sesame"}
    assert client.post("/feedback", json=body, headers=key).status_code == 404
    assert client.get("/feedback/summary", headers=key).status_code == 200
    assert client.post("/feedback", json=body, headers=key).status_code == 429


def test_a_down_store_never_fails_a_prediction(make_client) -> None:
    before = STORE_SAMPLES.labels("database_error")._value.get()
    client = make_client(store_url="postgresql://postgres@127.0.0.1:9/down")  # nothing listens on port 9
    for _ in range(3):
        answer = client.post("/predict", json={"pixels": ONE})
        assert answer.status_code == 200
    client.app.state.store.writer.flush(30)
    assert STORE_SAMPLES.labels("database_error")._value.get() - before == 3
    down = client.post("/feedback", json={"prediction_id": OLD_ID, "label": 1})
    assert down.status_code == 503
    assert client.get("/feedback/summary").status_code == 503
    assert "digits_feedback_accuracy" not in client.get("/metrics").text
