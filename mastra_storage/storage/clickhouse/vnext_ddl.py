"""Mastra's ClickHouse v-next span layout (``layout="vnext"``), rendered as DDL text.

``@mastra/clickhouse`` 1.16.0 keeps spans in ``mastra_span_events``: one row per span,
written when the span ends, ``ReplacingMergeTree`` without a version column, ordered by
``(traceId, endedAt, spanId, dedupeKey)`` and partitioned by the day of ``endedAt``.
Two incremental materialized views copy every inserted row on: the roots (``parentSpanId
IS NULL``) into ``mastra_trace_roots`` (ordered by ``startedAt`` so that "list recent
traces" reads the newest key range) and the branch anchors (agent runs, tool calls, …)
into ``mastra_trace_branches``. Six ``*_delta`` tables, filled by materialized views too,
give every new root, branch, log, metric, score and feedback row a cursor id for
Mastra's delta polling; two discovery tables are refreshed from the signal tables every
1 and 5 minutes by refreshable materialized views.

The statements below are that package's text (``dist/index.js``, region
``v-next/ddl.ts``), kept verbatim — comments, spacing and all — because the text *is*
the contract: a Mastra app and this library create, and then share, the very same
objects. The contract copy is ``tests/contract/clickhouse-vnext.spans.sql``; the tests
compare our rendering with it and the tables the engine builds from each. What this
module changes when rendering is what every statement of this package gets
(:mod:`.signal_ddl` does the same for the signal tables):

* every object name is qualified with the database;
* cluster mode: ``ON CLUSTER``, replicated engines, the MergeTree tables renamed
  ``…_local`` with a ``Distributed`` table under Mastra's name on top (sharded by
  ``traceId`` for the span tables, so a trace and every copy of a span stay on one
  shard), the materialized views reading and writing the local tables of their node;
* a retention (``ttl_days`` / ``signal_ttl_days["spans"]``) appends Mastra's retention
  expression ``TTL endedAt + INTERVAL N DAY`` to the three span tables (Mastra's
  ``retention.tracing``; it applies it with ``ALTER … MODIFY TTL``, which we also run
  for a table created before the retention was configured).

Mastra picks the delta cursor per server: ``generateSerialID`` (needs ClickHouse Keeper)
when a probe query succeeds, else a time-plus-fingerprint expression. The store probes
the same way when it migrates (:func:`.migrations.delta_cursor_strategy`); rendering without a
connection uses :attr:`SchemaOptions.delta_cursor` (``"fallback"`` unless set), which
works on every server.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ...model.spans import TABLE_SPANS
from .ddl import SchemaOptions, quote_ident, quote_str

LOCAL_SUFFIX = "_local"

SPAN_EVENTS = "mastra_span_events"
TRACE_ROOTS = "mastra_trace_roots"
TRACE_BRANCHES = "mastra_trace_branches"
SPAN_TABLES = (SPAN_EVENTS, TRACE_ROOTS, TRACE_BRANCHES)
DISCOVERY_VALUES = "mastra_discovery_values"
DISCOVERY_PAIRS = "mastra_discovery_pairs"
DISCOVERY_TABLES = (DISCOVERY_VALUES, DISCOVERY_PAIRS)
MV_TRACE_ROOTS = "mastra_mv_trace_roots"
MV_TRACE_BRANCHES = "mastra_mv_trace_branches"
MV_DISCOVERY_VALUES = "mastra_mv_discovery_values"
MV_DISCOVERY_PAIRS = "mastra_mv_discovery_pairs"
# Mastra's marker that its legacy span migration (mastra_ai_spans -> mastra_span_events)
# is done; a complete backfill writes it too, so a Mastra app does not offer to migrate.
LEGACY_MARKER = "mastra_legacy_span_migration_done"
LEGACY_SPANS = TABLE_SPANS

DELTA_CURSORS = ("serial", "fallback")
# The sources Mastra's signal tables feed delta tables from (order of creation).
_SIGNAL_SOURCES = ("mastra_metric_events", "mastra_log_events", "mastra_score_events",
                   "mastra_feedback_events")
# (delta table, its source table, the source's stable id column), in Mastra's order.
DELTAS: tuple[tuple[str, str, str], ...] = (
    ("mastra_trace_roots_delta", TRACE_ROOTS, "dedupeKey"),
    ("mastra_trace_branches_delta", TRACE_BRANCHES, "dedupeKey"),
    ("mastra_metric_events_delta", "mastra_metric_events", "metricId"),
    ("mastra_log_events_delta", "mastra_log_events", "logId"),
    ("mastra_score_events_delta", "mastra_score_events", "scoreId"),
    ("mastra_feedback_events_delta", "mastra_feedback_events", "feedbackId"),
)
DELTA_TABLES = tuple(d[0] for d in DELTAS)


def delta_view(delta: str) -> str:
    """The view feeding a delta table: ``mastra_trace_roots_delta`` ->
    ``mastra_mv_trace_roots_delta``."""
    return "mastra_mv_" + delta.removeprefix("mastra_")


DELTA_VIEWS = tuple(delta_view(d) for d in DELTA_TABLES)

# Span types whose spans mastra_mv_trace_branches copies into mastra_trace_branches
# (Mastra's literal list in the view; @mastra/core's BRANCH_SPAN_TYPES has two more,
# mcp_server_request and provider_tool_call, which never reach the table).
MV_BRANCH_SPAN_TYPES = ("agent_run", "workflow_run", "processor_run", "scorer_run",
                        "rag_ingestion", "tool_call", "mcp_tool_call")

# ---------------------------------------------------------------------------- Mastra's text

# The column list shared by the three span tables (the views copy rows with SELECT *, so
# the tables must keep one shape).
_SPAN_COLUMNS = """\
  -- Identity
  dedupeKey          String,

  -- IDs
  traceId            String,
  spanId             String,
  parentSpanId       Nullable(String),
  experimentId       Nullable(String),

  -- Entity
  entityType         LowCardinality(Nullable(String)),
  entityId           Nullable(String),
  entityName         Nullable(String),
  entityVersionId    Nullable(String),

  -- Parent entity
  parentEntityVersionId Nullable(String),
  parentEntityType   LowCardinality(Nullable(String)),
  parentEntityId     Nullable(String),
  parentEntityName   Nullable(String),

  -- Root entity
  rootEntityVersionId Nullable(String),
  rootEntityType     LowCardinality(Nullable(String)),
  rootEntityId       Nullable(String),
  rootEntityName     Nullable(String),

  -- Context
  userId             Nullable(String),
  organizationId     Nullable(String),
  resourceId         Nullable(String),
  runId              Nullable(String),
  sessionId          Nullable(String),
  threadId           Nullable(String),
  requestId          Nullable(String),
  environment        LowCardinality(Nullable(String)),
  executionSource    LowCardinality(Nullable(String)),
  serviceName        LowCardinality(Nullable(String)),

  -- Span scalars
  name               String,
  spanType           LowCardinality(String),
  isEvent            Bool DEFAULT false,
  startedAt          DateTime64(3, 'UTC'),
  endedAt            DateTime64(3, 'UTC'),

  -- Query-relevant flexible fields
  tags               Array(LowCardinality(String)) DEFAULT [],
  metadataSearch     Map(LowCardinality(String), String) DEFAULT map(),

  -- Information-only JSON payloads
  attributes         Nullable(String),
  scope              Nullable(String),
  links              Nullable(String),
  input              Nullable(String),
  output             Nullable(String),
  error              Nullable(String),
  metadataRaw        Nullable(String),
  requestContext     Nullable(String)"""

_SPAN_ORDER = {
    SPAN_EVENTS: "(traceId, endedAt, spanId, dedupeKey)",
    TRACE_ROOTS: "(startedAt, traceId, dedupeKey)",
    TRACE_BRANCHES: "(spanType, startedAt, traceId, dedupeKey)",
}


_COLUMN_LINE = re.compile(r"^  ([A-Za-z_][A-Za-z0-9_]*)\s+(.+?)(?:\s+DEFAULT\s+.+?)?,?$")


def span_columns() -> list[tuple[str, str]]:
    """(column, ClickHouse type) of the span tables, in Mastra's order."""
    out = []
    for line in _SPAN_COLUMNS.splitlines():
        match = _COLUMN_LINE.match(line)
        if match and not line.startswith("  --"):
            out.append((match.group(1), match.group(2)))
    return out


