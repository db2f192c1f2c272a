"""Alembic environment for mastra-storage's tables (SQLite, PostgreSQL, MSSQL).

Used through ``mastra-storage migrate URL`` or ``store.init()``; the caller passes a live
connection in ``config.attributes['connection']`` (online) or a URL (``--sql`` offline).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

config = context.config
version_table = config.attributes.get("version_table", "mastra_storage_alembic_version")
schema = config.attributes.get("schema")
opts = {"version_table": version_table, "version_table_schema": schema}


def run_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True,
                      dialect_opts={"paramstyle": "named"}, **opts)
    dialect = context.get_context().dialect
    if dialect.name == "mssql" and dialect.server_version_info is None:
        # Offline there is no server to ask: emit SQL for SQL Server 2017+ (NVARCHAR(max),
        # OFFSET/FETCH), the oldest release whose JSON functions the store relies on.
        dialect.server_version_info = (14,)
        dialect._setup_version_attributes()  # type: ignore[attr-defined]
    with context.begin_transaction():
        if schema:
            from mastra_storage.storage.sql.migrate import schema_ddl

            # Before the version table, which lives in the schema too.
            context.execute(schema_ddl(dialect, schema))
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, **opts)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.begin() as conn:
        context.configure(connection=conn, **opts)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
