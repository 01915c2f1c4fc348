"""The bad-input matrix: what real clients and attackers send, each answered with its documented 4xx.

Every case runs through the Litestar test client (settings per case, e.g. small limits), checks the
status and the error shape (RFC 9457 problem+json; ``{"error"}`` on /v2) with a detail that says what is
wrong, and then that the service is still healthy. The key cases run again over real HTTP against
``python -m service`` (test_key_cases_over_real_http).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from bad_inputs import (
    blank,
    bmp_declaring,
    flipped,
    gif_declaring,
    jpeg_declaring,
    multipart,
    nested_json,
    picture,
    png_declaring,
    png_zero_bomb,
    truncated,
    webp_declaring,
)

JSON = {"content-type": "application/json"}
MULTIPART = {"content-type": "multipart/form-data; boundary=hardening"}
ZEROS = [0] * 784
V2_URL = "/v2/models/digits/infer"


@dataclass
class Case:
    id: str
    path: str
    status: int
    detail: str = ""  # a fragment the error's detail must contain (case-insensitive)
    content: bytes | None = None
    json_body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    method: str = "POST"
    settings: dict[str, Any] = field(default_factory=dict)

    def send(self, client: Any) -> Any:
        headers, content = dict(self.headers), self.content
        if self.json_body is not None:
            headers = {**JSON, **headers}
            content = json.dumps(self.json_body).encode()
        return client.request(self.method, self.path, content=content, headers=headers)


def raw(data: bytes, content_type: str = "image/png") -> dict[str, Any]:
    return {"content": data, "headers": {"content-type": content_type}}


def upload(data: bytes, content_type: str = "image/png", field_name: str = "image") -> dict[str, Any]:
    return {"content": multipart([(field_name, "digit.png", content_type, data)]), "headers": MULTIPART}


def text(body: bytes, content_type: str = "application/json") -> dict[str, Any]:
    return {"content": body, "headers": {"content-type": content_type}}


def v2(data: Any = None, shape: Any = None, **tensor: Any) -> dict[str, Any]:
    base = {"name": "image", "datatype": "FP32", "shape": shape or [1, 1, 28, 28]}
    base["data"] = [0.0] * 784 if data is None else data
    return {"json_body": {"inputs": [{**base, **tensor}]}}


def line(**body: Any) -> dict[str, Any]:
    return {"json_body": body}


PNG = picture("PNG")
SMALL_DIGIT = picture("PNG", (28, 28))  # under every limit the cases set
XS, YS = [0.0, 1.0, 2.0], [1.0, 3.0, 5.0]
HUGE = 1e400  # json.dumps writes Infinity for it: not JSON, which is the point

CASES = [
    # --- empty, truncated and damaged files -----------------------------------------------------------
    Case("empty raw body", "/predict", 422, "empty", **raw(b"")),
    Case("empty upload", "/predict", 422, "empty", **upload(b"")),
    Case("truncated png", "/predict", 422, "corrupt or truncated", **raw(truncated(PNG))),
    Case("png header only", "/predict", 422, "", **raw(PNG[:33])),
    Case(
        "truncated jpeg",
        "/predict",
        422,
        "",
        **raw(truncated(picture("JPEG", (200, 200)), 0.3), "image/jpeg"),
    ),
    Case("truncated gif upload", "/predict", 422, "", **upload(truncated(picture("GIF"), 0.3), "image/gif")),
    Case("png with a broken crc", "/predict", 422, "", **raw(flipped(PNG, [20]))),
    Case("magic bytes only", "/predict", 422, "", **raw(b"\x89PNG\r\n\x1a\n")),
    Case("blank picture", "/predict", 422, "no ink", **raw(blank())),
    Case(
        "one bad picture in a batch",
        "/predict/batch",
        422,
        "image 1",
        content=multipart(
            [("image", "a.png", "image/png", PNG), ("image", "b.png", "image/png", truncated(PNG))]
        ),
        headers=MULTIPART,
    ),
    # --- not images, sent as images -------------------------------------------------------------------
    Case("text as png", "/predict", 422, "not a readable image", **raw(b"hello, I am a digit")),
    Case("html as jpeg", "/predict", 422, "not a readable image", **raw(b"<html>7</html>", "image/jpeg")),
    Case("pdf upload as png", "/predict", 422, "not a readable image", **upload(b"%PDF-1.7\n1 0 obj")),
    Case(
        "svg",
        "/predict",
        422,
        "not a readable image",
        **raw(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
    ),
    Case(
        "a format not accepted (ppm)",
        "/predict",
        422,
        "accepted formats",
        **raw(picture("PPM"), "image/x-portable-pixmap"),
    ),
    Case("zip as gif", "/predict", 422, "", **raw(b"PK\x03\x04" + b"\x00" * 100, "image/gif")),
    # --- decompression bombs: huge declared sizes, refused before any pixel is decoded ----------------
    Case("png declaring 100000x100000", "/predict", 413, "too large", **raw(png_declaring(100_000, 100_000))),
    Case("png declaring 1x2^31", "/predict", 413, "too large", **raw(png_declaring(1, 2**31 - 1))),
    Case(
        "gif declaring 65535x65535",
        "/predict",
        413,
        "too large",
        **raw(gif_declaring(65535, 65535), "image/gif"),
    ),
    Case(
        "jpeg declaring 65535x65535",
        "/predict",
        413,
        "too large",
        **raw(jpeg_declaring(65535, 65535), "image/jpeg"),
    ),
    Case(
        "bmp declaring 100000x100000",
        "/predict",
        413,
        "too large",
        **raw(bmp_declaring(100_000, 100_000), "image/bmp"),
    ),
    Case(
        "webp canvas 100000x100000",
        "/predict",
        413,
        "too large",
        **raw(webp_declaring(100_000, 100_000), "image/webp"),
    ),
    Case("real zero bomb 8000x8000 (64 Mpx)", "/predict", 413, "8000x8000", **upload(png_zero_bomb(8000))),
    Case(
        "bomb in a batch",
        "/predict/batch",
        413,
        "too large",
        content=multipart(
            [
                ("image", "a.png", "image/png", PNG),
                ("image", "b.png", "image/png", png_declaring(50_000, 50_000)),
            ]
        ),
        headers=MULTIPART,
    ),
    Case(
        "over a small pixel limit",
        "/predict",
        413,
        "limit is 1000",
        settings={"max_image_pixels": 1000},
        **raw(picture("PNG", (40, 40))),
    ),
    # --- oversized bodies and batches -----------------------------------------------------------------
    Case(
        "raw image over the body limit",
        "/predict",
        413,
        "DIGITS_MAX_BODY_BYTES",
        settings={"max_body_bytes": 4096},
        **raw(b"\x89PNG" + b"\x00" * 5000),
    ),
    Case(
        "json over the body limit",
        "/predict",
        413,
        "DIGITS_MAX_BODY_BYTES",
        settings={"max_body_bytes": 2048},
        json_body={"pixels": [255] * 784},
    ),
    Case(
        "multipart over the body limit",
        "/predict/batch",
        413,
        "",
        settings={"max_body_bytes": 4096},
        **upload(b"\x00" * 8000),
    ),
    Case(
        "fit-line over its body limit",
        "/fit-line",
        413,
        "DIGITS_FIT_MAX_BODY_BYTES",
        settings={"fit_max_body_bytes": 1024},
        **line(x=list(range(400)), y=list(range(400))),
    ),
    Case(
        "v2 over the body limit",
        V2_URL,
        413,
        "DIGITS_MAX_BODY_BYTES",
        settings={"max_body_bytes": 2048},
        **v2(),
    ),
    Case(
        "batch of json over the limit",
        "/predict/batch",
        413,
        "DIGITS_MAX_BATCH",
        settings={"max_batch": 2},
        json_body={"instances": [ZEROS] * 3},
    ),
    Case(
        "batch of files over the limit",
        "/predict/batch",
        413,
        "DIGITS_MAX_BATCH",
        settings={"max_batch": 2},
        content=multipart([("image", f"{i}.png", "image/png", PNG) for i in range(3)]),
        headers=MULTIPART,
    ),
    Case(
        "too many multipart parts",
        "/predict/batch",
        413,
        "parts",
        settings={"max_batch": 2},
        content=multipart([("junk", None, None, b"x") for _ in range(40)]),
        headers=MULTIPART,
    ),
    # --- broken multipart -----------------------------------------------------------------------------
    Case(
        "multipart without boundary",
        "/predict",
        422,
        "boundary",
        content=multipart([("image", "a.png", "image/png", PNG)]),
        headers={"content-type": "multipart/form-data"},
    ),
    Case(
        "multipart with the wrong boundary",
        "/predict",
        422,
        "multipart",
        content=multipart([("image", "a.png", "image/png", PNG)]),
        headers={"content-type": "multipart/form-data; boundary=other"},
    ),
    Case(
        "multipart cut short",
        "/predict",
        422,
        "multipart",
        content=multipart([("image", "a.png", "image/png", PNG)])[:200],
        headers=MULTIPART,
    ),
    Case("multipart garbage", "/predict", 422, "", content=b"\x00\xff" * 500, headers=MULTIPART),
    Case(
        "multipart without the image field",
        "/predict",
        422,
        "no field 'image'",
        **upload(PNG, field_name="picture"),
    ),
    Case(
        "image field as text, not a file",
        "/predict",
        422,
        "file upload",
        content=multipart([("image", None, None, b"123")]),
        headers=MULTIPART,
    ),
    Case(
        "two files on /predict",
        "/predict",
        422,
        "/predict/batch",
        content=multipart([("image", "a.png", "image/png", PNG), ("image", "b.png", "image/png", PNG)]),
        headers=MULTIPART,
    ),
    # --- wrong media types and methods ----------------------------------------------------------------
    Case("text/plain", "/predict", 415, "not accepted", **text(b"7", "text/plain")),
    Case("no content type", "/predict", 415, "not accepted", content=b"7"),
    Case(
        "form-urlencoded",
        "/predict",
        415,
        "not accepted",
        **text(b"pixels=1", "application/x-www-form-urlencoded"),
    ),
    Case("raw image to /predict/batch", "/predict/batch", 415, "one image", **raw(PNG)),
    Case("fit-line as text/csv", "/fit-line", 415, "application/json", **text(b"x,y\n1,2\n", "text/csv")),
    Case("GET /predict", "/predict", 405, "allowed", method="GET"),
    Case("DELETE /fit-line", "/fit-line", 405, "allowed", method="DELETE"),
    Case("unknown path", "/predict/../../etc/passwd", 404, "", method="GET"),
    Case("unknown query value", "/predict?include=everything", 422, "include", json_body={"pixels": ZEROS}),
    # --- malformed and hostile JSON -------------------------------------------------------------------
    Case("malformed json", "/predict", 422, "not valid JSON", **text(b'{"pixels": [1, 2,')),
    Case("json with a BOM", "/predict", 422, "not valid JSON", **text(b'\xef\xbb\xbf{"pixels": []}')),
    Case("utf-16 json", "/fit-line", 422, "json", **text('{"x": [0, 1], "y": [1, 2]}'.encode("utf-16"))),
    Case("deeply nested json", "/predict", 422, "recursion", **text(nested_json(100_000))),
    Case("deeply nested json (fit)", "/fit-line", 422, "recursion", **text(nested_json(100_000, "x"))),
    Case("deeply nested json (batch)", "/predict/batch", 422, "", **text(nested_json(100_000, "instances"))),
    Case("top-level array", "/predict", 422, "", json_body=[ZEROS]),
    Case("null body", "/predict", 422, "", json_body=None, content=b"null", headers=JSON),
    Case("string body", "/fit-line", 422, "object", json_body="x=1,2"),
    Case("extra field", "/predict", 422, "extra", json_body={"pixels": ZEROS, "debug": True}),
    Case("missing pixels", "/predict", 422, "pixels", json_body={"pixel": ZEROS}),
    Case("pixels as a string", "/predict", 422, "pixels", json_body={"pixels": "0" * 784}),
    Case("NaN pixel", "/predict", 422, "finite", **text(b'{"pixels": [NaN' + b", 0" * 783 + b"]}")),
    Case("Infinity pixel", "/predict", 422, "finite", **text(b'{"pixels": [Infinity' + b", 0" * 783 + b"]}")),
    Case("1e400 pixel", "/predict", 422, "finite", **text(b'{"pixels": [1e400' + b", 0" * 783 + b"]}")),
    Case(
        "huge integer pixel",
        "/predict",
        422,
        "",
        **text(b'{"pixels": [' + b"9" * 5000 + b", 0" * 783 + b"]}"),
    ),
    Case("pixel above 255", "/predict", 422, "255", json_body={"pixels": [256, *ZEROS[1:]]}),
    Case("negative pixel", "/predict", 422, "0", json_body={"pixels": [-1, *ZEROS[1:]]}),
    Case("boolean pixel", "/predict", 422, "number", json_body={"pixels": [True, *ZEROS[1:]]}),
    Case("string pixel", "/predict", 422, "number", json_body={"pixels": ["0", *ZEROS[1:]]}),
    Case("783 pixels", "/predict", 422, "784", json_body={"pixels": ZEROS[:-1]}),
    Case("785 pixels", "/predict", 422, "784", json_body={"pixels": [*ZEROS, 0]}),
    Case("27 rows", "/predict", 422, "28", json_body={"pixels": [[0] * 28] * 27}),
    Case("ragged rows", "/predict", 422, "28", json_body={"pixels": [[0] * 28] * 27 + [[0] * 27]}),
    Case("rows of 3 dims", "/predict", 422, "", json_body={"pixels": [[[0] * 28] * 28]}),
    Case("empty instances", "/predict/batch", 422, "at least 1", json_body={"instances": []}),
    Case("instances not a list", "/predict/batch", 422, "instances", json_body={"instances": ZEROS[0]}),
    # --- /fit-line: every degenerate dataset ----------------------------------------------------------
    Case("no points", "/fit-line", 422, "", **line(x=[], y=[])),
    Case("one point", "/fit-line", 422, "2", **line(x=[1.0], y=[2.0])),
    Case("all x equal", "/fit-line", 422, "", **line(x=[3.0, 3.0, 3.0], y=[1.0, 2.0, 3.0])),
    Case(
        "all x zero through the origin",
        "/fit-line",
        422,
        "origin",
        **line(x=[0.0, 0.0], y=[1.0, 2.0], fit_intercept=False),
    ),
    Case("lengths differ", "/fit-line", 422, "pair up", **line(x=XS, y=YS[:2])),
    Case("x without y", "/fit-line", 422, "send x and y", **line(x=XS)),
    Case("nothing at all", "/fit-line", 422, "send x and y", json_body={}),
    Case("both forms", "/fit-line", 422, "not both", **line(x=XS, y=YS, points=[[0, 1], [1, 2]])),
    Case("points of three", "/fit-line", 422, "2 items", **line(points=[[0, 1, 2], [1, 2, 3]])),
    Case("points of one", "/fit-line", 422, "", **line(points=[[0], [1]])),
    Case("points flat", "/fit-line", 422, "", **line(points=[0, 1, 2, 3])),
    Case("string numbers", "/fit-line", 422, "number", **line(x=["1", "2"], y=[1.0, 2.0])),
    Case("boolean numbers", "/fit-line", 422, "number", **line(x=[True, False], y=[1.0, 2.0])),
    Case("null in x", "/fit-line", 422, "", **line(x=[1.0, None], y=[1.0, 2.0])),
    Case("NaN in y", "/fit-line", 422, "finite", **text(b'{"x": [0, 1], "y": [1, NaN]}')),
    Case("-Infinity in x", "/fit-line", 422, "finite", **text(b'{"x": [-Infinity, 1], "y": [1, 2]}')),
    Case("1e400 in x", "/fit-line", 422, "finite", **text(b'{"x": [1e400, 1], "y": [1, 2]}')),
    Case("x beyond 1e100", "/fit-line", 422, "magnitude", **line(x=[0.0, 1e300], y=[1.0, 2.0])),
    Case("y beyond 1e100", "/fit-line", 422, "magnitude", **line(x=[0.0, 1.0], y=[-1e200, 2.0])),
    Case(
        "x spread in subnormals",
        "/fit-line",
        422,
        "varies too little",
        **line(x=[5e-324, 1e-323], y=[1.0, 2.0]),
    ),
    # --- /fit-line: every option out of range ---------------------------------------------------------
    Case("learning rate 0", "/fit-line", 422, "learning_rate", **line(x=XS, y=YS, learning_rate=0)),
    Case("negative learning rate", "/fit-line", 422, "learning_rate", **line(x=XS, y=YS, learning_rate=-0.1)),
    Case("learning rate above 10", "/fit-line", 422, "learning_rate", **line(x=XS, y=YS, learning_rate=10.5)),
    Case(
        "learning rate as a string",
        "/fit-line",
        422,
        "learning_rate",
        **line(x=XS, y=YS, learning_rate="0.1"),
    ),
    Case(
        "learning rate NaN",
        "/fit-line",
        422,
        "learning_rate",
        **text(b'{"x": [0, 1], "y": [1, 2], "learning_rate": NaN}'),
    ),
    Case("0 epochs", "/fit-line", 422, "epochs", **line(x=XS, y=YS, epochs=0)),
    Case("too many epochs", "/fit-line", 422, "epochs", **line(x=XS, y=YS, epochs=10_001)),
    Case("fractional epochs", "/fit-line", 422, "epochs", **line(x=XS, y=YS, epochs=1.5)),
    Case("epochs as a string", "/fit-line", 422, "epochs", **line(x=XS, y=YS, epochs="10")),
    Case("batch size 0", "/fit-line", 422, "batch_size", **line(x=XS, y=YS, batch_size=0)),
    Case("negative seed", "/fit-line", 422, "seed", **line(x=XS, y=YS, seed=-1)),
    Case("seed of 2^32", "/fit-line", 422, "seed", **line(x=XS, y=YS, seed=2**32)),
    Case("fit_intercept 'yes'", "/fit-line", 422, "fit_intercept", **line(x=XS, y=YS, fit_intercept="yes")),
    Case("fit_intercept 1", "/fit-line", 422, "fit_intercept", **line(x=XS, y=YS, fit_intercept=1)),
    Case("unknown option", "/fit-line", 422, "extra", **line(x=XS, y=YS, momentum=0.9)),
    Case("unknown include", "/fit-line?include=all", 422, "include", **line(x=XS, y=YS)),
    Case(
        "more points than allowed",
        "/fit-line",
        422,
        "DIGITS_FIT_MAX_POINTS",
        settings={"fit_max_points": 10},
        **line(x=list(range(11)), y=list(range(11))),
    ),
    Case(
        "more work than the budget",
        "/fit-line",
        422,
        "DIGITS_FIT_MAX_WORK",
        settings={"fit_max_work": 1000},
        **line(x=list(range(20)), y=list(range(20)), epochs=100),
    ),
    Case(
        "over the time limit",
        "/fit-line",
        503,
        "DIGITS_FIT_TIME_LIMIT",
        settings={"fit_time_limit": 0.001},
        **line(
            x=[i / 7 for i in range(200_000)],
            y=[i / 3 for i in range(200_000)],
            batch_size=1,
            learning_rate=1e-6,
            epochs=50,
        ),
    ),
    # --- V2 (the protocol's error shape) --------------------------------------------------------------
    Case("v2 malformed json", V2_URL, 400, "json", **text(b'{"inputs": [')),
    Case("v2 deeply nested", V2_URL, 400, "", **text(nested_json(100_000, "inputs"))),
    Case(
        "v2 NaN data",
        V2_URL,
        400,
        "",
        **text(
            b'{"inputs": [{"name": "image", "datatype": "FP32", "shape": [1, 1, 28, 28], "data": [NaN'
            + b", 0" * 783
            + b"]}]}"
        ),
    ),
    Case("v2 values above 1", V2_URL, 400, "[0, 1]", **v2([255.0] * 784)),
    Case("v2 wrong element count", V2_URL, 400, "784", **v2([0.0] * 783)),
    Case("v2 wrong shape", V2_URL, 400, "shape", **v2(shape=[1, 28, 28])),
    Case("v2 negative batch", V2_URL, 400, "", **v2(shape=[-1, 1, 28, 28])),
    Case("v2 huge batch", V2_URL, 400, "DIGITS_MAX_BATCH", **v2(shape=[10**9, 1, 28, 28])),
    Case("v2 wrong datatype", V2_URL, 400, "FP32", **v2(datatype="INT64")),
    Case("v2 binary size lies", V2_URL, 400, "", **v2(data=None, parameters={"binary_data_size": 10**12})),
    Case("v2 unknown model", "/v2/models/nope/infer", 404, "unknown model", **v2()),
]


def _shape_ok(response: Any, case: Case) -> str:
    """The error document's human-readable message, after checking its shape."""
    content_type = response.headers["content-type"]
    assert "Traceback" not in response.text
    assert "<html" not in response.text.lower()
    if case.path.startswith("/v2"):
        assert content_type.startswith("application/json"), content_type
        body = response.json()
        assert set(body) == {"error"}, body
        return body["error"]
    assert content_type.startswith("application/problem+json"), (content_type, response.text[:300])
    body = response.json()
    assert body["status"] == case.status
    assert {"type", "title", "status", "detail"} <= set(body)
    return body["detail"]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_gets_its_documented_4xx_and_the_service_stays_healthy(make_client, case: Case) -> None:
    client = make_client(**case.settings)
    response = case.send(client)
    assert response.status_code == case.status, f"{case.id}: {response.status_code} {response.text[:400]}"
    message = _shape_ok(response, case)
    assert message.strip()
    assert case.detail.lower() in message.lower(), message
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    good = client.post("/predict", content=SMALL_DIGIT, headers={"content-type": "image/png"})
    assert good.status_code == 200, good.text  # and it still answers, within every case's limits


