"""``mastra-storage studio`` (alias ``serve``), the command: what it prints, what it
refuses, and the security defaults it sets up (loopback, read-only, token, Host)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from mastra_storage import create_store
from tests.studio import harness

API = "/api/observability"


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, harness.Demo]:
    path = tmp_path_factory.mktemp("cli") / "demo.db"
    store = create_store(f"sqlite:///{path}")
    demo = harness.seed_demo(store, traces=3)
    store.close()
    return f"sqlite:///{path}", demo


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mastra_storage.cli.main", "studio", *args],
                          capture_output=True, text=True, timeout=60, cwd=harness.REPO,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


def test_it_prints_where_to_go_and_the_studio_command(
        demo_db: tuple[str, harness.Demo]) -> None:
    url, demo = demo_db
    with harness.serve_cli(url) as served:
        assert httpx.get(served.url + "/").status_code == 200
        body = httpx.get(f"{served.url}/api/system/packages").json()
        assert body["observabilityStorageType"] == "SQLiteStore"
        rows = httpx.get(f"{served.url}{API}/traces").json()["spans"]
        assert [r["traceId"] for r in rows] == [r.trace_id for r in demo.traces]
    printed = served.printed
    assert f"serving {url}" in printed
    assert f"http://localhost:{served.port}/" in printed
    assert f"MASTRA_TELEMETRY_DISABLED=1 npx mastra studio -s {served.port}" in printed
    assert "read-only" in printed and "no token" in printed
    assert "Traceback" not in printed


def test_serve_is_an_alias_and_the_prefix_reaches_the_studio_command(
        demo_db: tuple[str, harness.Demo]) -> None:
    url, _ = demo_db
    with harness.serve_cli(url, "--api-prefix", "/mastra", command="serve") as served:
        assert httpx.get(f"{served.url}/mastra/observability/traces").status_code == 200
        assert httpx.get(f"{served.url}{API}/traces").status_code == 404
    assert "--server-api-prefix /mastra" in served.printed


def test_loopback_checks_the_host_header(demo_db: tuple[str, harness.Demo]) -> None:
    url, _ = demo_db
    with harness.serve_cli(url) as served:
        for host in ("localhost", f"localhost:{served.port}", f"127.0.0.1:{served.port}"):
            got = httpx.get(f"{served.url}{API}/traces", headers={"Host": host})
            assert got.status_code == 200, host
        rebound = httpx.get(f"{served.url}{API}/traces",
                            headers={"Host": f"attacker.example:{served.port}"})
        assert rebound.status_code == 403
        other = httpx.get(f"{served.url}{API}/traces", headers={"Origin": "https://evil.example"})
        assert other.status_code == 403


def test_other_addresses_need_a_token(demo_db: tuple[str, harness.Demo]) -> None:
    url, _ = demo_db
    refused = run(url, "--host", "0.0.0.0", "--port", str(harness.free_port()))
    assert refused.returncode == 2
    assert "set a token with --token or $MASTRA_STORAGE_TOKEN" in refused.stderr + refused.stdout
    with harness.serve_cli(url, "--host", "0.0.0.0", env={"MASTRA_STORAGE_TOKEN": "s3cret"},
                           ready_path="/api") as served:
        assert httpx.get(f"{served.url}{API}/traces").status_code == 401
        ok = httpx.get(f"{served.url}{API}/traces", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        # no Host check off loopback: the token protects
        named = httpx.get(f"{served.url}{API}/traces", headers={
            "Authorization": "Bearer s3cret", "Host": f"myhost.lan:{served.port}"})
        assert named.status_code == 200
    assert "token required" in served.printed and "s3cret" not in served.printed
    assert "-h 0.0.0.0" in served.printed


def test_writes_need_allow_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    store = create_store(url)
    demo = harness.seed_demo(store, traces=2)
    store.close()
    victim = {"traceIds": [demo.traces[0].trace_id]}
    with harness.serve_cli(url) as served:
        assert httpx.post(f"{served.url}{API}/traces/delete", json=victim).status_code == 403
    with harness.serve_cli(url, "--allow-writes") as served:
        assert httpx.post(f"{served.url}{API}/traces/delete", json=victim).json() == {
            "success": True}
        assert httpx.get(f"{served.url}{API}/traces").json()["pagination"]["total"] == 1
    assert "writes allowed" in served.printed


def test_two_urls_make_a_composite_store(tmp_path: Path) -> None:
    app_url, traces_url = (f"sqlite:///{tmp_path / n}" for n in ("app.db", "traces.db"))
    for url in (app_url, traces_url):
        create_store(url).close()
    store = create_store(traces_url)
    demo = harness.seed_demo(store, traces=2)
    store.close()
    with harness.serve_cli(app_url, "--observability", traces_url) as served:
        body = httpx.get(f"{served.url}/api/system/packages").json()
        assert body["storageType"] == "CompositeStore"
        rows = httpx.get(f"{served.url}{API}/traces").json()["spans"]
        assert [r["traceId"] for r in rows] == [r.trace_id for r in demo.traces]
    assert f"observability from {traces_url}" in served.printed


def test_passwords_are_masked(pg: Any, tmp_path: Path) -> None:
    from tests.backends.postgres import fresh_database

    with fresh_database(pg.url) as url:
        create_store(url, auto_migrate=True).close()
        # the tests' server trusts local connections: any password is accepted, and shown
        with_password = url.replace("postgresql+psycopg://postgres@",
                                    "postgresql://postgres:hunter2@")
        assert "hunter2" in with_password
        with harness.serve_cli(with_password) as served:
            assert httpx.get(f"{served.url}{API}/traces").status_code == 200
        assert "hunter2" not in served.printed and "postgres:***@" in served.printed
    down = run("postgresql://app:hunter2@127.0.0.1:9/db", "--port", str(harness.free_port()))
    assert down.returncode != 0
    assert "hunter2" not in down.stdout + down.stderr


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    done = run(f"sqlite:///{tmp_path / 'nope.db'}")
    assert done.returncode == 2
    assert "no SQLite database at" in done.stdout + done.stderr
    assert not (tmp_path / "nope.db").exists()


def test_hostile_ids_over_http(demo_db: tuple[str, harness.Demo]) -> None:
    """Through uvicorn: a 10 KB trace id, NUL and SQL in the path and query."""
    url, _ = demo_db
    with harness.serve_cli(url) as served:
        long_id = "a" * 10240
        got = httpx.get(f"{served.url}{API}/traces/{long_id}")
        assert got.status_code == 404
        assert got.json() == {"error": f"Trace with ID '{long_id}' not found"}
        nul = httpx.get(f"{served.url}{API}/traces/a%00b/spans/%27%20OR%201%3D1%20--")
        assert nul.status_code == 404 and nul.json() == {"error": "Span not found"}
        listed = httpx.get(f"{served.url}{API}/traces",
                           params={"threadId": "x' OR '1'='1", "metadata": '{"$ne":null}'})
        assert listed.status_code == 200 and listed.json()["spans"] == []


def test_otlp_needs_the_flag_and_lands_in_the_store(tmp_path: Path) -> None:
    """``--otlp`` opens POST /v1/traces; the spans it takes are in the store at exit."""
    url = f"sqlite:///{tmp_path / 'otlp.db'}"
    trace_id, span_id = "4af7651916cd43dd8448eb211c80319c", "f7ad6b7169203331"
    body = {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "svc"}}]},
        "scopeSpans": [{"spans": [{
            "traceId": trace_id, "spanId": span_id, "name": "otel-root", "kind": 1,
            "startTimeUnixNano": "1764460800000000000",
            "endTimeUnixNano": "1764460801000000000"}]}]}]}
    create_store(url).close()  # the command serves existing stores only
    with harness.serve_cli(url) as served:
        assert httpx.post(f"{served.url}/v1/traces", json=body).status_code in (404, 405)
    with harness.serve_cli(url, "--otlp") as served:
        assert httpx.post(f"{served.url}/v1/traces", json=body).status_code == 200
    assert f"http://localhost:{served.port}/v1/traces" in served.printed
    store = create_store(url)
    try:
        trace = store.get_trace(trace_id)
        assert trace is not None and [s.name for s in trace.spans] == ["otel-root"]
    finally:
        store.close()
