"""``mastra-storage studio URL`` (alias ``serve``): Mastra Studio's API and the viewer.

Serves the HTTP API that Mastra Studio, ``@mastra/client-js`` and ``mastra api`` read,
over any store URL, plus the built-in viewer at ``/``. Loopback and read-only by default;
``--token`` (or ``MASTRA_STORAGE_TOKEN``) requires a bearer token on every route and is
mandatory when binding anywhere else.
"""

from __future__ import annotations

import ipaddress
import os
from typing import Annotated

import typer
from rich.text import Text

from .render import EXIT_USAGE, CLIError, cli_errors, console, redact_url

ENV_TOKEN = "MASTRA_STORAGE_TOKEN"
ENV_URL = "MASTRA_STORAGE_URL"
DEFAULT_URL = "sqlite:///./mastra.db"


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
    token: Annotated[str | None, typer.Option(
        help=f"Require 'Authorization: Bearer TOKEN' on every route (or ${ENV_TOKEN}).")]
    = None,
    allow_writes: Annotated[bool, typer.Option(
        "--allow-writes", help="Allow deleting traces and recording scores/feedback.")]
    = False,
    allow_origin: Annotated[list[str] | None, typer.Option(
        "--allow-origin", help="A browser origin allowed to call the API (repeatable; "
                               "'*' for any). Default: localhost origins.")] = None,
) -> None:
    """Serve Mastra Studio's API and the built-in viewer over the store at URL."""
    out = console()
    store_url = url or os.environ.get(ENV_URL) or DEFAULT_URL
    with cli_errors(store_url):
        try:
            import uvicorn

            from ..server import ServerOptions, create_app
        except ImportError as exc:
            raise CLIError(f"the studio server needs the 'studio' extra ({exc.name} is "
                           "missing): pip install 'mastra-storage[studio]'", EXIT_USAGE) from None
        secret = token or os.environ.get(ENV_TOKEN) or None
        if not _loopback(host) and secret is None:
            raise CLIError(f"binding to {host} exposes your traces to the network: set a "
                           f"token with --token or ${ENV_TOKEN}", EXIT_USAGE)
        from .render import open_store_for_reading

        store = open_store_for_reading(store_url)
        store.init()  # an embedded file gets the tables this version reads (as the app would)
        options = ServerOptions(api_prefix=api_prefix, allow_writes=allow_writes,
                                token=secret, store_label=redact_url(store_url))
        if allow_origin:
            options.allow_origins = list(allow_origin)
        app = create_app(store, options)
        shown = "localhost" if _loopback(host) else host
        base = f"http://{shown}:{port}"
        prefix = "/" + api_prefix.strip("/") if api_prefix.strip("/") else ""
        out.print(Text.assemble(("mastra-storage studio", "bold"), " serving ",
                                redact_url(store_url)))
        out.print(f"  viewer      {base}/" + ("?token=…" if secret else ""))
        out.print(f"  API         {base}{prefix}")
        studio_cmd = f"MASTRA_TELEMETRY_DISABLED=1 npx mastra studio -s {port}"
        if host not in ("127.0.0.1", "localhost"):
            studio_cmd += f" -h {shown}"
        if prefix != "/api":
            studio_cmd += f" --server-api-prefix {prefix or '/'}"
        out.print(f"  Mastra Studio: {studio_cmd}   (then open http://localhost:3000)")
        out.print("  read-only" if not allow_writes else "  writes allowed",
                  "· token required" if secret else "· no token (loopback only)")
        try:
            uvicorn.run(app, host=host, port=port, log_level="warning")
        finally:
            store.close()


def register(app: typer.Typer) -> None:
    """Add this module's command(s) to the CLI."""
    app.command("studio")(studio)
    app.command("serve", help="Alias of 'studio'.")(studio)
