"""SQLite: the roots by each context id, so that a trace list filtered by one is a seek.

Migration 0003 answered a context-id filter on SQLite from the roots' filter index, led
by ``startedAt``: its count (or a page the id does not fill) still read every root's
entry, 20 to 25 ms at 1,000,000 spans, at the 25 ms a filtered list may take
(docs/bench.md). These partial indexes are led by the id instead
(``mastra_storage/storage/sql/read_indexes.py``, ``spans_context_indexes``).
PostgreSQL has had its own since 0003: nothing there. Plain indexes the database keeps
itself: Mastra's stores read and write the table as before. ``IF NOT EXISTS``: an index
made beforehand by hand is kept.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from mastra_storage.migrations.target import dialect_and_schema, execute_all
from mastra_storage.storage.sql.read_indexes import (
    drop_context_statements,
    spans_context_indexes,
)

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    name, schema = dialect_and_schema()
    execute_all(ddl for _, ddl in spans_context_indexes(name, schema))


def downgrade() -> None:
    name, schema = dialect_and_schema()
    execute_all(drop_context_statements(name, schema))
