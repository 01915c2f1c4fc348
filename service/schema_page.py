"""``/schema``: the API's documentation page, Swagger UI served by the service itself (works offline).

The renderer's assets come from the pinned ``flask-swagger-ui`` distribution (Swagger UI's own ``dist``
files; only the files are used, never Flask) and are served at ``/schema/assets``; Litestar's
``SwaggerRenderPlugin`` points at them with its ``js_url``/``css_url`` options. The page then loads
nothing from any other host, which its Content-Security-Policy states (``service.security``): scripts and
styles from this origin, plus exactly the inline ``<script>``/``<style>`` blocks the plugin writes (the
document itself), pinned by hash.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from litestar import Response, Router
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import OpenAPIRenderPlugin, SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

from service import security
from service.openapi import SortedJsonRenderPlugin

SCHEMA_PATH = "/schema"
ASSETS_PATH = f"{SCHEMA_PATH}/assets"
ASSET_MAX_AGE = 24 * 3600  # seconds; the files change only with the pinned package's version
FAVICON = '<link rel="icon" href="/favicon.ico" type="image/svg+xml">'


def swagger_dist() -> Path:
    """Swagger UI's dist folder inside the installed flask-swagger-ui (found without importing Flask)."""
    spec = importlib.util.find_spec("flask_swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("flask-swagger-ui is not installed: pip install -e . installs the pinned version")
    return Path(next(iter(spec.submodule_search_locations))) / "dist"


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """Swagger UI at /schema (the first plugin is the root) and the document at /schema/openapi.json."""
    return [
        SwaggerRenderPlugin(
            path="/swagger",
            js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            css_url=f"{ASSETS_PATH}/swagger-ui.css",
            standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
            favicon=FAVICON,
        ),
        SortedJsonRenderPlugin(),
    ]


async def with_page_policy(response: Response) -> Response:
    """The docs page's CSP: this origin only, and the page's own inline blocks by hash."""
    html = getattr(response, "content", None)  # the assets are file responses: nothing to do
    if isinstance(html, bytes) and str(response.media_type).startswith("text/html"):
        response.headers["content-security-policy"] = security.docs_page_csp(html)
    return response


def router() -> Router:
    """The router Litestar serves the OpenAPI pages from, with the renderer's assets beside them."""
    assets = create_static_files_router(
        path=ASSETS_PATH.removeprefix(SCHEMA_PATH),
        directories=[swagger_dist()],
        name="schema-assets",
        cache_control=CacheControlHeader(public=True, max_age=ASSET_MAX_AGE),
        include_in_schema=False,
    )
    return Router(
        SCHEMA_PATH, route_handlers=[assets], include_in_schema=False, after_request=with_page_policy
    )
