"""The viewer's server side without a browser: the page and its Content-Security-Policy,
the shipped assets (nothing from the internet, licences included), and the text search
route of ``mastra_storage/server/viewer_api.py`` over the in-memory store."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

pytest.importorskip("starlette")
from starlette.testclient import TestClient

from mastra_storage.model.spans import SpanRecord
from mastra_storage.server import create_app, viewer_api
from mastra_storage.server.viewer import STATIC
from mastra_storage.storage.memory import InMemoryStore

T0 = datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
SEARCH = "/viewer/api/search"


def _root(n: int, *, started: datetime | None = None, **fields: Any) -> SpanRecord:
    start = started or T0 + timedelta(seconds=n)
    values: dict[str, Any] = {
        "input": {"messages": [{"role": "user", "content": f"question {n}"}]},
        "output": {"text": f"answer {n}"}, "ended_at": start + timedelta(seconds=1),
        "name": f"agent-{n}"}
    values.update(fields)
    return SpanRecord(trace_id=f"{n:032x}", span_id=f"{n:016x}", span_type="agent_run",
                      started_at=start, **values)


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def client(store: InMemoryStore) -> TestClient:
    return TestClient(create_app(store))


def _search(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get(SEARCH, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _search_all(client: TestClient, **params: Any) -> list[str]:
    ids: list[str] = []
    cursor = None
    for _ in range(1000):
        body = _search(client, **params, **({"cursor": cursor} if cursor else {}))
        ids += [s["traceId"] for s in body["spans"]]
        cursor = body["next"]
        if cursor is None:
            return ids
    raise AssertionError("the search never ended")


# ---------------------------------------------------------------------------- the page

def test_index_carries_the_api_prefix_and_a_strict_csp(store: InMemoryStore) -> None:
    client = TestClient(create_app(store, api_prefix="/v1"))
    response = client.get("/")
    assert response.status_code == 200
    assert '<meta name="mastra-api-prefix" content="/v1">' in response.text
    csp = response.headers["content-security-policy"]
    assert "script-src 'self' 'sha256-" in csp and "unsafe-inline" not in csp.split(";")[1]
    assert "object-src 'none'" in csp and "connect-src 'self'" in csp
    # the one inline script (the import map) is the one the policy allows
    inline = re.findall(r"<script type=\"importmap\">(.*?)</script>", response.text, re.S)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"


def test_an_odd_prefix_is_escaped_into_the_page(store: InMemoryStore) -> None:
    client = TestClient(create_app(store, api_prefix='/x"><script>alert(1)</script>'))
    text = client.get("/").text
    assert "<script>alert(1)</script>" not in text
    assert "&quot;&gt;&lt;script&gt;" in text


def test_without_the_viewer_the_root_is_a_plain_page(store: InMemoryStore) -> None:
    client = TestClient(create_app(store, viewer=False))
    response = client.get("/")
    assert response.status_code == 200 and "/api" in response.text
    assert "importmap" not in response.text
    assert client.get(SEARCH, params={"q": "x"}).status_code == 404


def test_assets_are_served_as_javascript_and_css(client: TestClient) -> None:
    for path, kind in (("static/js/app.js", "javascript"),
                       ("static/vendor/preact/preact.mjs", "javascript"),
                       ("static/vendor/uplot/uPlot.iife.min.js", "javascript"),
                       ("static/viewer.css", "text/css")):
        response = client.get("/" + path)
        assert response.status_code == 200, path
        assert kind in response.headers["content-type"], (path, response.headers["content-type"])


def test_every_import_resolves_to_a_shipped_file() -> None:
    index = (STATIC / "index.html").read_text()
    found = re.search(r'<script type="importmap">(.*?)</script>', index, re.S)
    assert found is not None
    imports = json.loads(found.group(1))["imports"]
    for target in imports.values():
        assert (STATIC.parent / target).resolve().is_file(), target
    for ref in re.findall(r'(?:src|href)="(static/[^"]+)"', index):
        assert (STATIC.parent / ref).is_file(), ref
    for module in (STATIC / "js").glob("*.js"):
        for spec in re.findall(r'^import .*? from "([^"]+)";', module.read_text(), re.M):
            if spec.startswith("."):
                assert (module.parent / spec).is_file(), (module.name, spec)
            else:
                assert spec in imports, (module.name, spec)


def test_nothing_is_fetched_from_the_internet() -> None:
    """No CDN, font or script URL in the page, the viewer's code or its stylesheet (the
    vendored libraries only mention URLs in comments and licences)."""
    files = [STATIC / "index.html", STATIC / "viewer.css", *(STATIC / "js").glob("*.js")]
    for path in files:
        text = path.read_text()
        assert not re.search(r"https?://", text), path.name
        assert "@import" not in text and "fetch(\"http" not in text


def test_vendored_libraries_ship_with_their_licences() -> None:
    vendor = STATIC / "vendor"
    libraries = [d for d in vendor.iterdir() if d.is_dir()]
    assert {d.name for d in libraries} == {"preact", "htm", "uplot", "json-formatter"}
    readme = (vendor / "README.md").read_text()
    for lib in libraries:
        assert (lib / "LICENSE").is_file(), lib.name
        assert lib.name in readme
    total = sum(p.stat().st_size for p in STATIC.rglob("*") if p.is_file())
    assert total < 400_000  # the whole viewer, vendored libraries included


# ---------------------------------------------------------------------------- search

def test_search_matches_inputs_outputs_names_and_errors(store: InMemoryStore,
                                                        client: TestClient) -> None:
    store.batch_create_spans([
        _root(1),
        _root(2, input={"messages": [{"role": "user", "content": "Où est ma COMMANDE?"}]}),
        _root(3, output={"text": "Refund issued"}),
        _root(4, error={"message": "Timeout talking to CRM"}),
        _root(5, name="nightly-REPORT"),
        _root(6, input={"nested": {"deep": [{"key": "needle-in-a-list"}]}}),
        _root(7, input={"count": 12345}),
    ])
    assert [s["name"] for s in _search(client, q="commande")["spans"]] == ["agent-2"]
    assert [s["name"] for s in _search(client, q="REFUND")["spans"]] == ["agent-3"]
    assert [s["name"] for s in _search(client, q="crm")["spans"]] == ["agent-4"]
    assert [s["name"] for s in _search(client, q="report")["spans"]] == ["nightly-REPORT"]
    assert [s["name"] for s in _search(client, q="in-a-list")["spans"]] == ["agent-6"]
    assert [s["name"] for s in _search(client, q="2345")["spans"]] == ["agent-7"]
    body = _search(client, q="question")
    assert [s["name"] for s in body["spans"]] == ["nightly-REPORT", "agent-4", "agent-3", "agent-1"]
    assert body["next"] is None and body["total"] == 7
    first = body["spans"][0]
    assert first["inputPreview"] is None or isinstance(first["inputPreview"], str)
    assert set(first) >= {"traceId", "spanId", "status", "startedAt", "entityName"}


def test_search_applies_the_list_filters(store: InMemoryStore, client: TestClient) -> None:
    store.batch_create_spans([_root(n, metadata={"tier": "pro" if n % 2 else "free"},
                                    error={"message": "x"} if n % 3 == 0 else None)
                              for n in range(1, 13)])
    pro = _search_all(client, q="question", metadata=json.dumps({"tier": "pro"}))
    assert pro == [f"{n:032x}" for n in (11, 9, 7, 5, 3, 1)]
    failed = _search_all(client, q="question", status="error")
    assert failed == [f"{n:032x}" for n in (12, 9, 6, 3)]
    window = json.dumps({"start": (T0 + timedelta(seconds=4)).isoformat(),
                         "end": (T0 + timedelta(seconds=6)).isoformat()})
    assert _search_all(client, q="question", startedAt=window) == [
        f"{n:032x}" for n in (6, 5, 4)]


def test_search_continues_with_a_cursor_over_ties(store: InMemoryStore, client: TestClient,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Small scan budgets force many continuations; 250 roots share one millisecond, so the
    cursor has to step through a tie longer than a page."""
    same = T0 + timedelta(minutes=5)
    store.batch_create_spans([_root(n) for n in range(40)]
                             + [_root(n, started=same) for n in range(100, 350)])
    monkeypatch.setattr(viewer_api, "SCAN_LIMIT", 7)
    ids = _search_all(client, q="question", perPage=5)
    assert len(ids) == len(set(ids)) == 290
    assert set(ids) == {f"{n:032x}" for n in [*range(40), *range(100, 350)]}
    tail = ids[250:]
    assert tail == [f"{n:032x}" for n in reversed(range(40))]


