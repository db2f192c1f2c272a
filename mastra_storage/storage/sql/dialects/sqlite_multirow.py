"""Many rows per SQLite statement: ``INSERT … VALUES (…), (…), …`` instead of ``executemany``.

Python's ``sqlite3`` releases the GIL around each ``sqlite3_step``, and ``executemany``
steps once per row. When the app's thread is busy (tracing while the writer writes), every
row's step hands the GIL to the app and the writer waits to get it back before binding the
next row: a 1,000-row batch that takes 40 ms alone took 170 ms while the app emitted, and
the writer made almost no progress until the app was done (docs/bench.md, *Write path*).
One statement holding many rows binds them all in one go and steps once, so SQLite's own
work on the batch (b-trees, indexes) runs while the app holds the GIL.

A statement's rows are bounded by the connection's ``SQLITE_LIMIT_VARIABLE_NUMBER`` and
``SQLITE_LIMIT_SQL_LENGTH`` and by :data:`MAX_ROWS`. A batch is cut into statements of
that many rows and a remainder written as pieces of power-of-two sizes, so one statement
text (a table and NULL pattern) has at most 1 + log2(MAX_ROWS) multi-row forms whatever
the batch sizes: ``sqlite3`` keeps each prepared, with the values last bound to it, and a
1,000-row form of the span table takes ~5 MB (docs/bench.md measures the whole: +12 MiB
for a writer given batches of every size). The handoff is the reason for a large
statement: two statements per batch instead of one lost most of the gain.

Rows are applied in order, as ``executemany`` applies them: a key repeated within a
statement meets its earlier row through the conflict clause. A failing row fails its
statement, as it fails an ``executemany``; the caller's transaction is rolled back either
way.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from itertools import chain
from typing import Any

import sqlalchemy as sa

# Rows per statement at most: the default batch (``max_batch_size``) and the store's write
# chunk, so that a full batch is one statement.
MAX_ROWS = 1000
# SQLite's compile-time defaults, for a driver that can't say (Python < 3.11).
DEFAULT_VARIABLES = 999
DEFAULT_SQL_LENGTH = 1_000_000
_VALUES = " VALUES ("


def _limits(conn: sa.Connection) -> tuple[int, int]:
    """The connection's (bound parameters, SQL bytes) per statement."""
    raw = conn.connection.dbapi_connection
    getlimit = getattr(raw, "getlimit", None)
    if getlimit is None:
        return DEFAULT_VARIABLES, DEFAULT_SQL_LENGTH
    return (int(getlimit(getattr(sqlite3, "SQLITE_LIMIT_VARIABLE_NUMBER", 9))),
            int(getlimit(getattr(sqlite3, "SQLITE_LIMIT_SQL_LENGTH", 1))))


def _split(sql: str) -> tuple[str, str, str]:
    """``sql`` (one row's ``INSERT … VALUES (…) …``) as (head, the row's group, tail)."""
    start = sql.index(_VALUES) + len(_VALUES) - 1
    depth = 0
    for end in range(start, len(sql)):
        ch = sql[end]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return sql[:start], sql[start:end + 1], sql[end + 1:]
    raise ValueError("an INSERT without a closed VALUES group")


class MultiRowInsert:
    """The multi-row forms of single-row ``INSERT`` statements, made once and kept."""

    def __init__(self, max_rows: int = MAX_ROWS) -> None:
        self.max_rows = max_rows
        self._forms: dict[tuple[str, int], str] = {}
        self._limits: tuple[int, int] | None = None

    def rows_per_statement(self, conn: sa.Connection, sql: str, width: int) -> int:
        if self._limits is None:
            self._limits = _limits(conn)
        variables, length = self._limits
        group = len(_split(sql)[1]) + 2  # ", (…)"
        return max(1, min(self.max_rows, variables // max(width, 1),
                          (length - len(sql)) // group))

    def _form(self, sql: str, rows: int) -> str:
        form = self._forms.get((sql, rows))
        if form is None:
            head, group, tail = _split(sql)
            form = self._forms[(sql, rows)] = head + ", ".join([group] * rows) + tail
        return form

    def execute(self, conn: sa.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """``sql`` (one row's ``INSERT … VALUES (?, …) …``) for every row of ``rows``."""
        if not rows:
            return
        width = len(rows[0])
        if width == 0 or self.max_rows <= 1:
            conn.exec_driver_sql(sql, list(rows))
            return
        per = self.rows_per_statement(conn, sql, width)
        start, total = 0, len(rows)
        while start < total:
            left = total - start
            n = per if left >= per else 1 << (left.bit_length() - 1)
            conn.exec_driver_sql(self._form(sql, n),
                                 tuple(chain.from_iterable(rows[start:start + n])))
            start += n
