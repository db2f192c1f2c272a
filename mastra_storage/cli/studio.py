"""``mastra-storage studio URL`` (alias ``serve``): Mastra Studio's API and the viewer.

Serves the HTTP API that Mastra Studio, ``@mastra/client-js`` and ``mastra api`` read,
over any store URL (``--observability URL2`` routes the observability domain to a second
store, as a ``CompositeStore`` does), plus the built-in viewer at ``/``. Loopback and
read-only by default; ``--token`` (or ``MASTRA_STORAGE_TOKEN``) requires a bearer token
on every route and is mandatory when binding anywhere else.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Annotated, Any

import typer
from rich.text import Text

from ..storage.urls import DEFAULT_URL, ENV_URL
from .render import EXIT_USAGE, CLIError, cli_errors, console, redact_url

ENV_TOKEN = "MASTRA_STORAGE_TOKEN"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def studio(
    url: Annotated[str | None, typer.Argument(
        metavar="URL", help=f"Store URL (default: ${ENV_URL}, else {DEFAULT_URL}).")] = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 4111,
    api_prefix: Annotated[str, typer.Option(
        "--api-prefix", help="Prefix of the API routes (Studio's default is /api).")] = "/api",
    observability: Annotated[str | None, typer.Option(
        "--observability", metavar="URL2",
        help="Read observability from this store instead (a CompositeStore: URL keeps "
             "every other domain).")] = None,
    token: Annotated[str | None, typer.Option(
        help=f"Require 'Authorization: Bearer TOKEN' on every route (or ${ENV_TOKEN}).")]
    = None,
    allow_writes: Annotated[bool, typer.Option(
        "--allow-writes", help="Allow deleting traces and recording scores/feedback.")]
    = False,
    otlp: Annotated[bool, typer.Option(
        "--otlp", help="Also accept OpenTelemetry spans (OTLP/HTTP, protobuf or JSON) on "
                       "POST /v1/traces and store them.")] = False,
    otlp_only: Annotated[bool, typer.Option(
        "--otlp-only", help="Serve only the OTLP receiver (no API, no viewer).")] = False,
    allow_origin: Annotated[list[str] | None, typer.Option(
        "--allow-origin", help="A browser origin allowed to call the API (repeatable; "
                               "'*' for any). Default: localhost origins.")] = None,
) -> None:
    """Serve Mastra Studio's API and the built-in viewer over the store at URL."""
    out = console()
    store_url = url or os.environ.get(ENV_URL) or DEFAULT_URL
    shown_url = redact_url(store_url) + (f" + observability from {redact_url(observability)}"
                                         if observability else "")
    with cli_errors(store_url):
        try:
            import uvicorn

            from ..server import LOOPBACK_HOSTS, ServerOptions, create_app
        except ImportError as exc:
            raise CLIError(f"the studio server needs the 'studio' extra ({exc.name} is "
                           "missing): pip install 'mastra-storage[studio]'", EXIT_USAGE) from None
        secret = token or os.environ.get(ENV_TOKEN) or None
        local = _loopback(host)
        if not local and secret is None:
            raise CLIError(f"binding to {host} exposes your traces to the network: set a "
                           f"token with --token or ${ENV_TOKEN}", EXIT_USAGE)
        store = _open(store_url, observability)
        try:
            options = ServerOptions(api_prefix=api_prefix, allow_writes=allow_writes,
                                    token=secret, otlp=otlp or otlp_only, otlp_only=otlp_only,
                                    allowed_hosts=LOOPBACK_HOSTS if local else None)
            if allow_origin:
                options.allow_origins = list(allow_origin)
            app = create_app(store, options)
            base = f"http://{'localhost' if local else host}:{port}"
            prefix = "/" + api_prefix.strip("/") if api_prefix.strip("/") else ""
            out.print(Text.assemble(("mastra-storage studio", "bold"), " serving ", shown_url),
                      soft_wrap=True)
            out.print(f"  open        {base}/" + ("?token=…" if secret else ""), soft_wrap=True)
            out.print(f"  API         {base}{prefix}", soft_wrap=True)
            out.print(f"  Mastra Studio: {_studio_command(host, port, prefix, local)}   "
                      "(then open http://localhost:3000)", soft_wrap=True)
            if otlp or otlp_only:
                out.print(f"  OTLP in     {base}/v1/traces"
                          + ("   (only this route is served)" if otlp_only else ""),
                          soft_wrap=True)
            out.print("  read-only" if not allow_writes else "  writes allowed",
                      "· token required" if secret else "· no token (loopback only)")
            uvicorn.run(app, host=host, port=port, log_level="warning")
        finally:
            store.close()


def _studio_command(host: str, port: int, prefix: str, local: bool) -> str:
    """The one command that serves the real Studio against this server."""
    command = f"MASTRA_TELEMETRY_DISABLED=1 npx mastra studio -s {port}"
    if not local:
        command += f" -h {host}"
    if prefix != "/api":
        command += f" --server-api-prefix {prefix or '/'}"
    return command


def _open(url: str, observability: str | None) -> Any:
    """The store(s) to serve, initialised (an embedded file gets the tables this version
    reads, as the app would); a server store must have been migrated."""
    from ..storage import CompositeStore
    from .render import open_store_for_reading

    store = open_store_for_reading(url)
    try:
        store.init()
        if observability is None:
            return store
        routed = open_store_for_reading(observability)
        try:
            routed.init()
        except BaseException:
            routed.close()
            raise
        return CompositeStore(default=store, domains={"observability": routed})
    except BaseException:
        store.close()
        raise


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""
    app.command("studio")(studio)
    app.command("serve", help="Alias of 'studio'.")(studio)
