"""The page's HTTP side without a browser: what GET / and /static/* answer, with Litestar's test client."""

from __future__ import annotations

import json
import re

from litestar import Litestar
from litestar.testing import TestClient

from service import linefit
from service.routes.ui import STATIC_DIR, ui_router


def client() -> TestClient:
    return TestClient(Litestar(route_handlers=[ui_router]))


def test_index_is_html_revalidated_with_a_strict_policy() -> None:
    with client() as http:
        response = http.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy  # no inline scripts, nothing from elsewhere
    assert "{{" not in response.text  # every placeholder filled


def test_every_asset_url_carries_its_content_hash_and_is_served_cacheable() -> None:
    with client() as http:
        html = http.get("/").text
        urls = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
        assert {u.split("?")[0].rsplit("/", 1)[1] for u in urls} == {
            "app.css",
            "plot.js",
            "digits.js",
            "reading.js",
            "linefit.js",
            "card.js",
            "feedback.js",
            "favicon.svg",
        }
        for url in urls:
            assert re.search(r"\?v=[0-9a-f]{12}$", url), url
            response = http.get(url)
            assert response.status_code == 200, url
            assert "max-age=86400" in response.headers["cache-control"]
            name = url.split("?")[0].rsplit("/", 1)[1]
            assert response.content == (STATIC_DIR / name).read_bytes()


def test_presets_and_defaults_in_the_page_come_from_linefit() -> None:
    with client() as http:
        html = http.get("/").text
    match = re.search(r'<script type="application/json" id="page-config">(.*?)</script>', html, re.S)
    assert match
    fit = json.loads(match.group(1))["fit"]
    assert {p["key"]: p["learning_rate"] for p in fit["presets"]} == linefit.LEARNING_RATE_PRESETS
    assert fit["batch_size"] == linefit.DEFAULT_BATCH_SIZE
    assert fit["max_learning_rate"] == linefit.MAX_LEARNING_RATE


def test_static_files_stay_inside_the_static_folder() -> None:
    with client() as http:
        assert http.get("/static/missing.js").status_code == 404
        assert http.get("/static/%2e%2e/routes/ui.py").status_code == 404
        assert http.get("/static/../routes/ui.py").status_code == 404


def test_the_page_is_not_in_the_api_schema() -> None:
    app = Litestar(route_handlers=[ui_router])
    assert app.openapi_schema.paths in (None, {})
