"""ClickHouse with Mastra's v-next span tables (``layout="vnext"``) for the tests: the same
engine as the ``clickhouse`` backend (a server from ``MASTRA_TEST_CLICKHOUSE_URL``, else
chdb in-process, one data path per process), a fresh database per store.

The layout is insert-only by design (as Mastra's v-next store): a running span is not
stored, a span is never updated and there is no ``updatedAt``; the shared suites skip the
tests that need one of those (``needs(...)`` markers, :attr:`Provider.lacks`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import Provider
from . import clickhouse as classic

LACKS = frozenset({"running-spans", "span-updates", "updated-at"})


def start(workdir: Path) -> Provider:
    base = classic.start(workdir)
    build_classic = base.info["build"]

    def build(**options: Any) -> Any:
        """An initialised v-next store on a fresh database (options go to the store)."""
        return build_classic(**{"layout": "vnext", **options})

    label = f"{base.url} (layout=vnext)"
    return Provider("clickhouse-vnext", label, build, base.stop,
                    info={**base.info, "build": build, "build_classic": build_classic},
                    lacks=LACKS)


def session_provider(tmp_path_factory: Any) -> Provider:
    """The session's v-next provider (the one the shared suites use), or skip."""
    import pytest

    from tests.backends import selected
    from tests.conftest import _provider

    if "clickhouse-vnext" not in selected():
        pytest.skip("clickhouse-vnext is not among MASTRA_TEST_BACKENDS")
    return _provider("clickhouse-vnext", tmp_path_factory)
