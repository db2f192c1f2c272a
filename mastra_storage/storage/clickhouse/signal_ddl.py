"""Mastra's v-next signal tables on ClickHouse: logs, metrics, scores and feedback.

The four ``CREATE TABLE`` statements below are the text ``@mastra/clickhouse`` 1.16.0
renders (``v-next/ddl.ts``, default options), kept verbatim — comments, spacing and all —
so that a Mastra app and this library create, and then share, the very same tables. The
only changes made when rendering them here are the ones every statement of this package
gets: the table name qualified with the database, ``ON CLUSTER`` and a replicated engine
in cluster mode (see :func:`create_signal_table`). The contract copy of the same text is
``tests/contract/clickhouse-vnext.signals.sql``; the tests compare the two, and the
tables the engine creates from each.

Every table is a ``ReplacingMergeTree`` **without** a version column, ordered by a key
that ends in the record's id (``(timestamp, logId)``, ``(name, timestamp, metricId)``,
``(traceId, timestamp, scoreId)``, ``(traceId, timestamp, feedbackId)``) and partitioned
by day. A retried batch carries the same ids and timestamps, so its rows have the same
key as the first copy: the background merge keeps one of them, and every read of this
package uses ``FINAL``, which applies the same rule at read time — a retried batch never
shows twice. (Two *different* records that share an id and a timestamp are one record.)

Mastra's ClickHouse table has no ``reviewStatus`` column (its store does not implement
feedback review). To keep Mastra's table exactly as Mastra creates it, the review status
lives in a small table of ours, ``mastra_storage_feedback_review`` (``feedbackId``,
``reviewStatus``, ``updatedAt``; ``ReplacingMergeTree(updatedAt)``): a feedback without a
row there is ``needs-review``, as Mastra's records default.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ...model.signals import SIGNAL_TABLES, SignalTable
from .ddl import HISTORY_ZOOKEEPER_PATH, SchemaOptions, quote_ident, quote_str

LOCAL_SUFFIX = "_local"
REVIEW_TABLE = "mastra_storage_feedback_review"
SIGNALS = ("metrics", "logs", "scores", "feedback")  # Mastra's order of creation
TIME_COLUMN = "timestamp"

# Verbatim from @mastra/clickhouse 1.16.0 (v-next/ddl.ts, rendered with default options).
MASTRA_SIGNAL_DDL: dict[str, str] = {
    "metrics": """\
