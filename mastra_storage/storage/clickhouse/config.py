"""ClickHouse store URLs.

* ``clickhouse://user:pass@host:8123/db`` — a server over HTTP (port 8123 by default);
* ``clickhouses://user:pass@host:8443/db`` — the same over HTTPS (port 8443 by default);
* ``chdb:///abs/path/to/dir`` — the ClickHouse engine in-process (chdb) keeping its data
  in that directory; ``chdb:relative/dir`` for a relative one, ``chdb://memory`` for an
  in-memory engine. The database is ``?database=name`` (default ``default``).

Query-string options: store options (``ttl_days``, ``ttl_days_<signal>`` for one signal —
``ttl_days_spans``, ``ttl_days_logs``, ``ttl_days_metrics``, ``ttl_days_scores``,
``ttl_days_feedback`` —, ``cluster``, ``async_insert``, ``wait_for_async_insert``,
``auto_migrate``, ``delete_method``, ``layout`` — ``vnext`` for Mastra's v-next span
tables, or a sort key of ``mastra_ai_spans``: ``roots`` (default), ``trace``, ``time``,
``mastra``) and client options
(``connect_timeout``, ``send_receive_timeout``, ``compress``, ``verify``, ``ca_cert``,
``secure``). Anything else is an error that names what is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ...errors import InvalidStoreURLError

SCHEMES = ("clickhouse", "clickhouses", "chdb")
DEFAULT_HTTP_PORT = 8123
DEFAULT_HTTPS_PORT = 8443


def _bool(name: str, value: str) -> bool:
    low = value.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise InvalidStoreURLError(f"URL option {name} must be true or false, got {value!r}")


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidStoreURLError(f"URL option {name} must be an integer, got {value!r}") from None


def _compress(name: str, value: str) -> bool | str:
    low = value.strip().lower()
    if low in ("lz4", "zstd", "gzip", "br"):
        return low
    return _bool(name, value)


def _layout(name: str, value: str) -> str:
    from .ddl import LAYOUTS, VNEXT_LAYOUT

    low = value.strip().lower()
    known = (VNEXT_LAYOUT, *LAYOUTS)
    if low not in known:
        raise InvalidStoreURLError(
            f"URL option {name} must be one of {', '.join(known)}, got {value!r}")
    return low


_STORE_OPTIONS: dict[str, Any] = {
    "ttl_days": _int,
    "cluster": lambda _n, v: v,
    "async_insert": _bool,
    "wait_for_async_insert": _bool,
    "auto_migrate": _bool,
    "delete_method": lambda _n, v: v,
    "layout": lambda n, v: _layout(n, v),
}
# Per-signal retention: ``ttl_days_logs=7`` -> store option signal_ttl_days={"logs": 7}.
_SIGNAL_TTL_OPTIONS: dict[str, str] = {
    f"ttl_days_{s}": s for s in ("spans", "logs", "metrics", "scores", "feedback")}
_CLIENT_OPTIONS: dict[str, Any] = {
    "connect_timeout": _int,
    "send_receive_timeout": _int,
    "compress": _compress,
    "verify": _bool,
    "ca_cert": lambda _n, v: v,
}


@dataclass
class ConnectionSpec:
    """Where a :class:`~.store.ClickHouseStore` connects, parsed from a URL."""

    interface: str  # "http", "https" or "chdb"
    host: str | None = None
    port: int | None = None
    username: str = "default"
    password: str = ""
    database: str = "default"
    path: str | None = None  # chdb: data directory, or ":memory:"
    client_options: dict[str, Any] = field(default_factory=dict)
    store_options: dict[str, Any] = field(default_factory=dict)

    @property
    def secure(self) -> bool:
        return self.interface == "https"

    def redacted(self) -> str:
        """For messages: the location without the password."""
        if self.interface == "chdb":
            return f"chdb:{self.path} (database {self.database})"
        return f"{self.interface}://{self.username}@{self.host}:{self.port}/{self.database}"


def parse_url(url: str) -> ConnectionSpec:
    """Parse a ``clickhouse://``, ``clickhouses://`` or ``chdb:`` URL (see module doc)."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidStoreURLError(f"ClickHouse URL must be a non-empty string, got {url!r}")
    url = url.strip()
    scheme, sep, rest = url.partition(":")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEMES:
        raise InvalidStoreURLError(
            f"not a ClickHouse URL: {url!r}; expected clickhouse://user:pass@host:8123/db, "
            "clickhouses://user:pass@host:8443/db or chdb:///path/to/dir")
    rest, _, query = rest.partition("?")
    options = _options(url, query)
    if scheme == "chdb":
        spec = _parse_chdb(url, rest, options)
    else:
        spec = _parse_server(url, scheme, options)
    for name, value in options.items():
        if name in _STORE_OPTIONS:
            spec.store_options[name] = _STORE_OPTIONS[name](name, value)
        elif name in _SIGNAL_TTL_OPTIONS:
            spec.store_options.setdefault("signal_ttl_days", {})[
                _SIGNAL_TTL_OPTIONS[name]] = _int(name, value)
        else:
            if spec.interface == "chdb":
                raise InvalidStoreURLError(
                    f"URL option {name} has no meaning for the in-process chdb engine: {url!r}")
            spec.client_options[name] = _CLIENT_OPTIONS[name](name, value)
    return spec


