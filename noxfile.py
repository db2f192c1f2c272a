"""Developer and CI sessions: ``nox -l`` lists them, ``nox -s NAME`` runs one.

The per-backend sessions start that backend's real server from docker-compose.test.yml
(``docker compose up -d --wait``: healthchecked), point the tests at it through
``MASTRA_TEST_<BACKEND>_URL``, make that backend REQUIRED (a server that does not answer
fails the run instead of skipping) and take the server down afterwards.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
COMPOSE = ["docker", "compose", "-f", str(ROOT / "docker-compose.test.yml")]
INSTALL = ["-e", ".[all,test]"]
EMBEDDED = "memory,sqlite,libsql"
# The lint and type checkers, pinned: the same versions as .pre-commit-config.yaml.
RUFF = "ruff==0.17.6"
MYPY = "mypy==2.4.1"
LINTED = ["mastra_storage", "tests", "noxfile.py"]

# Host ports and credentials: the same as in docker-compose.test.yml.
SERVER_URLS = {
    "postgres": "postgresql://postgres:mastra@127.0.0.1:55432/mastra",
    "mssql": "mssql+pyodbc://sa:Mastra_Test_2024@127.0.0.1:51433/master",
    "mongodb": "mongodb://127.0.0.1:57017/?directConnection=true",
    "clickhouse": "clickhouse://mastra:mastra@127.0.0.1:58123/mastra",
}


def _pytest(session: nox.Session, backends: str, required: str, env: dict[str, str]) -> None:
    session.run("pytest", *session.posargs,
                env={**env, "MASTRA_TEST_BACKENDS": backends, "MASTRA_TEST_REQUIRE": required})


def _with_servers(session: nox.Session, backends: list[str]) -> None:
    services = [b for b in backends if b in SERVER_URLS]
    session.install(*INSTALL)
    session.run(*COMPOSE, "up", "-d", "--wait", *services, external=True)
    try:
        env = {f"MASTRA_TEST_{b.upper()}_URL": SERVER_URLS[b] for b in services}
        _pytest(session, ",".join(backends), ",".join(backends), env)
    finally:
        session.run(*COMPOSE, "down", "-v", external=True)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the library, the tests and this file (as .ci/run and pre-commit)."""
    session.install(RUFF)
    session.run("ruff", "check", *LINTED)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy over the library (strict), the tests (relaxed) and this file, as configured in
    pyproject.toml (as .ci/run and pre-commit)."""
    session.install(*INSTALL, MYPY)
    session.run("mypy")


@nox.session
def tests(session: nox.Session) -> None:
    """The whole suite on the embedded backends (in-memory, SQLite, libSQL)."""
    session.install(*INSTALL)
    _pytest(session, EMBEDDED, EMBEDDED, {})


@nox.session(name="tests-postgres")
def tests_postgres(session: nox.Session) -> None:
    """The suite against PostgreSQL 16 from docker-compose.test.yml (both layouts: the
    classic mastra_ai_spans and Mastra's v-next tables)."""
    _with_servers(session, ["postgres", "postgres-vnext"])  # one server, both layouts


@nox.session(name="tests-mssql")
def tests_mssql(session: nox.Session) -> None:
    """The suite against SQL Server 2022 from docker-compose.test.yml.

    Needs an ODBC driver on the host: FreeTDS (`apt-get install unixodbc tdsodbc`) or
    Microsoft's msodbcsql18.
    """
    _with_servers(session, ["mssql"])


@nox.session(name="tests-mongodb")
def tests_mongodb(session: nox.Session) -> None:
    """The suite against MongoDB 7 from docker-compose.test.yml."""
    _with_servers(session, ["mongodb"])


@nox.session(name="tests-clickhouse")
def tests_clickhouse(session: nox.Session) -> None:
    """The suite against a ClickHouse 24 server from docker-compose.test.yml."""
    _with_servers(session, ["clickhouse", "clickhouse-vnext"])  # one server, both layouts


@nox.session(name="tests-all")
def tests_all(session: nox.Session) -> None:
    """Every backend at once: the embedded ones and all four servers (both layouts of
    PostgreSQL and ClickHouse)."""
    _with_servers(session, [*EMBEDDED.split(","), *SERVER_URLS, "clickhouse-vnext",
                            "postgres-vnext"])


@nox.session
def bench(session: nox.Session) -> None:
    """`mastra-storage bench` on a scratch SQLite file, as JSON (extra args go to bench)."""
    session.install(*INSTALL)
    db = Path(session.create_tmp()) / "bench.db"
    if db.exists():
        os.remove(db)
    session.run("mastra-storage", "bench", "--store", f"sqlite:///{db}", "--json",
                *session.posargs)
