"""The raw-driver baseline: the run's finished rows written through each driver's bulk path.

One small function per backend, keyed by URL scheme. Each gets the *finished* span
records (the ``span_ended`` snapshots of the same workload) and, inside its timed region,
encodes them exactly as the store would store them (``json.dumps`` for the JSON columns,
ISO ``…Z`` text or driver datetimes for timestamps, createdAt/updatedAt filled) and writes
them in 1,000-row transactions into a fresh table or database with the store's schema,
then counts them back. What it skips, by design, is what the library adds on top: the
event buffer, coalescing starts/updates/ends, upsert semantics (the baseline uses plain
INSERT/COPY/insert_many into an empty table), NUL and size checks on JSON.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from operator import attrgetter
from pathlib import Path
from typing import Any

from ..model.spans import COLUMN_BY_NAME, COLUMNS, TABLE_SPANS, SpanRecord
from ..model.time import utc_now
from .measure import Clock, rates

CHUNK = 1000
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_values = attrgetter(*(c.attr for c in COLUMNS))
_INDEX = {c.name: i for i, c in enumerate(COLUMNS)}
_JSON_IDX = tuple(i for i, c in enumerate(COLUMNS) if c.kind == "json")
_TS_IDX = tuple(i for i, c in enumerate(COLUMNS) if c.kind == "timestamp")
_BOOL_IDX = _INDEX["isEvent"]
_CREATED_IDX = _INDEX["createdAt"]
_UPDATED_IDX = _INDEX["updatedAt"]


class BaselineUnavailable(Exception):
    """The baseline cannot run here; the message says why."""


@dataclass
class BaselineInput:
    url: str
    scheme: str
    records: Sequence[SpanRecord]  # finished rows, one per span
    scratch: Path  # a private directory, on the store's filesystem for file databases
    store: Any  # the store of the measured run (schema, handles)


def iso_z(value: datetime) -> str:
    """``2026-11-22T02:09:00.093Z`` for an aware UTC datetime."""
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"


def encode_row(record: SpanRecord, now: datetime,
               timestamp: Callable[[datetime], Any] = iso_z) -> list[Any]:
    """A row in COLUMNS order: JSON text, ``timestamp(value)`` timestamps, 0/1 isEvent.

    The default (ISO ``…Z`` text) is how the SQLite store stores a row."""
    row = list(_values(record))
    for i in _JSON_IDX:
        if row[i] is not None:
            row[i] = _dumps(row[i])
    row[_CREATED_IDX] = row[_CREATED_IDX] or now
    row[_UPDATED_IDX] = row[_UPDATED_IDX] or now
    for i in _TS_IDX:
        if row[i] is not None:
            row[i] = timestamp(row[i])
    row[_BOOL_IDX] = 1 if row[_BOOL_IDX] else 0
    return row


def encode_text_row(record: SpanRecord, now: datetime) -> list[Any]:
    return encode_row(record, now)


def _result(method: str, spans: int, clock: Clock, rows: int,
            statements: dict[str, int]) -> dict[str, Any]:
    wall, cpu = clock.elapsed()
    return {"available": True, "method": method, "encoding_included": True,
            **rates(spans, wall, cpu), "rows_verified": rows, "statements": statements}


def _chunks(records: Sequence[SpanRecord]) -> list[Sequence[SpanRecord]]:
    return [records[i:i + CHUNK] for i in range(0, len(records), CHUNK)]


# ---------------------------------------------------------------------------- SQLite / libSQL

def sqlite_baseline(inp: BaselineInput) -> dict[str, Any]:
    """``executemany`` of plain INSERTs, one transaction per 1,000 rows, same driver/pragmas."""
    from ..storage.sql.sqlite import SQLiteStore

    source = inp.store
    memory = getattr(source, "path", "") in (":memory:", "")
    driver = getattr(source, "driver", "sqlite")
    path = ":memory:" if memory else str(inp.scratch / "baseline.db")
    fresh = SQLiteStore(path, driver=driver)  # same schema and indexes, via the migration
    fresh.init()
    raw = fresh.engine.raw_connection()
    try:
        conn = raw.driver_connection
        assert conn is not None
        raw_checkpoints(conn)
        names = ", ".join(f'"{c.name}"' for c in COLUMNS)
        marks = ", ".join("?" for _ in COLUMNS)
        sql = f"INSERT INTO {TABLE_SPANS} ({names}) VALUES ({marks})"
        statements = {"executemany": 0, "commits": 0}
        clock = Clock()
        now = utc_now()
        for chunk in _chunks(inp.records):
            rows = [encode_text_row(r, now) for r in chunk]
            cur = conn.cursor()
            cur.executemany(sql, rows)
            conn.commit()
            statements["executemany"] += 1
            statements["commits"] += 1
        cur = conn.cursor()
        cur.execute(f"SELECT count(*) FROM {TABLE_SPANS}")
        count = int(cur.fetchone()[0])
        return _result(f"{driver} executemany(INSERT), {CHUNK}-row transactions",
                       len(inp.records), clock, count, statements)
    finally:
        raw.close()
        fresh.close()


def raw_checkpoints(conn: Any) -> None:
    """Checkpoint as SQLite does by default: in the commit that grows the log past 1,000
    pages. The store's connections leave that to a thread of their own (see
    :mod:`..storage.sql.sqlite_checkpoint`) and checkpoint in a commit only past 64 MiB;
    a raw writer with that setting and no such thread would write this run's rows without
    ever checkpointing, and leave the work to whoever comes next."""
    conn.execute("PRAGMA wal_autocheckpoint = 1000")


# ---------------------------------------------------------------------------- in-memory store

def memory_baseline(inp: BaselineInput) -> dict[str, Any]:
    """No driver: the floor is putting the finished records into a dict by key."""
    clock = Clock()
    table: dict[tuple[str, str], SpanRecord] = {}
    for r in inp.records:
        table[(r.trace_id, r.span_id)] = r
    out = _result("dict[(traceId, spanId)] = record (no driver, no copy)", len(inp.records),
                  clock, len(table), {})
    out["comparable"] = False  # a floor, not a driver: no ratio is derived from it
    return out


# ---------------------------------------------------------------------------- PostgreSQL

def postgres_baseline(inp: BaselineInput) -> dict[str, Any]:
    """``COPY … FROM STDIN`` (psycopg 3) into ``LIKE mastra_ai_spans INCLUDING ALL``."""
    try:
        import psycopg
        from psycopg import sql
    except ImportError:
        raise BaselineUnavailable("psycopg is not installed (extra 'postgres')") from None
    from ..storage.urls import split_layout, split_schema

    # libpq refuses the store's own query options (?schema=, ?layout=): take them out.
    url, _ = split_schema(inp.url)
    url, _ = split_layout(url)
    url = "postgresql://" + url.split("://", 1)[1]
    schema = getattr(inp.store, "schema", None) or "public"
    name = f"mastra_bench_baseline_{uuid.uuid4().hex[:8]}"
    target = sql.Identifier(schema, name)
    with psycopg.connect(url) as conn:
        try:
            conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(
                target, sql.Identifier(schema, TABLE_SPANS)))
        except psycopg.errors.UndefinedTable:
            raise BaselineUnavailable(f"{schema}.{TABLE_SPANS} does not exist") from None
        triggers = _copy_timestamp_trigger(conn, schema, name)
        conn.commit()
        try:
            cols = conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                (schema, name)).fetchall()
            convert = [_pg_converter(col, kind) for col, kind in cols]
            copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
                target, sql.SQL(", ").join(sql.Identifier(c) for c, _ in cols))
            statements = {"copy": 0, "commits": 0}
            clock = Clock()
            now = utc_now()
            for chunk in _chunks(inp.records):
                with conn.cursor() as cur, cur.copy(copy) as cp:
                    for r in chunk:
                        cp.write_row([fn(r, now) for fn in convert])
                conn.commit()
                statements["copy"] += 1
                statements["commits"] += 1
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(target)).fetchone()
            count = int(row[0]) if row else 0
            return {**_result(f"psycopg COPY FROM STDIN, {CHUNK}-row transactions",
                              len(inp.records), clock, count, statements),
                    "triggers": triggers}
        finally:
            conn.rollback()
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(target))
            conn.commit()


def _copy_timestamp_trigger(conn: Any, schema: str, name: str) -> list[str]:
    """Give the baseline's table Mastra's timestamp trigger when the store's table has it
    (``LIKE … INCLUDING ALL`` copies no trigger): every row the pipeline writes fires it
    (about 1.7 µs of server time per row, measured), so the raw COPY pays it too. The
    optional metadata index's triggers are not copied: they write to a side table. The
    names of the triggers the table then has, for the report."""
    import sqlalchemy as sa

    from ..storage.sql.dialects.postgres import TRIGGER_NAME, PostgresDialect

    has = conn.execute("SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass(%s) "
                       "AND tgname = %s AND NOT tgisinternal",
                       (PostgresDialect._qualified(schema, TABLE_SPANS), TRIGGER_NAME)).fetchone()
    if has:
        clone = sa.Table(name, sa.MetaData(), schema=schema)
        conn.execute(PostgresDialect().trigger_ddl(clone).text)
    return [row[0] for row in conn.execute(
        "SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND NOT tgisinternal "
        "ORDER BY tgname", (PostgresDialect._qualified(schema, name),)).fetchall()]


def _pg_converter(column: str, data_type: str) -> Callable[[SpanRecord, datetime], Any]:
    base = column[:-1] if column.endswith("AtZ") else column  # the timestamptz twins
    spec = COLUMN_BY_NAME.get(base)
    if spec is None:
        return lambda r, now: None
    attr = spec.attr
    if spec.kind == "json":
        return lambda r, now: None if (v := getattr(r, attr)) is None else _dumps(v)
    if spec.kind == "timestamp":
        aware = "with time zone" in data_type

        def ts(r: SpanRecord, now: datetime) -> Any:
            value = getattr(r, attr) or (now if attr in ("created_at", "updated_at") else None)
            if value is None or aware:
                return value
            return value.astimezone(timezone.utc).replace(tzinfo=None)

        return ts
    if spec.kind == "bool":
        as_int = data_type in ("integer", "smallint")
        return lambda r, now: int(getattr(r, attr)) if as_int else bool(getattr(r, attr))
    return lambda r, now: getattr(r, attr)


# ---------------------------------------------------------------------------- ClickHouse

def clickhouse_baseline(inp: BaselineInput) -> dict[str, Any]:
    """Columnar ``client.insert`` into ``CREATE TABLE … AS mastra_ai_spans``."""
    client = getattr(inp.store, "client", None)
    database = getattr(inp.store, "database", None)
    if client is None or not hasattr(client, "insert") or not isinstance(database, str):
        if inp.scheme == "chdb":
            raise BaselineUnavailable("the chdb baseline needs the store's clickhouse-connect "
                                      "client (store.client)")
        try:
            import clickhouse_connect
        except ImportError:
            raise BaselineUnavailable("clickhouse-connect is not installed "
                                      "(extra 'clickhouse')") from None
        client = clickhouse_connect.get_client(dsn=inp.url, secure=inp.scheme == "clickhouses")
        database = client.database or "default"
    schema = getattr(inp.store, "schema", None)
    source = getattr(schema, "data_table", TABLE_SPANS)  # the MergeTree table itself
    name = f"mastra_bench_baseline_{uuid.uuid4().hex[:8]}"
    target = f"`{database}`.`{name}`"
    client.command(f"CREATE TABLE {target} AS `{database}`.`{source}`")
    try:
        described = client.query(f"DESCRIBE TABLE {target}").result_rows
        # Mastra's columns only: MATERIALIZED/ALIAS columns are computed by the server and
        # extra columns with defaults are left to them, as the store leaves them.
        cols = [(row[0], row[1]) for row in described
                if row[0] in COLUMN_BY_NAME and row[2] not in ("MATERIALIZED", "ALIAS")]
        convert = [_ch_converter(col, kind) for col, kind in cols]
        names = [c for c, _ in cols]
        statements = {"insert": 0}
        clock = Clock()
        now = utc_now()
        for chunk in _chunks(inp.records):
            data = [[fn(r, now) for r in chunk] for fn in convert]
            client.insert(name, data, column_names=names, database=database,
                          column_oriented=True)
            statements["insert"] += 1
        count = int(client.query(f"SELECT count() FROM {target}").result_rows[0][0])
        return _result(f"clickhouse-connect client.insert (columnar), {CHUNK}-row inserts",
                       len(inp.records), clock, count, statements)
    finally:
        client.command(f"DROP TABLE IF EXISTS {target}")


def _ch_converter(column: str, ch_type: str) -> Callable[[SpanRecord, datetime], Any]:
    spec = COLUMN_BY_NAME[column]
    nullable = ch_type.startswith("Nullable(")
    attr = spec.attr
    if spec.kind == "json":
        empty = None if nullable else ""
        return lambda r, now: empty if (v := getattr(r, attr)) is None else _dumps(v)
    if spec.kind == "timestamp":
        fill = attr in ("created_at", "updated_at") or not nullable
        return lambda r, now: getattr(r, attr) or (now if fill else None)
    if spec.kind == "bool":
        return lambda r, now: bool(getattr(r, attr))
    if nullable:
        return lambda r, now: getattr(r, attr)
    return lambda r, now: getattr(r, attr) or ""


# ---------------------------------------------------------------------------- MongoDB

# Mastra's indexes on mastra_ai_spans (tests/contract/README.md).
MONGO_INDEXES: tuple[tuple[list[tuple[str, int]], bool], ...] = (
    ([("spanId", 1), ("traceId", 1)], True),
    ([("traceId", 1)], False),
    ([("parentSpanId", 1)], False),
    ([("startedAt", -1)], False),
    ([("spanType", 1)], False),
    ([("name", 1)], False),
)


def mongodb_baseline(inp: BaselineInput) -> dict[str, Any]:
    """``insert_many(ordered=False)`` of 1,000 documents into a fresh indexed collection."""
    try:
        import pymongo
    except ImportError:
        raise BaselineUnavailable("pymongo is not installed (extra 'mongodb')") from None
    client: Any = pymongo.MongoClient(inp.url)
    try:
        database = getattr(inp.store, "database_name", None)
        if not isinstance(database, str):
            database = client.get_default_database(default="mastra").name
        coll = client[database][f"mastra_bench_baseline_{uuid.uuid4().hex[:8]}"]
        for keys, unique in MONGO_INDEXES:
            coll.create_index(keys, unique=unique)
        try:
            statements = {"insert_many": 0}
            clock = Clock()
            now = utc_now()
            for chunk in _chunks(inp.records):
                coll.insert_many([_mongo_doc(r, now) for r in chunk], ordered=False)
                statements["insert_many"] += 1
            count = int(coll.count_documents({}))
            return _result(f"pymongo insert_many(ordered=False), {CHUNK}-document batches",
                           len(inp.records), clock, count, statements)
        finally:
            coll.drop()
    finally:
        client.close()


def _mongo_doc(record: SpanRecord, now: datetime) -> dict[str, Any]:
    row = list(_values(record))
    row[_CREATED_IDX] = row[_CREATED_IDX] or now
    row[_UPDATED_IDX] = row[_UPDATED_IDX] or now
    for i in _TS_IDX:
        if row[i] is not None:
            row[i] = iso_z(row[i])
    row[_BOOL_IDX] = bool(row[_BOOL_IDX])
    return dict(zip(_NAMES, row, strict=True))


_NAMES = tuple(c.name for c in COLUMNS)


# ---------------------------------------------------------------------------- registry

def mssql_baseline(inp: BaselineInput) -> dict[str, Any]:
    """pyodbc ``fast_executemany`` of plain INSERTs (1,000-row transactions) into the
    contract table, created in a scratch schema that is dropped afterwards.

    Not exercised on the development machine (no SQL Server there): it runs through
    ``nox -s tests-mssql``'s server. Rows are encoded here, independently of the store:
    text as is, JSON with ``json.dumps``, timestamps as naive UTC ``DATETIME2`` values.
    """
    try:
        import pyodbc  # noqa: F401
    except ImportError:
        raise BaselineUnavailable("pyodbc is not installed (extra 'mssql')") from None
    from ..storage.sql.mssql import MSSQLStore

    engine = getattr(inp.store, "engine", None)
    if engine is None:
        raise BaselineUnavailable("the measured store has no SQLAlchemy engine")
    schema = f"mastra_bench_{uuid.uuid4().hex[:8]}"
    fresh = MSSQLStore(engine=engine, schema=schema, auto_migrate=True)
    fresh.init()  # creates the schema and the contract table in it
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.fast_executemany = True
        names = ", ".join(f"[{c.name}]" for c in COLUMNS)
        marks = ", ".join("?" for _ in COLUMNS)
        sql = f"INSERT INTO [{schema}].[{TABLE_SPANS}] ({names}) VALUES ({marks})"
        statements = {"executemany": 0, "commits": 0}
        clock = Clock()
        now = utc_now()
        for chunk in _chunks(inp.records):
            cur.executemany(sql, [_mssql_row(r, now) for r in chunk])
            raw.commit()
            statements["executemany"] += 1
            statements["commits"] += 1
        cur.execute(f"SELECT count(*) FROM [{schema}].[{TABLE_SPANS}]")
        count = int(cur.fetchone()[0])
        return _result(f"pyodbc fast_executemany(INSERT), {CHUNK}-row transactions",
                       len(inp.records), clock, count, statements)
    finally:
        cur = raw.cursor()
        cur.execute(f"DROP TABLE IF EXISTS [{schema}].[{TABLE_SPANS}]; "
                    f"DROP TABLE IF EXISTS [{schema}].[mastra_storage_alembic_version]; "
                    f"DROP SCHEMA IF EXISTS [{schema}]")
        raw.commit()
        raw.close()


def _naive_utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def _mssql_row(record: SpanRecord, now: datetime) -> list[Any]:
    return encode_row(record, now, _naive_utc)


BASELINES: dict[str, Callable[[BaselineInput], dict[str, Any]]] = {
    "sqlite": sqlite_baseline,
    "file": sqlite_baseline,
    "libsql": sqlite_baseline,
    "memory": memory_baseline,
    "postgresql": postgres_baseline,
    "postgres": postgres_baseline,
    "clickhouse": clickhouse_baseline,
    "clickhouses": clickhouse_baseline,
    "chdb": clickhouse_baseline,
    "mongodb": mongodb_baseline,
    "mongodb+srv": mongodb_baseline,
    "mssql": mssql_baseline,
}


def url_scheme(url: str) -> str:
    """``memory`` for ``:memory:``; ``postgresql+psycopg`` → ``postgresql``; else the scheme."""
    url = url.strip()
    if url == ":memory:":
        return "memory"
    scheme = url.partition(":")[0].lower()
    return scheme.split("+", 1)[0] if scheme.startswith(("mssql", "postgresql")) else scheme


def run_baseline(inp: BaselineInput) -> dict[str, Any]:
    fn = BASELINES.get(inp.scheme)
    if fn is None:
        return {"available": False, "reason": f"no baseline for scheme '{inp.scheme}'"}
    try:
        return fn(inp)
    except BaselineUnavailable as exc:
        return {"available": False, "reason": str(exc)}
    except ImportError as exc:
        return {"available": False, "reason": f"missing driver: {exc}"}
    except Exception as exc:  # the measured run stands; say why the reference is missing
        return {"available": False, "reason": f"baseline failed: {type(exc).__name__}: {exc}"}
