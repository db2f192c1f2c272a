"""MongoDB for the tests: ``MASTRA_TEST_MONGODB_URL``, else a throwaway secantusdb server.

secantusdb (PyPI ``SecantusDB``) is a MongoDB-wire-compatible server on WiredTiger. It
runs in a child Python process (so the server's threads don't compete with the code under
test for this process's GIL), bound to an OS-assigned loopback port that the child prints,
with its data directory inside the pytest workdir. The child stops when its stdin closes,
which also happens if the test process dies. Each store gets its own database, so a new
empty store costs one index build and no server restart.
"""

from __future__ import annotations

import itertools
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import Provider, Unavailable, env_url

START_TIMEOUT_S = 60.0

# Runs in the child: start standalone (no replica-set advertisement, so no oplog writes),
# report the port, serve until the parent closes stdin.
_LAUNCHER = """
import sys
from secantus import SecantusDBServer
server = SecantusDBServer(host="127.0.0.1", port=0, storage_path=sys.argv[1],
                          replica_set_name=None, enable_test_commands=False,
                          ttl_sweep_seconds=3600.0, cache_size="256M")
server.start()
print(server.port, flush=True)
sys.stdin.read()
server.stop()
"""


class SecantusProcess:
    def __init__(self, workdir: Path) -> None:
        self.data = workdir / "secantus-data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "secantus.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - lives as long as the child
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(self.data)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
        )
        self.port = self._read_port()
        self.url = f"mongodb://127.0.0.1:{self.port}/"

    def _read_port(self) -> int:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], START_TIMEOUT_S)
        line = self.proc.stdout.readline() if ready else b""
        if not line.strip().isdigit():
            self.stop()
            raise Unavailable(f"secantusdb did not start: {self.log_tail()}")
        return int(line)

    def log_tail(self, limit: int = 2000) -> str:
        self._log.flush()
        text = self.log_path.read_text(errors="replace")
        return text[-limit:].strip() or "(no output)"

    def stop(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.close()


def _ping(url: str) -> Any:
    from pymongo import MongoClient

    client: Any = MongoClient(url, serverSelectionTimeoutMS=10_000)
    try:
        client.admin.command("ping")
    except Exception as exc:
        client.close()
        raise Unavailable(f"MongoDB at {url} does not answer: {exc}") from None
    return client


def start(workdir: Path) -> Provider:
    try:
        import pymongo  # noqa: F401
    except ImportError:
        raise Unavailable("pymongo is not installed (pip install 'mastra-storage[mongodb]')") \
            from None
    from mastra_storage.storage.mongodb import MongoDBStore

    server: SecantusProcess | None = None
    url = env_url("mongodb")
    if url is None:
        try:
            import secantus  # noqa: F401
        except ImportError:
            raise Unavailable("no MASTRA_TEST_MONGODB_URL and secantusdb is not installed "
                              "(pip install SecantusDB)") from None
        server = SecantusProcess(workdir)
        url = server.url
    admin = _ping(url)
    prefix = f"mastra_test_{os.getpid()}_{int(time.time()) % 100000}_"
    counter = itertools.count()
    created: list[str] = []

    def make() -> MongoDBStore:
        name = f"{prefix}{next(counter)}"
        created.append(name)
        store = MongoDBStore.from_url(url, database=name)
        store.init()
        return store

    def stop() -> None:
        try:
            if server is None:  # a real server we don't own: leave it clean
                for name in created:
                    admin.drop_database(name)
        finally:
            admin.close()
            if server is not None:
                server.stop()

    info = {"server": "secantusdb (child process)" if server else "external",
            "version": admin.server_info().get("version")}
    return Provider("mongodb", url, make, stop, info)
