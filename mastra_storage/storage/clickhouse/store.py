"""ClickHouseStore: the observability store on ClickHouse (server or in-process chdb).

Writes are inserts only. ``mastra_ai_spans`` is a ``ReplacingMergeTree(updatedAt)``:
writing a span again (a retried batch, an upsert, an update) inserts a newer version of
the row, and every read de-duplicates with ``FINAL`` — so a span is never seen twice,
whether or not the background merges have caught up. ``updatedAt`` is the version, and
each new version gets a strictly larger one (see :class:`VersionClock`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from operator import attrgetter
from typing import Any

from ...lifecycle import after_fork_in_child
from ...model.jsonsafe import BAD_CHARS, DEFAULT_MAX_BYTES, clean_text, dumps, loads
from ...model.spans import COLUMNS, HEAVY_ATTRS, TABLE_SPANS, SpanRecord
from ...model.time import truncate_ms, utc_now
from ..base import BaseStore
from ..queries import Pagination, TracesFilter, TracesOrderBy
from ..validation import require_ids
from . import client as clients
from .config import ConnectionSpec, parse_url
from .ddl import (
    DEFAULT_LAYOUT,
    DEFAULT_REPLICA_NAME,
    DEFAULT_ZOOKEEPER_PATH,
    HELPER_IS_CHILD,
    HELPER_ROOT_STARTED,
    VNEXT_LAYOUT,
    SchemaOptions,
    quote_ident,
)
from .expressions import (
    HAS_ERROR,
    ROOT,
    TS_TYPE,
    Params,
    clean_params,
    json_array_has,
    json_key_equals,
    span_filters,
    ts_text,
)
from .migrations import Applied, apply
from .signals import SignalsMixin
from .slices import row_slices
from .trace_query import TraceQueryMixin

logger = logging.getLogger(__name__)

_NAMES = [c.name for c in COLUMNS]
_TYPE_NAMES = []
for _c in COLUMNS:
    _base = {"timestamp": "DateTime64(3, 'UTC')", "bool": "Bool"}.get(_c.kind, "String")
    _TYPE_NAMES.append(f"Nullable({_base})" if _c.nullable and _c.name != "updatedAt"
                       else _base)
_FULL_SELECT = ", ".join(quote_ident(n) for n in _NAMES)
_LIGHT_NAMES = [c.name for c in COLUMNS if c.attr not in HEAVY_ATTRS]
_LIGHT_SELECT = ", ".join(quote_ident(n) for n in _LIGHT_NAMES)
_ATTR_TO_NAME = {c.attr: c.name for c in COLUMNS}
_KIND = {c.name: c.kind for c in COLUMNS}
COLUMN_ATTR = {c.name: c.attr for c in COLUMNS}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_ONE_MS = timedelta(milliseconds=1)
_ROW_GETTER = attrgetter(*(c.attr for c in COLUMNS))


def _ms(value: datetime) -> int:
    """Milliseconds since the epoch, truncated (naive datetimes are UTC): the driver
    writes integers to DateTime64(3) as they are."""
    if value.tzinfo is None:
        return (value - _EPOCH_NAIVE) // _ONE_MS
    return (value - _EPOCH) // _ONE_MS


def _from_ms(ms: int) -> datetime:
    return _EPOCH + ms * _ONE_MS


DELETE_METHODS = ("lightweight", "mutation")
KEY_CHUNK = 1000  # keys per IN list


class VersionClock:
    """Millisecond versions for ``updatedAt`` that strictly increase in this process.

    ``DateTime64(3)`` holds milliseconds; two versions of a span written within the same
    millisecond would tie, and a tie leaves the winner to insertion order. Each call
    returns ``max(now, last + 1 ms, at_least)``: strictly increasing even when called
    faster than the clock ticks (it then runs ahead by at most the burst, and falls back
    to wall time as soon as the burst is over). Updates also pass the stored version of
    the row as ``at_least`` so a newer version wins over one written by another process.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def next_ms(self, at_least: int = 0) -> int:
        now = time.time_ns() // 1_000_000
        with self._lock:
            value = max(now, self._last + 1, at_least)
            self._last = value
            return value

    def next(self, at_least: datetime | None = None) -> datetime:
        floor = _ms(at_least) if at_least is not None else 0
        return _from_ms(self.next_ms(floor))


