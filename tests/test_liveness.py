"""A pooled PostgreSQL connection is pinged before use unless it was in use a moment
ago (:mod:`mastra_storage.storage.sql.liveness`): real server, real backends killed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from mastra_storage.storage.sql import liveness
from mastra_storage.storage.sql.postgres import make_engine
from tests.backends import Provider


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(liveness, "_monotonic", c)
    return c


@pytest.fixture
def engine(pg: Provider, clock: Clock) -> Iterator[sa.Engine]:
    e = make_engine(pg.url, pool_size=1, max_overflow=0)
    try:
        yield e
    finally:
        e.dispose()


def _pid(conn: sa.Connection) -> int:
    return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def _kill(pg: Provider, pid: int) -> None:
    """Terminate backend ``pid`` and wait until it is gone."""
    admin = make_engine(pg.url, pool_size=1)
    try:
        with admin.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:p, 10000)"),
                                {"p": pid}).scalar_one()
    finally:
        admin.dispose()


def test_a_connection_idle_past_the_window_is_pinged_and_replaced(
        pg: Provider, engine: sa.Engine, clock: Clock) -> None:
    with engine.connect() as conn:
        first = _pid(conn)
    _kill(pg, first)
    clock.now += liveness.RECENT_SECONDS
    with engine.connect() as conn:  # the ping finds it dead: a new one, no error
        assert _pid(conn) != first


def test_a_connection_returned_within_the_window_is_not_pinged(
        pg: Provider, engine: sa.Engine, clock: Clock) -> None:
    """The trade-off the module describes: its first statement meets the dead server,
    the pool is invalidated, and the next use gets a new connection."""
    with engine.connect() as conn:
        first = _pid(conn)
    _kill(pg, first)
    clock.now += liveness.RECENT_SECONDS / 2
    with pytest.raises(sa.exc.DBAPIError) as err, engine.connect() as conn:
        _pid(conn)
    assert err.value.connection_invalidated
    with engine.connect() as conn:
        assert _pid(conn) != first


def test_the_window_counts_from_the_last_return_not_the_first_use(
        pg: Provider, engine: sa.Engine, clock: Clock) -> None:
    with engine.connect() as conn:
        first = _pid(conn)
    for _ in range(3):  # in use again and again: never idle for a whole window
        clock.now += liveness.RECENT_SECONDS * 0.6
        with engine.connect() as conn:
            assert _pid(conn) == first
    _kill(pg, first)
    clock.now += liveness.RECENT_SECONDS * 0.6
    with pytest.raises(sa.exc.DBAPIError), engine.connect() as conn:
        _pid(conn)
