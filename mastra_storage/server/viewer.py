"""The built-in viewer, served at ``/`` from files shipped inside the package.

Studio only needs ``GET /`` to answer 2xx; the viewer lives there and reads through the
same API routes as every other client. Its assets are plain files in ``static/`` (no
build step, nothing fetched from the internet).
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).with_name("static")

_FALLBACK = """<!doctype html><meta charset="utf-8"><title>mastra-storage</title>
<p>mastra-storage is serving Mastra's observability API under <code>{prefix}</code>.</p>"""


def routes(options: object) -> list[BaseRoute]:
    prefix = getattr(options, "api_prefix", "/api")
    token = getattr(options, "token", None)
    index = STATIC / "index.html"

    async def home(request: Request) -> Response:
        if token is not None and request.query_params.get("token") == token:
            # Remember the token for the viewer's own API calls, then drop it from the URL.
            from .app import TOKEN_COOKIE

            response = RedirectResponse("/", status_code=303)
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
            return response
        if getattr(options, "viewer", True) and index.is_file():
            return FileResponse(index, headers={"Cache-Control": "no-cache"})
        return HTMLResponse(_FALLBACK.format(prefix=prefix))

    out: list[BaseRoute] = [Route("/", home, methods=["GET", "HEAD"])]
    if STATIC.is_dir():
        out.append(Mount("/static", StaticFiles(directory=STATIC), name="static"))
    return out
