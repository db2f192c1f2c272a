"""The ClickHouse schema of ``mastra_ai_spans``, rendered as DDL text.

Compatible with Mastra's ``@mastra/clickhouse`` table (same name, same columns and types:
``String`` / ``Nullable(String)`` text and JSON, ``DateTime64(3, 'UTC')`` timestamps,
``Bool`` isEvent, a non-nullable ``updatedAt``, ``ReplacingMergeTree(updatedAt)``), with
what helps the query API on top of it — none of which changes what a reader sees:

* monthly partitions by ``startedAt`` (retention and time-bounded scans prune whole months);
* an ordering key that keeps a trace's spans together *and* the root spans together in
  time order (see :data:`LAYOUTS`; the choice was measured, numbers in docs/clickhouse.md);
* skip indexes, ZSTD codecs on the JSON payload columns, optional ``TTL … DELETE``;
* cluster mode: ``ON CLUSTER``, ``ReplicatedReplacingMergeTree`` and a ``Distributed``
  table named ``mastra_ai_spans`` over the local tables, sharded by ``traceId`` so that
  every version of a span (and every span of a trace) lands on the same shard.

Everything here is pure string rendering: it needs no connection, which is what makes
the offline DDL (``migrate --sql``) and the DDL tests possible.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...errors import MastraStorageError
from ...model.spans import COLUMNS, TABLE_SPANS, ColumnSpec

HISTORY_TABLE = "mastra_storage_migrations"
LOCAL_SUFFIX = "_local"
DEFAULT_ZOOKEEPER_PATH = "/clickhouse/tables/{shard}/{database}/{table}"
# The history must be the same on every node, whatever its shard: one replica set.
HISTORY_ZOOKEEPER_PATH = "/clickhouse/tables/{database}/{table}"
DEFAULT_REPLICA_NAME = "{replica}"

JSON_CODEC = "ZSTD(3)"

# Mastra's older writers stored NULL parents as '' (its readers accept both), so ''
# counts as a root everywhere.
IS_ROOT = "ifNull(`parentSpanId`, '') = ''"
IS_CHILD = "ifNull(`parentSpanId`, '') != ''"
EPOCH = "toDateTime64(0, 3, 'UTC')"

# Helper columns of the "roots" layout. MATERIALIZED: computed by the server from the
# row on every insert (ours or Mastra's), never listed by ``SELECT *`` and never sent by
# a writer, so they are invisible to Mastra's store. They exist to be the ordering key.
HELPER_IS_CHILD = "_isChild"
HELPER_ROOT_STARTED = "_rootStartedAt"


@dataclass(frozen=True)
class Layout:
    """How rows are laid out on disk: partition, ordering key and the skip indexes.

    ``ORDER BY`` of a ReplacingMergeTree is also its de-duplication key, so every layout
    ends with ``(traceId, spanId)`` and adds only expressions of a span's immutable
    identity (parent, start time) in front of it.
    """

    name: str
    order_by: tuple[str, ...]
    partition_by: str | None = "toYYYYMM(`startedAt`)"
    # (name, expression, type, granularity)
    indexes: tuple[tuple[str, str, str, int], ...] = ()
    # (name, type, expression) of MATERIALIZED helper columns
    materialized: tuple[tuple[str, str, str], ...] = ()
    description: str = ""


_ID_INDEXES: tuple[tuple[str, str, str, int], ...] = tuple(
    (f"idx_{col}", f"`{col}`", "bloom_filter(0.01)", 1)
    for col in ("runId", "threadId", "sessionId", "requestId", "userId", "resourceId")
)

LAYOUTS: dict[str, Layout] = {
    # What Mastra creates: one trace is one primary-key range, the list scans everything.
    "mastra": Layout(
        "mastra", ("`traceId`", "`spanId`"), partition_by=None,
        description="Mastra's own key: ORDER BY (traceId, spanId), no partitions",
    ),
    # Mastra's key plus monthly partitions and id skip indexes.
    "trace": Layout(
        "trace", ("`traceId`", "`spanId`"), indexes=_ID_INDEXES,
        description="ORDER BY (traceId, spanId), monthly partitions",
    ),
    # Time first: the list reads recent granules only, a trace needs a bloom filter.
    "time": Layout(
        "time", ("toStartOfHour(`startedAt`)", "`traceId`", "`spanId`"),
        indexes=(("idx_traceId", "`traceId`", "bloom_filter(0.001)", 1), *_ID_INDEXES),
        description="ORDER BY (toStartOfHour(startedAt), traceId, spanId) + bloom(traceId)",
    ),
    # Roots first, in start order; then every child span, grouped by trace. "List recent
    # traces" reads the newest root granules in key order and stops after one page; one
    # trace is a primary-key range (children) plus a bloom-filter probe (its root).
    "roots": Layout(
        "roots",
        (f"`{HELPER_IS_CHILD}`", f"`{HELPER_ROOT_STARTED}`", "`traceId`", "`spanId`"),
        indexes=(("idx_traceId", "`traceId`", "bloom_filter(0.001)", 1), *_ID_INDEXES),
        materialized=(
            (HELPER_IS_CHILD, "Bool", IS_CHILD),
            (HELPER_ROOT_STARTED, "DateTime64(3, 'UTC')",
             f"if({IS_CHILD}, {EPOCH}, `startedAt`)"),
        ),
        description="ORDER BY (isChild, root startedAt, traceId, spanId) + bloom(traceId)",
    ),
}
DEFAULT_LAYOUT = "roots"
# Mastra's v-next span tables (mastra_span_events & co., :mod:`.vnext_ddl`) instead of
# mastra_ai_spans: not a sort key of the classic table but a different set of tables.
VNEXT_LAYOUT = "vnext"
DELTA_CURSOR_CHOICES = ("serial", "fallback", "none")


class DDLOptionsError(MastraStorageError, ValueError):
    """Options that can't be rendered into valid DDL."""


