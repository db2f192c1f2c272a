"""Telling a store that is down from a write the store refused.

The difference decides what happens next: while the database is unreachable (connection
refused or lost, timeouts, a server shutting down) a batch is kept and retried until it
can be written; a statement the database refused because of the data (a constraint, a
value too long for an index, invalid text) will fail again however often it is sent,
so the batch is split to find the bad rows; an operation the store does not implement
is not retried at all. The HTTP server uses the same verdict to answer 503 rather than
500.

Drivers are recognised by their exception classes, looked up by module and name so that
none of them has to be installed for this module to import.
"""

from __future__ import annotations

import socket
from typing import Literal

Verdict = Literal["unavailable", "data", "unsupported", "other"]

# (module prefix, class name) of driver exceptions meaning "the server can't be reached".
_UNAVAILABLE_CLASSES: frozenset[tuple[str, str]] = frozenset({
    ("psycopg", "OperationalError"),  # refused, terminated, admin shutdown, timeouts
    ("psycopg", "InterfaceError"),
    ("pymongo", "AutoReconnect"),
    ("pymongo", "ConnectionFailure"),
    ("pymongo", "ServerSelectionTimeoutError"),
    ("pymongo", "NetworkTimeout"),
    ("pymongo", "NotPrimaryError"),
    ("clickhouse_connect", "OperationalError"),
    ("pyodbc", "OperationalError"),
    ("httpx", "TransportError"),
    ("urllib3", "HTTPError"),
})
# Driver errors caused by what was sent.
_DATA_CLASSES: frozenset[tuple[str, str]] = frozenset({
    ("psycopg", "DataError"),
    ("psycopg", "IntegrityError"),
    ("psycopg", "ProgrammingError"),
    ("psycopg", "ProgramLimitExceeded"),
    ("psycopg", "NotSupportedError"),
    ("sqlite3", "DataError"),
    ("sqlite3", "IntegrityError"),
    ("sqlite3", "InterfaceError"),  # e.g. a value of a type sqlite can't bind
    ("pymongo", "DocumentTooLarge"),
    ("pymongo", "BulkWriteError"),
    ("pymongo", "WriteError"),
    ("bson", "InvalidDocument"),
    ("pyodbc", "DataError"),
    ("pyodbc", "IntegrityError"),
})
# SQLite reports a busy or unopenable file as OperationalError, like a malformed query;
# these messages mean the database can't be used right now.
_SQLITE_UNAVAILABLE = ("database is locked", "unable to open database", "disk i/o error",
                       "database table is locked")


def _classes(exc: BaseException) -> list[tuple[str, str]]:
    return [(c.__module__.split(".", 1)[0], c.__name__) for c in type(exc).__mro__]


def _driver_error(exc: BaseException) -> BaseException:
    """The DB-API error under a SQLAlchemy wrapper (``exc.orig``), else ``exc``."""
    orig = getattr(exc, "orig", None)
    return orig if isinstance(orig, BaseException) else exc


# SQLSTATE classes (PostgreSQL's, also what psycopg reports): the server is unreachable,
# shutting down or out of resources, versus a statement refused because of what it held.
_UNAVAILABLE_STATES = ("08", "53", "57P", "58")
_DATA_STATES = ("22", "23", "42", "54")


def _sqlstate(driver: BaseException) -> Verdict | None:
    state = getattr(driver, "sqlstate", None)
    if not isinstance(state, str) or len(state) != 5:
        return None
    if state.startswith(_UNAVAILABLE_STATES):
        return "unavailable"
    if state.startswith(_DATA_STATES):
        return "data"
    return None


def classify(exc: BaseException) -> Verdict:
    """What kind of failure ``exc`` is (see the module docstring)."""
    if isinstance(exc, NotImplementedError):
        return "unsupported"
    if getattr(exc, "connection_invalidated", False):
        return "unavailable"  # SQLAlchemy saw the connection die
    driver = _driver_error(exc)
    if isinstance(driver, (ConnectionError, TimeoutError, socket.timeout)):
        return "unavailable"
    state = _sqlstate(driver)
    if state is not None:
        return state
    # The most specific class decides: psycopg's ProgramLimitExceeded (an index entry too
    # large) is an OperationalError, like a refused connection, but it is about the data.
    for name in _classes(driver) + _classes(exc):
        if name in _DATA_CLASSES:
            return "data"
        if name in _UNAVAILABLE_CLASSES:
            return "unavailable"
    mod = type(driver).__module__.split(".", 1)[0]
    if mod == "sqlite3" and type(driver).__name__ == "OperationalError":
        message = str(driver).lower()
        return "unavailable" if any(m in message for m in _SQLITE_UNAVAILABLE) else "data"
    if isinstance(driver, (TypeError, ValueError, UnicodeError, OverflowError, RecursionError)):
        return "data"
    if isinstance(driver, OSError):
        return "unavailable"
    return "other"


__all__ = ["Verdict", "classify"]