def test_a_trace_arriving_mid_search_does_not_shift_the_scan(
        store: InMemoryStore, client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    store.batch_create_spans([_root(n) for n in range(20)])
    monkeypatch.setattr(viewer_api, "SCAN_LIMIT", 5)
    body = _search(client, q="question", perPage=3)
    seen = [s["traceId"] for s in body["spans"]]
    store.batch_create_spans([_root(99, started=T0 + timedelta(hours=1))])  # newer than all
    cursor = body["next"]
    while cursor:
        body = _search(client, q="question", perPage=3, cursor=cursor)
        seen += [s["traceId"] for s in body["spans"]]
        cursor = body["next"]
    assert seen == [f"{n:032x}" for n in reversed(range(20))]


@pytest.mark.parametrize("needle", ["' OR 1=1 --", "%", "_", "\\", "*", ".*", "$where",
                                    '{"$ne": 1}'])
def test_the_needle_is_literal_text(store: InMemoryStore, client: TestClient, needle: str) -> None:
    store.batch_create_spans([_root(1), _root(2, input={"q": f"has {needle} inside"})])
    assert [s["name"] for s in _search(client, q=needle)["spans"]] == ["agent-2"]


def test_bad_search_requests_answer_400(client: TestClient) -> None:
    for params in ({}, {"q": "  "}, {"q": "x" * 300}, {"q": "x", "cursor": "not-a-cursor"},
                   {"q": "x", "cursor": base64.urlsafe_b64encode(b'{"to": 1}').decode()},
                   {"q": "x", "perPage": "0"}, {"q": "x", "status": "odd"}):
        response = client.get(SEARCH, params=params)
        assert response.status_code == 400, (params, response.text)
        assert response.json()["error"] == "Invalid query parameters"


def test_the_search_route_wants_the_token(store: InMemoryStore) -> None:
    store.batch_create_spans([_root(1)])
    client = TestClient(create_app(store, token="s3cret"))
    assert client.get(SEARCH, params={"q": "question"}).status_code == 401
    assert client.get("/static/js/app.js").status_code == 401
    landing = client.get("/?token=s3cret", follow_redirects=False)
    assert landing.status_code == 303 and landing.headers["location"] == "/"
    assert "httponly" in landing.headers["set-cookie"].lower()
    client.cookies.set("mastra_storage_token", "s3cret")
    assert client.get(SEARCH, params={"q": "question"}).json()["spans"]
    assert client.get("/static/js/app.js").status_code == 200