CREATE TABLE IF NOT EXISTS mastra_metric_events (
  -- Timestamp
  timestamp          DateTime64(3, 'UTC'),

  -- IDs
  metricId           String,
  traceId            Nullable(String),
  spanId             Nullable(String),
  experimentId       Nullable(String),

  -- Entity hierarchy
  entityType         LowCardinality(Nullable(String)),
  entityId           Nullable(String),
  entityName         Nullable(String),
  entityVersionId    Nullable(String),
  parentEntityVersionId Nullable(String),
  parentEntityType   LowCardinality(Nullable(String)),
  parentEntityId     Nullable(String),
  parentEntityName   Nullable(String),
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

  -- Metric scalars
  name               LowCardinality(String),
  value              Float64,
  provider           LowCardinality(Nullable(String)),
  model              Nullable(String),
  estimatedCost      Nullable(Float64),
  costUnit           LowCardinality(Nullable(String)),

  -- Query-relevant flexible fields
  tags               Array(LowCardinality(String)) DEFAULT [],
  labels             Map(LowCardinality(String), String) DEFAULT map(),

  -- Information-only JSON payloads
  costMetadata       Nullable(String),
  metadata           Nullable(String),
  scope              Nullable(String),

  -- Bloom-filter skip indexes for high-cardinality ID drilldowns.
  -- Equality and IN filters on these columns can skip granule chunks that
  -- definitely do not contain the value. GRANULARITY 2 = 16K-row chunks.
  -- ID columns are out-of-sort-key, so without these every drilldown scans
  -- every row in the time range.
  INDEX idx_traceId traceId TYPE bloom_filter(0.01) GRANULARITY 2,
  INDEX idx_threadId threadId TYPE bloom_filter(0.01) GRANULARITY 2,
  INDEX idx_resourceId resourceId TYPE bloom_filter(0.01) GRANULARITY 2,
  INDEX idx_userId userId TYPE bloom_filter(0.01) GRANULARITY 2,
  INDEX idx_organizationId organizationId TYPE bloom_filter(0.01) GRANULARITY 2,
  INDEX idx_experimentId experimentId TYPE bloom_filter(0.01) GRANULARITY 2,
  INDEX idx_runId runId TYPE bloom_filter(0.01) GRANULARITY 2,
  INDEX idx_sessionId sessionId TYPE bloom_filter(0.01) GRANULARITY 2,
  INDEX idx_requestId requestId TYPE bloom_filter(0.01) GRANULARITY 2
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(timestamp)
ORDER BY (name, timestamp, metricId)""",
    "logs": """\
CREATE TABLE IF NOT EXISTS mastra_log_events (
  -- Timestamp
  timestamp          DateTime64(3, 'UTC'),

  -- IDs
  logId              String,
  traceId            Nullable(String),
  spanId             Nullable(String),
  experimentId       Nullable(String),

  -- Entity hierarchy
  entityType         LowCardinality(Nullable(String)),
  entityId           Nullable(String),
  entityName         Nullable(String),
  entityVersionId    Nullable(String),
  parentEntityVersionId Nullable(String),
  parentEntityType   LowCardinality(Nullable(String)),
  parentEntityId     Nullable(String),
  parentEntityName   Nullable(String),
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

  -- Log scalars
  level              LowCardinality(String),
  message            String,

  -- Query-relevant flexible fields
  tags               Array(LowCardinality(String)) DEFAULT [],

  -- Information-only JSON payloads
  data               Nullable(String),
  metadata           Nullable(String),
  scope              Nullable(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(timestamp)
ORDER BY (timestamp, logId)""",
    "scores": """\
CREATE TABLE IF NOT EXISTS mastra_score_events (
  -- Timestamp
  timestamp          DateTime64(3, 'UTC'),

  -- IDs
  scoreId            String,
  traceId            Nullable(String),
  spanId             Nullable(String),
  experimentId       Nullable(String),
  scoreTraceId       Nullable(String),

  -- Entity hierarchy
  entityType         LowCardinality(Nullable(String)),
  entityId           Nullable(String),
  entityName         Nullable(String),
  entityVersionId    Nullable(String),
  parentEntityVersionId Nullable(String),
  parentEntityType   LowCardinality(Nullable(String)),
  parentEntityId     Nullable(String),
  parentEntityName   Nullable(String),
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

  -- Scorer identity
  scorerId           LowCardinality(String),
  scorerVersion      LowCardinality(Nullable(String)),
  scoreSource        LowCardinality(Nullable(String)),

  -- Score value
  score              Float64,

  -- Information-only
  reason             Nullable(String),

  -- Query-relevant flexible fields
  tags               Array(LowCardinality(String)) DEFAULT [],

  -- Information-only JSON payloads
  metadata           Nullable(String),
  scope              Nullable(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(timestamp)
ORDER BY (traceId, timestamp, scoreId)
SETTINGS allow_nullable_key = 1""",
    "feedback": """\
CREATE TABLE IF NOT EXISTS mastra_feedback_events (
  -- Timestamp
  timestamp          DateTime64(3, 'UTC'),

  -- IDs
  feedbackId         String,
  traceId            Nullable(String),
  spanId             Nullable(String),
  experimentId       Nullable(String),

  -- Entity hierarchy
  entityType         LowCardinality(Nullable(String)),
  entityId           Nullable(String),
  entityName         Nullable(String),
  entityVersionId    Nullable(String),
  parentEntityVersionId Nullable(String),
  parentEntityType   LowCardinality(Nullable(String)),
  parentEntityId     Nullable(String),
  parentEntityName   Nullable(String),
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

  -- Feedback actor / linkage
  feedbackUserId     Nullable(String),
  sourceId           Nullable(String),

  -- Feedback identity
  feedbackSource     LowCardinality(String),
  feedbackType       LowCardinality(String),

  -- Feedback value (exactly one non-null per valid row)
  valueString        Nullable(String),
  valueNumber        Nullable(Float64),

  -- Information-only
  comment            Nullable(String),

  -- Query-relevant flexible fields
  tags               Array(LowCardinality(String)) DEFAULT [],

  -- Information-only JSON payloads
  metadata           Nullable(String),
  scope              Nullable(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(timestamp)
ORDER BY (traceId, timestamp, feedbackId)
SETTINGS allow_nullable_key = 1""",}

# Columns Mastra's migrations add to signal tables an older version created (v-next
# ``migration.ts``), in its order; idempotent on a table that has them.
_VERSION_COLUMNS = ("entityVersionId", "parentEntityVersionId", "rootEntityVersionId")

_COLUMN_LINE = re.compile(r"^  ([A-Za-z_][A-Za-z0-9_]*)\s+(.+?)(?:\s+DEFAULT\s+.+?)?,?$")
_INDEX_LINE = re.compile(r"^  INDEX (.+?),?$")


def mastra_columns(signal: str) -> list[tuple[str, str]]:
    """(column, ClickHouse type) of a signal table, in Mastra's order, read off its DDL."""
    out = []
    for line in MASTRA_SIGNAL_DDL[signal].splitlines()[1:]:
        if line.startswith(("  --", "  INDEX")) or not line.startswith("  "):
            continue
        match = _COLUMN_LINE.match(line)
        if match:
            out.append((match.group(1), match.group(2)))
    return out


def mastra_indexes(signal: str) -> list[str]:
    """The ``INDEX …`` clauses of a signal table's DDL (metrics only, in 1.16.0)."""
    return [m.group(1) for line in MASTRA_SIGNAL_DDL[signal].splitlines()
            if (m := _INDEX_LINE.match(line))]


def table_name(signal: str) -> str:
    return SIGNAL_TABLES[signal].table


def spec(signal: str) -> SignalTable:
    return SIGNAL_TABLES[signal]


# ---------------------------------------------------------------------------- names

def data_table(signal: str, opts: SchemaOptions) -> str:
    """The MergeTree table's name (``…_local`` in cluster mode)."""
    name = table_name(signal)
    return name + LOCAL_SUFFIX if opts.clustered else name


def qualified(signal: str, opts: SchemaOptions) -> str:
    """Where reads and inserts go (the Distributed table in cluster mode)."""
    return f"{quote_ident(opts.database)}.{quote_ident(table_name(signal))}"


def qualified_local(signal: str, opts: SchemaOptions) -> str:
    """Where DELETE and ALTER go."""
    return f"{quote_ident(opts.database)}.{quote_ident(data_table(signal, opts))}"


def review_table(opts: SchemaOptions) -> str:
    return f"{quote_ident(opts.database)}.{quote_ident(REVIEW_TABLE)}"


# ---------------------------------------------------------------------------- statements

def create_signal_table(signal: str, opts: SchemaOptions, *, qualify: bool = True) -> str:
    """Mastra's CREATE statement for ``signal``: verbatim with ``qualify=False``, no
    cluster and no retention; otherwise with the database-qualified name (in cluster mode
    the ``_local`` name, ``ON CLUSTER`` and ``ReplicatedReplacingMergeTree``) and, with a
    retention, a ``TTL`` clause after ``ORDER BY``."""
    text = MASTRA_SIGNAL_DDL[signal]
    head = f"CREATE TABLE IF NOT EXISTS {table_name(signal)} ("
    assert text.startswith(head)
    if not qualify and not opts.clustered and ttl_clause(signal, opts) is None:
        return text
    name = qualified_local(signal, opts) if qualify else data_table(signal, opts)
    text = f"CREATE TABLE IF NOT EXISTS {name}{opts.on_cluster} (" + text[len(head):]
    if opts.clustered:
        engine = (f"ENGINE = ReplicatedReplacingMergeTree({quote_str(opts.zookeeper_path)}, "
                  f"{quote_str(opts.replica_name)})")
        assert "\nENGINE = ReplacingMergeTree\n" in text
        text = text.replace("\nENGINE = ReplacingMergeTree\n", f"\n{engine}\n", 1)
    ttl = ttl_clause(signal, opts)
    if ttl is not None:  # a new table gets its retention in the CREATE, after ORDER BY
        lines = text.split("\n")
        at = next(i for i, line in enumerate(lines) if line.startswith("ORDER BY "))
        lines.insert(at + 1, f"TTL {ttl}")
        text = "\n".join(lines)
    return text


def sharding_key(signal: str) -> str:
    """Cluster mode: a signal row goes to the shard of its trace (the spans are sharded by
    ``cityHash64(traceId)``), so the trace query's semi-joins stay on one shard; a row
    without a trace goes by its id. Every copy of a row lands on the same shard, which is
    what lets ``FINAL`` de-duplicate it."""
    id_column = spec(signal).columns[0].name
    return f"cityHash64(ifNull(`traceId`, `{id_column}`))"


def create_distributed(signal: str, opts: SchemaOptions) -> str:
    assert opts.cluster is not None
    return (
        f"CREATE TABLE IF NOT EXISTS {qualified(signal, opts)}{opts.on_cluster}\n"
        f"AS {qualified_local(signal, opts)}\n"
        f"ENGINE = Distributed({quote_str(opts.cluster)}, {quote_str(opts.database)}, "
        f"{quote_str(data_table(signal, opts))}, {sharding_key(signal)})"
    )


def create_review_table(opts: SchemaOptions) -> str:
    """Feedback review status (ours; see the module docstring). In cluster mode one
    replica set for the whole cluster, not sharded: every shard reads all of it."""
    if opts.clustered:
        engine = (f"ReplicatedReplacingMergeTree({quote_str(HISTORY_ZOOKEEPER_PATH)}, "
                  f"{quote_str(opts.replica_name)}, `updatedAt`)")
    else:
        engine = "ReplacingMergeTree(`updatedAt`)"
    return (
        f"CREATE TABLE IF NOT EXISTS {review_table(opts)}{opts.on_cluster}\n"
        "(\n"
        "    `feedbackId` String,\n"
        "    `reviewStatus` LowCardinality(String),\n"
        "    `updatedAt` DateTime64(3, 'UTC')\n"
        ")\n"
        f"ENGINE = {engine}\n"
        "ORDER BY `feedbackId`"
    )


def mastra_migration_clauses(signal: str) -> list[str]:
    """The clauses of Mastra's v-next migrations for one signal table, in its order:
    version columns an older Mastra did not create, then (metrics) the skip indexes."""
    out = [f"ADD COLUMN IF NOT EXISTS {col} Nullable(String)" for col in _VERSION_COLUMNS]
    return out + [f"ADD INDEX IF NOT EXISTS {index}" for index in mastra_indexes(signal)]


def mastra_migrations(opts: SchemaOptions) -> list[str]:
    """Mastra's migrations of the signal tables, one ALTER per table (Mastra runs each
    clause as its own statement; one ALTER is one metadata change instead of up to 12).
    A table an older Mastra created gets what it lacks; on a new table they are no-ops."""
    return [f"ALTER TABLE {qualified_local(s, opts)}{opts.on_cluster}\n    "
            + ",\n    ".join(mastra_migration_clauses(s)) for s in SIGNALS]


def signal_statements(opts: SchemaOptions) -> list[str]:
    """Migration 3: the four tables (Mastra's DDL), Mastra's migrations for them, the
    Distributed tables in cluster mode, and the review-status table."""
    out = [create_signal_table(s, opts) for s in SIGNALS]
    out += mastra_migrations(opts)
    if opts.clustered:
        out += [create_distributed(s, opts) for s in SIGNALS]
    out.append(create_review_table(opts))
    return out


def ttl_clause(signal: str, opts: SchemaOptions) -> str | None:
    days = opts.ttl_for(signal)
    if days is None:
        return None
    return f"toDateTime(`{TIME_COLUMN}`) + toIntervalDay({days}) DELETE"


def modify_ttl(signal: str, opts: SchemaOptions) -> str | None:
    """``ALTER … MODIFY TTL`` for a signal table with a retention, else None (a table
    created before the retention was configured; Mastra's retention option does the same)."""
    ttl = ttl_clause(signal, opts)
    if ttl is None:
        return None
    return f"ALTER TABLE {qualified_local(signal, opts)}{opts.on_cluster} MODIFY TTL {ttl}"


def ttl_statements(opts: SchemaOptions, signals: Sequence[str] = SIGNALS) -> list[str]:
    return [s for s in (modify_ttl(sig, opts) for sig in signals) if s is not None]


# Every Mastra column maps onto a field of the signal's record (the one field Mastra's
# ClickHouse table lacks is feedback's review status, kept in REVIEW_TABLE).
for _signal in SIGNALS:
    _names = {c.name for c in spec(_signal).columns}
    _ddl = {name for name, _type in mastra_columns(_signal)}
    assert _ddl <= _names, (_signal, _ddl - _names)
    assert _names - _ddl <= {"reviewStatus"}, (_signal, _names - _ddl)