def _span_table(name: str) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {name} (\n{_SPAN_COLUMNS}\n)\n"
            "ENGINE = ReplacingMergeTree\n"
            "PARTITION BY toDate(endedAt)\n"
            f"ORDER BY {_SPAN_ORDER[name]}")


MASTRA_TABLE_DDL: dict[str, str] = {name: _span_table(name) for name in SPAN_TABLES}
MASTRA_TABLE_DDL[DISCOVERY_VALUES] = """\
CREATE TABLE IF NOT EXISTS mastra_discovery_values (
  kind               LowCardinality(String),
  key1               String,
  value              String
)
ENGINE = ReplacingMergeTree
ORDER BY (kind, key1, value)"""
MASTRA_TABLE_DDL[DISCOVERY_PAIRS] = """\
CREATE TABLE IF NOT EXISTS mastra_discovery_pairs (
  kind               LowCardinality(String),
  key1               String,
  key2               String,
  value              String
)
ENGINE = ReplacingMergeTree
ORDER BY (kind, key1, key2, value)"""

# Delta tables: (name, its columns after cursorId/ingestedAt, nullable key?).
_DELTA_COLUMNS: dict[str, tuple[tuple[tuple[str, str], ...], bool]] = {
    "mastra_trace_roots_delta": ((("startedAt", "DateTime64(3, 'UTC')"),
                                  ("traceId", "String"), ("dedupeKey", "String")), False),
    "mastra_trace_branches_delta": ((("spanType", "LowCardinality(String)"),
                                     ("startedAt", "DateTime64(3, 'UTC')"),
                                     ("traceId", "String"), ("spanId", "String"),
                                     ("dedupeKey", "String")), False),
    "mastra_metric_events_delta": ((("name", "LowCardinality(String)"),
                                    ("timestamp", "DateTime64(3, 'UTC')"),
                                    ("metricId", "String")), False),
    "mastra_log_events_delta": ((("timestamp", "DateTime64(3, 'UTC')"),
                                 ("logId", "String")), False),
    "mastra_score_events_delta": ((("traceId", "Nullable(String)"),
                                   ("timestamp", "DateTime64(3, 'UTC')"),
                                   ("scoreId", "String")), True),
    "mastra_feedback_events_delta": ((("traceId", "Nullable(String)"),
                                      ("timestamp", "DateTime64(3, 'UTC')"),
                                      ("feedbackId", "String")), True),
}


