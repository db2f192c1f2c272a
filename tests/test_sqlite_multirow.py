"""SQLite writes many rows per statement: the same rows as ``executemany``, in the same
order, within the connection's limits, with a bounded number of statement forms."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

from mastra_storage.storage.sql.dialects.sqlite import _values
from mastra_storage.storage.sql.dialects.sqlite_multirow import MultiRowInsert, _split

UPSERT = ("INSERT INTO t (k, v, n) VALUES (?, ?, ?) "
          "ON CONFLICT (k) DO UPDATE SET v = excluded.v, n = t.n + excluded.n")


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    eng = sa.create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    with eng.begin() as conn:
        for name in ("t", "ref"):
            conn.exec_driver_sql(f"CREATE TABLE {name} (k TEXT PRIMARY KEY, v TEXT, n INTEGER)")
    return eng


def _rows(count: int, keys: int) -> list[tuple[str, str, int]]:
    # Keys repeat (count > keys): a later row meets an earlier one, possibly in the same
    # statement; the summed n shows each row was applied exactly once.
    return [(f"k{i % keys}", f"v{i}", i) for i in range(count)]


def _table(conn: sa.Connection, name: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in conn.exec_driver_sql(f"SELECT k, v, n FROM {name} ORDER BY k")]


@pytest.mark.parametrize("count", [1, 2, 3, 7, 8, 9, 17, 40])
def test_same_rows_as_executemany_in_order(engine: sa.Engine, count: int) -> None:
    many = MultiRowInsert(max_rows=8)
    rows = _rows(count, keys=5)
    with engine.begin() as conn:
        many.execute(conn, UPSERT, rows)
        conn.exec_driver_sql(UPSERT.replace("INTO t", "INTO ref").replace("t.n", "ref.n"),
                             rows)
        assert _table(conn, "t") == _table(conn, "ref")
        assert sum(int(str(n)) for *_, n in _table(conn, "t")) == sum(range(count))


def test_statements_stay_within_the_variable_limit(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        raw = conn.connection.dbapi_connection
        assert isinstance(raw, sqlite3.Connection)
        if not hasattr(raw, "setlimit"):  # Python < 3.11: the defaults apply
            pytest.skip("sqlite3.Connection.setlimit needs Python 3.11")
        raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 10)
        many = MultiRowInsert()
        assert many.rows_per_statement(conn, UPSERT, 3) == 3
        rows = _rows(50, keys=50)
        many.execute(conn, UPSERT, rows)
        assert len(_table(conn, "t")) == 50


def test_forms_are_bounded_whatever_the_batch_sizes(engine: sa.Engine) -> None:
    many = MultiRowInsert(max_rows=16)
    with engine.begin() as conn:
        for count in range(1, 60):
            many.execute(conn, UPSERT, _rows(count, keys=200))
    # 16 and the powers of two below it: 16, 8, 4, 2, 1.
    assert sorted(n for _, n in many._forms) == [1, 2, 4, 8, 16]


def test_a_failing_row_fails_its_statement(engine: sa.Engine) -> None:
    many = MultiRowInsert(max_rows=8)
    strict = "INSERT INTO s (k) VALUES (?)"
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE s (k TEXT PRIMARY KEY CHECK (k <> 'bad'))")
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        many.execute(conn, strict, [("a",), ("bad",), ("c",)])
    with engine.begin() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM s").scalar() == 0


def test_split_finds_the_values_group_with_nested_parentheses() -> None:
    sql = "INSERT INTO t (a, b) VALUES (?, coalesce(?, 'x')) ON CONFLICT (a) DO NOTHING"
    head, group, tail = _split(sql)
    assert group == "(?, coalesce(?, 'x'))"
    assert head + group + tail == sql


def test_all_null_columns_are_left_out_unless_they_have_a_default() -> None:
    table = sa.Table("x", sa.MetaData(), sa.Column("a", sa.Text), sa.Column("b", sa.Text),
                     sa.Column("c", sa.Text, server_default=sa.text("'d'")))
    values = _values([(table.c.a, False), (table.c.b, True), (table.c.c, True)])
    assert set(values) == {"a", "c"}  # b is left out: it is stored as NULL
    sql = str(sa.insert(table).values(values).compile(dialect=sa.dialects.sqlite.dialect()))
    assert "(a, c) VALUES (?, NULL)" in sql  # c keeps a literal NULL, not its default
