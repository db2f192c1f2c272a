"""The verdict on a failed write, from real driver errors: unreachable (keep and retry)
versus refused because of the data (split the batch, drop the bad row)."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mastra_storage.storage.failures import classify


def raised(fn: Any) -> BaseException:
    try:
        fn()
    except Exception as exc:
        return exc
    raise AssertionError("expected an error")


@pytest.fixture
def pg_engine(pg: Any) -> Any:
    engine = sa.create_engine(pg.url.replace("postgresql://", "postgresql+psycopg://", 1))
    yield engine
    engine.dispose()


def _run(engine: sa.Engine, *statements: str) -> None:
    with engine.begin() as conn:
        for sql in statements:
            conn.exec_driver_sql(sql)


@pytest.mark.parametrize("statements", [
    # an index entry over 2,704 bytes: psycopg's ProgramLimitExceeded, an OperationalError
    ("CREATE TEMP TABLE t (v text)", "CREATE INDEX ON t (v)",
     "INSERT INTO t SELECT string_agg(md5(i::text), '') FROM generate_series(1, 200) i"),
    ("CREATE TEMP TABLE t (v int PRIMARY KEY)", "INSERT INTO t VALUES (1), (1)"),
    ("CREATE TEMP TABLE t (v text)", "INSERT INTO t VALUES (E'a\\\\x00b'::bytea::text::int)"),
    ("SELECT 'x'::jsonb",),
])
def test_postgres_refusals_are_data_errors(pg_engine: Any, statements: tuple[str, ...]) -> None:
    exc = raised(lambda: _run(pg_engine, *statements))
    assert classify(exc) == "data", repr(exc)


def test_postgres_unreachable_is_unavailable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    engine = sa.create_engine(f"postgresql+psycopg://u@127.0.0.1:{port}/db",
                              connect_args={"connect_timeout": 3})
    exc = raised(lambda: engine.connect().close())
    assert classify(exc) == "unavailable", repr(exc)


def test_postgres_terminated_session_is_unavailable(pg_engine: Any) -> None:
    with pg_engine.connect() as victim:
        pid = victim.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        _run(pg_engine, f"SELECT pg_terminate_backend({int(pid)})")
        exc = raised(lambda: victim.exec_driver_sql("SELECT 1").all())
    assert classify(exc) == "unavailable", repr(exc)


def test_sqlite_verdicts(tmp_path: Path) -> None:
    path = tmp_path / "v.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (v INTEGER PRIMARY KEY)")
    conn.execute("INSERT INTO t VALUES (1)")
    conn.commit()
    assert classify(raised(lambda: conn.execute("INSERT INTO t VALUES (1)"))) == "data"
    conn.rollback()  # the failed INSERT opened a transaction
    holder = sqlite3.connect(path, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(path, timeout=0)
    assert classify(raised(lambda: other.execute("INSERT INTO t VALUES (2)"))) == "unavailable"
    holder.rollback()
    for c in (holder, other, conn):
        c.close()
    missing = tmp_path / "no" / "such" / "dir.db"
    assert classify(raised(lambda: sqlite3.connect(missing))) == "unavailable"
