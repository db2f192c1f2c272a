"""PostgreSQL for the tests: ``MASTRA_TEST_POSTGRES_URL``, else a throwaway local server.

The local server is Debian's ``postgresql-<N>`` (``initdb`` + ``pg_ctl`` under
``/usr/lib/postgresql/<N>/bin``; ``MASTRA_TEST_PG_BINDIR`` overrides), started in a fresh
temporary directory on a free loopback port with durability switched off (``fsync=off``,
``synchronous_commit=off``, ``full_page_writes=off``): it only has to live as long as the
test session. PostgreSQL refuses to run as root, so as root it runs as the ``postgres``
system user (created if missing).

Every ``make_store()`` gets a new schema (``schema=``), migrated by the store itself
(``auto_migrate=True``): stores never see each other's rows, and nothing needs cleaning
between tests. With an external URL the schemas are dropped again at the end.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import Provider, Unavailable, env_url

SERVER_USER = "postgres"
START_TIMEOUT_S = 60


def _bindir() -> Path:
    explicit = os.environ.get("MASTRA_TEST_PG_BINDIR")
    candidates = [Path(explicit)] if explicit else []
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                      key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                      else 0, reverse=True)
    candidates += [Path(v) for v in versions]
    found = shutil.which("initdb")  # e.g. /usr/local/bin/initdb -> Debian's binary
    if found:
        candidates.append(Path(found).resolve().parent)
    for cand in candidates:
        if (cand / "initdb").is_file() and (cand / "pg_ctl").is_file():
            return cand
    raise Unavailable("no PostgreSQL server binaries (initdb/pg_ctl) found: install Debian's "
                      "postgresql-15 (or set MASTRA_TEST_POSTGRES_URL / MASTRA_TEST_PG_BINDIR)")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_user() -> pwd.struct_passwd | None:
    """The unprivileged account to run the server as (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        pass
    try:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        SERVER_USER], check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise Unavailable(f"running as root and could not create the '{SERVER_USER}' user "
                          f"for PostgreSQL: {exc}") from None
    return pwd.getpwnam(SERVER_USER)


@dataclass
class LocalServer:
    """A PostgreSQL cluster in a temp dir; ``url`` is ready once ``start()`` returns."""

    root: Path
    bindir: Path
    port: int
    user: pwd.struct_passwd | None

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        if self.user is not None:
            kwargs.update(user=self.user.pw_uid, group=self.user.pw_gid, extra_groups=[])
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        return subprocess.run(list(args), capture_output=True, text=True, env=env,
                              cwd=self.root, timeout=START_TIMEOUT_S, **kwargs)

    def start(self) -> None:
        if self.user is not None:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        init = self._run(str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", "postgres",
                         "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
        if init.returncode != 0:
            raise Unavailable(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")
        settings = {
            "port": str(self.port), "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.root), "fsync": "off",
            "synchronous_commit": "off", "full_page_writes": "off",
            "max_connections": "200", "shared_buffers": "128MB", "timezone": "UTC",
        }
        opts = " ".join(f"-c {k}={v}" for k, v in settings.items())
        # The settings also go in the cluster's own config, so resume() starts it alike.
        with open(self.datadir / "postgresql.auto.conf", "a", encoding="utf-8") as conf:
            conf.write("".join(f"{k} = '{v}'\n" for k, v in settings.items()))
        started = self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-w",
                            "-t", str(START_TIMEOUT_S), "-l", str(self.root / "server.log"),
                            "-o", opts, "start")
        if started.returncode != 0:
            log = (self.root / "server.log")
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise Unavailable(f"pg_ctl start failed: {started.stderr.strip()} {tail}")

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate",
                      "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def pause(self) -> None:
        """Stop the server, keeping its data (an outage); ``resume()`` brings it back."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w",
                  "stop")

    def resume(self) -> None:
        started = self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-w",
                            "-t", str(START_TIMEOUT_S), "-l", str(self.root / "server.log"),
                            "start")
        if started.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()}")


def start_local_server() -> LocalServer:
    """Start a throwaway server (also used by the benchmarks); raises ``Unavailable``."""
    bindir = _bindir()
    user = _server_user()
    # Not under pytest's tmp dir: its parents are private to root, the server user must
    # be able to reach its data directory.
    root = Path(tempfile.mkdtemp(prefix="mastra-pg-"))
    server = LocalServer(root, bindir, _free_port(), user)
    try:
        server.start()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return server


def _check_driver() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        raise Unavailable("psycopg is not installed (extra 'postgres')") from None


def start(workdir: Path) -> Provider:
    _check_driver()
    from mastra_storage.storage.sql.postgres import PostgresStore

    url = env_url("postgres")
    server: LocalServer | None = None
    if url is None:
        server = start_local_server()
        url = server.url
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    counter = itertools.count()
    schemas: list[str] = []

    def make() -> PostgresStore:
        schema = f"{prefix}{next(counter)}"
        schemas.append(schema)
        store = PostgresStore.from_url(url, schema=schema, auto_migrate=True)
        store.init()
        return store

    def stop() -> None:
        if server is not None:
            server.stop()
            return
        _drop_schemas(url, schemas)

    return Provider("postgres", url, make, stop,
                    info={"local_server": server is not None, "schema_prefix": prefix})


def _drop_schemas(url: str, schemas: list[str]) -> None:
    import sqlalchemy as sa

    from mastra_storage.storage.sql.postgres import engine_url

    engine = sa.create_engine(engine_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for schema in schemas:
                with contextlib.suppress(sa.exc.DBAPIError):
                    conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        engine.dispose()


@contextlib.contextmanager
def fresh_database(url: str) -> Iterator[str]:
    """A new, empty database on the server behind ``url`` (dropped afterwards): its URL.

    For tests that need the default ``public`` schema to themselves, e.g. to create the
    contract table verbatim from Mastra's DDL.
    """
    import sqlalchemy as sa

    from mastra_storage.storage.sql.postgres import engine_url

    name = f"mst_{uuid.uuid4().hex[:12]}"
    base = engine_url(url)
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
