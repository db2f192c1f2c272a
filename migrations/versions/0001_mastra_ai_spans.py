"""Create (or adopt) Mastra's mastra_ai_spans table.

A database where Mastra's own store already created the table has no version row: the
table is kept with its data, missing columns are added (older Mastra releases had
fewer), missing contract indexes are created, and the version row is written.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from mastra_storage.model.spans import TABLE_SPANS
from mastra_storage.storage.sql.dialects import dialect_for

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _table() -> tuple[sa.Table, object]:
    dialect = dialect_for(context.get_context().dialect.name)
    schema = context.config.attributes.get("schema")
    return dialect.build_table(sa.MetaData(), schema), dialect


def upgrade() -> None:
    table, dialect = _table()
    if context.is_offline_mode():
        for stmt in dialect.create_ddl(table):  # type: ignore[attr-defined]
            op.execute(stmt)
        return
    bind = op.get_bind()
    insp = sa.inspect(bind)
    if not insp.has_table(TABLE_SPANS, schema=table.schema):
        for stmt in dialect.create_ddl(table):  # type: ignore[attr-defined]
            op.execute(stmt)
        return
    # Adopt the existing table.
    have = {c["name"] for c in insp.get_columns(TABLE_SPANS, schema=table.schema)}
    added = []
    for column in table.columns:
        if column.name not in have:
            # Nullable and without default: existing rows get NULL, never a made-up value
            # (adopt_ddl backfills what can be derived, e.g. PostgreSQL's …AtZ twins).
            op.add_column(TABLE_SPANS, sa.Column(column.name, column.type, nullable=True),
                          schema=table.schema)
            added.append(column.name)
    pk = table.primary_key
    if pk.columns and not insp.get_pk_constraint(TABLE_SPANS, schema=table.schema).get(
            "constrained_columns"):
        # Upserts need the key; this fails (and changes nothing) if the old table holds
        # duplicate (traceId, spanId) rows, which must then be resolved by hand.
        op.create_primary_key(pk.name, TABLE_SPANS, [c.name for c in pk.columns],
                              schema=table.schema)
    names = {ix["name"] for ix in insp.get_indexes(TABLE_SPANS, schema=table.schema)}
    for index in table.indexes:
        if index.name not in names:
            op.execute(sa.schema.CreateIndex(index))
    for stmt in dialect.adopt_ddl(table, added):  # type: ignore[attr-defined]
        op.execute(stmt)


def downgrade() -> None:
    table, _ = _table()
    op.drop_table(TABLE_SPANS, schema=table.schema)
