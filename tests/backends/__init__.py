"""How the tests get a real database for each backend.

Resolution order for every server backend (so the suite runs both on a developer machine
with nothing set up and in CI against real servers, never silently testing less):
1. an explicit URL in ``MASTRA_TEST_<BACKEND>_URL`` (e.g. from the nox/docker-compose sessions);
2. a throwaway local server the provider starts itself (PostgreSQL via initdb/pg_ctl,
   MongoDB via secantusdb, ClickHouse via the chdb engine);
3. otherwise the backend is *unavailable*: its tests skip with the reason — unless it is
   named in ``MASTRA_TEST_REQUIRE`` (comma list, or ``all``), which turns the skip into
   a failure. ``.ci/run`` requires every backend that can run on this machine.

``MASTRA_TEST_BACKENDS`` (comma list) restricts which backends run at all.

A provider module exposes ``start(workdir: Path) -> Provider`` (or raises ``Unavailable``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ALL_BACKENDS = ("memory", "sqlite", "libsql", "postgres", "mssql", "mongodb", "clickhouse",
                "clickhouse-vnext", "postgres-vnext")


class Unavailable(Exception):
    """The backend cannot run here; the message says why."""


@dataclass
class Provider:
    name: str
    url: str
    make_store: Callable[[], Any]  # a fresh, initialised, EMPTY store for one test
    stop: Callable[[], None] = lambda: None
    info: dict[str, Any] = field(default_factory=dict)
    # Capabilities its stores lack by design (a test marked ``needs(…)`` with one of them
    # is skipped): "running-spans" (an insert-only layout stores a span when it ends),
    # "span-updates", "span-rewrites" (a span written again with the same end replaces
    # the stored one; an event-sourced layout keeps the first end, as Mastra's),
    # "updated-at" (no row version to report).
    lacks: frozenset[str] = frozenset()


def required() -> set[str]:
    raw = os.environ.get("MASTRA_TEST_REQUIRE", "")
    names = {n.strip() for n in raw.split(",") if n.strip()}
    return set(ALL_BACKENDS) if "all" in names else names


def selected() -> tuple[str, ...]:
    raw = os.environ.get("MASTRA_TEST_BACKENDS", "")
    names = [n.strip() for n in raw.split(",") if n.strip()]
    if not names:
        return ALL_BACKENDS
    unknown = set(names) - set(ALL_BACKENDS)
    if unknown:
        raise ValueError(f"MASTRA_TEST_BACKENDS names unknown backends: {sorted(unknown)}")
    return tuple(n for n in ALL_BACKENDS if n in names)


def skip_unless_required(reason: str, *backends: str) -> None:
    """Skip with ``reason`` — or fail, when any of ``backends`` (or, with none named, any
    backend at all) is required: a CI run must not skip its way past a missing piece."""
    import pytest

    req = required()
    if (backends and req.intersection(backends)) or (not backends and req):
        pytest.fail(f"required by MASTRA_TEST_REQUIRE but unavailable: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def env_url(backend: str) -> str | None:
    return os.environ.get(f"MASTRA_TEST_{backend.upper()}_URL") or None


def start(backend: str, workdir: Path) -> Provider:
    from importlib import import_module

    try:
        module = import_module(f"tests.backends.{backend.replace('-', '_')}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("tests.backends"):
            raise Unavailable(f"no test provider for {backend} yet") from None
        raise Unavailable(f"{backend}: missing module {exc.name}") from None
    except ImportError as exc:
        raise Unavailable(f"{backend}: {exc}") from None
    return module.start(workdir)  # type: ignore[no-any-return]
