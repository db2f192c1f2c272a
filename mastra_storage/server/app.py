"""The ASGI app: Mastra's observability HTTP API over any store, plus the viewer at ``/``.

``create_app(store)`` builds a Starlette app that Mastra Studio, ``@mastra/client-js``
and ``mastra api`` can read from, and that can be mounted into another ASGI app. The
transport rules Studio depends on are kept here:

* CORS: the request's ``Origin`` is echoed (never ``*``) with credentials allowed, for
  loopback origins (``http://localhost:3000``…) and the page's own origin unless
  ``allow_origins`` says otherwise; preflights answer 204; a request from any other
  browser origin answers 403 (a page elsewhere can't make a browser act on the API);
* ``allowed_hosts``: the ``Host`` header must name one of them (the CLI sets the
  loopback names when it binds to loopback, so DNS rebinding can't reach the API);
* read-only unless ``allow_writes``: deleting traces or scores, creating scores or
  feedback and changing a review status answer 403;
* ``token``: every route wants ``Authorization: Bearer <token>`` (or the viewer's cookie);
* request bodies are size-limited (256 KiB for trace queries, 4 MiB otherwise) and
  nested at most 64 levels; NUL characters and lone surrogates in parameters become
  U+FFFD, as they do in everything the stores hold;
* errors never carry a stack trace or a credential: a store that is down answers 503,
  one that can't answer something 501, bad input 400 (Mastra's body; 422 with Mastra's
  envelope on the trace-query routes), unknown routes 404.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatch
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import StorageDomainDisabledError, UnsupportedOperation
from ..model.jsonsafe import clean_text, encode
from ..storage.failures import classify
from ..storage.trace_query import TraceQueryCursorError, TraceQueryError
from .params import MAX_BODY_DEPTH, BadRequest, Params, TooDeep, Unsupported, clean

logger = logging.getLogger("mastra_storage.server")

DEFAULT_BODY_LIMIT = 4 * 1024 * 1024
QUERY_BODY_LIMIT = 256 * 1024
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
TOKEN_COOKIE = "mastra_storage_token"


@dataclass
class ServerOptions:
    api_prefix: str = "/api"
    allow_writes: bool = False
    token: str | None = None
    # Browser origins allowed to call the API: None = loopback origins (any port);
    # else exact origins or fnmatch patterns ("https://*.example.com"), or ["*"].
    allow_origins: Sequence[str] | None = None
    # Host header names accepted (None: any); the CLI sets LOOPBACK_HOSTS on loopback.
    allowed_hosts: Sequence[str] | None = None
    viewer: bool = True
    # OTLP/HTTP in (POST /v1/traces, server/otlp.py): a write path, so off unless asked
    # for (``--otlp``); otlp_only: nothing else is served.
    otlp: bool = False
    otlp_only: bool = False
    extra_routes: list[BaseRoute] = field(default_factory=list)


class NotFound(Exception):
    """A resource the request names does not exist (HTTP 404, Mastra's message)."""


class Forbidden(Exception):
    """A write on a read-only server (HTTP 403)."""


class QueryUnsupported(Exception):
    """A trace-query route the store can't answer (HTTP 501 with Mastra's code)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Call:
    """What a handler gets: the request, its parameters, its body and the store."""

    request: Request
    query: Params
    body: Any
    path: dict[str, str]
    store: Any
    options: ServerOptions

    def body_params(self) -> Params:
        return Params.from_body(self.body)

    def require_writes(self) -> None:
        if not self.options.allow_writes:
            raise Forbidden("This server is read-only; start it with --allow-writes to "
                            "change data")


Handler = Callable[[Call], Any]


class JSON(Response):
    """A response encoded with the library's codec (NaN, datetimes and the like are
    written by the payload rules instead of failing)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return encode(content).encode("utf-8")


def error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _query_error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, **extra}, status_code=status)


