"""``create_store(url)``: one URL picks the backend (the schemes: README.md, *Storage*).

Backends are imported lazily, so the base install never needs a server driver; a missing
driver gives :class:`MissingDriverError` naming the extra to install.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any
from urllib.parse import urlsplit

from ..errors import InvalidStoreURLError, MissingDriverError
from .base import ObservabilityStore

# scheme -> (module:factory, extra, driver module checked before import, backend label)
_BACKENDS: dict[str, tuple[str, str, str | None, str]] = {
    "sqlite": ("mastra_storage.storage.sql.sqlite:SQLiteStore", "", None, "SQLite"),
    "file": ("mastra_storage.storage.sql.sqlite:SQLiteStore", "libsql", "libsql", "libSQL"),
    "libsql": ("mastra_storage.storage.sql.sqlite:SQLiteStore", "libsql", "libsql", "libSQL"),
    "postgresql": ("mastra_storage.storage.sql.postgres:PostgresStore", "postgres", "psycopg",
                   "PostgreSQL"),
    "postgres": ("mastra_storage.storage.sql.postgres:PostgresStore", "postgres", "psycopg",
                 "PostgreSQL"),
    "mssql": ("mastra_storage.storage.sql.mssql:MSSQLStore", "mssql", "pyodbc", "MSSQL"),
    "mongodb": ("mastra_storage.storage.mongodb:MongoDBStore", "mongodb", "pymongo", "MongoDB"),
    "mongodb+srv": ("mastra_storage.storage.mongodb:MongoDBStore", "mongodb", "pymongo",
                    "MongoDB"),
    "clickhouse": ("mastra_storage.storage.clickhouse:ClickHouseStore", "clickhouse",
                   "clickhouse_connect", "ClickHouse"),
    "clickhouses": ("mastra_storage.storage.clickhouse:ClickHouseStore", "clickhouse",
                    "clickhouse_connect", "ClickHouse"),
    "chdb": ("mastra_storage.storage.clickhouse:ClickHouseStore", "clickhouse", "chdb",
             "ClickHouse (chdb)"),
}


def _scheme(url: str) -> str:
    if url == ":memory:":
        return "memory"
    head, sep, _ = url.partition(":")
    if not sep:
        raise InvalidStoreURLError(
            f"not a store URL: {url!r}; expected e.g. sqlite:///./mastra.db, file:./mastra.db, "
            "postgresql://…, mssql+pyodbc://…, mongodb://…, clickhouse://…, chdb:///path")
    scheme = head.lower()
    return scheme.split("+", 1)[0] if scheme.startswith(("mssql", "postgresql")) else scheme


def _load(scheme: str) -> Any:
    target, extra, driver, label = _BACKENDS[scheme]
    if driver is not None:
        try:
            import_module(driver)
        except ImportError:
            raise MissingDriverError(label, extra, driver) from None
    module, attr = target.split(":")
    return getattr(import_module(module), attr)


def sqlite_path(url: str) -> str:
    """``sqlite:///rel.db`` → ``rel.db``, ``sqlite:////abs.db`` → ``/abs.db``,
    ``file:x.db`` → ``x.db``."""
    scheme, _, rest = url.partition(":")
    if scheme.lower() in ("file", "libsql"):
        rest = rest[2:] if rest.startswith("//") else rest
        return rest.split("?", 1)[0] or ":memory:"
    if not rest.startswith("//"):
        raise InvalidStoreURLError(f"SQLite URLs look like sqlite:///path/to.db, got {url!r}")
    path = rest[3:] if rest.startswith("///") else rest[2:]
    path = path.split("?", 1)[0]
    return path or ":memory:"


def create_store(url: str, *, init: bool = True, **options: Any) -> ObservabilityStore:
    """Build (and by default ``init()``) the store a URL names.

    ``options`` go to the store's constructor (e.g. ``schema=`` for PostgreSQL,
    ``database=`` for MongoDB, ``ttl_days=`` for ClickHouse).
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidStoreURLError(f"store URL must be a non-empty string, got {url!r}")
    url = url.strip()
    scheme = _scheme(url)
    store: Any
    if scheme == "memory":
        from .memory import InMemoryStore

        store = InMemoryStore()
    elif scheme not in _BACKENDS:
        raise InvalidStoreURLError(
            f"unknown store URL scheme '{scheme}' in {url!r}; supported: "
            f"{', '.join(sorted(_BACKENDS))}, :memory:")
    elif scheme in ("sqlite", "file", "libsql"):
        cls = _load(scheme)
        store = cls(sqlite_path(url), driver="sqlite" if scheme == "sqlite" else "libsql",
                    **options)
    else:
        parts = urlsplit(url)
        if scheme not in ("chdb",) and not parts.hostname:
            raise InvalidStoreURLError(f"{scheme} URL needs a host: {url!r}")
        store = _load(scheme).from_url(url, **options)
    if init:
        store.init()
    return store  # type: ignore[no-any-return]