def _col(name: str, typ: str) -> str:
    """Mastra's column line: the name padded to 19 characters, then the type."""
    return f"  {name.ljust(18)} {typ}"


def _delta_table(name: str) -> str:
    columns, nullable_key = _DELTA_COLUMNS[name]
    lines = [_col("cursorId", "UInt64"), _col("ingestedAt", "DateTime64(9, 'UTC')"),
             *(_col(n, t) for n, t in columns)]
    text = (f"CREATE TABLE IF NOT EXISTS {name} (\n" + ",\n".join(lines) + "\n)\n"
            "ENGINE = MergeTree\n"
            "PARTITION BY toDate(ingestedAt)\n"
            "ORDER BY (cursorId)\n"
            "TTL ingestedAt + toIntervalDay(2)")
    return text + "\nSETTINGS allow_nullable_key = 1" if nullable_key else text


for _name in DELTA_TABLES:
    MASTRA_TABLE_DDL[_name] = _delta_table(_name)

MASTRA_TRACE_ROOTS_MV = """\
CREATE MATERIALIZED VIEW IF NOT EXISTS mastra_mv_trace_roots
TO mastra_trace_roots
AS
SELECT *
FROM mastra_span_events
WHERE parentSpanId IS NULL"""

MASTRA_TRACE_BRANCHES_MV = (
    "CREATE MATERIALIZED VIEW IF NOT EXISTS mastra_mv_trace_branches\n"
    "TO mastra_trace_branches\n"
    "AS\n"
    "SELECT *\n"
    "FROM mastra_span_events\n"
    "WHERE spanType IN (" + ", ".join(f"'{t}'" for t in MV_BRANCH_SPAN_TYPES) + ")")


def delta_cursor_expression(strategy: str, delta: str, key: str) -> str:
    """Mastra's ``cursorId`` expression of one delta view: a Keeper-backed serial number,
    or ``(ingest ms since 2026-05-04) << 26 | 26 bits of the key's fingerprint``."""
    if strategy == "serial":
        return f"generateSerialID('{delta}_cursor')"
    if strategy != "fallback":
        raise ValueError(f"delta cursor strategy must be one of {DELTA_CURSORS}, "
                         f"got {strategy!r}")
    return ("bitOr(\n"
            "    bitShiftLeft(\n"
            "      toUInt64(toUnixTimestamp64Milli(ingestedAt) - 1777852800000),\n"
            "      26\n"
            "    ),\n"
            f"    bitAnd(farmFingerprint64(toString({key})), toUInt64(67108863))\n"
            "  )")