VERSION_CLOCK = VersionClock()  # shared by every store of the process


def _utc(value: Any) -> datetime | None:
    """A timestamp read back: UTC-aware at millisecond precision (the driver may hand
    back naive UTC, depending on the engine)."""
    if value is None:
        return None
    return truncate_ms(value)


def _clean_texts(column: Sequence[Any]) -> list[Any]:
    """Text columns: NUL and lone surrogates become U+FFFD (jsonsafe's rule, as in every
    store); non-strings become text."""
    try:
        joined = "".join(filter(None, column))
    except TypeError:  # something that is not a str: convert one by one
        return [clean_text(v if isinstance(v, str) else str(v)) if v is not None else None
                for v in column]
    if BAD_CHARS.search(joined):
        return [clean_text(v) for v in column]
    return list(column)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


class ClickHouseStore(SignalsMixin, TraceQueryMixin, BaseStore):
    """Spans in ClickHouse's ``mastra_ai_spans`` and the logs, metrics, scores and feedback
    in Mastra's v-next signal tables (:mod:`.signals`, :mod:`.trace_query`); strategy
    ``insert-only`` (the only one).

    Connect with keyword arguments or :meth:`from_url`:

    * server: ``host``, ``port``, ``username``, ``password``, ``secure``, ``database``;
    * in-process engine: ``path`` (a directory, or ``":memory:"``) and ``database``;
    * or an existing clickhouse-connect ``client`` (not closed by the store).

    Options: ``cluster`` (ON CLUSTER + replicated tables + a Distributed table;
    ``zookeeper_path`` / ``replica_name`` for the replicated engine),
    ``ttl_days`` (retention of every table: ``TTL startedAt|timestamp + N days DELETE``),
    ``signal_ttl_days`` (per-signal override, e.g. ``{"logs": 7}``), ``async_insert`` /
    ``wait_for_async_insert`` (server-side insert batching), ``max_insert_rows`` /
    ``max_insert_bytes`` (bounds of one INSERT), ``insert_settings`` (extra settings for
    inserts), ``delete_method`` (``"lightweight"`` DELETE, the default, or ``"mutation"``
    for ``ALTER TABLE … DELETE``), ``auto_migrate`` (run the migrations on ``init()``),
    ``layout`` (the sort key of ``mastra_ai_spans``, :data:`~.ddl.LAYOUTS`; or ``"vnext"``:
    Mastra's v-next span tables instead, see :mod:`.vnext`).

    ``ClickHouseStore(layout="vnext", …)`` returns a
    :class:`~.vnext.ClickHouseVNextStore` (provider ``"clickhouse-vnext"``): one class to
    name in code and URLs, whichever tables it writes.
    """

    provider = "clickhouse"

    def __new__(cls, *args: Any, **options: Any) -> ClickHouseStore:
        if options.get("layout") == VNEXT_LAYOUT:
            cls = _vnext_variant(cls)
        return super().__new__(cls)

    def __init__(
        self,
        *,
        host: str | None = None,
        port: int | None = None,
        username: str = "default",
        password: str = "",
        secure: bool = False,
        database: str = "default",
        path: str | os.PathLike[str] | None = None,
        client: Any = None,
        cluster: str | None = None,
        ttl_days: int | None = None,
        signal_ttl_days: dict[str, int] | None = None,
        async_insert: bool = False,
        wait_for_async_insert: bool = True,
        max_insert_rows: int = 10_000,
        max_insert_bytes: int = 32 * 1024 * 1024,
        max_json_bytes: int = DEFAULT_MAX_BYTES,
        insert_settings: dict[str, Any] | None = None,
        delete_method: str = "lightweight",
        auto_migrate: bool = True,
        codecs: bool = True,
        layout: str = DEFAULT_LAYOUT,
        zookeeper_path: str = DEFAULT_ZOOKEEPER_PATH,
        replica_name: str = DEFAULT_REPLICA_NAME,
        client_options: dict[str, Any] | None = None,
    ) -> None:
        if client is None and path is None and not host:
            raise ValueError("ClickHouseStore needs host= (a server), path= (chdb) or client=")
        if path is not None:
            spec = ConnectionSpec("chdb", database=database, path=os.fspath(path))
        else:
            spec = ConnectionSpec("https" if secure else "http", host=host,
                                  port=port or (8443 if secure else 8123), username=username,
                                  password=password, database=database,
                                  client_options=dict(client_options or {}))
        for label, value in (("max_insert_rows", max_insert_rows),
                             ("max_insert_bytes", max_insert_bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{label} must be an integer >= 1, got {value!r}")
        if delete_method not in DELETE_METHODS:
            raise ValueError(f"delete_method must be one of {', '.join(DELETE_METHODS)}, "
                             f"got {delete_method!r}")
        self.spec = spec
        self.schema = SchemaOptions(database=database, cluster=cluster, ttl_days=ttl_days,
                                    signal_ttl_days=dict(signal_ttl_days or {}),
                                    codecs=codecs, layout=layout,
                                    zookeeper_path=zookeeper_path, replica_name=replica_name)
        self.database = database
        self.max_insert_rows = max_insert_rows
        self.max_insert_bytes = max_insert_bytes
        self.max_json_bytes = max_json_bytes
        self.delete_method = delete_method
        self.auto_migrate = auto_migrate
        self.truncated_fields = 0
        settings: dict[str, Any] = {"async_insert": 1 if async_insert else 0}
        if async_insert:
            settings["wait_for_async_insert"] = 1 if wait_for_async_insert else 0
        if cluster is not None:
            # Distributed inserts are queued locally by default; write through to the
            # shards so that a read right after a flush sees the spans.
            settings["insert_distributed_sync"] = 1
        settings.update(insert_settings or {})
        self.insert_settings = settings
        # Cluster mode reads the Distributed table; the has-child-error subquery reads it
        # too. Spans are sharded by traceId, so each shard can answer that IN from its own
        # local table ("local"), instead of the default refusal of a double-distributed IN.
        self.read_settings: dict[str, Any] | None = (
            {"distributed_product_mode": "local"} if cluster is not None else None)
        # Reads that select by traceId may use the traceId bloom filter under FINAL even
        # on servers that default to not doing so (before 25.x): every version of a row
        # has the same traceId, so the index can't hide a newer version and show an
        # older one (the hazard that default guards against, for mutable columns).
        self.by_trace_settings: dict[str, Any] = {**(self.read_settings or {}),
                                                  "use_skip_indexes_if_final": 1}
        # Reads of whole rows by their keys may also filter on those keys before FINAL
        # merges the versions (PREWHERE), for the same reason: the heavy columns are then
        # read only in the granules holding the keys (a page of 25 roots: ~40 instead of
        # ~60 ms at 1,000,000 spans).
        self.by_key_settings: dict[str, Any] = {**self.by_trace_settings,
                                                "optimize_move_to_prewhere_if_final": 1}
        self._given_client = client
        self._client: Any = client
        self._lock = threading.Lock()
        self._initialised = False
        self._closed = False
        self._helpers: bool | None = None  # the table has the "roots" helper columns
        self._lazy_rows: int | None = None  # see lazy_rows()
        self.clock = VERSION_CLOCK
        after_fork_in_child(self, "_after_fork")

    @classmethod
    def from_url(cls, url: str, **options: Any) -> ClickHouseStore:
        """``clickhouse://…``, ``clickhouses://…`` or ``chdb:///path`` (see :mod:`.config`);
        keyword ``options`` win over the URL's query-string options."""
        spec = parse_url(url)
        kwargs: dict[str, Any] = {**spec.store_options, "database": spec.database}
        if spec.interface == "chdb":
            kwargs["path"] = spec.path
        else:
            kwargs.update(host=spec.host, port=spec.port, username=spec.username,
                          password=spec.password, secure=spec.secure,
                          client_options=spec.client_options)
        kwargs.update(options)
        return cls(**kwargs)

    def __repr__(self) -> str:
        return f"<ClickHouseStore {self.spec.redacted()}>"

    # ------------------------------------------------------------------ lifecycle
    @property
    def client(self) -> Any:
        c = self._client
        if c is None:
            with self._lock:
                if self._closed:
                    raise RuntimeError("this ClickHouseStore is closed")
                if self._client is None:
                    self._client = clients.acquire(self.spec)
                c = self._client
        return c

    def init(self) -> None:
        """Connect, and run the migrations unless ``auto_migrate=False``; idempotent."""
        with self._lock:
            if self._initialised:
                return
        self.client  # noqa: B018 - connect now, so a bad address fails here
        if self.auto_migrate:
            self.migrate()
        with self._lock:
            self._initialised = True

    def migrate(self) -> Applied:
        """Apply the pending schema migrations; returns the versions applied."""

        applied = apply(self)
        self._helpers = None
        return applied

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            c, self._client = self._client, None
        if c is not None and self._given_client is None:
            clients.release(self.spec, c)

    def _after_fork(self) -> None:
        # A forked child must not reuse the parent's HTTP connections: reconnect lazily.
        # (chdb: the engine lives in the parent; a forked child must not use it.)
        if self.spec.interface != "chdb" and self._given_client is None:
            self._client = None

    # ------------------------------------------------------------------ low level
    def command(self, sql: str, params: dict[str, Any] | None = None,
                settings: dict[str, Any] | None = None) -> Any:
        return self.client.command(sql, parameters=clean_params(params), settings=settings)

    def query_rows(self, sql: str, params: dict[str, Any] | None = None,
                   settings: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        if settings is None:
            settings = self.read_settings
        result = self.client.query(sql, parameters=clean_params(params), settings=settings)
        return list(result.result_rows)

    @property
    def helpers(self) -> bool:
        """Whether the table has the helper key columns of the "roots" layout.

        A table created by Mastra (adopted as is) has not: queries then skip the key
        conditions on them. The answer is cached until the next :meth:`migrate`.
        """
        if self._helpers is None:
            rows = self.query_rows(
                "SELECT count() FROM system.columns WHERE database = {db:String} AND "
                "table = {t:String} AND name IN {names:Array(String)}",
                {"db": self.database, "t": self.schema.data_table,
                 "names": [HELPER_IS_CHILD, HELPER_ROOT_STARTED]})
            self._helpers = bool(rows and rows[0][0] == 2)
        return self._helpers

    # ------------------------------------------------------------------ row codec
    def _encode_json(self, value: Any) -> str | None:
        """A JSON column's text under the shared payload rules (:mod:`...model.jsonsafe`)."""
        text, truncated = dumps(value, self.max_json_bytes)
        if truncated:
            self.truncated_fields += 1
        return text

    def _columns(self, records: Sequence[SpanRecord], created_at: datetime | None = None,
                 version: datetime | None = None) -> list[list[Any]]:
        """Column-oriented data for one INSERT.

        ``created_at`` fills a missing createdAt, ``version`` overrides updatedAt. The
        work is done a column at a time with C-level helpers (attrgetter, zip, join):
        this runs on the exporter's worker thread and shares the GIL with the app.
        """
        n = len(records)
        pivot = list(zip(*map(_ROW_GETTER, records), strict=True)) if n else [() for _ in COLUMNS]
        cols: list[list[Any]] = []
        encode = self._encode_json
        for spec, column in zip(COLUMNS, pivot, strict=True):
            kind = spec.kind
            if kind == "json":
                out: list[Any] = [encode(v) if v is not None else None for v in column]
            elif kind == "text":
                out = _clean_texts(column)
            elif kind == "timestamp":
                if spec.name == "updatedAt" and version is not None:
                    out = [_ms(version)] * n
                elif spec.name == "createdAt" and created_at is not None:
                    fill = _ms(created_at)
                    out = [_ms(v) if v is not None else fill for v in column]
                else:
                    out = [_ms(v) if v is not None else None for v in column]
            else:
                out = [bool(v) for v in column]
            cols.append(out)
        return cols

    def _slices(self, cols: list[list[Any]], n: int) -> list[tuple[int, int]]:
        """Row ranges of at most ``max_insert_rows`` rows and ``max_insert_bytes`` bytes
        (text and JSON; a row over the byte bound goes alone)."""
        text_cols = [c for c, spec in zip(cols, COLUMNS, strict=True)
                     if spec.kind in ("text", "json")]
        return row_slices(text_cols, n, self.max_insert_rows, self.max_insert_bytes)

    def _insert(self, records: Sequence[SpanRecord], *, created_at: datetime | None = None,
                version: datetime | None = None) -> None:
        """INSERT in column form: one statement per batch, within the row/byte bounds."""
        if not records:
            return
        n = len(records)
        cols = self._columns(records, created_at, version)
        for start, end in self._slices(cols, n):
            self.client.insert(
                TABLE_SPANS,
                cols if (start, end) == (0, n) else [c[start:end] for c in cols],
                column_names=_NAMES,
                database=self.database,
                column_type_names=_TYPE_NAMES,
                column_oriented=True,
                settings=self.insert_settings,
            )

    def _decode(self, names: Sequence[str], row: Sequence[Any]) -> SpanRecord:
        values: dict[str, Any] = {}
        for name, value in zip(names, row, strict=True):
            spec_kind = _KIND.get(name)
            if spec_kind is None:
                continue
            attr = COLUMN_ATTR[name]
            if spec_kind == "json":
                value = None if value in (None, "") else loads(value)
            elif spec_kind == "timestamp":
                value = _utc(value)
            elif spec_kind == "bool":
                value = bool(value)
            elif name == "parentSpanId" and value == "":
                value = None
            values[attr] = value
        return SpanRecord(**values)

    def _fetch(self, sql: str, params: dict[str, Any],
               settings: dict[str, Any] | None = None) -> list[SpanRecord]:
        """Rows of a query that selects by traceId (every caller does)."""
        result = self.client.query(sql, parameters=clean_params(params),
                                   settings=settings or self.by_trace_settings)
        names = result.column_names
        return [self._decode(names, row) for row in result.result_rows]

    # ------------------------------------------------------------------ writes
    def batch_create_spans(self, records: Sequence[SpanRecord]) -> None:
        """Insert complete rows; a span written before gets a newer version (upsert)."""
        if not records:
            return
        require_ids(records)
        self._insert(records, created_at=utc_now(), version=self.clock.next())

    def batch_update_spans(self, records: Sequence[SpanRecord]) -> None:
        """Insert a newer full version of each row that exists; missing rows are skipped.

        The new version keeps the stored ``createdAt`` and gets an ``updatedAt`` above the
        stored one. If an update moves a span in the ordering key (its start time or its
        parent changed), the older versions are deleted, since the merge would not
        replace them.
        """
        latest: dict[tuple[str, str], SpanRecord] = {}
        for r in records:
            latest[r.key] = r
        if not latest:
            return
        existing = self._existing(list(latest))
        if not existing:
            return
        floor = max(row[1] for row in existing.values())
        version = self.clock.next(at_least=floor + timedelta(milliseconds=1))
        rows: list[SpanRecord] = []
        moved: list[tuple[str, str]] = []
        for key, (created, _updated, started, parent) in existing.items():
            r = latest[key]
            rows.append(r.copy(created_at=created))
            new_started = _utc(r.started_at)
            if new_started != started or (not parent) != (not r.parent_span_id):
                moved.append(key)
        self._insert(rows, version=version)
        for key in moved:
            self._delete_where(
                "`traceId` = {t:String} AND `spanId` = {s:String} AND "
                "`updatedAt` < {v:DateTime64(3, 'UTC')}",
                {"t": key[0], "s": key[1],
                 "v": ts_text(version)})

    def _existing(self, keys: list[tuple[str, str]]
                  ) -> dict[tuple[str, str], tuple[datetime, datetime, datetime, str | None]]:
        out: dict[tuple[str, str], tuple[datetime, datetime, datetime, str | None]] = {}
        for chunk in _chunks(keys, KEY_CHUNK):
            rows = self.query_rows(
                f"SELECT `traceId`, `spanId`, `createdAt`, `updatedAt`, `startedAt`, "
                f"`parentSpanId` FROM {self.schema.spans} FINAL "
                "WHERE `traceId` IN {tids:Array(String)} AND `spanId` IN {sids:Array(String)}",
                {"tids": sorted({k[0] for k in chunk}), "sids": sorted({k[1] for k in chunk})},
                settings=self.by_trace_settings)
            wanted = set(chunk)
            for t, s, created, updated, started, parent in rows:
                if (t, s) in wanted:
                    out[(t, s)] = (_utc(created), _utc(updated), _utc(started),  # type: ignore[assignment]
                                   parent or None)
        return out

    def _delete_where(self, condition: str, params: dict[str, Any]) -> None:
        table = self.schema.spans_local
        if self.delete_method == "lightweight":
            self.command(f"DELETE FROM {table}{self.schema.on_cluster} WHERE {condition}",
                         params, settings={"lightweight_deletes_sync": 2})
        else:
            self.command(f"ALTER TABLE {table}{self.schema.on_cluster} DELETE WHERE {condition}",
                         params, settings={"mutations_sync": 2})

    def batch_delete_traces(self, trace_ids: Sequence[str]) -> int:
        """Delete every span, log, metric, score and feedback of these traces; returns how
        many spans were deleted."""
        ids = list(dict.fromkeys(str(t) for t in trace_ids))
        if not ids:
            return 0
        deleted = 0
        for chunk in _chunks(ids, KEY_CHUNK):
            self._delete_signals_of_traces(chunk)
            deleted += self._delete_trace_spans(chunk)
        return deleted

    def _delete_trace_spans(self, trace_ids: Sequence[str]) -> int:
        """Delete the spans of these traces (at most :data:`KEY_CHUNK`); returns how many
        there were."""
        params = {"ids": list(trace_ids)}
        rows = self.query_rows(
            f"SELECT count() FROM {self.schema.spans} FINAL "
            "WHERE `traceId` IN {ids:Array(String)}", params)
        found = int(rows[0][0]) if rows else 0
        if found:
            self._delete_where("`traceId` IN {ids:Array(String)}", params)
        return found

    def delete_traces_older_than(self, before: datetime) -> int:
        """Delete the traces whose root span started before ``before``."""
        p = Params()
        conds = self._root_conditions(p)
        conds.append(f"`startedAt` < {p.ts(before)}")
        if self.helpers:
            conds.append(f"`{HELPER_ROOT_STARTED}` < {p.ts(before)}")
        rows = self.query_rows(
            f"SELECT DISTINCT `traceId` FROM {self.schema.spans} FINAL "
            f"WHERE {' AND '.join(conds)}", p.values)
        return self.batch_delete_traces([r[0] for r in rows])

    # ------------------------------------------------------------------ reads
    def _root_conditions(self, p: Params) -> list[str]:
        conds = [ROOT]
        if self.helpers:
            conds.append(f"`{HELPER_IS_CHILD}` = false")
        return conds

    def get_span(self, trace_id: str, span_id: str) -> SpanRecord | None:
        rows = self._fetch(
            f"SELECT {_FULL_SELECT} FROM {self.schema.spans} FINAL "
            "WHERE `traceId` = {t:String} AND `spanId` = {s:String} LIMIT 1",
            {"t": trace_id, "s": span_id})
        return rows[0] if rows else None

    def get_root_span(self, trace_id: str) -> SpanRecord | None:
        p = Params()
        conds = [f"`traceId` = {p.add(trace_id, 'String')}", *self._root_conditions(p)]
        rows = self._fetch(
            f"SELECT {_FULL_SELECT} FROM {self.schema.spans} FINAL "
            f"WHERE {' AND '.join(conds)} ORDER BY `startedAt`, `spanId` LIMIT 1", p.values)
        return rows[0] if rows else None

    def _get_trace_spans(self, trace_id: str, light: bool) -> list[SpanRecord]:
        cols = _LIGHT_SELECT if light else _FULL_SELECT
        return self._fetch(
            f"SELECT {cols} FROM {self.schema.spans} FINAL WHERE `traceId` = {{t:String}} "
            "ORDER BY `startedAt`, `spanId`", {"t": trace_id})

    def lazy_rows(self) -> int:
        """How deep a page (offset + page size) the server reads with lazy
        materialization, 0 when it doesn't (before ClickHouse 25.4, or turned off): its
        session settings, read once."""
        if self._lazy_rows is None:
            try:
                found = dict(self.query_rows(
                    "SELECT name, value FROM system.settings WHERE name IN "
                    "('query_plan_optimize_lazy_materialization', "
                    "'query_plan_max_limit_for_lazy_materialization')"))
            except Exception as exc:  # a server that won't say: the two statements
                logger.debug("could not read the lazy materialization settings: %s", exc)
                found = {}
            on = str(found.get("query_plan_optimize_lazy_materialization", "0")) in ("1", "true")
            limit = str(found.get("query_plan_max_limit_for_lazy_materialization", "0"))
            self._lazy_rows = int(limit) if on and limit.isdigit() else 0
        return self._lazy_rows

    def _filter_conditions(self, f: TracesFilter, p: Params) -> list[str]:
        conds = [*self._root_conditions(p), *span_filters(f, p, _ATTR_TO_NAME)]
        if self.helpers:  # the start bounds on the key column too, for the primary index
            if f.started_from is not None:
                conds.append(f"`{HELPER_ROOT_STARTED}` >= {p.ts(f.started_from)}")
            if f.started_to is not None:
                conds.append(f"`{HELPER_ROOT_STARTED}` <= {p.ts(f.started_to)}")
        if f.has_child_error is not None:
            # Any errored span of the trace, the root included (Mastra's meaning).
            sub = f"SELECT `traceId` FROM {self.schema.spans} FINAL WHERE {HAS_ERROR}"
            conds.append(f"`traceId` {'IN' if f.has_child_error else 'NOT IN'} ({sub})")
        for tag in f.tags or ():
            conds.append(json_array_has("tags", tag, p))
        for key, value in (f.metadata or {}).items():
            conds.append(json_key_equals("metadata", key, value, p))
        for key, value in (f.scope or {}).items():
            conds.append(json_key_equals("scope", key, value, p))
        return conds

    def _order(self, order_by: TracesOrderBy) -> str:
        d = order_by.direction
        if order_by.field == "startedAt":
            # For roots the helper column *is* startedAt, and it is the ordering key:
            # the newest page is read in key order instead of sorting every root.
            start = f"`{HELPER_ROOT_STARTED}`" if self.helpers else "`startedAt`"
            return f"{start} {d}, `traceId` {d}"
        nulls = "NULLS FIRST" if d == "DESC" else "NULLS LAST"
        return f"`endedAt` {d} {nulls}, `startedAt` {d}, `traceId` {d}"

    def _list_roots(
        self, filters: TracesFilter, pagination: Pagination, order_by: TracesOrderBy
    ) -> tuple[list[SpanRecord], int]:
        p = Params()
        where = " AND ".join(self._filter_conditions(filters, p))
        spans = self.schema.spans
        limit = p.add(pagination.per_page, "UInt32")
        offset = p.add(pagination.offset, "UInt32")
        page = (f"FROM {spans} FINAL WHERE {where} ORDER BY {self._order(order_by)} "
                f"LIMIT {limit} OFFSET {offset}")

        def total_of(rows: int) -> int:
            # A page that is not full tells the total (a rare filter value, the last
            # page); else count.
            total = pagination.total_from_page(rows)
            if total is None:
                found = self.query_rows(f"SELECT count() FROM {spans} FINAL WHERE {where}",
                                        p.values)
                total = int(found[0][0]) if found else 0
            return total

        if pagination.offset + pagination.per_page <= self.lazy_rows():
            # One statement: the server sorts the matching roots on the columns the
            # filter and the order need, then reads the other columns of the page's rows
            # alone (lazy materialization). At 1,000,000 spans that beat the two
            # statements below for every filter of the read bench (a rare metadata value
            # 45 against 57 ms, the unfiltered first page 24 against 33).
            rows = self._fetch(f"SELECT {_FULL_SELECT} {page}", p.values, self.read_settings)
            return rows, total_of(len(rows))
        # Phase 1: the page's keys, reading only the light key columns.
        keys = self.query_rows(f"SELECT `traceId`, `spanId`, `startedAt` {page}", p.values)
        total = total_of(len(keys))
        if not keys:
            return [], total
        # Phase 2: the full rows of just those keys, by primary key.
        q = Params()
        conds = [f"`traceId` IN {q.add([k[0] for k in keys], 'Array(String)')}",
                 f"`spanId` IN {q.add([k[1] for k in keys], 'Array(String)')}",
                 *self._root_conditions(q)]
        if self.helpers:
            # The page's start times on the ordering key's time column (a root's start):
            # the primary index then reads only the granules holding them.
            started = q.add(sorted({ts_text(k[2]) for k in keys}), f"Array({TS_TYPE})")
            conds.append(f"`{HELPER_ROOT_STARTED}` IN {started}")
        rows = self._fetch(
            f"SELECT {_FULL_SELECT} FROM {spans} FINAL WHERE {' AND '.join(conds)}", q.values,
            self.by_key_settings)
        by_key = {r.key: r for r in rows}
        return [by_key[(k[0], k[1])] for k in keys if (k[0], k[1]) in by_key], total



_VARIANTS: dict[type[ClickHouseStore], type[ClickHouseStore]] = {}
_VARIANTS_LOCK = threading.Lock()


def _vnext_variant(cls: type[ClickHouseStore]) -> type[ClickHouseStore]:
    """The v-next class for ``cls``: the v-next store itself, or, for a subclass of the
    store (one that adds cleanup, say), a subclass of both, made once."""
    from .vnext import ClickHouseVNextStore

    if issubclass(cls, ClickHouseVNextStore):
        return cls
    if cls is ClickHouseStore:
        return ClickHouseVNextStore
    with _VARIANTS_LOCK:
        if cls not in _VARIANTS:
            _VARIANTS[cls] = type(cls.__name__, (ClickHouseVNextStore, cls),
                                  {"__module__": cls.__module__, "__doc__": cls.__doc__})
        return _VARIANTS[cls]


def migrate(target: Any, **options: Any) -> Applied:
    """Run the ClickHouse migrations for a URL (or an open :class:`ClickHouseStore`).

    ``options`` go to :meth:`ClickHouseStore.from_url` (``cluster=``, ``ttl_days=``, …).
    Returns the versions applied (empty when the database was already up to date).
    """
    if isinstance(target, ClickHouseStore):
        return target.migrate()
    if not isinstance(target, str):
        raise TypeError(f"migrate() takes a ClickHouse URL or a ClickHouseStore, got {target!r}")
    store = ClickHouseStore.from_url(target, auto_migrate=False, **options)
    try:
        return store.migrate()
    finally:
        store.close()
