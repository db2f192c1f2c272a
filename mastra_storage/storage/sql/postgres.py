"""PostgreSQL store (psycopg 3 through SQLAlchemy's ``postgresql+psycopg`` dialect).

``create_store("postgresql://user:pw@host/db")`` builds it; options: ``schema=`` (the
table's schema, created if missing), ``auto_migrate=`` (default ``False``: a server's
schema is changed by ``mastra-storage migrate URL`` or by passing ``auto_migrate=True``;
``init()`` then only checks the table is there and says how to create it if not), plus
``pool_size``/``max_overflow``/``engine_options`` for the connection pool, and
``layout=`` (``"classic"``, the default: ``mastra_ai_spans``; ``"vnext"``: Mastra's
``PostgresStoreVNext`` tables, see :mod:`.pg_vnext`; ``?layout=vnext`` in a URL).

A pooled connection is checked before use unless it was in use within the last half
second (:mod:`.liveness`).

Sessions compress large values with lz4 (``toast_compression=``, see
:data:`TOAST_COMPRESSIONS`). Sessions run in UTC (``SET TIME ZONE 'UTC'`` on connect):
the contract's trigger writes ``NOW()`` into the plain ``timestamp`` columns, which is
only UTC in a UTC session.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from ...errors import InvalidStoreURLError
from .dialects.postgres import PostgresDialect
from .liveness import ping_unless_recent
from .store import SQLStore, server_engine

DRIVER_SCHEME = "postgresql+psycopg"
# How the store's sessions compress a large value that PostgreSQL moves out of line
# (TOAST: a row over ~2 KB, e.g. a span's input and output of 1 KB each). lz4 took 12 %
# off the server's time for a COPY of the bench's spans and 14 % off the table's size,
# against the server default pglz (docs/bench.md). Readers don't see the difference:
# the server decompresses either kind, value by value, whoever wrote it. None leaves
# the server's default_toast_compression.
TOAST_COMPRESSIONS = ("lz4", "pglz", None)
DEFAULT_TOAST_COMPRESSION = "lz4"
LAYOUTS = ("classic", "vnext")
logger = logging.getLogger(__name__)


def engine_url(url: str | sa.URL) -> sa.URL:
    """``postgresql://`` / ``postgres://`` / ``postgresql+psycopg://`` → psycopg 3's URL."""
    if isinstance(url, sa.URL):
        parsed = url
    else:
        text = url.strip()
        scheme, sep, rest = text.partition("://")
        if not sep:
            raise InvalidStoreURLError(f"not a PostgreSQL URL: {url!r}")
        if scheme.lower() in ("postgresql", "postgres"):
            text = f"{DRIVER_SCHEME}://{rest}"
        parsed = sa.make_url(text)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername=DRIVER_SCHEME)
    if parsed.drivername != DRIVER_SCHEME:
        raise InvalidStoreURLError(
            f"the PostgreSQL store uses psycopg 3: write postgresql://… (or "
            f"{DRIVER_SCHEME}://…), not {parsed.drivername}://…")
    return parsed


def make_engine(url: str | sa.URL, *, pool_size: int = 5, max_overflow: int = 10,
                toast_compression: str | None = DEFAULT_TOAST_COMPRESSION,
                **engine_options: Any) -> sa.Engine:
    """The store's engine: psycopg 3, a pool checked by :mod:`.liveness`, sessions in UTC
    that compress large values with ``toast_compression`` (see :data:`TOAST_COMPRESSIONS`)."""
    if toast_compression not in TOAST_COMPRESSIONS:
        raise ValueError(f"toast_compression must be one of "
                         f"{', '.join(map(str, TOAST_COMPRESSIONS))}, got {toast_compression!r}")
    engine = sa.create_engine(
        engine_url(url), pool_size=pool_size, max_overflow=max_overflow,
        pool_pre_ping=False, **engine_options,
    )
    ping_unless_recent(engine)
    compression = toast_compression  # None once the server refused it

    @sa.event.listens_for(engine, "connect")
    def _session(dbapi_conn: Any, _record: Any) -> None:
        nonlocal compression
        # A plain SET is undone by a rollback of the transaction it ran in: commit it.
        dbapi_conn.execute("SET TIME ZONE 'UTC'")
        dbapi_conn.commit()
        if compression is None:
            return
        import psycopg

        try:
            dbapi_conn.execute(f"SET default_toast_compression = '{compression}'")
            dbapi_conn.commit()
        except psycopg.Error as exc:  # before PostgreSQL 14, or a build without lz4
            dbapi_conn.rollback()
            logger.info("this PostgreSQL server keeps its default compression of large "
                        "values (%s: %s)", compression, str(exc).strip())
            compression = None

    return engine


class PostgresStore(SQLStore):
    """The ``mastra_ai_spans`` table in PostgreSQL, shared with Mastra's ``@mastra/pg``.

    ``PostgresStore(layout="vnext", …)`` returns a
    :class:`~.pg_vnext.PostgresVNextStore` (provider ``"postgres-vnext"``): one class to
    name in code and URLs, whichever tables it writes.

    ``metadata_index``: install the roots' metadata index (:mod:`.root_metadata`) on
    ``init()``. Migration 0005 installs it anyway (``mastra-storage migrate``,
    ``auto_migrate=True``); this is for a table migrated without it, or where it was
    removed (``mastra-storage migrate URL --no-metadata-index``, which later upgrades
    respect). False leaves the database as it is.
    """

    def __new__(cls, *args: Any, **options: Any) -> PostgresStore:
        layout = options.get("layout", "classic")
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
        if layout == "vnext" and cls is PostgresStore:
            from .pg_vnext import PostgresVNextStore

            cls = PostgresVNextStore
        return super().__new__(cls)

    def __init__(
        self,
        url: str | sa.URL | None = None,
        *,
        engine: sa.Engine | None = None,
        schema: str | None = None,
        auto_migrate: bool = False,
        pool_size: int = 5,
        max_overflow: int = 10,
        engine_options: dict[str, Any] | None = None,
        layout: str = "classic",
        metadata_index: bool = False,
        toast_compression: str | None = DEFAULT_TOAST_COMPRESSION,
    ) -> None:
        if metadata_index and layout != "classic":
            raise ValueError("metadata_index=True indexes mastra_ai_spans, the classic "
                             "layout's table; the v-next layout has none")
        self.layout = layout
        engine = server_engine("PostgresStore", "postgresql", url, engine, lambda u: make_engine(
            u, pool_size=pool_size, max_overflow=max_overflow,
            toast_compression=toast_compression, **(engine_options or {})))
        super().__init__(engine, PostgresDialect(), schema=schema, auto_migrate=auto_migrate,
                         metadata_index=metadata_index)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> PostgresStore:
        """A store for ``url``; ``?layout=`` in it is the ``layout=`` option."""
        from ..urls import split_layout

        url, layout = split_layout(url)
        if layout is not None:
            if options.get("layout") not in (None, layout):
                raise InvalidStoreURLError(
                    f"the URL names layout {layout!r} but layout={options['layout']!r} was "
                    "passed too: name it once")
            options["layout"] = layout
        return cls(url, **options)
