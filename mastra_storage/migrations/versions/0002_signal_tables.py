"""Create (or adopt) the tables of logs, metrics, scores and feedback.

Mastra's v-next tables: ``mastra_log_events``, ``mastra_metric_events``,
``mastra_score_events``, ``mastra_feedback_events``. The column lists are frozen here, as
they were when this revision was written; a later change is a new revision.

* PostgreSQL: exactly the DDL Mastra's ``PostgresStoreVNext`` runs (bigserial
  ``cursorId``, ``xid8`` ``xactId``, ``timestamptz``, ``text[]`` tags, ``jsonb``, primary
  key ``(id, timestamp)``, ``PARTITION BY RANGE ("timestamp")``, its 22 indexes), plus
  the daily partitions from yesterday to today + 14 as Mastra's ``init()`` creates them
  (the store creates later days itself before writing to them).
* SQLite and SQL Server: the same columns in the backend's natural types, an
  insertion-order ``cursorId`` (SQLite: the rowid), a unique key on the record id and
  Mastra's btree indexes plus a time index.

A table that already exists (Mastra created it) is adopted: kept with its rows; only
columns an older Mastra release lacked are added (nullable, as Mastra adds them) and
missing indexes created.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import warnings
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from mastra_storage.model.signals import SignalColumn
from mastra_storage.storage.sql.dialects import dialect_for
from mastra_storage.storage.sql.partitions import create_missing, partition_ddl, window

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_CONTEXT: tuple[tuple[str, str, bool], ...] = tuple(
    (name, "text", True) for name in (
        "traceId", "spanId", "experimentId", "entityType", "entityId", "entityName",
        "entityVersionId", "parentEntityType", "parentEntityId", "parentEntityName",
        "parentEntityVersionId", "rootEntityType", "rootEntityId", "rootEntityName",
        "rootEntityVersionId", "userId", "organizationId", "resourceId", "runId",
        "sessionId", "threadId", "requestId", "environment", "executionSource",
        "serviceName"))
_TAIL = (("tags", "tags", False), ("metadata", "json", True), ("scope", "json", True))
# (column, kind, nullable) per table, in Mastra's order, frozen at this revision.
_FROZEN: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "mastra_log_events": (
        ("logId", "text", False), ("timestamp", "timestamp", False),
        ("level", "text", False), ("message", "text", False), *_CONTEXT,
        ("tags", "tags", False), ("data", "json", True), ("metadata", "json", True),
        ("scope", "json", True)),
    "mastra_metric_events": (
        ("metricId", "text", False), ("timestamp", "timestamp", False),
        ("name", "text", False), ("value", "float", False), *_CONTEXT,
        ("provider", "text", True), ("model", "text", True),
        ("estimatedCost", "float", True), ("costUnit", "text", True),
        ("tags", "tags", False), ("labels", "json", False), ("costMetadata", "json", True),
        ("metadata", "json", True), ("scope", "json", True)),
    "mastra_score_events": (
        ("scoreId", "text", False), ("timestamp", "timestamp", False),
        ("scorerId", "text", False), ("scorerVersion", "text", True),
        ("scoreSource", "text", True), ("score", "float", False), ("reason", "text", True),
        *_CONTEXT, ("scoreTraceId", "text", True), *_TAIL),
    "mastra_feedback_events": (
        ("feedbackId", "text", False), ("timestamp", "timestamp", False),
        ("feedbackSource", "text", False), ("feedbackType", "text", False),
        ("valueString", "text", True), ("valueNumber", "float", True),
        ("comment", "text", True), ("feedbackUserId", "text", True),
        ("sourceId", "text", True), ("reviewStatus", "text", False), *_CONTEXT, *_TAIL),
}


def columns(table: str) -> list[SignalColumn]:
    return [SignalColumn(name, name, kind, nullable)  # type: ignore[arg-type]
            for name, kind, nullable in _FROZEN[table]]


def _tables() -> tuple[list[sa.Table], Any]:
    dialect = dialect_for(context.get_context().dialect.name)
    schema = context.config.attributes.get("schema")
    metadata = sa.MetaData()
    return [dialect.build_signal_table(metadata, schema, name, columns(name))
            for name in _FROZEN], dialect


def _partitioned(dialect: Any) -> bool:
    return bool(dialect.name == "postgresql")


def upgrade() -> None:
    tables, dialect = _tables()
    if context.is_offline_mode():
        for table in tables:
            for stmt in dialect.signal_create_ddl(table):
                op.execute(stmt)
            if _partitioned(dialect):
                for day in window():
                    for stmt in partition_ddl(table.schema, table.name, day, fresh=True):
                        op.execute(stmt)
        return
    bind = op.get_bind()
    insp = sa.inspect(bind)
    for table in tables:
        fresh = not insp.has_table(table.name, schema=table.schema)
        if fresh:
            for stmt in dialect.signal_create_ddl(table):
                op.execute(stmt)
        else:
            _adopt(insp, dialect, table)
        if _partitioned(dialect):
            create_missing(bind, table.schema, table.name, window(), fresh=fresh)


def _adopt(insp: Any, dialect: Any, table: sa.Table) -> None:
    with warnings.catch_warnings():  # SQLAlchemy doesn't know xid8 ("xactId"): names suffice
        warnings.simplefilter("ignore", sa.exc.SAWarning)
        have = {c["name"] for c in insp.get_columns(table.name, schema=table.schema)}
    for column in table.columns:
        if column.name not in have:
            op.add_column(table.name, sa.Column(column.name, column.type, nullable=True),
                          schema=table.schema)
    if _partitioned(dialect):  # Mastra's own statements: CREATE INDEX IF NOT EXISTS
        for stmt in dialect.signal_index_ddl(table):
            op.execute(sa.text(stmt))
        return
    names = {ix["name"] for ix in insp.get_indexes(table.name, schema=table.schema)}
    for index in table.indexes:
        if index.name not in names:
            op.execute(sa.schema.CreateIndex(index))


def downgrade() -> None:
    tables, _ = _tables()
    for table in tables:
        op.drop_table(table.name, schema=table.schema)
