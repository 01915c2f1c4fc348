"""The web page at ``GET /``: draw a digit, watch SGD fit a line, read the model card.

Plain HTML, CSS and JavaScript from ``service/static`` (no build step, no CDN). The page is rendered once at
import: asset URLs get a content hash (``/static/app.js?v=1a2b3c4d``) so browsers may cache the assets for a
day yet never run a stale script after an upgrade, and the line-fit defaults and learning-rate presets are
written into the page from ``service.linefit``, their one source of truth.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from litestar import Response, Router, get
from litestar.datastructures import CacheControlHeader, State
from litestar.enums import MediaType
from litestar.static_files import create_static_files_router

from service import linefit
from service.settings import Settings

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
ASSET_MAX_AGE = 24 * 3600  # seconds; safe because every asset URL carries its content hash

# The page loads nothing from elsewhere; the policy says so, so an injected script could not either.
PAGE_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


# What the page starts with. The learning rate starts at the "good" preset, and the epoch cap is lower than
# the API's default so the "small" preset visibly crawls instead of quietly getting there in 1000 epochs.
PAGE_EPOCHS = 100
PRESET_HINTS = {
    "small": "Tiny steps: the line crawls.",
    "good": "Big enough to be quick, small enough to settle.",
    "too_large": "Every step overshoots: it blows up.",
}


def page_config(*, feedback: bool = False) -> dict[str, object]:
    """What the page's JavaScript needs from the server: line-fit defaults, limits and presets, and
    whether the sample store takes feedback (the "Wrong? It was a ..." buttons)."""
    presets = [
        {
            "key": key,
            "name": key.replace("_", " "),
            "learning_rate": rate,
            "hint": PRESET_HINTS.get(key, ""),
        }
        for key, rate in linefit.LEARNING_RATE_PRESETS.items()
    ]
    return {
        "fit": {
            "learning_rate": linefit.LEARNING_RATE_PRESETS.get("good", linefit.DEFAULT_LEARNING_RATE),
            "epochs": PAGE_EPOCHS,
            "batch_size": linefit.DEFAULT_BATCH_SIZE,
            "seed": linefit.DEFAULT_SEED,
            "max_learning_rate": linefit.MAX_LEARNING_RATE,
            "max_epochs": linefit.MAX_EPOCHS,
            "max_trajectory": linefit.MAX_TRAJECTORY,
            "presets": presets,
        },
        "feedback": feedback,
    }


def render_index(static_dir: Path = STATIC_DIR, *, feedback: bool = False) -> str:
    """index.html with hashed asset URLs and the page config filled in."""
    html = (static_dir / "index.html").read_text(encoding="utf-8")

    def asset_url(match: re.Match[str]) -> str:
        name = match.group(1)
        digest = hashlib.sha256((static_dir / name).read_bytes()).hexdigest()[:12]
        return f"/static/{name}?v={digest}"

    html = re.sub(r"\{\{asset:([\w.\-/]+)\}\}", asset_url, html)
    # "</" cannot end the <script type="application/json"> block early once escaped.
    config = json.dumps(page_config(feedback=feedback), allow_nan=False).replace("</", "<\\/")
    return html.replace("{{config}}", config)


INDEX_HTML = render_index()
INDEX_HTML_FEEDBACK = render_index(feedback=True)  # DIGITS_STORE_URL set: the page offers corrections


@get("/", include_in_schema=False, cache_control=CacheControlHeader(no_cache=True), sync_to_thread=False)
def index(state: State) -> Response[str]:
    """The page itself; revalidated on every visit so a new release shows at once."""
    settings: Settings | None = state.get("settings")
    html = INDEX_HTML_FEEDBACK if settings is not None and settings.store_url else INDEX_HTML
    return Response(html, media_type=MediaType.HTML, headers=PAGE_HEADERS)


static_router = create_static_files_router(
    path="/static",
    directories=[STATIC_DIR],
    name="ui-static",
    cache_control=CacheControlHeader(public=True, max_age=ASSET_MAX_AGE),
    include_in_schema=False,
)

ui_router = Router(path="/", route_handlers=[index, static_router], include_in_schema=False, tags=["ui"])
