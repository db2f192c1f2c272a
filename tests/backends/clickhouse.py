"""ClickHouse for the tests: a server from ``MASTRA_TEST_CLICKHOUSE_URL``, else the real
ClickHouse engine in-process (chdb) in the test's temp dir.

chdb serves one data path per process, so every ClickHouse store of a test session
shares that one path and gets its own *database* in it: ``make_store()`` creates a fresh
database (and the schema, through the migrations) and the store drops it on ``close()``.
The provider keeps one client open for the whole session so the engine boots once.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import uuid
from pathlib import Path
from typing import Any

from . import Provider, Unavailable, env_url


def _store_class() -> Any:
    from mastra_storage.storage.clickhouse import ClickHouseStore

    class ThrowawayClickHouseStore(ClickHouseStore):
        """A store on its own database, dropped when the store is closed."""

        def close(self) -> None:
            if not self._closed:
                # cleanup must not mask the test's own result
                with contextlib.suppress(Exception):
                    self.command(f"DROP DATABASE IF EXISTS `{self.database}`"
                                 f"{self.schema.on_cluster} SYNC")
            super().close()

    return ThrowawayClickHouseStore


def start(workdir: Path) -> Provider:
    try:
        import clickhouse_connect  # noqa: F401
    except ImportError:
        raise Unavailable("clickhouse-connect is not installed (extra 'clickhouse')") from None
    from mastra_storage.storage.clickhouse import ClickHouseStore
    from mastra_storage.storage.clickhouse.client import open_chdb_paths

    prefix = f"mst_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    counter = itertools.count()
    store_cls = _store_class()
    url = env_url("clickhouse")
    keeper: Any
    if url:
        keeper = ClickHouseStore.from_url(url, auto_migrate=False)
        try:
            keeper.query_rows("SELECT 1")
        except Exception as exc:
            keeper.close()
            raise Unavailable(f"MASTRA_TEST_CLICKHOUSE_URL={url!r} is not reachable: "
                              f"{type(exc).__name__}: {exc}") from None
        base_options: dict[str, Any] = {"url": url}
        label = url
    else:
        try:
            import chdb  # noqa: F401
        except ImportError:
            raise Unavailable("no MASTRA_TEST_CLICKHOUSE_URL and chdb is not installed "
                              "(extra 'clickhouse')") from None
        # One engine path per process: reuse the one already open, if any.
        open_paths = open_chdb_paths()
        path = open_paths[0] if open_paths else str(workdir / "chdb")
        keeper = ClickHouseStore(path=path, auto_migrate=False)
        try:
            keeper.query_rows("SELECT 1")
        except Exception as exc:
            keeper.close()
            raise Unavailable(f"the chdb engine did not start at {path}: "
                              f"{type(exc).__name__}: {exc}") from None
        base_options = {"path": path}
        label = f"chdb:///{path.lstrip('/')}"

    def new_database() -> str:
        return f"{prefix}_{next(counter)}"

    def build(**options: Any) -> Any:
        """An initialised store on a fresh database (options go to the store)."""
        database = options.pop("database", None) or new_database()
        if "url" in base_options:
            store = store_cls.from_url(base_options["url"], database=database, **options)
        else:
            store = store_cls(path=base_options["path"], database=database, **options)
        store.init()
        return store

    def stop() -> None:
        keeper.close()

    return Provider("clickhouse", label, build, stop,
                    info={"new_database": new_database, "build": build, "keeper": keeper,
                          **base_options})


def session_provider(tmp_path_factory: Any) -> Provider:
    """The session's ClickHouse provider (the same one the shared suite uses), or skip."""
    import pytest

    from tests.backends import selected
    from tests.conftest import _provider

    if "clickhouse" not in selected():
        pytest.skip("clickhouse is not among MASTRA_TEST_BACKENDS")
    return _provider("clickhouse", tmp_path_factory)
