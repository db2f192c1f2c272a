"""The built-in viewer, served at ``/`` from files shipped inside the package.

Studio only needs ``GET /`` to answer 2xx; the viewer lives there and reads through the
same API routes as every other client (plus ``/viewer/api/search``, see
:mod:`.viewer_api`). Its assets are plain files in ``static/``: ES modules and vendored
libraries, no build step, nothing fetched from the internet. ``static/index.html`` gets
the API prefix written into it, and a Content-Security-Policy that only lets the page run
its own scripts (the one inline script, the import map, is allowed by its hash), so a
payload that slipped past the escaping still couldn't run.
"""

from __future__ import annotations

import base64
import hashlib
import html
import mimetypes
import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).with_name("static")

_FALLBACK = """<!doctype html><meta charset="utf-8"><title>mastra-storage</title>
<p>mastra-storage is serving Mastra's observability API under <code>{prefix}</code>.</p>"""

_PREFIX_META = re.compile(r'(<meta name="mastra-api-prefix" content=")[^"]*(")')
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S)

# Some platforms map .js/.mjs to text/plain, which browsers refuse for modules.
for _ext, _type in ((".js", "text/javascript"), (".mjs", "text/javascript"),
                    (".css", "text/css"), (".svg", "image/svg+xml")):
    mimetypes.add_type(_type, _ext)


def render_index(text: str, prefix: str) -> tuple[str, str]:
    """The page with the API prefix filled in, and its Content-Security-Policy."""
    page = _PREFIX_META.sub(lambda m: m.group(1) + html.escape(prefix, quote=True)
                            + m.group(2), text)
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(page))
    csp = ("default-src 'self'; "
           f"script-src 'self' {hashes}; "
           "style-src 'self' 'unsafe-inline'; "  # the JSON viewer injects its stylesheet
           "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
           "base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
    return page, csp


def routes(options: object) -> list[BaseRoute]:
    from . import viewer_api
    from .app import TOKEN_COOKIE

    prefix = getattr(options, "api_prefix", "/api")
    prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
    token = getattr(options, "token", None)
    enabled = getattr(options, "viewer", True)
    index = STATIC / "index.html"

    async def home(request: Request) -> Response:
        if token is not None and request.query_params.get("token") == token:
            # Remember the token for the viewer's own API calls, then drop it from the URL.
            response = RedirectResponse(request.url.path or "/", status_code=303)
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
            return response
        if enabled and index.is_file():
            page, csp = render_index(index.read_text(encoding="utf-8"), prefix)
            return HTMLResponse(page, headers={
                "Cache-Control": "no-cache", "Content-Security-Policy": csp,
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})
        return HTMLResponse(_FALLBACK.format(prefix=html.escape(prefix)))

    out: list[BaseRoute] = [Route("/", home, methods=["GET", "HEAD"])]
    if enabled:
        out += [Route(path, handler, methods=list(methods))
                for path, methods, handler in viewer_api.routes()]
    if STATIC.is_dir():
        out.append(Mount("/static", StaticFiles(directory=STATIC), name="static"))
    return out
