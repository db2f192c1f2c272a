"""The trace list's metadata filter within its target by default: SQLite's metadata
indexes and PostgreSQL's roots' metadata side table.

At 1,000,000 spans a list filtered by one metadata value took 32-41 ms (common value) and
22-30 ms (rare) on SQLite and 165-185 ms (common) on PostgreSQL, over the 25 ms a
filtered list may take; 18 / 12.5 ms and 7-9 / 2 ms with this revision (docs/bench.md,
*Trace reads*).

* SQLite: two partial indexes on the roots (``read_indexes.spans_metadata_indexes``):
  their ``metadata`` alone, which a filtered count reads instead of the wider JSON index,
  and just the roots whose metadata is a JSONB blob or text with an escape, normally
  none; while there are none, the filter skips the per-root tests for them
  (``SQLiteDialect.root_metadata_has``). The roots' metadata side table stays optional
  there: its triggers cost Mastra's writer nearly half its throughput (docs/bench.md).
* PostgreSQL: the roots' metadata side table and its triggers
  (``storage/sql/root_metadata.py``): nothing measurable for Mastra's writer, ~5 % of
  this library's pipeline. ``mastra-storage migrate URL --no-metadata-index`` removes
  them; later upgrades leave them out (this revision is recorded).

Both leave Mastra's columns as they are: its stores read and write the table as before.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import context, op

from mastra_storage.migrations.target import dialect_and_schema, execute_all
from mastra_storage.storage.sql import root_metadata
from mastra_storage.storage.sql.read_indexes import spans_metadata_indexes

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    name, schema = dialect_and_schema()
    execute_all(ddl for _, ddl in spans_metadata_indexes(name))
    if name == "postgresql" and (context.is_offline_mode()
                                 or not root_metadata.installed(op.get_bind(), schema)):
        # (dropped first: what an install whose triggers went left behind)
        execute_all(root_metadata.pg_drop(schema) + root_metadata.pg_ddl(schema))


def downgrade() -> None:
    name, schema = dialect_and_schema()
    execute_all(f'DROP INDEX IF EXISTS "{index}"' for index, _ in spans_metadata_indexes(name))
    if name == "postgresql":
        execute_all(root_metadata.pg_drop(schema))