_TTL_SIGNALS = ("spans", "logs", "metrics", "scores", "feedback")
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")


def quote_ident(name: str) -> str:
    """A backquoted ClickHouse identifier."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def quote_str(value: str) -> str:
    """A single-quoted ClickHouse string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class SchemaOptions:
    """What the rendered DDL depends on. ``database`` must already be a plain name."""

    database: str = "default"
    cluster: str | None = None
    ttl_days: int | None = None
    # Per-signal retention overriding ``ttl_days`` ("spans", "logs", "metrics", "scores",
    # "feedback" -> days).
    signal_ttl_days: dict[str, int] = field(default_factory=dict)
    codecs: bool = True
    layout: str = DEFAULT_LAYOUT
    zookeeper_path: str = DEFAULT_ZOOKEEPER_PATH
    replica_name: str = DEFAULT_REPLICA_NAME
    # Must be a function of traceId: every version of a span has to land on one shard
    # for FINAL to de-duplicate it (and a whole trace on one shard keeps reads local).
    sharding_key: str = "cityHash64(`traceId`)"
    table_settings: dict[str, str] = field(default_factory=dict)
    # v-next layout: how the delta views number rows ("serial": generateSerialID, needs
    # ClickHouse Keeper; "fallback": time + fingerprint; "none": no delta tables). None:
    # probed when migrating over a connection, "fallback" when rendered offline.
    delta_cursor: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.database, str) or not _NAME_RE.match(self.database):
            raise DDLOptionsError(
                f"ClickHouse database name must be letters, digits, '_' or '-', "
                f"got {self.database!r}")
        if self.cluster is not None and (not isinstance(self.cluster, str)
                                         or not self.cluster.strip()):
            raise DDLOptionsError("cluster must be a non-empty cluster name or None")
        if self.ttl_days is not None and (isinstance(self.ttl_days, bool)
                                          or not isinstance(self.ttl_days, int)
                                          or self.ttl_days < 1):
            raise DDLOptionsError(f"ttl_days must be an integer >= 1, got {self.ttl_days!r}")
        for signal, days in self.signal_ttl_days.items():
            if signal not in _TTL_SIGNALS:
                raise DDLOptionsError(f"unknown signal {signal!r} in signal_ttl_days; valid: "
                                      f"{', '.join(_TTL_SIGNALS)}")
            if isinstance(days, bool) or not isinstance(days, int) or days < 1:
                raise DDLOptionsError(
                    f"signal_ttl_days[{signal!r}] must be an integer >= 1, got {days!r}")
        if self.layout not in LAYOUTS and self.layout != VNEXT_LAYOUT:
            raise DDLOptionsError(f"unknown layout {self.layout!r}; known: "
                                  f"{', '.join((*LAYOUTS, VNEXT_LAYOUT))}")
        if self.delta_cursor is not None and self.delta_cursor not in DELTA_CURSOR_CHOICES:
            raise DDLOptionsError(f"delta_cursor must be one of "
                                  f"{', '.join(DELTA_CURSOR_CHOICES)}, got {self.delta_cursor!r}")
        for key in self.table_settings:
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
                raise DDLOptionsError(f"invalid table setting name {key!r}")

    def ttl_for(self, signal: str) -> int | None:
        """Retention in days of one signal's table: its override, else ``ttl_days``."""
        return self.signal_ttl_days.get(signal, self.ttl_days)

    # ------------------------------------------------------------------ names
    @property
    def vnext(self) -> bool:
        """Mastra's v-next span tables instead of ``mastra_ai_spans``."""
        return self.layout == VNEXT_LAYOUT

    @property
    def clustered(self) -> bool:
        return self.cluster is not None

    @property
    def data_table(self) -> str:
        """The MergeTree table (per node in cluster mode)."""
        return TABLE_SPANS + LOCAL_SUFFIX if self.clustered else TABLE_SPANS

    @property
    def spans(self) -> str:
        """Qualified name reads and writes go to (the Distributed table in cluster mode)."""
        return f"{quote_ident(self.database)}.{quote_ident(TABLE_SPANS)}"

    @property
    def spans_local(self) -> str:
        """Qualified name of the MergeTree table (DELETE and ALTER go there)."""
        return f"{quote_ident(self.database)}.{quote_ident(self.data_table)}"

    @property
    def history(self) -> str:
        return f"{quote_ident(self.database)}.{quote_ident(HISTORY_TABLE)}"

    @property
    def on_cluster(self) -> str:
        return f" ON CLUSTER {quote_ident(self.cluster)}" if self.cluster else ""

    @property
    def layout_spec(self) -> Layout:
        """The sort-key layout of ``mastra_ai_spans`` (the v-next layout has no such table)."""
        if self.vnext:
            raise DDLOptionsError("the vnext layout has no mastra_ai_spans table")
        return LAYOUTS[self.layout]


