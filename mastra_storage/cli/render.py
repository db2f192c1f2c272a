"""Formatting and error plumbing shared by the ``mastra-storage`` commands.

Kept free of backend imports: every command must run on the base install.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.console import Console
from rich.text import Text

from ..errors import InvalidStoreURLError, MastraStorageError, MissingDriverError
from ..model.spans import SpanRecord
from ..model.time import format_iso

# Exit codes: 1 = the operation failed / nothing found, 2 = the command line is wrong
# (bad URL, missing driver extra, invalid option value) — the same code click uses.
EXIT_FAILURE = 1
EXIT_USAGE = 2

STATUS_STYLE = {"success": "green", "error": "bold red", "running": "yellow"}
STATUS_SYMBOL = {"success": "✓", "error": "✗", "running": "…"}
SQLITE_SCHEMES = ("sqlite", "file", "libsql")


class CLIError(Exception):
    """An expected failure: reported as one line on stderr, then exit with ``code``."""

    def __init__(self, message: str, code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.code = code


def console() -> Console:
    """stdout console; when not a terminal it is wide enough that ids are never cut."""
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return Console(highlight=False)
    return Console(highlight=False, width=200)


def err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = EXIT_FAILURE) -> NoReturn:
    err_console().print(Text.assemble(("error: ", "bold red"), message))
    raise typer.Exit(code)


def one_line(exc: BaseException, limit: int = 400) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[:limit] + "…"


@contextmanager
def cli_errors(url: str | None = None) -> Iterator[None]:
    """Turn the failures a user can cause into a one-line message and an exit code.

    ``MASTRA_STORAGE_DEBUG=1`` lets unexpected exceptions through with their traceback.
    """
    try:
        yield
    except typer.Exit:
        raise
    except CLIError as exc:
        fail(str(exc), exc.code)
    except (InvalidStoreURLError, MissingDriverError) as exc:
        fail(str(exc), EXIT_USAGE)
    except ImportError as exc:  # a backend module this install does not ship
        fail(f"backend not available in this install: {one_line(exc)}", EXIT_USAGE)
    except MastraStorageError as exc:
        fail(one_line(exc))
    except Exception as exc:
        if os.environ.get("MASTRA_STORAGE_DEBUG"):
            raise
        # SQLAlchemy wraps the driver's error and appends a link: show the driver's own.
        orig = getattr(exc, "orig", None)
        cause = orig if isinstance(orig, BaseException) else exc
        message = one_line(cause)
        if "no such table" in message or "does not exist" in message:
            shown = f" {redact_url(url)}" if url else " URL"
            message += f" (create the schema first: mastra-storage migrate{shown})"
        fail(f"{type(cause).__name__}: {message}")


def scheme_of(url: str) -> str:
    """The backend part of a store URL: ``postgresql+psycopg://`` → ``postgresql``."""
    if url.strip() == ":memory:":
        return "memory"
    head, sep, _ = url.strip().partition(":")
    if not sep:
        raise InvalidStoreURLError(
            f"not a store URL: {url!r}; expected e.g. sqlite:///./mastra.db, file:./mastra.db, "
            "postgresql://…, mssql+pyodbc://…, mongodb://…, clickhouse://…, chdb:///path")
    return head.lower().split("+", 1)[0]


def redact_url(url: str) -> str:
    """The URL with its password (if any) replaced by ``***``, for printing."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.rsplit("@", 1)
        user = netloc[0].split(":", 1)[0]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))
    except ValueError:
        return url


def open_store_for_reading(url: str) -> Any:
    """A store over existing data: never creates a SQLite file nor migrates anything."""
    from ..storage.urls import create_store, sqlite_path

    if scheme_of(url) in SQLITE_SCHEMES:
        path = sqlite_path(url.strip())
        if path != ":memory:" and not Path(path).is_file():
            raise CLIError(f"no SQLite database at {path} (from {url}); create one with "
                           "`mastra-storage demo` or `mastra-storage migrate URL`", EXIT_USAGE)
    return create_store(url, init=False)


# ---------------------------------------------------------------------------- values

def duration_ms(span: SpanRecord) -> float | None:
    if span.ended_at is None:
        return None
    return (span.ended_at - span.started_at).total_seconds() * 1000


def format_duration(span: SpanRecord) -> str:
    ms = duration_ms(span)
    if ms is None:
        return "running"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    return f"{ms / 60_000:.1f} min"


def format_time(value: datetime | None) -> str:
    if value is None:
        return "—"
    return format_iso(value).replace("T", " ")


def status_text(status: str, symbol: bool = False) -> Text:
    label = STATUS_SYMBOL.get(status, "?") if symbol else status
    return Text(label, style=STATUS_STYLE.get(status, ""))


def error_message(error: Any) -> str:
    """The readable part of a span's ``error`` column (ours or Mastra's shape)."""
    if isinstance(error, dict):
        message = error.get("message")
        name = error.get("name") or error.get("id")
        if message is None:
            message = json.dumps(error, default=str)
        return f"{name}: {message}" if name and str(name) not in str(message) else str(message)
    return str(error)


def preview(value: Any, limit: int = 100) -> str:
    """A one-line JSON preview of a payload, truncated to ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, default=str,
                                                           ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def record_json(span: SpanRecord) -> dict[str, Any]:
    """Mastra's camelCase record with ISO timestamps, plus status and durationMs."""
    out: dict[str, Any] = {}
    for key, value in span.to_dict().items():
        out[key] = format_iso(value) if isinstance(value, datetime) else value
    out["status"] = span.status
    out["durationMs"] = duration_ms(span)
    return out


def echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))
