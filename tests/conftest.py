"""Fixtures shared by every test: real stores per backend, resolved by tests/backends."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends import Provider, Unavailable, required, selected, start

# Fixtures of their own modules, available to every test without an import:
# ``collector`` / ``clean_cloud_env`` (a loopback HTTP collector) and ``observe`` /
# ``clock`` (pipelines shut down at teardown, a fake monotonic clock).
pytest_plugins = ["tests.collector", "tests.pipelines"]

_providers: dict[str, Provider | str] = {}


def _provider(name: str, tmp_path_factory: pytest.TempPathFactory) -> Provider:
    if name not in _providers:
        try:
            _providers[name] = start(name, tmp_path_factory.mktemp(f"backend-{name}"))
        except Unavailable as exc:
            _providers[name] = str(exc)
    got = _providers[name]
    if isinstance(got, str):
        if name in required():
            pytest.fail(f"backend {name} is required (MASTRA_TEST_REQUIRE) but unavailable: {got}",
                        pytrace=False)
        pytest.skip(f"backend {name} unavailable: {got}")
    return got


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for p in _providers.values():
        if isinstance(p, Provider):
            try:
                p.stop()
            except Exception as exc:
                print(f"stopping {p.name} failed: {exc}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "needs(*capabilities): skipped for a backend that lacks one by design "
                   "(Provider.lacks: running-spans, span-updates, span-rewrites, "
                   "updated-at)")


@pytest.fixture(params=selected())
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Provider:
    """Every backend selected for this run (the shared suites are parametrized on it)."""
    provider = _provider(request.param, tmp_path_factory)
    marker = request.node.get_closest_marker("needs")
    lacking = sorted(set(marker.args) & provider.lacks) if marker else []
    if lacking:
        pytest.skip(f"{provider.name} stores lack {', '.join(lacking)} by design")
    return provider


@pytest.fixture
def store(backend: Provider) -> Iterator[Any]:
    """A fresh, initialised, empty store of the parametrized backend."""
    s = backend.make_store()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture(scope="session")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Provider:
    """The PostgreSQL backend (server-specific tests; skips/fails like the suites)."""
    return _provider("postgres", tmp_path_factory)


@pytest.fixture
def db(pg: Provider) -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database, dropped afterwards."""
    from tests.backends.postgres import fresh_database

    with fresh_database(pg.url) as url:
        yield url


@pytest.fixture(scope="session")
def mongo(tmp_path_factory: pytest.TempPathFactory) -> Provider:
    """The MongoDB backend (server-specific tests)."""
    return _provider("mongodb", tmp_path_factory)


@pytest.fixture
def mstore(mongo: Provider) -> Iterator[Any]:
    """A fresh, initialised, empty MongoDB store."""
    store = mongo.make_store()
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "mastra.db"


def pytest_report_header(config: pytest.Config) -> str:
    return (f"mastra-storage backends: {','.join(selected())}; "
            f"required: {os.environ.get('MASTRA_TEST_REQUIRE', '(none)')}")
