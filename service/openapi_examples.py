"""The OpenAPI document's examples: real requests and the answers the service gave them.

``scripts/openapi_examples.py`` sends each request to the real app and writes request and answer to
``openapi_examples.json`` (and the example pictures to ``static/examples/``); this module turns them into
OpenAPI Example objects. Nothing here is made up, and tests/service/test_openapi.py replays every request
to prove the stored answers are still what the service says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from litestar.openapi.spec import Example

EXAMPLES_FILE = Path(__file__).resolve().with_name("openapi_examples.json")
PICTURES = Path(__file__).resolve().parent / "static" / "examples"
PICTURE_URL = "/static/examples/"  # served by the web page's static files


def stored() -> dict[str, Any]:
    """The recorded examples ({} before scripts/openapi_examples.py first ran)."""
    return json.loads(EXAMPLES_FILE.read_text(encoding="utf-8")) if EXAMPLES_FILE.exists() else {}


STORED = stored()


def request(name: str, summary: str, description: str | None = None) -> Example:
    """The request of example ``name``: a JSON body, or a link to the picture that was uploaded."""
    recorded = STORED.get(name, {}).get("request", {})
    if "json" in recorded:
        return Example(summary=summary, description=description, value=recorded["json"])
    pictures = recorded.get("pictures") or [recorded.get("picture", "")]
    return Example(summary=summary, description=description, external_value=PICTURE_URL + pictures[0])


def response(name: str, summary: str) -> Example:
    """The answer the service gave to example ``name``'s request."""
    return Example(summary=summary, value=STORED.get(name, {}).get("response", {}).get("body"))


def status(name: str) -> int | None:
    """The HTTP status of example ``name``'s answer."""
    return STORED.get(name, {}).get("response", {}).get("status")
