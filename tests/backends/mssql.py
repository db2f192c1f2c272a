"""SQL Server for the tests: only through ``MASTRA_TEST_MSSQL_URL`` (no SQL Server can be
started locally; ``nox -s tests-mssql`` runs the compose service and sets the URL).

The URL may name ``master`` (as the compose service's does): the provider then creates and
uses a ``mastra_test`` database. Every ``make_store()`` gets its own schema, migrated by
the store (``auto_migrate=True``); the schemas are dropped again at the end.
"""

from __future__ import annotations

import contextlib
import itertools
import uuid
from pathlib import Path

from . import Provider, Unavailable, env_url

TEST_DATABASE = "mastra_test"


def _prepare_url(url: str) -> str:
    import sqlalchemy as sa

    from mastra_storage.storage.sql.mssql import engine_url, is_microsoft_driver

    parsed = engine_url(url)
    query = dict(parsed.query)
    driver = query.get("driver")
    if (isinstance(driver, str) and is_microsoft_driver(driver)
            and not {"Encrypt", "TrustServerCertificate"} & set(query)):
        # The compose service's certificate is self-signed.
        query["TrustServerCertificate"] = "yes"
        parsed = parsed.set(query=query)
    if parsed.database in (None, "", "master"):
        admin = sa.create_engine(parsed, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.exec_driver_sql(
                    f"IF DB_ID(N'{TEST_DATABASE}') IS NULL CREATE DATABASE [{TEST_DATABASE}]")
        finally:
            admin.dispose()
        parsed = parsed.set(database=TEST_DATABASE)
    return parsed.render_as_string(hide_password=False)


def start(workdir: Path) -> Provider:
    url = env_url("mssql")
    if url is None:
        raise Unavailable("SQL Server cannot run on this machine: set MASTRA_TEST_MSSQL_URL "
                          "(e.g. `nox -s tests-mssql`, which starts docker-compose.test.yml)")
    try:
        import pyodbc  # noqa: F401
    except ImportError as exc:
        raise Unavailable(f"pyodbc cannot be imported ({exc}): install the 'mssql' extra and "
                          "unixODBC + an ODBC driver (apt-get install unixodbc tdsodbc)") from None
    from mastra_storage.storage.sql.mssql import MSSQLStore

    try:
        url = _prepare_url(url)
    except Exception as exc:
        raise Unavailable(f"cannot reach SQL Server at MASTRA_TEST_MSSQL_URL: {exc}") from None
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    counter = itertools.count()
    schemas: list[str] = []

    def make() -> MSSQLStore:
        schema = f"{prefix}{next(counter)}"
        schemas.append(schema)
        store = MSSQLStore(url, schema=schema, auto_migrate=True)
        store.init()
        return store

    def stop() -> None:
        _drop_schemas(url, schemas)

    return Provider("mssql", url, make, stop, info={"schema_prefix": prefix})


def _drop_schemas(url: str, schemas: list[str]) -> None:
    import sqlalchemy as sa

    from mastra_storage.model.spans import TABLE_SPANS
    from mastra_storage.storage.sql.migrate import VERSION_TABLE
    from mastra_storage.storage.sql.mssql import make_engine

    engine = make_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for schema in schemas:
                with contextlib.suppress(sa.exc.DBAPIError):
                    for table in (TABLE_SPANS, VERSION_TABLE):
                        conn.exec_driver_sql(f"DROP TABLE IF EXISTS [{schema}].[{table}]")
                    conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS [{schema}]")
    finally:
        engine.dispose()
