-- Provenance: the span side of Mastra's ClickHouse v-next observability store
-- (`@mastra/clickhouse` 1.16.0): mastra_span_events, mastra_trace_roots,
-- mastra_trace_branches, the discovery and delta tables, every materialized view (delta
-- views for both cursor strategies), the span-table migrations, the retention statements
-- for `retention: {tracing: 30}` and the legacy-migration marker table. Rendered on
-- 2026-11-30 by tests/contract/render-clickhouse-vnext.mjs, which evaluates the
-- `v-next/ddl.ts` region of the package's published dist/index.js as it is (the marker
-- statement is the template literal of `v-next/migration.ts` in the same file); not read
-- back from a server: there was no ClickHouse server where Mastra could run. Checked
-- against /work/research/clickhouse-vnext-rendered.sql (rendered from the TypeScript
-- source): the same statements. The signal tables are clickhouse-vnext.signals.sql.
-- tests/test_clickhouse_vnext.py reads it from here only. Don't edit by hand: to follow a
-- newer Mastra release, render it again with the script.

-- SPAN_EVENTS_DDL
CREATE TABLE IF NOT EXISTS mastra_span_events (
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
  requestContext     Nullable(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(endedAt)
ORDER BY (traceId, endedAt, spanId, dedupeKey);

-- TRACE_ROOTS_DDL
CREATE TABLE IF NOT EXISTS mastra_trace_roots (
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
  requestContext     Nullable(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(endedAt)
ORDER BY (startedAt, traceId, dedupeKey);

-- TRACE_BRANCHES_DDL
CREATE TABLE IF NOT EXISTS mastra_trace_branches (
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
  requestContext     Nullable(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toDate(endedAt)
ORDER BY (spanType, startedAt, traceId, dedupeKey);

-- DISCOVERY_VALUES_DDL
CREATE TABLE IF NOT EXISTS mastra_discovery_values (
  kind               LowCardinality(String),
  key1               String,
  value              String
)
ENGINE = ReplacingMergeTree
ORDER BY (kind, key1, value);

-- DISCOVERY_PAIRS_DDL
CREATE TABLE IF NOT EXISTS mastra_discovery_pairs (
  kind               LowCardinality(String),
  key1               String,
  key2               String,
  value              String
)
ENGINE = ReplacingMergeTree
ORDER BY (kind, key1, key2, value);

-- delta table
CREATE TABLE IF NOT EXISTS mastra_trace_roots_delta (
  cursorId           UInt64,
  ingestedAt         DateTime64(9, 'UTC'),
  startedAt          DateTime64(3, 'UTC'),
  traceId            String,
  dedupeKey          String
)
ENGINE = MergeTree
PARTITION BY toDate(ingestedAt)
ORDER BY (cursorId)
TTL ingestedAt + toIntervalDay(2);

-- delta table
CREATE TABLE IF NOT EXISTS mastra_trace_branches_delta (
  cursorId           UInt64,
  ingestedAt         DateTime64(9, 'UTC'),
  spanType           LowCardinality(String),
  startedAt          DateTime64(3, 'UTC'),
  traceId            String,
  spanId             String,
  dedupeKey          String
)
ENGINE = MergeTree
PARTITION BY toDate(ingestedAt)
ORDER BY (cursorId)
TTL ingestedAt + toIntervalDay(2);

-- delta table
CREATE TABLE IF NOT EXISTS mastra_metric_events_delta (
  cursorId           UInt64,
  ingestedAt         DateTime64(9, 'UTC'),
  name               LowCardinality(String),
  timestamp          DateTime64(3, 'UTC'),
  metricId           String
)
ENGINE = MergeTree
PARTITION BY toDate(ingestedAt)
ORDER BY (cursorId)
TTL ingestedAt + toIntervalDay(2);

-- delta table
CREATE TABLE IF NOT EXISTS mastra_log_events_delta (
  cursorId           UInt64,
  ingestedAt         DateTime64(9, 'UTC'),
  timestamp          DateTime64(3, 'UTC'),
  logId              String
)
ENGINE = MergeTree
PARTITION BY toDate(ingestedAt)
ORDER BY (cursorId)
TTL ingestedAt + toIntervalDay(2);

-- delta table
CREATE TABLE IF NOT EXISTS mastra_score_events_delta (
  cursorId           UInt64,
  ingestedAt         DateTime64(9, 'UTC'),
  traceId            Nullable(String),
  timestamp          DateTime64(3, 'UTC'),
  scoreId            String
)
ENGINE = MergeTree
PARTITION BY toDate(ingestedAt)
ORDER BY (cursorId)
TTL ingestedAt + toIntervalDay(2)
SETTINGS allow_nullable_key = 1;

-- delta table
CREATE TABLE IF NOT EXISTS mastra_feedback_events_delta (
  cursorId           UInt64,
  ingestedAt         DateTime64(9, 'UTC'),
  traceId            Nullable(String),
  timestamp          DateTime64(3, 'UTC'),
  feedbackId         String
)
ENGINE = MergeTree
PARTITION BY toDate(ingestedAt)
ORDER BY (cursorId)
TTL ingestedAt + toIntervalDay(2)
SETTINGS allow_nullable_key = 1;

-- TRACE_ROOTS_MV_DDL
CREATE MATERIALIZED VIEW IF NOT EXISTS mastra_mv_trace_roots
TO mastra_trace_roots
AS
SELECT *
FROM mastra_span_events
WHERE parentSpanId IS NULL;

-- TRACE_BRANCHES_MV_DDL
CREATE MATERIALIZED VIEW IF NOT EXISTS mastra_mv_trace_branches
TO mastra_trace_branches
AS
SELECT *
FROM mastra_span_events
WHERE spanType IN ('agent_run', 'workflow_run', 'processor_run', 'scorer_run', 'rag_ingestion', 'tool_call', 'mcp_tool_call');

-- delta MV serial
CREATE MATERIALIZED VIEW IF NOT EXISTS mastra_mv_trace_roots_delta
TO mastra_trace_roots_delta
AS
SELECT
  generateSerialID('mastra_trace_roots_delta_cursor') AS cursorId,
  ingestedAt,
  startedAt,
  traceId,
  dedupeKey
FROM (
  SELECT
    now64(9, 'UTC') AS ingestedAt,
    startedAt,
    traceId,
    dedupeKey
  FROM mastra_trace_roots
);

-- delta MV serial
CREATE MATERIALIZED VIEW IF NOT EXISTS mastra_mv_trace_branches_delta
TO mastra_trace_branches_delta
AS
SELECT
  generateSerialID('mastra_trace_branches_delta_cursor') AS cursorId,
  ingestedAt,
  spanType,
  startedAt,
  traceId,
  spanId,
  dedupeKey
FROM (
  SELECT
    now64(9, 'UTC') AS ingestedAt,
    spanType,
    startedAt,
    traceId,
    spanId,
    dedupeKey
  FROM mastra_trace_branches
);

-- delta MV serial
CREATE MATERIALIZED VIEW IF NOT EXISTS mastra_mv_metric_events_delta
TO mastra_metric_events_delta
AS
SELECT
  generateSerialID('mastra_metric_events_delta_cursor') AS cursorId,
  ingestedAt,
  name,
  timestamp,
  metricId
FROM (
  SELECT
    now64(9, 'UTC') AS ingestedAt,
    name,
    timestamp,
    metricId
  FROM mastra_metric_events
);

-- delta MV serial
CREATE MATERIALIZED VIEW IF NOT EXISTS mastra_mv_log_events_delta
TO mastra_log_events_delta
AS
SELECT
  generateSerialID('mastra_log_events_delta_cursor') AS cursorId,
  ingestedAt,
  timestamp,
  logId
FROM (
  SELECT
    now64(9, 'UTC') AS ingestedAt,
    timestamp,
    logId
  FROM mastra_log_events
);

-- delta MV serial
CREATE MATERIALIZED VIEW IF NOT EXISTS mastra_mv_score_events_delta
TO mastra_score_events_delta
AS
SELECT
  generateSerialID('mastra_score_events_delta_cursor') AS cursorId,
  ingestedAt,
  traceId,
  timestamp,
  scoreId
FROM (
  SELECT
    now64(9, 'UTC') AS ingestedAt,
    traceId,
    timestamp,
    scoreId
  FROM mastra_score_events
);

-- delta MV serial
CREATE MATERIALIZED VIEW IF NOT EXISTS mastra_mv_feedback_events_delta
TO mastra_feedback_events_delta
AS
SELECT
  generateSerialID('mastra_feedback_events_delta_cursor') AS cursorId,
  ingestedAt,
  traceId,
  timestamp,
  feedbackId
FROM (
  SELECT
    now64(9, 'UTC') AS ingestedAt,
    traceId,
    timestamp,
    feedbackId
  FROM mastra_feedback_events
);

-- delta MV fallback
CREATE MATERIALIZED VIEW IF NOT EXISTS mastra_mv_trace_roots_delta
TO mastra_trace_roots_delta
AS
SELECT
  bitOr(
    bitShiftLeft(
      toUInt64(toUnixTimestamp64Milli(ingestedAt) - 1777852800000),
      26
    ),
    bitAnd(farmFingerprint64(toString(dedupeKey)), toUInt64(67108863))
  ) AS cursorId,
  ingestedAt,
  startedAt,
  traceId,
  dedupeKey
FROM (
  SELECT
    now64(9, 'UTC') AS ingestedAt,
    startedAt,
    traceId,
    dedupeKey
  FROM mastra_trace_roots
);

-- delta MV fallback
CREATE MATERIALIZED VIEW IF NOT EXISTS mastra_mv_trace_branches_delta
TO mastra_trace_branches_delta
AS
SELECT
  bitOr(
    bitShiftLeft(
      toUInt64(toUnixTimestamp64Milli(ingestedAt) - 1777852800000),
      26
    ),
    bitAnd(farmFingerprint64(toString(dedupeKey)), toUInt64(67108863))
  ) AS cursorId,
  ingestedAt,
  spanType,
  startedAt,
  traceId,
  spanId,
  dedupeKey
FROM (
  SELECT
    now64(9, 'UTC') AS ingestedAt,
    spanType,
    startedAt,
    traceId,
    spanId,
    dedupeKey
  FROM mastra_trace_branches
);

-- delta MV fallback
CREATE MATERIALIZED VIEW IF NOT EXISTS mastra_mv_metric_events_delta
TO mastra_metric_events_delta
AS
SELECT
  bitOr(
    bitShiftLeft(
      toUInt64(toUnixTimestamp64Milli(ingestedAt) - 1777852800000),
      26
    ),
    bitAnd(farmFingerprint64(toString(metricId)), toUInt64(67108863))
  ) AS cursorId,
  ingestedAt,
  name,
  timestamp,
  metricId
FROM (
  SELECT
    now64(9, 'UTC') AS ingestedAt,
    name,
    timestamp,
    metricId
  FROM mastra_metric_events
);

-- delta MV fallback
CREATE MATERIALIZED VIEW IF NOT EXISTS mastra_mv_log_events_delta
TO mastra_log_events_delta
AS
SELECT
  bitOr(
    bitShiftLeft(
      toUInt64(toUnixTimestamp64Milli(ingestedAt) - 1777852800000),
      26
    ),
    bitAnd(farmFingerprint64(toString(logId)), toUInt64(67108863))
  ) AS cursorId,
  ingestedAt,
  timestamp,
  logId
FROM (
  SELECT
    now64(9, 'UTC') AS ingestedAt,
    timestamp,
    logId
  FROM mastra_log_events
);

-- delta MV fallback
CREATE MATERIALIZED VIEW IF NOT EXISTS mastra_mv_score_events_delta
TO mastra_score_events_delta
AS
SELECT
  bitOr(
    bitShiftLeft(
      toUInt64(toUnixTimestamp64Milli(ingestedAt) - 1777852800000),
      26
    ),
    bitAnd(farmFingerprint64(toString(scoreId)), toUInt64(67108863))
  ) AS cursorId,
  ingestedAt,
  traceId,
  timestamp,
  scoreId
FROM (
  SELECT
    now64(9, 'UTC') AS ingestedAt,
    traceId,
    timestamp,
    scoreId
  FROM mastra_score_events
);

-- delta MV fallback
CREATE MATERIALIZED VIEW IF NOT EXISTS mastra_mv_feedback_events_delta
TO mastra_feedback_events_delta
AS
SELECT
  bitOr(
    bitShiftLeft(
      toUInt64(toUnixTimestamp64Milli(ingestedAt) - 1777852800000),
      26
    ),
    bitAnd(farmFingerprint64(toString(feedbackId)), toUInt64(67108863))
  ) AS cursorId,
  ingestedAt,
  traceId,
  timestamp,
  feedbackId
FROM (
  SELECT
    now64(9, 'UTC') AS ingestedAt,
    traceId,
    timestamp,
    feedbackId
  FROM mastra_feedback_events
);

-- discovery MV
CREATE MATERIALIZED VIEW IF NOT EXISTS mastra_mv_discovery_values
REFRESH EVERY 1 MINUTE APPEND
TO mastra_discovery_values
AS
SELECT DISTINCT kind, key1, value FROM (
  -- entityType
  SELECT 'entityType' AS kind, '' AS key1, entityType AS value FROM mastra_span_events WHERE entityType IS NOT NULL AND entityType != '' UNION ALL SELECT 'entityType' AS kind, '' AS key1, entityType AS value FROM mastra_metric_events WHERE entityType IS NOT NULL AND entityType != '' UNION ALL SELECT 'entityType' AS kind, '' AS key1, entityType AS value FROM mastra_log_events WHERE entityType IS NOT NULL AND entityType != ''
  UNION ALL
  -- serviceName
  SELECT 'serviceName' AS kind, '' AS key1, serviceName AS value FROM mastra_span_events WHERE serviceName IS NOT NULL AND serviceName != '' UNION ALL SELECT 'serviceName' AS kind, '' AS key1, serviceName AS value FROM mastra_metric_events WHERE serviceName IS NOT NULL AND serviceName != '' UNION ALL SELECT 'serviceName' AS kind, '' AS key1, serviceName AS value FROM mastra_log_events WHERE serviceName IS NOT NULL AND serviceName != ''
  UNION ALL
  -- environment
  SELECT 'environment' AS kind, '' AS key1, environment AS value FROM mastra_span_events WHERE environment IS NOT NULL AND environment != '' UNION ALL SELECT 'environment' AS kind, '' AS key1, environment AS value FROM mastra_metric_events WHERE environment IS NOT NULL AND environment != '' UNION ALL SELECT 'environment' AS kind, '' AS key1, environment AS value FROM mastra_log_events WHERE environment IS NOT NULL AND environment != ''
  UNION ALL
  -- tag (explode tags array, key1 = entityType, drop rows without entityType)
  SELECT 'tag' AS kind, entityType AS key1, tag AS value FROM mastra_span_events ARRAY JOIN tags AS tag WHERE tag != '' AND entityType IS NOT NULL AND entityType != '' UNION ALL SELECT 'tag' AS kind, entityType AS key1, tag AS value FROM mastra_metric_events ARRAY JOIN tags AS tag WHERE tag != '' AND entityType IS NOT NULL AND entityType != '' UNION ALL SELECT 'tag' AS kind, entityType AS key1, tag AS value FROM mastra_log_events ARRAY JOIN tags AS tag WHERE tag != '' AND entityType IS NOT NULL AND entityType != ''
  UNION ALL
  -- metricName (metric_events only)
  SELECT 'metricName' AS kind, '' AS key1, name AS value FROM mastra_metric_events WHERE name != ''
  UNION ALL
  -- metricLabelKey (metric_events only, explode label keys)
  SELECT 'metricLabelKey' AS kind, name AS key1, labelKey AS value FROM mastra_metric_events ARRAY JOIN mapKeys(labels) AS labelKey WHERE name != '' AND labelKey != ''
);

-- discovery MV
CREATE MATERIALIZED VIEW IF NOT EXISTS mastra_mv_discovery_pairs
REFRESH EVERY 5 MINUTE APPEND
TO mastra_discovery_pairs
AS
SELECT DISTINCT kind, key1, key2, value FROM (
  -- entityTypeName (entityType → entityName pairs)
  SELECT 'entityTypeName' AS kind, entityType AS key1, '' AS key2, entityName AS value FROM mastra_span_events WHERE entityType IS NOT NULL AND entityType != '' AND entityName IS NOT NULL AND entityName != '' UNION ALL SELECT 'entityTypeName' AS kind, entityType AS key1, '' AS key2, entityName AS value FROM mastra_metric_events WHERE entityType IS NOT NULL AND entityType != '' AND entityName IS NOT NULL AND entityName != '' UNION ALL SELECT 'entityTypeName' AS kind, entityType AS key1, '' AS key2, entityName AS value FROM mastra_log_events WHERE entityType IS NOT NULL AND entityType != '' AND entityName IS NOT NULL AND entityName != ''
  UNION ALL
  -- metricLabelValue (metricName + labelKey → labelValue triples)
  SELECT 'metricLabelValue' AS kind, name AS key1, labelKey AS key2, labels[labelKey] AS value
  FROM mastra_metric_events
  ARRAY JOIN mapKeys(labels) AS labelKey
  WHERE name != '' AND labelKey != '' AND labels[labelKey] != ''
);

-- migration
ALTER TABLE mastra_span_events ADD COLUMN IF NOT EXISTS entityVersionId Nullable(String);

-- migration
ALTER TABLE mastra_span_events ADD COLUMN IF NOT EXISTS parentEntityVersionId Nullable(String);

-- migration
ALTER TABLE mastra_span_events ADD COLUMN IF NOT EXISTS rootEntityVersionId Nullable(String);

-- migration
ALTER TABLE mastra_trace_roots ADD COLUMN IF NOT EXISTS entityVersionId Nullable(String);

-- migration
ALTER TABLE mastra_trace_roots ADD COLUMN IF NOT EXISTS parentEntityVersionId Nullable(String);

-- migration
ALTER TABLE mastra_trace_roots ADD COLUMN IF NOT EXISTS rootEntityVersionId Nullable(String);

-- retention tracing=30
ALTER TABLE mastra_span_events MODIFY TTL endedAt + INTERVAL 30 DAY;

-- retention tracing=30
ALTER TABLE mastra_trace_roots MODIFY TTL endedAt + INTERVAL 30 DAY;

-- retention tracing=30
ALTER TABLE mastra_trace_branches MODIFY TTL endedAt + INTERVAL 30 DAY;

-- legacy span migration marker
CREATE TABLE IF NOT EXISTS mastra_legacy_span_migration_done (completedAt DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY completedAt;