# ---------------------------------------------------------------------------- columns

def column_type(spec: ColumnSpec) -> str:
    if spec.kind == "timestamp":
        base = "DateTime64(3, 'UTC')"
    elif spec.kind == "bool":
        base = "Bool"
    else:
        base = "String"
    # updatedAt is the ReplacingMergeTree version: it can't be nullable (Mastra agrees).
    nullable = spec.nullable and spec.name != "updatedAt"
    return f"Nullable({base})" if nullable else base


def column_ddl(spec: ColumnSpec, opts: SchemaOptions) -> str:
    parts = [quote_ident(spec.name), column_type(spec)]
    if spec.name == "metadata":
        parts.append("DEFAULT '{}'")  # as Mastra declares it
    if opts.codecs and spec.kind == "json":
        parts.append(f"CODEC({JSON_CODEC})")
    return " ".join(parts)


def _engine(opts: SchemaOptions, *, version: str, zk_path: str) -> str:
    if not opts.clustered:
        return f"ReplacingMergeTree({version})"
    return (f"ReplicatedReplacingMergeTree({quote_str(zk_path)}, "
            f"{quote_str(opts.replica_name)}, {version})")


# ---------------------------------------------------------------------------- statements

def create_database(opts: SchemaOptions) -> str:
    return f"CREATE DATABASE IF NOT EXISTS {quote_ident(opts.database)}{opts.on_cluster}"


