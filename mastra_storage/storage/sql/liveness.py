"""Checking that a pooled server connection is alive before use, unless it just was.

SQLAlchemy's ``pool_pre_ping`` pings on every checkout, so every batch the exporter
writes pays one more round trip before its first statement. A round trip costs the
writer more than its latency: the writer gives up the GIL while it waits and then waits
for the app's thread to hand it back, up to the interpreter's switch interval (5 ms) when
the app is busy emitting. The first batch of the bench's PostgreSQL pipeline spent 11 ms
in that ping.

:func:`ping_unless_recent` keeps the check for connections that sat in the pool, and
skips it for one returned less than ``window`` seconds ago: its server answered then. The
trade-off, for a server that goes away inside that window: the connection's first
statement fails instead of being replaced beforehand. SQLAlchemy then sees the
disconnect and invalidates the whole pool, the exporter retries the batch as it retries
any outage, and a read fails once.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

RECENT_SECONDS = 0.5
_RETURNED_AT = "mastra_storage_returned_at"


def _monotonic() -> float:
    """The clock of the window (the tests replace it)."""
    return time.monotonic()


def ping_unless_recent(engine: sa.Engine, window: float = RECENT_SECONDS) -> None:
    """Ping a connection at checkout unless it was checked in (or opened) less than
    ``window`` seconds ago. For an engine made with ``pool_pre_ping=False``; a dead
    connection found by the ping is replaced, as ``pool_pre_ping`` replaces it."""
    dialect = engine.dialect

    def fresh(_dbapi_conn: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = _monotonic()

    def check(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get(_RETURNED_AT)
        if returned is not None and _monotonic() - returned < window:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_conn, None):
                # The pool discards this connection and checks out a new one.
                raise sa.exc.DisconnectionError(str(exc)) from exc
            raise

    sa.event.listen(engine, "connect", fresh)
    sa.event.listen(engine, "checkin", fresh)
    sa.event.listen(engine, "checkout", check)