KEY_CASES = [
    "truncated png",
    "text as png",
    "png declaring 100000x100000",
    "real zero bomb 8000x8000 (64 Mpx)",
    "jpeg declaring 65535x65535",
    "multipart cut short",
    "multipart without boundary",
    "deeply nested json",
    "NaN pixel",
    "huge integer pixel",
    "all x equal",
    "x beyond 1e100",
    "v2 deeply nested",
    "v2 huge batch",
]


@pytest.mark.e2e
def test_key_cases_over_real_http(live_server) -> None:
    by_id = {case.id: case for case in CASES}
    with httpx.Client(base_url=live_server, timeout=30.0) as http:
        for name in KEY_CASES:
            case = by_id[name]
            response = case.send(http)
            assert response.status_code == case.status, (
                f"{name}: {response.status_code} {response.text[:300]}"
            )
            assert case.detail.lower() in _shape_ok(response, case).lower()
            assert http.get("/healthz").status_code == 200
        assert http.get("/readyz").status_code == 200
    assert live_server.process.poll() is None
    assert "Traceback" not in live_server.log()


@pytest.mark.e2e
def test_oversized_bodies_over_real_http(live_server) -> None:
    """Over the default 10 MiB limit, declared (Content-Length) and streamed (chunked, no length)."""
    limit = 10 * 1024 * 1024
    with httpx.Client(base_url=live_server, timeout=60.0) as http:
        declared = http.post("/predict", content=b"\x00" * (limit + 1), headers={"content-type": "image/png"})
        assert declared.status_code == 413, declared.text[:300]
        assert "DIGITS_MAX_BODY_BYTES" in declared.json()["detail"]

        def chunks(mebibytes: int = 12):
            for _ in range(mebibytes):
                yield b"\x00" * (1024 * 1024)

        streamed = http.post("/predict", content=chunks(), headers={"content-type": "image/png"})
        assert streamed.status_code == 413, streamed.text[:300]
        # /fit-line has its own, larger limit (64 MiB by default: a million points as JSON).
        fit = http.post("/fit-line", content=chunks(65), headers={"content-type": "application/json"})
        assert fit.status_code == 413, fit.text[:300]
        assert "DIGITS_FIT_MAX_BODY_BYTES" in fit.json()["detail"]
        v2_streamed = http.post(V2_URL, content=chunks(), headers={"content-type": "application/json"})
        assert v2_streamed.status_code == 413
        assert "error" in v2_streamed.json()
        assert http.get("/healthz").status_code == 200


