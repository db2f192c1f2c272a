"""What a revision of ``versions/`` needs to know of the database it migrates: its
dialect and the schema being migrated (``config.attributes['schema']``, set by
``storage.sql.migrate``), and a way to run a list of DDL strings online or print them
offline (``--sql``)."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from alembic import context, op


def dialect_and_schema() -> tuple[str, str | None]:
    return context.get_context().dialect.name, context.config.attributes.get("schema")


def execute_all(statements: Iterable[str]) -> None:
    for ddl in statements:
        op.execute(sa.text(ddl))
