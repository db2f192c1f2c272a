"""What went wrong, in one line, and what to do about it: each kind of connection or
schema failure gets its own hint (never "run the command that just failed").

Drivers are recognised by the text and class names of their errors, so none of them has
to be installed for this module to import.
"""

from __future__ import annotations

import re
import shlex
from urllib.parse import unquote, urlsplit

from ..errors import MastraStorageError
from .render import connect_timeout, one_line, redact_url, scheme_of

LABELS = {"postgresql": "PostgreSQL", "postgres": "PostgreSQL", "mssql": "SQL Server",
          "mongodb": "MongoDB", "clickhouse": "ClickHouse", "clickhouses": "ClickHouse",
          "chdb": "chdb", "sqlite": "SQLite", "file": "libSQL", "libsql": "libSQL"}


def _driver_error(exc: BaseException) -> BaseException:
    orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's error
    return orig if isinstance(orig, BaseException) else exc


def _where(url: str | None) -> tuple[str, str, str, str]:
    """(label, host:port, user, database) of a server URL (blanks when unknown)."""
    if not url:
        return "the store", "", "", ""
    try:
        scheme = scheme_of(url)
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "the store", "", "", ""
    hostport = f"{host}:{port}" if host and port else host
    user = unquote(parts.username) if parts.username else ""
    database = unquote(parts.path.lstrip("/")) if parts.path else ""
    return LABELS.get(scheme, scheme), hostport, user, database


def _migrate_cmd(url: str | None) -> str:
    shown = shlex.quote(redact_url(url)) if url else "URL"
    return f"mastra-storage migrate {shown}"


def _message(exc: BaseException) -> str:
    text = one_line(exc, 2000)
    # pymongo appends its whole topology description; the reason is the first part.
    text = re.split(r", Timeout: |\(configured timeouts", text)[0].rstrip(" ,")
    # SQLAlchemy appends a link to its docs; PostgreSQL quotes the statement.
    text = re.sub(r"\s*\(Background on this error at: [^)]*\)", "", text)
    text = re.split(r" LINE \d+: ", text)[0]
    return text


def explain(exc: BaseException, url: str | None, command: str = "") -> tuple[str, str | None]:
    """(the error line, a hint or None) for a failure of a command on ``url``."""
    cause = _driver_error(exc)
    text = _message(cause)
    low = text.lower()
    label, hostport, user, database = _where(url)
    at = f" at {hostport}" if hostport else ""
    migrating = command == "migrate"

    # ---------------------------------------------------------------- our own errors
    if isinstance(exc, MastraStorageError):
        return one_line(exc, 1000), None  # our messages name the fix themselves

    # ---------------------------------------------------------------- connections
    missing_db = re.search(r'database "([^"]+)" does not exist', text)
    if missing_db:
        name = missing_db.group(1)
        host, _, port = hostport.partition(":")
        createdb = " ".join(["createdb", *(["-h", host] if host else []),
                             *(["-p", port] if port else []), *(["-U", user] if user else []),
                             shlex.quote(name)])
        then = ("then run this command again" if migrating
                else f"then create the tables: {_migrate_cmd(url)}")
        return (f"{label}{at}: the database {name!r} does not exist",
                f"create it ({createdb}, or CREATE DATABASE {name}; in psql), {then}")
    if re.search(r'role "([^"]+)" does not exist', text):
        role = re.search(r'role "([^"]+)" does not exist', text)
        name = role.group(1) if role else user
        return (f"{label}{at}: there is no user (role) {name!r}",
                "fix the user name in the URL, or create it: "
                f"CREATE ROLE {name} LOGIN PASSWORD '…';")
    if "password authentication failed" in low or "authentication failed" in low or (
            "code: 516" in low) or "login failed" in low:
        return (f"{label}{at}: authentication failed for user {user or '(default)'!r}",
                "check the user name and password in the URL (special characters in the "
                "password must be %-encoded)" + (
                    "; MongoDB users defined in another database need ?authSource=NAME"
                    if label == "MongoDB" else ""))
    if "no password supplied" in low or "fe_sendauth" in low:
        return (f"{label}{at}: the server asks for a password and none was given",
                "add it to the URL (scheme://user:PASSWORD@host/db) or set PGPASSWORD")
    if any(s in low for s in ("name or service not known", "failed to resolve host",
                              "could not translate host name", "nodename nor servname",
                              "temporary failure in name resolution", "getaddrinfo failed")):
        host = hostport.split(":")[0] or "the host"
        return (f"{label}: unknown host {host!r}", "check the host name in the URL")
    if any(s in low for s in ("connection refused", "errno 111", "actively refused",
                              "failed to establish a new connection")):
        return (f"cannot reach {label}{at}: connection refused",
                "is the server running, and listening on that host and port?")
    if type(cause).__name__ in ("ServerSelectionTimeoutError", "ConnectTimeout",
                                "ConnectTimeoutError") or any(
            s in low for s in ("timeout expired", "timed out", "connection timeout")):
        return (f"cannot reach {label}{at}: no answer within {connect_timeout():g} s ({text})",
                "check the host, the port and any firewall in between; "
                "MASTRA_STORAGE_CONNECT_TIMEOUT=SECONDS waits longer")
    if "ssl" in low and ("required" in low or "handshake" in low or "certificate" in low):
        return (f"{label}{at}: TLS problem: {text}",
                "check sslmode= (PostgreSQL), tls= (MongoDB) or the clickhouses:// scheme")

    # ---------------------------------------------------------------- schema
    if "permission denied" in low:
        return (f"{label}{at}: {text}",
                f"the user {user or '(from the URL)'!r} lacks a privilege: ask the "
                "database owner to GRANT it (for the DDL: mastra-storage migrate URL --sql)")
    missing_table = ("no such table" in low or "unknown table" in low or "code: 60" in low
                     or re.search(r'relation "[^"]*" does not exist', low) is not None
                     or "invalid object name" in low)
    if missing_table or re.search(r'schema "[^"]+" does not exist', low):
        if migrating:
            return f"{label}{at}: {text}", None
        return (f"{label}{at}: the mastra-storage tables are not there ({text})",
                f"create them with: {_migrate_cmd(url)}" + (
                    "  (or check the schema: --schema NAME / ?schema=NAME)"
                    if label in ("PostgreSQL", "SQL Server") else ""))
    if "unknown database" in low or "code: 81" in low:
        return (f"{label}{at}: the database {database or ''!r} does not exist",
                f"create it (CREATE DATABASE {database or 'name'}) or fix the URL's path"
                + ("" if migrating else f"; then {_migrate_cmd(url)}"))

    # ---------------------------------------------------------------- SQLite files
    if "database is locked" in low:
        return (f"{label}: the database is locked by another process ({text})",
                "a long write is in progress elsewhere; try again in a moment")
    if "file is not a database" in low or "unable to open database file" in low or (
            "readonly database" in low):
        return f"{label} {redact_url(url or '')}: {text}", "check the path and its permissions"

    return f"{type(cause).__name__}: {text}", None


def describe(exc: BaseException, url: str | None, command: str = "") -> str:
    """The error line and hint as one string (for summaries)."""
    message, hint = explain(exc, url, command)
    return message if hint is None else f"{message} ({hint})"

