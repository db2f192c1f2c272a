-- Provenance: the signal tables of Mastra's ClickHouse v-next observability store
-- (`@mastra/clickhouse` 1.16.0, src/storage/domains/observability/v-next/ddl.ts and
-- migration.ts), rendered with the package's own ddl.ts bundled by esbuild (default
-- options, no replication), not read back from a server: there was no ClickHouse server
-- where Mastra could run. Copied byte for byte (the four CREATE statements and the
-- signal-table migrations of the rendering, in its order) on 2026-11-30 so that the
-- repository is self-contained; tests/test_clickhouse_signals.py reads it from here only.
-- Don't edit by hand: to follow a newer Mastra release, render it again the same way.

-- METRIC_EVENTS_DDL
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
ORDER BY (name, timestamp, metricId);

-- LOG_EVENTS_DDL
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
ORDER BY (timestamp, logId);

-- SCORE_EVENTS_DDL
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
SETTINGS allow_nullable_key = 1;

-- FEEDBACK_EVENTS_DDL
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
SETTINGS allow_nullable_key = 1;

-- migration
ALTER TABLE mastra_metric_events ADD COLUMN IF NOT EXISTS entityVersionId Nullable(String);

-- migration
ALTER TABLE mastra_metric_events ADD COLUMN IF NOT EXISTS parentEntityVersionId Nullable(String);

-- migration
ALTER TABLE mastra_metric_events ADD COLUMN IF NOT EXISTS rootEntityVersionId Nullable(String);

-- migration
ALTER TABLE mastra_log_events ADD COLUMN IF NOT EXISTS entityVersionId Nullable(String);

-- migration
ALTER TABLE mastra_log_events ADD COLUMN IF NOT EXISTS parentEntityVersionId Nullable(String);

-- migration
ALTER TABLE mastra_log_events ADD COLUMN IF NOT EXISTS rootEntityVersionId Nullable(String);

-- migration
ALTER TABLE mastra_score_events ADD COLUMN IF NOT EXISTS entityVersionId Nullable(String);

-- migration
ALTER TABLE mastra_score_events ADD COLUMN IF NOT EXISTS parentEntityVersionId Nullable(String);

-- migration
ALTER TABLE mastra_score_events ADD COLUMN IF NOT EXISTS rootEntityVersionId Nullable(String);

-- migration
ALTER TABLE mastra_feedback_events ADD COLUMN IF NOT EXISTS entityVersionId Nullable(String);

-- migration
ALTER TABLE mastra_feedback_events ADD COLUMN IF NOT EXISTS parentEntityVersionId Nullable(String);

-- migration
ALTER TABLE mastra_feedback_events ADD COLUMN IF NOT EXISTS rootEntityVersionId Nullable(String);

-- migration
ALTER TABLE mastra_metric_events ADD INDEX IF NOT EXISTS idx_traceId traceId TYPE bloom_filter(0.01) GRANULARITY 2;

-- migration
ALTER TABLE mastra_metric_events ADD INDEX IF NOT EXISTS idx_threadId threadId TYPE bloom_filter(0.01) GRANULARITY 2;

-- migration
ALTER TABLE mastra_metric_events ADD INDEX IF NOT EXISTS idx_resourceId resourceId TYPE bloom_filter(0.01) GRANULARITY 2;

-- migration
ALTER TABLE mastra_metric_events ADD INDEX IF NOT EXISTS idx_userId userId TYPE bloom_filter(0.01) GRANULARITY 2;

-- migration
ALTER TABLE mastra_metric_events ADD INDEX IF NOT EXISTS idx_organizationId organizationId TYPE bloom_filter(0.01) GRANULARITY 2;

-- migration
ALTER TABLE mastra_metric_events ADD INDEX IF NOT EXISTS idx_experimentId experimentId TYPE bloom_filter(0.01) GRANULARITY 2;

-- migration
ALTER TABLE mastra_metric_events ADD INDEX IF NOT EXISTS idx_runId runId TYPE bloom_filter(0.01) GRANULARITY 2;

-- migration
ALTER TABLE mastra_metric_events ADD INDEX IF NOT EXISTS idx_sessionId sessionId TYPE bloom_filter(0.01) GRANULARITY 2;

-- migration
ALTER TABLE mastra_metric_events ADD INDEX IF NOT EXISTS idx_requestId requestId TYPE bloom_filter(0.01) GRANULARITY 2;
