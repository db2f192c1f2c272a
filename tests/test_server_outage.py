"""A store that goes down while ``mastra-storage studio`` serves it: 503 with a clear
message, then 200 again once it is back, without restarting the server.

The PostgreSQL server is a throwaway one of the tests' own (tests/backends/postgres.py),
stopped and started with ``pg_ctl`` under the running ``mastra-storage studio``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.backends import Unavailable, skip_unless_required
from tests.backends.postgres import LocalServer, start_local_server
from tests.studio import harness

API = "/api/observability"
RECOVERY_S = 60


@pytest.fixture
def postgres() -> Iterator[LocalServer]:
    try:
        server = start_local_server()
    except Unavailable as exc:
        skip_unless_required(str(exc), "postgres")
        raise
    try:
        yield server
    finally:
        server.stop()


def _pg_ctl(server: LocalServer, *args: str) -> None:
    done = server._run(str(server.bindir / "pg_ctl"), "-D", str(server.datadir), "-w",
                       "-l", str(server.root / "server.log"), *args)
    assert done.returncode == 0, done.stderr + done.stdout


def _start(server: LocalServer) -> None:
    _pg_ctl(server, "-o", f"-p {server.port} -c listen_addresses=127.0.0.1 "
                          f"-c unix_socket_directories={server.root} -c fsync=off", "start")


def _query(base: str) -> httpx.Response:
    """The trace list (the route every store answers)."""
    return httpx.get(f"{base}{API}/traces", params={"perPage": 100}, timeout=30)


def test_a_store_that_goes_down_answers_503_and_recovers(postgres: LocalServer) -> None:
    from mastra_storage import create_store

    store = create_store(postgres.url, auto_migrate=True)
    demo = harness.seed_demo(store, traces=3)
    store.close()
    with harness.serve_cli(postgres.url) as served:
        before = _query(served.url)
        assert before.status_code == 200
        assert [r["traceId"] for r in before.json()["spans"]] == [
            r.trace_id for r in demo.traces]

        _pg_ctl(postgres, "-m", "fast", "stop")
        answers: list[Any] = []
        for _ in range(3):  # the pool's dead connections first, then refused connects
            down = _query(served.url)
            answers.append((down.status_code, down.json()))
            one = httpx.get(f"{served.url}{API}/traces/{demo.traces[0].trace_id}", timeout=30)
            answers.append((one.status_code, one.json()))
        for status, body in answers:
            assert status == 503, answers
            assert body["error"].startswith("The observability store is unavailable right now")
            assert postgres.url not in body["error"] and "127.0.0.1" not in body["error"]

        _start(postgres)
        deadline = time.monotonic() + RECOVERY_S
        while True:
            again = _query(served.url)
            if again.status_code == 200:
                break
            assert again.status_code == 503, again.text  # never a 500 on the way back
            assert time.monotonic() < deadline, "the server did not recover"
            time.sleep(0.2)
        assert [r["traceId"] for r in again.json()["spans"]] == [
            r.trace_id for r in demo.traces]
        one = httpx.get(f"{served.url}{API}/traces/{demo.traces[0].trace_id}", timeout=30)
        assert one.status_code == 200
