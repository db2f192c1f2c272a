"""Microsoft SQL Server store (pyodbc through SQLAlchemy's ``mssql+pyodbc`` dialect).

``create_store("mssql+pyodbc://user:pw@host:1433/db?TrustServerCertificate=yes")``. The
ODBC driver is taken from the URL's ``driver=`` query parameter, else the best one
installed: Microsoft's "ODBC Driver 18/17 for SQL Server", else FreeTDS (Debian's
``tdsodbc``; then ``TDS_Version=7.4`` is added, the protocol that carries ``DATETIME2``).
``fast_executemany`` (parameter arrays: one round trip per batch) is on with Microsoft's
driver, off with FreeTDS, which does not implement it reliably.

Options as for PostgreSQL: ``schema=`` (default ``dbo``; created if missing),
``auto_migrate=`` (default ``False``), ``fast_executemany=``, ``pool_size``/
``max_overflow``/``engine_options``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ...errors import InvalidStoreURLError, MastraStorageError
from .dialects.mssql import MSSQLDialect
from .store import SQLStore, server_engine

DRIVER_SCHEME = "mssql+pyodbc"
PREFERRED_DRIVERS = (
    "ODBC Driver 18 for SQL Server",
    "ODBC Driver 17 for SQL Server",
    "FreeTDS",
)


class NoODBCDriverError(MastraStorageError):
    """pyodbc is installed but no SQL Server ODBC driver is registered with unixODBC."""


def installed_drivers() -> list[str]:
    import pyodbc

    return list(pyodbc.drivers())


def pick_driver(available: list[str]) -> str:
    for name in PREFERRED_DRIVERS:
        if name in available:
            return name
    for name in available:
        if "SQL Server" in name:
            return name
    raise NoODBCDriverError(
        "no SQL Server ODBC driver found (pyodbc sees: "
        f"{', '.join(available) or 'none'}); install Microsoft's msodbcsql18, or FreeTDS "
        "(Debian: apt-get install unixodbc tdsodbc), or name one with ?driver=…")


def is_microsoft_driver(driver: str) -> bool:
    return driver.startswith("ODBC Driver") and "SQL Server" in driver


def engine_url(url: str | sa.URL, available: list[str] | None = None) -> sa.URL:
    """Normalise a ``mssql+pyodbc://`` URL, filling in the ODBC driver when missing."""
    parsed = sa.make_url(url) if isinstance(url, str) else url
    if parsed.drivername == "mssql":
        parsed = parsed.set(drivername=DRIVER_SCHEME)
    if parsed.drivername != DRIVER_SCHEME:
        raise InvalidStoreURLError(
            f"the MSSQL store uses pyodbc: write {DRIVER_SCHEME}://…, not {parsed.drivername}://…")
    query = dict(parsed.query)
    if "odbc_connect" in query:
        return parsed  # a raw ODBC connection string: taken as is
    if "driver" not in query:
        driver = pick_driver(available if available is not None else installed_drivers())
        query["driver"] = driver
        if driver == "FreeTDS":
            query.setdefault("TDS_Version", "7.4")
        parsed = parsed.set(query=query)
    return parsed


def make_engine(url: str | sa.URL, *, fast_executemany: bool | None = None,
                pool_size: int = 5, max_overflow: int = 10,
                **engine_options: Any) -> sa.Engine:
    parsed = engine_url(url)
    if fast_executemany is None:
        driver = parsed.query.get("driver")
        fast_executemany = isinstance(driver, str) and is_microsoft_driver(driver)
    return sa.create_engine(parsed, fast_executemany=fast_executemany, pool_size=pool_size,
                            max_overflow=max_overflow, pool_pre_ping=True, **engine_options)


class MSSQLStore(SQLStore):
    """The ``mastra_ai_spans`` table in SQL Server, shared with Mastra's ``@mastra/mssql``."""

    def __init__(
        self,
        url: str | sa.URL | None = None,
        *,
        engine: sa.Engine | None = None,
        schema: str | None = None,
        auto_migrate: bool = False,
        fast_executemany: bool | None = None,
        pool_size: int = 5,
        max_overflow: int = 10,
        engine_options: dict[str, Any] | None = None,
    ) -> None:
        engine = server_engine("MSSQLStore", "mssql", url, engine, lambda u: make_engine(
            u, fast_executemany=fast_executemany, pool_size=pool_size,
            max_overflow=max_overflow, **(engine_options or {})))
        super().__init__(engine, MSSQLDialect(), schema=schema, auto_migrate=auto_migrate)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MSSQLStore:
        return cls(url, **options)
