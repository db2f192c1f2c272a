"""Formatting and error plumbing shared by the ``mastra-storage`` commands.

Kept free of backend imports: every command must run on the base install.

Conventions every command follows:

* the store URL is an optional argument: ``$MASTRA_STORAGE_URL``, else
  ``sqlite:///./mastra.db``; a PostgreSQL/MSSQL schema is ``--schema`` or ``?schema=``;
* an expected failure is one ``error:`` line on stderr (plus a ``hint:`` line when
  there is a fix to suggest) and exit code 1, or 2 for a wrong command line;
* output that is not a terminal carries no trailing spaces and no colours.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from ..errors import InvalidStoreURLError, MastraStorageError, MissingDriverError
from ..model.spans import SpanRecord
from ..model.time import format_iso
from ..storage.urls import DEFAULT_URL, ENV_URL, default_url, split_schema, with_schema

# Exit codes: 1 = the operation failed / nothing found, 2 = the command line is wrong
# (bad URL, missing driver extra, invalid option value) — the same code click uses.
EXIT_FAILURE = 1
EXIT_USAGE = 2

STATUS_STYLE = {"success": "green", "error": "bold red", "running": "yellow"}
STATUS_SYMBOL = {"success": "✓", "error": "✗", "running": "…"}
SQLITE_SCHEMES = ("sqlite", "file", "libsql")
SCHEMA_SCHEMES = ("postgresql", "postgres", "mssql")
SHORT_ID = 12  # hex digits of a trace id shown in tables (like git's short hashes)
SHORT_SPAN_ID = 8
# Connect timeout of the CLI's store connections (seconds): a dead server is reported
# quickly instead of after the driver's default (30 s for MongoDB).
CONNECT_TIMEOUT_ENV = "MASTRA_STORAGE_CONNECT_TIMEOUT"
DEFAULT_CONNECT_TIMEOUT = 3.0

UrlArg = Annotated[str | None, typer.Argument(
    metavar="URL", show_default=False,
    help=f"Store URL (default: ${ENV_URL}, else {DEFAULT_URL}).")]
SchemaOpt = Annotated[str | None, typer.Option(
    "--schema", help="PostgreSQL/MSSQL schema (the same as ?schema=NAME in the URL).")]


class CLIError(Exception):
    """An expected failure: reported as an ``error:`` line on stderr, then exit ``code``."""

    def __init__(self, message: str, code: int = EXIT_FAILURE, hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.hint = hint


# ---------------------------------------------------------------------------- consoles

class CleanConsole(Console):
    """A console that, when not writing to a terminal, strips the spaces rich pads lines
    with (piped output is compared, grepped and diffed)."""

    def _render_buffer(self, buffer: Any) -> str:
        text = super()._render_buffer(buffer)
        if not self.is_terminal:
            text = re.sub(r"[ \t]+(?=\n|$)", "", text)
        return text


def console() -> Console:
    """stdout console; when not a terminal (and no COLUMNS) it is wide enough that
    nothing is cut."""
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return CleanConsole(highlight=False)
    return CleanConsole(highlight=False, width=200)


def err_console() -> Console:
    return CleanConsole(stderr=True, highlight=False, soft_wrap=True)


def progress(label: str, total: float | None = None, *, transient: bool = False) -> Progress:
    """A progress bar on stderr (stdout stays clean for the command's output); drawn only
    on a terminal."""
    columns: list[Any] = [SpinnerColumn(), TextColumn(f"[bold]{label}")]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn()]
    columns.append(TimeElapsedColumn())
    err = err_console()
    return Progress(*columns, console=err, transient=transient, disable=not err.is_terminal)


def fail(message: str, code: int = EXIT_FAILURE, hint: str | None = None) -> NoReturn:
    out = err_console()
    out.print(Text.assemble(("error: ", "bold red"), message))
    if hint:
        out.print(Text.assemble(("hint: ", "bold"), hint))
    raise typer.Exit(code)


def one_line(exc: BaseException, limit: int = 400) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[:limit] + "…"


def quiet_loggers(*names: str, level: int = logging.CRITICAL) -> Callable[[], None]:
    """Raise the level of some loggers; returns the function that puts them back."""
    saved = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(level)

    def restore() -> None:
        for name, old in saved.items():
            logging.getLogger(name).setLevel(old)

    return restore


def quiet_drivers() -> Callable[[], None]:
    """Driver loggers that print to stderr on their own (clickhouse-connect logs every
    failed HTTP request) are silenced while a command runs: the CLI reports the failure
    once, itself. Returns the function that restores them."""
    if os.environ.get("MASTRA_STORAGE_DEBUG"):
        return lambda: None
    return quiet_loggers("clickhouse_connect", "pymongo", "urllib3")


class ErrorContext:
    """What a hint may refer to: the URL being worked on (set it once resolved) and the
    running command (so a hint never suggests running it again)."""

    def __init__(self, url: str | None, command: str) -> None:
        self.url = url
        self.command = command


@contextmanager
def cli_errors(url: str | None = None, command: str = "") -> Iterator[ErrorContext]:
    """Turn the failures a user can cause into an ``error:`` line (+ hint) and an exit code.

    ``MASTRA_STORAGE_DEBUG=1`` lets unexpected exceptions through with their traceback.
    """
    from .hints import explain

    ctx = ErrorContext(url, command)
    try:
        yield ctx
    except typer.Exit:
        raise
    except CLIError as exc:
        fail(str(exc), exc.code, exc.hint)
    except (InvalidStoreURLError, MissingDriverError) as exc:
        fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    except ImportError as exc:  # a backend module this install does not ship
        fail(f"backend not available in this install: {one_line(exc)}", EXIT_USAGE)
    except Exception as exc:
        if os.environ.get("MASTRA_STORAGE_DEBUG") and not isinstance(exc, MastraStorageError):
            raise
        message, hint = explain(exc, ctx.url, ctx.command)
        fail(message, EXIT_FAILURE, hint)


# ---------------------------------------------------------------------------- URLs

def resolve_url(url: str | None, schema: str | None = None) -> str:
    """The URL a command works on: the argument, else ``$MASTRA_STORAGE_URL``, else the
    default; ``--schema`` folded into it as ``?schema=`` (checked against one already
    there)."""
    chosen = (url or "").strip() or default_url()
    if schema is None:
        return chosen
    if not schema.strip():
        raise CLIError("--schema must not be empty", EXIT_USAGE)
    scheme = scheme_of(chosen)
    if scheme not in SCHEMA_SCHEMES:
        raise CLIError(f"--schema applies to PostgreSQL and MSSQL URLs, not {scheme}:",
                       EXIT_USAGE)
    _, in_url = split_schema(chosen)
    if in_url is not None and in_url != schema:
        raise CLIError(f"the URL names schema {in_url!r} and --schema {schema!r}: name it once",
                       EXIT_USAGE)
    return with_schema(chosen, schema.strip())


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


def connect_timeout() -> float:
    raw = os.environ.get(CONNECT_TIMEOUT_ENV)
    try:
        value = float(raw) if raw else DEFAULT_CONNECT_TIMEOUT
    except ValueError:
        raise CLIError(f"${CONNECT_TIMEOUT_ENV} must be a number of seconds, got {raw!r}",
                       EXIT_USAGE) from None
    return max(0.5, value)


def timeout_options(url: str) -> dict[str, Any]:
    """Store options that bound how long connecting to a dead server takes (the URL's own
    settings win)."""
    scheme = scheme_of(url)
    seconds = connect_timeout()
    query = urlsplit(url).query.lower()
    if scheme in ("postgresql", "postgres"):
        if "connect_timeout" in query:
            return {}
        return {"engine_options": {"connect_args": {"connect_timeout": max(1, round(seconds))}}}
    if scheme == "mongodb":
        opts: dict[str, Any] = {}
        if "serverselectiontimeoutms" not in query:
            opts["serverSelectionTimeoutMS"] = int(seconds * 1000)
        if "connecttimeoutms" not in query:
            opts["connectTimeoutMS"] = int(seconds * 1000)
        return opts
    if scheme in ("clickhouse", "clickhouses"):
        try:
            from ..storage.clickhouse.config import parse_url
        except ImportError:
            return {}
        spec = parse_url(url)
        client = dict(spec.client_options)
        client.setdefault("connect_timeout", max(1, round(seconds)))
        return {"client_options": client}
    return {}


def open_store(url: str, *, init: bool = False, **options: Any) -> Any:
    """A store for a CLI command, with short connect timeouts.

    With ``init=False`` it never creates a SQLite file nor migrates anything; an embedded
    database that isn't there is reported with how to create it.
    """
    from ..storage.urls import create_store, sqlite_path

    scheme = scheme_of(url)
    if scheme in SQLITE_SCHEMES and not init:
        path = sqlite_path(url.strip())
        if path != ":memory:" and not Path(path).exists():
            raise CLIError(f"no SQLite database at {Path(path).absolute()} (from {url})",
                           EXIT_USAGE, hint="create one with `mastra-storage demo` or "
                                            "`mastra-storage migrate URL`, or check the path")
    if scheme == "chdb" and not init:
        _check_chdb_dir(url)
    store = create_store(url, init=False, **{**timeout_options(url), **options})
    if scheme == "chdb":
        _open_chdb(store, url)
    if init:
        store.init()
    return store


def open_store_for_reading(url: str) -> Any:
    """A store over existing data (kept for the commands of other modules)."""
    return open_store(url)


def _check_chdb_dir(url: str) -> None:
    try:
        from ..storage.clickhouse.config import parse_url
    except ImportError:
        return
    spec = parse_url(url)
    if spec.path and spec.path != ":memory:" and not Path(spec.path).is_dir():
        raise CLIError(f"no chdb data directory at {Path(spec.path).absolute()} (from {url})",
                       EXIT_USAGE, hint="check the path; `mastra-storage migrate URL` creates "
                                        "an empty one")


CHDB_LOCKED_HINT = (
    "chdb (the embedded ClickHouse) lets one process use a data directory at a time, so "
    "it can't be read while your app has it open. Read it through the app (e.g. serve "
    "`mastra-storage studio` or your own API from inside it), stop the app first, or "
    "run a ClickHouse server (clickhouse://…) that any number of processes can share")


def _open_chdb(store: Any, url: str) -> None:
    """Start the embedded engine now, with its own stderr chatter captured: a directory
    held by another process is reported as such (with the alternatives)."""
    import tempfile

    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = os.dup(2)
        try:
            sys.stderr.flush()
            os.dup2(sink.fileno(), 2)
            try:
                _ = store.client
                error: BaseException | None = None
            except Exception as exc:
                error = exc
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        if error is None:
            return
        sink.seek(0)
        chatter = sink.read().decode("utf-8", "replace")
    text = f"{chatter} {error}"
    if "Cannot lock file" in text or "already running" in text:
        spec = getattr(store, "spec", None)
        where = getattr(spec, "path", None) or url
        raise CLIError(f"the chdb directory {where} is in use by another process",
                       EXIT_FAILURE, hint=CHDB_LOCKED_HINT) from error
    raise error


# ---------------------------------------------------------------------------- values

def short_id(value: str | None, length: int = SHORT_ID) -> str:
    if not value:
        return "—"
    return value[:length]


def duration_ms(span: Any) -> float | None:
    if span.ended_at is None:
        return None
    return float((span.ended_at - span.started_at).total_seconds() * 1000)


def format_ms(ms: float | None) -> str:
    if ms is None:
        return "running"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.2f} s"
    return f"{ms / 60_000:.1f} min"


def format_duration(span: Any) -> str:
    return format_ms(duration_ms(span))


def format_time(value: datetime | None, ms: bool = True) -> str:
    if value is None:
        return "—"
    text = format_iso(value).replace("T", " ")
    return text if ms else text[:19]


def format_bytes(value: int | None) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"  # pragma: no cover - unreachable


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
