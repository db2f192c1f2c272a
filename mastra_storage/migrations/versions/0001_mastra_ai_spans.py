"""Create (or adopt) Mastra's mastra_ai_spans table.

The column list is frozen here, as it was when this revision was written: a later change
to the model's columns is a new revision, never an edit of this one. Column types and
the contract's keys and indexes come from the dialect of the database being migrated.

A database where Mastra's own store already created the table has no version row: the
table is kept with its data, missing columns are added (older Mastra releases had
fewer), missing contract indexes are created, and the version row is written.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context, op

from mastra_storage.model.spans import ColumnSpec
from mastra_storage.storage.sql.dialects import dialect_for

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLE = "mastra_ai_spans"
# (column, kind, nullable, indexed) in the contract's order, frozen at this revision.
_FROZEN: tuple[tuple[str, str, bool, bool], ...] = (
    ("traceId", "text", False, True), ("spanId", "text", False, True),
    ("name", "text", False, True), ("spanType", "text", False, True),
    ("isEvent", "bool", False, False), ("startedAt", "timestamp", False, False),
    ("parentSpanId", "text", True, True), ("entityType", "text", True, True),
    ("entityId", "text", True, True), ("entityName", "text", True, True),
    ("parentEntityType", "text", True, False), ("parentEntityId", "text", True, False),
    ("parentEntityName", "text", True, False), ("rootEntityType", "text", True, False),
    ("rootEntityId", "text", True, False), ("rootEntityName", "text", True, False),
    ("userId", "text", True, True), ("organizationId", "text", True, True),
    ("resourceId", "text", True, False), ("runId", "text", True, False),
    ("sessionId", "text", True, False), ("threadId", "text", True, False),
    ("requestId", "text", True, False), ("environment", "text", True, False),
    ("serviceName", "text", True, False), ("scope", "json", True, False),
    ("entityVersionId", "text", True, False), ("parentEntityVersionId", "text", True, False),
    ("rootEntityVersionId", "text", True, False), ("experimentId", "text", True, False),
    ("source", "text", True, False), ("metadata", "json", True, False),
    ("tags", "json", True, False), ("attributes", "json", True, False),
    ("links", "json", True, False), ("input", "json", True, False),
    ("output", "json", True, False), ("error", "json", True, False),
    ("endedAt", "timestamp", True, False), ("requestContext", "json", True, False),
    ("createdAt", "timestamp", False, False), ("updatedAt", "timestamp", True, False),
)
COLUMNS = tuple(ColumnSpec(name, name, kind, nullable, indexed)  # type: ignore[arg-type]
                for name, kind, nullable, indexed in _FROZEN)


def _table() -> tuple[sa.Table, Any]:
    dialect = dialect_for(context.get_context().dialect.name)
    schema = context.config.attributes.get("schema")
    return dialect.build_table(sa.MetaData(), schema, COLUMNS), dialect


def upgrade() -> None:
    table, dialect = _table()
    if context.is_offline_mode():
        for stmt in dialect.create_ddl(table):
            op.execute(stmt)
        return
    bind = op.get_bind()
    insp = sa.inspect(bind)
    if not insp.has_table(TABLE, schema=table.schema):
        for stmt in dialect.create_ddl(table):
            op.execute(stmt)
        return
    # Adopt the existing table.
    have = {c["name"] for c in insp.get_columns(TABLE, schema=table.schema)}
    added = []
    for column in table.columns:
        if column.name not in have:
            # Nullable and without default: existing rows get NULL, never a made-up value
            # (adopt_ddl backfills what can be derived, e.g. PostgreSQL's …AtZ twins).
            op.add_column(TABLE, sa.Column(column.name, column.type, nullable=True),
                          schema=table.schema)
            added.append(column.name)
    pk = table.primary_key
    if pk.columns and not insp.get_pk_constraint(TABLE, schema=table.schema).get(
            "constrained_columns"):
        # Upserts need the key; this fails (and changes nothing) if the old table holds
        # duplicate (traceId, spanId) rows, which must then be resolved by hand.
        pk_name = pk.name if isinstance(pk.name, str) else None
        op.create_primary_key(pk_name, TABLE, [c.name for c in pk.columns],
                              schema=table.schema)
    names = {ix["name"] for ix in insp.get_indexes(TABLE, schema=table.schema)}
    for index in table.indexes:
        if index.name not in names:
            op.execute(sa.schema.CreateIndex(index))
    for stmt in dialect.adopt_ddl(table, added):
        op.execute(stmt)


def downgrade() -> None:
    table, _ = _table()
    op.drop_table(TABLE, schema=table.schema)