def endpoint(handler: Handler, *, body: bool = False, limit: int = DEFAULT_BODY_LIMIT,
             query_route: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a plain function as a Starlette endpoint: read the body (bounded), run the
    handler on a worker thread (store calls block), encode the result, map errors."""

    async def run(request: Request) -> Response:
        payload: Any = None
        if body:
            raw = await _read_body(request, limit)
            if raw is None:
                return error(413, "Request body too large")
            if raw.strip() and "json" in request.headers.get("content-type", "json"):
                try:
                    payload = clean(json.loads(raw))
                except (ValueError, RecursionError) as exc:  # TooDeep is a ValueError
                    message = (f"Nested deeper than {MAX_BODY_DEPTH} levels"
                               if isinstance(exc, (RecursionError, TooDeep)) else str(exc))
                    return JSONResponse({"error": "Invalid request body", "issues": [
                        {"field": "body", "message": message}]}, status_code=400)
        app_state = request.app.state
        path = {k: clean_text(str(v)) or "" for k, v in request.path_params.items()}
        call = Call(request, Params.from_query(request.query_params), payload,
                    path, app_state.store, app_state.options)
        try:
            result = await run_in_threadpool(handler, call)
        except Exception as exc:  # every failure becomes an answer, never a traceback
            return _failure(exc, query_route)
        if isinstance(result, Response):
            return result
        return JSON(result)

    run.__name__ = handler.__name__
    return run


async def _read_body(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _failure(exc: Exception, query_route: bool) -> Response:
    if isinstance(exc, BadRequest):
        if query_route:
            return _query_error(422, "TRACE_QUERY_INVALID", "The trace query is invalid",
                                issues=[{"code": "invalid_request", "path": [i["field"]],
                                         "message": i["message"]} for i in exc.issues])
        return JSONResponse(exc.body(), status_code=400)
    if isinstance(exc, TraceQueryError):
        return _query_error(422, "TRACE_QUERY_INVALID", "The trace query is invalid",
                            issues=[{"code": i.code, "path": i.path, "message": i.message}
                                    for i in exc.issues])
    if isinstance(exc, TraceQueryCursorError):
        if exc.conflict:
            return _query_error(409, "TRACE_QUERY_CURSOR_CONFLICT", str(exc))
        return _query_error(400, "TRACE_QUERY_CURSOR_MALFORMED", str(exc))
    if isinstance(exc, QueryUnsupported):
        return _query_error(501, exc.code, str(exc))
    if isinstance(exc, (UnsupportedOperation, Unsupported, StorageDomainDisabledError)):
        message = (str(exc) if not isinstance(exc, StorageDomainDisabledError)
                   else "Observability storage domain is not available")
        if query_route:
            return _query_error(501, "TRACE_QUERY_UNSUPPORTED", message)
        return error(501, message)
    if isinstance(exc, NotFound):
        return error(404, str(exc))
    if isinstance(exc, Forbidden):
        return error(403, str(exc))
    verdict = classify(exc)
    if verdict == "unavailable":
        logger.warning("the store is unavailable: %s", type(exc).__name__)
        return error(503, "The observability store is unavailable right now "
                     f"({type(exc).__name__}); try again when it is back")
    if verdict == "data":
        # Our own checks say what is wrong; a driver's message may quote the statement.
        ours = type(exc) in (TypeError, ValueError)
        message = _short(str(exc)) if ours else "The store refused a value of this request"
        if not ours:
            logger.warning("the store refused a request: %s", type(exc).__name__)
        return JSONResponse({"error": "Invalid query parameters", "issues": [
            {"field": "unknown", "message": message}]}, status_code=400)
    logger.exception("unexpected error while answering a request")
    return error(500, "Internal Server Error")


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


# ---------------------------------------------------------------------------- middleware

class Transport:
    """Host and origin checks, CORS with the origin echoed, the bearer token, JSON
    refusals (pure ASGI, in front of every route)."""

    def __init__(self, app: ASGIApp, options: ServerOptions) -> None:
        self.app = app
        self.options = options

    def _origin_allowed(self, origin: str, request: Request) -> bool:
        host = request.headers.get("host", "")
        if origin == f"{request.url.scheme}://{host}":
            return True  # the page's own origin (the viewer)
        patterns = self.options.allow_origins
        if patterns is not None:
            return "*" in patterns or any(fnmatch(origin, p) for p in patterns)
        return _loopback_origin(origin)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        hosts = self.options.allowed_hosts
        if hosts is not None and _hostname(request.headers.get("host", "")) not in hosts:
            await _refuse(send, 403, "Host not allowed: this server answers on "
                          + ", ".join(hosts))
            return
        origin = request.headers.get("origin")
        cors: list[tuple[bytes, bytes]] = []
        if origin is not None:
            if not self._origin_allowed(origin, request):
                await _refuse(send, 403, "Origin not allowed: start the server with "
                              "--allow-origin to let this page call the API")
                return
            asked = request.headers.get("access-control-request-headers",
                                        "content-type, authorization")
            cors = [(b"access-control-allow-origin", origin.encode("latin-1")),
                    (b"access-control-allow-credentials", b"true"),
                    (b"access-control-allow-headers", asked.encode("latin-1")),
                    (b"access-control-allow-methods",
                     b"GET, POST, PUT, PATCH, DELETE, OPTIONS"),
                    (b"access-control-max-age", b"600"),
                    (b"vary", b"Origin")]
        if request.method == "OPTIONS" and "access-control-request-method" in request.headers:
            await send({"type": "http.response.start", "status": 204, "headers": cors})
            await send({"type": "http.response.body", "body": b""})
            return
        if self.options.token is not None and not self._authorised(request):
            await _refuse(send, 401, "Unauthorized: send Authorization: Bearer <token>",
                          [(b"www-authenticate", b"Bearer"), *cors])
            return

        async def send_with_cors(message: Any) -> None:
            if message["type"] == "http.response.start" and cors:
                message = {**message, "headers": [*message.get("headers", []), *cors]}
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _authorised(self, request: Request) -> bool:
        expected = self.options.token or ""
        header = request.headers.get("authorization", "")
        given = header[7:].strip() if header.lower().startswith("bearer ") else ""
        given = given or request.cookies.get(TOKEN_COOKIE, "")
        if not given and request.method == "GET" and request.url.path in ("/", ""):
            given = request.query_params.get("token", "")
        return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


async def _refuse(send: Send, status: int, message: str,
                  headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), *headers]})
    await send({"type": "http.response.body", "body": body})


def _hostname(host: str) -> str:
    """The name of a ``Host`` header (no port, IPv6 without brackets)."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _loopback_origin(origin: str) -> bool:
    """``http(s)://localhost|127.x|[::1]`` with an optional port, and nothing else."""
    try:
        parts = urlsplit(origin)
        port = parts.port  # raises on a port that is not a number
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or parts.path or parts.query or parts.username:
        return False
    del port
    name = parts.hostname or ""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


async def _not_found(request: Request, exc: Exception) -> Response:
    return error(404, "Not Found")


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    return error(405, "Method Not Allowed")


def create_app(store: Any, options: ServerOptions | None = None,
               **overrides: Any) -> Starlette:
    """The HTTP API over ``store`` (any store, or a ``CompositeStore``).

    ``options`` (or keyword ``overrides`` of :class:`ServerOptions`): ``api_prefix``,
    ``allow_writes``, ``token``, ``allow_origins``, ``allowed_hosts``, ``viewer``.
    """
    from . import signals, startup, traces, viewer

    opts = options or ServerOptions()
    for key, value in overrides.items():
        setattr(opts, key, value)
    prefix = "/" + opts.api_prefix.strip("/") if opts.api_prefix.strip("/") else ""
    routes: list[BaseRoute] = [*opts.extra_routes]
    if not opts.otlp_only:
        for module in (startup, traces, signals):
            for path, methods, handler in module.ROUTES:
                routes.append(Route(prefix + path, handler, methods=list(methods)))
        routes += viewer.routes(opts)
    ingest = None
    if opts.otlp or opts.otlp_only:
        from . import otlp

        ingest = otlp.Ingest(store)
        routes += otlp.routes(ingest)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if ingest is not None:  # what OTLP senders delivered is written before exit
            await run_in_threadpool(ingest.shutdown)

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={404: _not_found, 405: _method_not_allowed})
    app.state.ingest = ingest
    app.state.store = store
    app.state.options = opts
    app.add_middleware(Transport, options=opts)
    return app


__all__ = ["LOOPBACK_HOSTS", "Call", "Forbidden", "NotFound", "QueryUnsupported",
           "ServerOptions", "create_app", "endpoint", "error"]