def _raw_exchange(port: int, pieces: list[bytes], pause: float = 0.0) -> bytes:
    """Send the pieces on one connection (with a pause between them), then read the answer."""
    import select
    import socket
    import time

    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        for piece in pieces:
            if select.select([connection], [], [], 0)[0]:
                break  # the server has answered (and closed): stop sending, read the answer
            connection.sendall(piece)
            time.sleep(pause)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
            if b"\r\n\r\n" in answer and len(answer) > 200:
                break
    return answer


@pytest.mark.e2e
def test_protocol_level_garbage_and_header_floods_over_real_http(live_server) -> None:
    """Below the app: not HTTP at all, smuggling-shaped framing, and headers without end (431)."""
    port = live_server.port
    for request in (
        b"\x16\x03\x01\x00\x2a\x01\x00\x00\x26\x03\x03" + b"\x00" * 40,  # a TLS ClientHello on plain HTTP
        b"\x00\xffgarbage\r\n\r\n",
        b"POST /fit-line HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n{}",
        b"POST /fit-line HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n",
        b"POST /fit-line HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    ):
        assert _raw_exchange(port, [request]).startswith(b"HTTP/1.1 400 "), request[:40]
    # Headers that keep coming (16 KiB at a time, never ending) are cut off above 64 KiB.
    start = [b"GET /healthz HTTP/1.1\r\nHost: x\r\n"]
    flood = [b"X-Pad-%d: %s\r\n" % (i, b"a" * 16_000) for i in range(8)]
    answer = _raw_exchange(port, start + flood, pause=0.05)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"application/problem+json" in head
    assert json.loads(body)["status"] == 431
    # Many ordinary headers are fine.
    many = b"".join(b"X-%d: 1\r\n" % i for i in range(500))
    normal = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n"
    assert _raw_exchange(port, [normal]).startswith(b"HTTP/1.1 200 ")
    with httpx.Client(base_url=live_server, timeout=10) as http:
        assert http.get("/healthz").status_code == 200
        assert http.post("/predict", json={"pixels": [255, *ZEROS[1:]]}).status_code == 200
    assert "Traceback" not in live_server.log()