def mastra_delta_mv(delta: str, strategy: str) -> str:
    """Mastra's view feeding one delta table, for a cursor strategy."""
    source, key = next((s, k) for d, s, k in DELTAS if d == delta)
    columns = [n for n, _ in _DELTA_COLUMNS[delta][0]]
    outer = ",\n".join(["  ingestedAt", *(f"  {c}" for c in columns)])
    inner = ",\n".join(["    now64(9, 'UTC') AS ingestedAt", *(f"    {c}" for c in columns)])
    return (f"CREATE MATERIALIZED VIEW IF NOT EXISTS {delta_view(delta)}\n"
            f"TO {delta}\n"
            "AS\n"
            "SELECT\n"
            f"  {delta_cursor_expression(strategy, delta, key)} AS cursorId,\n"
            f"{outer}\n"
            "FROM (\n"
            "  SELECT\n"
            f"{inner}\n"
            f"  FROM {source}\n"
            ")")


# The discovery views read the spans, metrics and logs (not scores or feedback).
_DISCOVERY_SOURCES = (SPAN_EVENTS, "mastra_metric_events", "mastra_log_events")


def _union(kind: str, key1: str, value: str, join: str = "", where: str = "",
           tables: Sequence[str] = _DISCOVERY_SOURCES) -> str:
    """One discovery kind over several tables, as Mastra's view spells it (one line)."""
    cond = f" WHERE {where}" if where else ""
    return " UNION ALL ".join(
        f"SELECT '{kind}' AS kind, {key1} AS key1, {value} AS value FROM {t}{join}{cond}"
        for t in tables)


def _present(column: str) -> str:
    return f"{column} IS NOT NULL AND {column} != ''"


MASTRA_DISCOVERY_VALUES_MV = "\n".join([
    "CREATE MATERIALIZED VIEW IF NOT EXISTS mastra_mv_discovery_values",
    "REFRESH EVERY 1 MINUTE APPEND",
    "TO mastra_discovery_values",
    "AS",
    "SELECT DISTINCT kind, key1, value FROM (",
    "  -- entityType",
    "  " + _union("entityType", "''", "entityType", where=_present("entityType")),
    "  UNION ALL",
    "  -- serviceName",
    "  " + _union("serviceName", "''", "serviceName", where=_present("serviceName")),
    "  UNION ALL",
    "  -- environment",
    "  " + _union("environment", "''", "environment", where=_present("environment")),
    "  UNION ALL",
    "  -- tag (explode tags array, key1 = entityType, drop rows without entityType)",
    "  " + _union("tag", "entityType", "tag", " ARRAY JOIN tags AS tag",
                  "tag != '' AND " + _present("entityType")),
    "  UNION ALL",
    "  -- metricName (metric_events only)",
    "  " + _union("metricName", "''", "name", where="name != ''",
                  tables=("mastra_metric_events",)),
    "  UNION ALL",
    "  -- metricLabelKey (metric_events only, explode label keys)",
    "  " + _union("metricLabelKey", "name", "labelKey", " ARRAY JOIN mapKeys(labels) AS labelKey",
                  "name != '' AND labelKey != ''", tables=("mastra_metric_events",)),
    ")",
])

MASTRA_DISCOVERY_PAIRS_MV = "\n".join([
    "CREATE MATERIALIZED VIEW IF NOT EXISTS mastra_mv_discovery_pairs",
    "REFRESH EVERY 5 MINUTE APPEND",
    "TO mastra_discovery_pairs",
    "AS",
    "SELECT DISTINCT kind, key1, key2, value FROM (",
    "  -- entityTypeName (entityType → entityName pairs)",
    "  " + " UNION ALL ".join(
        f"SELECT 'entityTypeName' AS kind, entityType AS key1, '' AS key2, entityName AS value "
        f"FROM {t} WHERE {_present('entityType')} AND {_present('entityName')}"
        for t in _DISCOVERY_SOURCES),
    "  UNION ALL",
    "  -- metricLabelValue (metricName + labelKey → labelValue triples)",
    "  SELECT 'metricLabelValue' AS kind, name AS key1, labelKey AS key2, "
    "labels[labelKey] AS value",
    "  FROM mastra_metric_events",
    "  ARRAY JOIN mapKeys(labels) AS labelKey",
    "  WHERE name != '' AND labelKey != '' AND labels[labelKey] != ''",
    ")",
])

