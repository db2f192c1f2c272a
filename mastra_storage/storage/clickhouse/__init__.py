"""ClickHouse backend: ``clickhouse://``, ``clickhouses://`` (HTTP server) and ``chdb:///path``
(the ClickHouse engine in-process), through clickhouse-connect.

* :class:`ClickHouseStore` — the store (strategy: insert-only); ``layout="vnext"`` gives
  :class:`ClickHouseVNextStore`, Mastra's v-next span tables (:mod:`.vnext`);
* :func:`backfill_vnext` — copy the classic ``mastra_ai_spans`` into the v-next tables;
* :func:`migrate` — run the versioned migrations for a URL or a store (the CLI's
  ``mastra-storage migrate clickhouse://…``);
* :func:`offline_sql` — the migration DDL as text, without a connection;
* :mod:`.ddl` — the schema rendering (single node, cluster, TTL, codecs).
"""

from __future__ import annotations

from .backfill import BackfillProgress, BackfillReport, backfill_vnext
from .client import ChdbPathInUseError
from .config import ConnectionSpec, parse_url
from .ddl import LAYOUTS, SchemaOptions
from .migrations import MIGRATIONS, Applied, applied_versions, offline_sql
from .store import ClickHouseStore, VersionClock, migrate
from .vnext import ClickHouseVNextStore

__all__ = [
    "LAYOUTS", "MIGRATIONS", "Applied", "BackfillProgress", "BackfillReport",
    "ChdbPathInUseError", "ClickHouseStore",
    "ClickHouseVNextStore", "ConnectionSpec", "SchemaOptions", "VersionClock",
    "applied_versions", "backfill_vnext", "migrate", "offline_sql", "parse_url",
]