def _options(url: str, query: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True, strict_parsing=False):
        if name in out:
            raise InvalidStoreURLError(f"URL option {name} given twice in {url!r}")
        out[name] = value
    known = {"database", "secure", *_STORE_OPTIONS, *_SIGNAL_TTL_OPTIONS, *_CLIENT_OPTIONS}
    unknown = sorted(set(out) - known)
    if unknown:
        raise InvalidStoreURLError(
            f"unknown ClickHouse URL option(s) {', '.join(unknown)} in {url!r}; "
            f"known: {', '.join(sorted(known))}")
    return out


def _parse_chdb(url: str, rest: str, options: dict[str, str]) -> ConnectionSpec:
    if "secure" in options:
        raise InvalidStoreURLError(f"URL option secure has no meaning for chdb: {url!r}")
    database = options.pop("database", "default")
    if rest.startswith("//"):
        netloc, slash, path = rest[2:].partition("/")
        if netloc in ("memory", ":memory:"):
            if path:
                database = unquote(path).strip("/") or database
            location = ":memory:"
        elif netloc:
            raise InvalidStoreURLError(
                f"chdb URLs name a local directory, not a host ({netloc!r}): use "
                f"chdb:///absolute/path, chdb:relative/path or chdb://memory, got {url!r}")
        else:
            location = unquote(slash + path)
    else:
        location = unquote(rest)
    if not location or location == "/":
        raise InvalidStoreURLError(
            f"chdb URL needs a data directory: chdb:///absolute/path or chdb:relative/path, "
            f"got {url!r}")
    return ConnectionSpec("chdb", database=database or "default", path=location)


def _parse_server(url: str, scheme: str, options: dict[str, str]) -> ConnectionSpec:
    parts = urlsplit(url)
    if not parts.hostname:
        raise InvalidStoreURLError(f"{scheme} URL needs a host: {url!r}")
    try:
        port = parts.port
    except ValueError:
        raise InvalidStoreURLError(f"invalid port in ClickHouse URL {url!r}") from None
    secure = scheme == "clickhouses"
    if "secure" in options:
        secure = _bool("secure", options.pop("secure")) or secure
    path = unquote(parts.path or "").strip("/")
    if "/" in path:
        raise InvalidStoreURLError(
            f"ClickHouse URL path must be just the database name, got {path!r} in {url!r}")
    database = options.pop("database", None) or path or "default"
    return ConnectionSpec(
        "https" if secure else "http",
        host=parts.hostname,
        port=port or (DEFAULT_HTTPS_PORT if secure else DEFAULT_HTTP_PORT),
        username=unquote(parts.username) if parts.username else "default",
        password=unquote(parts.password) if parts.password else "",
        database=database,
    )