# Mastra's additive migrations of the span tables (columns an older version did not
# create), in its order. Mastra gives mastra_trace_branches none.
VERSION_COLUMNS = ("entityVersionId", "parentEntityVersionId", "rootEntityVersionId")
MIGRATED_SPAN_TABLES = (SPAN_EVENTS, TRACE_ROOTS)

MASTRA_LEGACY_MARKER_DDL = (
    f"CREATE TABLE IF NOT EXISTS {LEGACY_MARKER} (completedAt DateTime64(3, 'UTC')) "
    "ENGINE = MergeTree ORDER BY completedAt")

# ---------------------------------------------------------------------------- rendering

# Every object name the statements mention; only these are qualified.
_DATA_TABLES = (*SPAN_TABLES, *DELTA_TABLES, *_SIGNAL_SOURCES)
_OBJECTS = frozenset((*_DATA_TABLES, *DISCOVERY_TABLES, MV_TRACE_ROOTS, MV_TRACE_BRANCHES,
                      MV_DISCOVERY_VALUES, MV_DISCOVERY_PAIRS, LEGACY_MARKER,
                      *DELTA_VIEWS))
_NAME = re.compile(r"(?<![\w'])(mastra_[a-z_]+)(?![\w'])")


def table(name: str, opts: SchemaOptions) -> str:
    """Where reads and inserts go: ``db.name`` (the Distributed table in cluster mode)."""
    return f"{quote_ident(opts.database)}.{quote_ident(name)}"


def local_name(name: str, opts: SchemaOptions) -> str:
    """The MergeTree table's unqualified name (``…_local`` for a data table in cluster
    mode; the discovery tables are replicated under their own name)."""
    return name + LOCAL_SUFFIX if opts.clustered and name in _DATA_TABLES else name


def local_table(name: str, opts: SchemaOptions) -> str:
    """Where DELETE and ALTER go: the MergeTree table, qualified."""
    return f"{quote_ident(opts.database)}.{quote_ident(local_name(name, opts))}"


def _qualify(text: str, opts: SchemaOptions, *, local: bool) -> str:
    """Qualify every object name of ``text``; ``local``: data tables by their MergeTree
    name (a node's view reads and writes its own tables), else by their shared name."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in _OBJECTS:
            return name
        return local_table(name, opts) if local else table(name, opts)

    return _NAME.sub(sub, text)


def _on_cluster(text: str, opts: SchemaOptions) -> str:
    """``ON CLUSTER`` after the object name of the first line."""
    if not opts.clustered:
        return text
    first, sep, rest = text.partition("\n")
    first = first.rstrip()
    if first.endswith(" ("):
        first = first[:-2] + opts.on_cluster + " ("
    else:
        first += opts.on_cluster
    return first + sep + rest


def _replicated(text: str, opts: SchemaOptions) -> str:
    if not opts.clustered:
        return text
    args = f"{quote_str(opts.zookeeper_path)}, {quote_str(opts.replica_name)}"
    for engine in ("ReplacingMergeTree", "MergeTree"):
        line = f"\nENGINE = {engine}\n"
        if line in text:
            return text.replace(line, f"\nENGINE = Replicated{engine}({args})\n", 1)
    raise AssertionError(f"no engine line in {text[:60]!r}")


def ttl_clause(opts: SchemaOptions) -> str | None:
    """Mastra's retention of the span tables (``retention.tracing``): on ``endedAt``."""
    days = opts.ttl_for("spans")
    return None if days is None else f"endedAt + INTERVAL {days} DAY"


def create_table(name: str, opts: SchemaOptions, *, qualify: bool = True) -> str:
    """Mastra's CREATE of one table: verbatim with ``qualify=False`` (no cluster, no
    retention); else qualified, clustered and with the span retention as configured."""
    text = MASTRA_TABLE_DDL[name]
    if not qualify:
        return text
    text = _replicated(_on_cluster(_qualify(text, opts, local=True), opts), opts)
    ttl = ttl_clause(opts)
    if ttl is not None and name in SPAN_TABLES:
        text += f"\nTTL {ttl}"
    return text


