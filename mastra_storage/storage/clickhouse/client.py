"""Getting a clickhouse-connect client for a :class:`~.config.ConnectionSpec`.

chdb hosts one engine per process and that engine has one data path: opening a second
path while the first is in use fails. So chdb clients are shared process-wide, one per
path, reference-counted: every store on ``chdb:///x`` (whatever its database) uses the
same client, and the engine stays up while any of them is open. Asking for another path
while one is open raises :class:`ChdbPathInUseError`, naming both.

HTTP clients are per store, without a session id: clickhouse-connect's HTTP client is
then safe to share between threads (a session would serialise them and fail when two
queries overlap).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from ...errors import MastraStorageError, MissingDriverError
from .config import ConnectionSpec


class ChdbPathInUseError(MastraStorageError):
    """chdb can serve one data directory per process and another one is open."""


@dataclass
class _Shared:
    client: Any
    refs: int


_lock = threading.Lock()
_chdb_clients: dict[str, _Shared] = {}


def _chdb_key(path: str | None) -> str:
    if not path or path == ":memory:":
        return ":memory:"
    return os.path.realpath(path)


def acquire(spec: ConnectionSpec) -> Any:
    """A client for ``spec``; pair every call with :func:`release`."""
    try:
        import clickhouse_connect
    except ImportError:
        raise MissingDriverError("ClickHouse", "clickhouse", "clickhouse_connect") from None
    if spec.interface != "chdb":
        return clickhouse_connect.get_client(
            interface=spec.interface,
            host=spec.host,
            port=spec.port,
            username=spec.username,
            password=spec.password,
            autogenerate_session_id=False,
            tz_mode="aware",
            **spec.client_options,
        )
    try:
        import chdb  # noqa: F401
    except ImportError:
        raise MissingDriverError("ClickHouse (chdb)", "clickhouse", "chdb") from None
    key = _chdb_key(spec.path)
    with _lock:
        shared = _chdb_clients.get(key)
        if shared is None:
            if _chdb_clients:
                (other,) = _chdb_clients
                raise ChdbPathInUseError(
                    f"chdb runs one engine per process and it already serves {other!r}; "
                    f"cannot open {key!r} as well. Use one chdb path per process and "
                    f"separate databases inside it (chdb:///path?database=name).")
            if key != ":memory:":
                os.makedirs(key, exist_ok=True)
            client = clickhouse_connect.get_client(interface="chdb", path=key, tz_mode="aware")
            shared = _chdb_clients[key] = _Shared(client, 0)
        shared.refs += 1
        return shared.client


def release(spec: ConnectionSpec, client: Any) -> None:
    """Give back a client from :func:`acquire`; the last chdb user closes the engine."""
    if spec.interface != "chdb":
        client.close()
        return
    key = _chdb_key(spec.path)
    with _lock:
        shared = _chdb_clients.get(key)
        if shared is None or shared.client is not client:
            return
        shared.refs -= 1
        if shared.refs > 0:
            return
        del _chdb_clients[key]
    client.close()


def open_chdb_paths() -> list[str]:
    """The chdb data paths this process has open (at most one)."""
    with _lock:
        return list(_chdb_clients)
