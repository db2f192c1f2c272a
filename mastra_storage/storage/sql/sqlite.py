"""The embedded default: a SQLite file (or libSQL through the ``libsql`` package).

Driver choice: reading a file written by Mastra's ``@mastra/libsql`` needs SQLite >= 3.45
(JSONB). Debian 12's system SQLite is 3.40, so the default driver is the stdlib
``sqlite3`` only when it is new enough, else ``sqlean.py`` (a maintained wheel bundling a
current SQLite; a core dependency). ``file:`` URLs use the ``libsql`` package (extra
``libsql``), the engine Mastra itself uses locally.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import ModuleType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from ...errors import MastraStorageError, MissingDriverError
from .dialects.sqlite import SQLiteDialect
from .store import SQLStore

JSONB_MIN_VERSION = (3, 45, 0)
BUSY_TIMEOUT_MS = 10_000


def sqlite_module() -> ModuleType:
    """The DB-API module with the newest usable SQLite (see module docstring)."""
    if sqlite3.sqlite_version_info >= JSONB_MIN_VERSION:
        return sqlite3
    try:
        import sqlean
    except ImportError:
        return sqlite3
    return sqlean  # type: ignore[no-any-return]


class JsonbUnsupportedError(MastraStorageError):
    pass


class _LibsqlConnection:
    """Adapts a ``libsql`` connection to what SQLAlchemy's pysqlite dialect calls.

    libsql's connection is sqlite3-like but lacks ``create_function`` (used by SQLAlchemy
    for REGEXP, which this store never uses) and the ``isolation_level`` setter semantics.
    """

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def create_function(self, *args: Any, **kwargs: Any) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class SQLiteStore(SQLStore):
    """SQLite/libSQL store; migrates itself on ``init()`` unless ``auto_migrate=False``."""

    def __init__(
        self,
        path: str | Path = "./mastra.db",
        *,
        driver: str = "sqlite",
        auto_migrate: bool = True,
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
        engine: sa.Engine | None = None,
    ) -> None:
        self.path = str(path)
        self.driver = driver
        dialect = SQLiteDialect()
        if driver == "libsql":
            dialect.provider = "libsql"  # type: ignore[misc]
        if engine is None:
            engine = _make_engine(self.path, driver, busy_timeout_ms)
        super().__init__(engine, dialect, auto_migrate=auto_migrate)

    @property
    def sqlite_version(self) -> str:
        with self.engine.connect() as conn:
            return str(conn.exec_driver_sql("select sqlite_version()").scalar_one())

    def _fetch(self, stmt: sa.Select[Any]) -> list[Any]:
        try:
            return super()._fetch(stmt)
        except sa.exc.OperationalError as exc:
            raise _explain_jsonb(exc, self) from exc


def _explain_jsonb(exc: sa.exc.OperationalError, store: SQLiteStore) -> Exception:
    if "malformed JSON" in str(exc):
        return JsonbUnsupportedError(
            f"{store.path} holds JSONB values (written by Mastra's libSQL store) but this "
            f"SQLite is {store.sqlite_version}; JSONB needs >= 3.45: install 'sqlean.py' "
            "(a core dependency) or use a file: URL with the libsql extra"
        )
    return exc


def _make_engine(path: str, driver: str, busy_timeout_ms: int) -> sa.Engine:
    memory = path in (":memory:", "")
    kwargs: dict[str, Any] = {}
    if memory:
        kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    if driver == "libsql":
        try:
            import libsql
        except ImportError:
            raise MissingDriverError("libSQL", "libsql", "libsql") from None
        target = path or ":memory:"

        def creator() -> Any:
            return _LibsqlConnection(libsql.connect(target))

        engine = sa.create_engine("sqlite+pysqlite://", creator=creator,
                                  module=sqlite_module(), **kwargs)
    elif driver == "sqlite":
        engine = sa.create_engine(f"sqlite+pysqlite:///{path or ':memory:'}",
                                  module=sqlite_module(), **kwargs)
    else:
        raise ValueError(f"unknown SQLite driver {driver!r}: use 'sqlite' or 'libsql'")

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if not memory:
            # WAL lets readers and one writer from several processes share the file.
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    return engine
