"""Read indexes on mastra_ai_spans: filtered trace lists without visiting every root.

The indexes and why each is there: ``mastra_storage/storage/sql/read_indexes.py``
(SQLite and PostgreSQL; nothing on SQL Server, which no target covers yet). They are
plain (partial) indexes the database keeps itself, so Mastra's stores keep reading and
writing the table as before; no column changes. ``IF NOT EXISTS`` throughout: an index
created beforehand by hand (on a large PostgreSQL table, with ``CREATE INDEX
CONCURRENTLY``, which a migration's transaction can't run) is kept.

On PostgreSQL ``CREATE INDEX`` holds a SHARE lock on the table while it builds: reads go
on, writes wait (measured in docs/bench.md: a few seconds at 1,000,000 spans).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from mastra_storage.migrations.target import dialect_and_schema, execute_all
from mastra_storage.storage.sql.read_indexes import drop_statements, spans_read_indexes

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    name, schema = dialect_and_schema()
    execute_all(ddl for _, ddl in spans_read_indexes(name, schema))


def downgrade() -> None:
    name, schema = dialect_and_schema()
    execute_all(drop_statements(name, schema))