def sharding_key(name: str) -> str:
    """Cluster mode: the span tables by trace (a whole trace, and every copy of a span,
    on one shard: the reads stay local); the delta tables are filled on each node by its
    views, never through the Distributed table, so their key only has to exist."""
    if name in SPAN_TABLES:
        return "cityHash64(`traceId`)"
    key = next(k for d, _s, k in DELTAS if d == name)
    return f"cityHash64(`{key}`)"


def create_distributed(name: str, opts: SchemaOptions) -> str:
    assert opts.cluster is not None
    return (
        f"CREATE TABLE IF NOT EXISTS {table(name, opts)}{opts.on_cluster}\n"
        f"AS {local_table(name, opts)}\n"
        f"ENGINE = Distributed({quote_str(opts.cluster)}, {quote_str(opts.database)}, "
        f"{quote_str(local_name(name, opts))}, {sharding_key(name)})"
    )


def create_view(text: str, opts: SchemaOptions, *, local: bool = True) -> str:
    """One of Mastra's materialized views, qualified (and clustered)."""
    return _on_cluster(_qualify(text, opts, local=local), opts)


def span_migrations(opts: SchemaOptions) -> list[str]:
    """Mastra's span-table migrations, one ALTER per table (Mastra runs each clause on its
    own); in cluster mode the Distributed tables get the columns too."""
    clauses = ",\n    ".join(f"ADD COLUMN IF NOT EXISTS {c} Nullable(String)"
                             for c in VERSION_COLUMNS)
    out = [f"ALTER TABLE {local_table(t, opts)}{opts.on_cluster}\n    {clauses}"
           for t in MIGRATED_SPAN_TABLES]
    if opts.clustered:
        out += [f"ALTER TABLE {table(t, opts)}{opts.on_cluster}\n    {clauses}"
                for t in MIGRATED_SPAN_TABLES]
    return out


def vnext_statements(opts: SchemaOptions) -> list[str]:
    """The v-next migration: Mastra's span, discovery and delta tables, its views over
    them, its span-table migrations; in cluster mode the Distributed tables. In Mastra's
    order: tables, then views (a view must find its target), then the migrations. The
    delta tables and views are left out when ``opts.delta_cursor`` is ``"none"`` (Mastra
    does so when a database already holds views of both strategies)."""
    strategy = opts.delta_cursor or "fallback"
    deltas = () if strategy == "none" else DELTA_TABLES
    out = [create_table(t, opts) for t in (*SPAN_TABLES, *DISCOVERY_TABLES, *deltas)]
    if opts.clustered:
        out += [create_distributed(t, opts) for t in (*SPAN_TABLES, *deltas)]
    out += [create_view(MASTRA_TRACE_ROOTS_MV, opts), create_view(MASTRA_TRACE_BRANCHES_MV, opts)]
    out += [create_view(mastra_delta_mv(d, strategy), opts) for d in deltas]
    out += span_migrations(opts)
    return out


def discovery_views(opts: SchemaOptions) -> list[str]:
    """Mastra's refreshable discovery views. Best effort, as in Mastra (a server without
    refreshable views still works): they read the shared tables (the whole cluster)."""
    return [create_view(MASTRA_DISCOVERY_VALUES_MV, opts, local=False),
            create_view(MASTRA_DISCOVERY_PAIRS_MV, opts, local=False)]


def modify_ttl(opts: SchemaOptions) -> list[str]:
    """``ALTER … MODIFY TTL`` of the three span tables (Mastra's retention statements)."""
    ttl = ttl_clause(opts)
    if ttl is None:
        return []
    return [f"ALTER TABLE {local_table(t, opts)}{opts.on_cluster} MODIFY TTL {ttl}"
            for t in SPAN_TABLES]


def legacy_marker(opts: SchemaOptions) -> str:
    return _qualify(MASTRA_LEGACY_MARKER_DDL, opts, local=False)


__all__ = [
    "DELTA_CURSORS", "DELTA_TABLES", "DISCOVERY_TABLES", "LEGACY_MARKER", "LEGACY_SPANS",
    "MASTRA_TABLE_DDL", "SPAN_EVENTS", "SPAN_TABLES", "TRACE_BRANCHES", "TRACE_ROOTS",
    "create_table", "discovery_views", "local_table", "modify_ttl", "table",
    "vnext_statements",
]
