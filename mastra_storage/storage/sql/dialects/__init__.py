"""Looking up the :class:`SqlDialect` for a SQLAlchemy dialect name (used by migrations)."""

from __future__ import annotations

from importlib import import_module

from .base import SqlDialect

_DIALECTS: dict[str, str] = {
    "sqlite": "mastra_storage.storage.sql.dialects.sqlite:SQLiteDialect",
    "postgresql": "mastra_storage.storage.sql.dialects.postgres:PostgresDialect",
    "mssql": "mastra_storage.storage.sql.dialects.mssql:MSSQLDialect",
}


def dialect_for(sqlalchemy_name: str) -> SqlDialect:
    try:
        target = _DIALECTS[sqlalchemy_name]
    except KeyError:
        raise ValueError(f"no mastra-storage SQL dialect for '{sqlalchemy_name}'; "
                         f"supported: {', '.join(_DIALECTS)}") from None
    module, cls = target.split(":")
    return getattr(import_module(module), cls)()  # type: ignore[no-any-return]
