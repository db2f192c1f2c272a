"""Running the Alembic history (top-level ``migrations/``) against any SQL backend.

The version table is ``mastra_storage_alembic_version``, not Alembic's default, so the
library's history never collides with the application's own Alembic migrations in the
same database.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import sqlalchemy as sa

VERSION_TABLE = "mastra_storage_alembic_version"


def migrations_dir() -> Path:
    """Inside the wheel: ``mastra_storage/_migrations``; in a checkout: ``migrations/``."""
    pkg = Path(__file__).resolve().parents[2]
    for candidate in (pkg / "_migrations", pkg.parent / "migrations"):
        if (candidate / "env.py").is_file():
            return candidate
    raise FileNotFoundError("the mastra-storage Alembic migrations are missing from this install")


def _config(url: str, schema: str | None, output: Any = None) -> Any:
    from alembic.config import Config

    cfg = Config(output_buffer=output) if output is not None else Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["schema"] = schema
    cfg.attributes["version_table"] = VERSION_TABLE
    return cfg


def upgrade(engine: sa.Engine, revision: str = "head", schema: str | None = None) -> None:
    """Bring the database behind ``engine`` to ``revision``; a no-op when already there."""
    from alembic import command

    cfg = _config(engine.url.render_as_string(hide_password=False), schema)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def offline_sql(url: str, revision: str = "head", schema: str | None = None) -> str:
    """The DDL the upgrade would run, for review or for a DBA (``migrate --sql``)."""
    from alembic import command

    buf = io.StringIO()
    cfg = _config(url, schema, output=buf)
    command.upgrade(cfg, revision, sql=True)
    return buf.getvalue()


def current_revision(engine: sa.Engine, schema: str | None = None) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE,
                                                     "version_table_schema": schema})
        return ctx.get_current_revision()