def create_history_table(opts: SchemaOptions) -> str:
    engine = _engine(opts, version="`applied_at`", zk_path=HISTORY_ZOOKEEPER_PATH)
    return (
        f"CREATE TABLE IF NOT EXISTS {opts.history}{opts.on_cluster}\n"
        "(\n"
        "    `version` UInt32,\n"
        "    `name` String,\n"
        "    `applied_at` DateTime64(3, 'UTC')\n"
        ")\n"
        f"ENGINE = {engine}\n"
        "ORDER BY `version`"
    )


def ttl_clause(opts: SchemaOptions) -> str | None:
    days = opts.ttl_for("spans")
    if days is None:
        return None
    return f"toDateTime(`startedAt`) + toIntervalDay({days}) DELETE"


def create_spans_table(opts: SchemaOptions) -> str:
    """The spans table; its skip indexes come next, in :func:`add_skip_indexes`."""
    layout = opts.layout_spec
    cols = [f"    {column_ddl(spec, opts)}" for spec in COLUMNS]
    cols += [f"    {quote_ident(name)} {typ} MATERIALIZED {expr}"
             for name, typ, expr in layout.materialized]
    body = ",\n".join(cols)
    lines = [
        f"CREATE TABLE IF NOT EXISTS {opts.spans_local}{opts.on_cluster}",
        "(",
        body,
        ")",
        f"ENGINE = {_engine(opts, version='`updatedAt`', zk_path=opts.zookeeper_path)}",
    ]
    if layout.partition_by:
        lines.append(f"PARTITION BY {layout.partition_by}")
    lines.append(f"ORDER BY ({', '.join(layout.order_by)})")
    ttl = ttl_clause(opts)
    if ttl:
        lines.append(f"TTL {ttl}")
    settings = {"index_granularity": "8192", **opts.table_settings}
    lines.append("SETTINGS " + ", ".join(f"{k} = {v}" for k, v in settings.items()))
    return "\n".join(lines)


def create_distributed_table(opts: SchemaOptions) -> str:
    """Cluster mode only: ``mastra_ai_spans`` over every shard's local table."""
    assert opts.cluster is not None
    return (
        f"CREATE TABLE IF NOT EXISTS {opts.spans}{opts.on_cluster}\n"
        f"AS {opts.spans_local}\n"
        f"ENGINE = Distributed({quote_str(opts.cluster)}, {quote_str(opts.database)}, "
        f"{quote_str(opts.data_table)}, {opts.sharding_key})"
    )


def add_skip_indexes(opts: SchemaOptions) -> list[str]:
    """One ALTER with ``ADD INDEX IF NOT EXISTS`` for each skip index of the layout.

    Separate from the CREATE so that the same statements also equip a table that Mastra
    created. An index added to a table that has data covers new parts only; run
    ``ALTER TABLE … MATERIALIZE INDEX name`` to build it for the existing ones.
    """
    clauses = [
        f"    ADD INDEX IF NOT EXISTS {quote_ident(name)} {expr} TYPE {kind} GRANULARITY {gran}"
        for name, expr, kind, gran in opts.layout_spec.indexes
    ]
    if not clauses:
        return []
    return [f"ALTER TABLE {opts.spans_local}{opts.on_cluster}\n" + ",\n".join(clauses)]


def modify_ttl(opts: SchemaOptions) -> str:
    """Set (or, with ``ttl_days=None``, remove) the retention TTL of the spans table."""
    ttl = ttl_clause(opts)
    if ttl is None:
        return f"ALTER TABLE {opts.spans_local}{opts.on_cluster} REMOVE TTL"
    return f"ALTER TABLE {opts.spans_local}{opts.on_cluster} MODIFY TTL {ttl}"


def schema_statements(opts: SchemaOptions) -> list[str]:
    """Everything a fresh database needs, in order (the content of migration 1)."""
    out = [create_spans_table(opts)]
    if opts.clustered:
        out.append(create_distributed_table(opts))
    return out
