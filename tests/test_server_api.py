"""The HTTP API in process (Starlette's test client), over the reference store.

Every route of docs/studio.md with the shapes Mastra's server answers and the values the
Python store API reads; Mastra's query-string parsing and error bodies (measured against
the real server: /work/research/server-api.md); the transport rules Studio needs; the
security defaults. The real clients run in tests/test_studio_*.py, the other backends
in tests/test_server_backends.py.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from mastra_storage.model.signals import FeedbackRecord
from mastra_storage.model.spans import COLUMNS
from mastra_storage.model.time import format_iso, utc_now
from mastra_storage.server import ServerOptions, create_app
from mastra_storage.storage import CompositeStore, TracesFilter, TracesOrderBy, create_store
from mastra_storage.storage.memory import InMemoryStore
from mastra_storage.storage.signal_queries import (
    Feature,
    FeedbackFilter,
    LogsFilter,
    MetricAggregateRequest,
    MetricBreakdownRequest,
    ScoresFilter,
    SignalOrder,
)
from tests.helpers import found
from tests.studio.harness import Demo, seed_demo

API = "/api/observability"
STUDIO = "http://localhost:3000"
SPAN_KEYS = {c.name for c in COLUMNS}
ROW_KEYS = {"traceId", "rootSpanId", "name", "entityId", "parentSpanId", "createdAt",
            "metadata", "inputPreview", "threadId", "resourceId", "startedAt", "endedAt",
            "entityName", "entityType", "environment", "status"}
LIGHT_KEYS = {"traceId", "spanId", "parentSpanId", "name", "spanType", "isEvent",
              "startedAt", "endedAt", "error", "status", "entityType", "entityId",
              "entityName", "metadata", "inputPreview", "createdAt", "updatedAt"}
PAGE_KEYS = {"total", "page", "perPage", "hasMore"}


@pytest.fixture(scope="module")
def seeded() -> tuple[InMemoryStore, Demo]:
    store = InMemoryStore()
    demo = seed_demo(store)
    root = demo.failed_trace
    store.batch_create_feedback([FeedbackRecord(
        timestamp=utc_now(), feedback_type="thumbs", feedback_source="studio",
        value_number=1.0, comment="good", trace_id=root.trace_id, span_id=root.span_id)])
    return store, demo


@pytest.fixture(scope="module")
def client(seeded: tuple[InMemoryStore, Demo]) -> TestClient:
    return TestClient(create_app(seeded[0]), raise_server_exceptions=False)


def week() -> dict[str, str]:
    now = utc_now()
    return {"from": format_iso(now - timedelta(days=7)),
            "to": format_iso(now + timedelta(minutes=5))}


def issue_fields(response: Any) -> list[str]:
    return [i["field"] for i in response.json()["issues"]]


# ---------------------------------------------------------------------------- transport

def test_root_answers_and_unknown_routes_are_json_404(client: TestClient) -> None:
    assert client.get("/").status_code == 200
    for path in ("/nope", "/api/nope", f"{API}/nope", f"{API}/traces/a/b/c/d"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"error": "Not Found"}
    response = client.delete(f"{API}/traces/query")
    assert response.status_code == 405 and response.json() == {"error": "Method Not Allowed"}


STARTUP = {
    "/api/auth/capabilities": {"enabled": False, "login": None},
    "/api/agents": {}, "/api/workflows": {}, "/api/tools": {}, "/api/processors": {},
    "/api/scores/scorers": {},
    "/api/workspaces": {"workspaces": []},
    "/api/mcp/v0/servers": {"servers": [], "total_count": 0, "next": None},
    "/api/datasets": {"datasets": [], "pagination": {"total": 0, "page": 0, "perPage": 10,
                                                     "hasMore": False}},
    "/api/experiments": {"experiments": [], "pagination": {"total": 0, "page": 0,
                                                           "perPage": 10, "hasMore": False}},
    "/api/experiments/review-summary": {"counts": []},
    "/api/editor/builder/settings": {"enabled": False, "modelPolicy": {"active": False}},
}


@pytest.mark.parametrize("path", sorted(STARTUP))
def test_startup_routes_answer_the_minimal_shapes(client: TestClient, path: str) -> None:
    response = client.get(path, params={"requestContext": "e30="})
    assert response.status_code == 200
    assert response.json() == STARTUP[path]


def test_system_packages_states_the_store_capabilities(client: TestClient) -> None:
    body = client.get("/api/system/packages").json()
    assert body["packages"] == [] and body["observabilityEnabled"] is True
    assert body["liveKitConnectionRouteEnabled"] is False
    assert body["observabilityStorageType"] == "InMemoryStore"
    assert body["observabilityStorageCapabilities"] == {
        "metrics": True, "logs": True, "traceQueryDiscovery": True}


def test_cors_echoes_a_local_origin_with_credentials(client: TestClient) -> None:
    response = client.post(f"{API}/traces/query", json={"timeRange": week()},
                           headers={"Origin": STUDIO})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == STUDIO
    assert response.headers["access-control-allow-credentials"] == "true"
    preflight = client.options(f"{API}/traces/query", headers={
        "Origin": "http://127.0.0.1:3000", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-mastra-dev-playground"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "http://127.0.0.1:3000"
    assert preflight.headers["access-control-allow-headers"] == (
        "content-type,x-mastra-dev-playground")
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-credentials"] == "true"


@pytest.mark.parametrize("origin", [
    "https://evil.example", "http://localhost.evil.example", "http://127.0.0.1.evil.example",
    "http://localhost:3000@evil.example", "null", "http://localhost:notaport"])
def test_other_origins_are_refused(client: TestClient, origin: str) -> None:
    response = client.get(f"{API}/traces", headers={"Origin": origin})
    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options(f"{API}/traces/query", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers


def test_allow_origin_widens_cors(seeded: tuple[InMemoryStore, Demo]) -> None:
    app = create_app(seeded[0], allow_origins=["https://studio.example.com"])
    client = TestClient(app)
    ok = client.get(f"{API}/traces", headers={"Origin": "https://studio.example.com"})
    assert ok.headers["access-control-allow-origin"] == "https://studio.example.com"
    assert client.get(f"{API}/traces", headers={"Origin": STUDIO}).status_code == 403
    any_origin = TestClient(create_app(seeded[0], allow_origins=["*"]))
    answer = any_origin.get(f"{API}/traces", headers={"Origin": "https://a.example"})
    assert answer.headers["access-control-allow-origin"] == "https://a.example"  # never *


def test_the_host_header_is_checked_when_asked(seeded: tuple[InMemoryStore, Demo]) -> None:
    app = create_app(seeded[0], allowed_hosts=("localhost", "127.0.0.1", "::1"))
    client = TestClient(app, base_url="http://localhost:4111")
    assert client.get(f"{API}/traces").status_code == 200
    assert client.get(f"{API}/traces", headers={"Host": "[::1]:4111"}).status_code == 200
    rebound = client.get(f"{API}/traces", headers={"Host": "attacker.example:4111"})
    assert rebound.status_code == 403 and "Host not allowed" in rebound.json()["error"]


def test_api_prefix_moves_every_route(seeded: tuple[InMemoryStore, Demo]) -> None:
    client = TestClient(create_app(seeded[0], api_prefix="/mastra"))
    assert client.get("/mastra/auth/capabilities").status_code == 200
    assert client.get("/mastra/observability/traces").status_code == 200
    assert client.get("/api/observability/traces").status_code == 404


# ---------------------------------------------------------------------------- traces

def test_trace_query_first_page_is_studios_traces_list(
        client: TestClient, seeded: tuple[InMemoryStore, Demo]) -> None:
    _, demo = seeded
    body = {"timeRange": week(), "orderBy": [{"field": "startedAt", "direction": "desc"}],
            "page": {"limit": 7, "after": None}}
    first = client.post(f"{API}/traces/query", json=body).json()
    assert set(first) == {"traces", "page"}
    assert [r["traceId"] for r in first["traces"]] == [r.trace_id for r in demo.traces[:7]]
    for row, root in zip(first["traces"], demo.traces, strict=False):
        assert set(row) == ROW_KEYS
        assert row["rootSpanId"] == root.span_id and row["name"] == "support-agent"
        assert row["entityType"] == "agent" and row["status"] == root.status
        assert row["inputPreview"] == root.input["messages"][0]["content"]
        assert row["startedAt"].endswith("Z") and len(row["startedAt"]) == 24
    seen = [r["traceId"] for r in first["traces"]]
    cursor = first["page"]["next"]
    while cursor is not None:
        more = client.post(f"{API}/traces/query", json={
            **body, "page": {"limit": 7, "after": cursor}}).json()
        seen += [r["traceId"] for r in more["traces"]]
        cursor = more["page"]["next"]
    assert seen == [r.trace_id for r in demo.traces]


def test_trace_query_where_and_page_pagination(
        client: TestClient, seeded: tuple[InMemoryStore, Demo]) -> None:
    _, demo = seeded
    errored = client.post(f"{API}/traces/query", json={"timeRange": week(), "where": {
        "op": "eq", "left": {"path": "status"}, "right": {"literal": "error"}}}).json()
    assert [r["traceId"] for r in errored["traces"]] == [r.trace_id for r in demo.failed]
    tools = client.post(f"{API}/traces/query", json={"timeRange": week(), "where": {
        "spans": {"some": {"op": "eq", "left": {"path": "name"},
                           "right": {"literal": "lookup_customer"}}}}}).json()
    with_tool = [r.trace_id for r in demo.traces if any(
        s.name == "lookup_customer" for s in found(seeded[0].get_trace(r.trace_id)).spans)]
    assert [r["traceId"] for r in tools["traces"]] == with_tool
    paged = client.post(f"{API}/traces/query", json={
        "timeRange": week(), "pagination": {"page": 1, "perPage": 5}}).json()
    assert paged["pagination"] == {"total": 20, "page": 1, "perPage": 5, "hasMore": True}
    assert [r["traceId"] for r in paged["traces"]] == [r.trace_id for r in demo.traces[5:10]]


def test_trace_span_and_light_routes(client: TestClient,
                                     seeded: tuple[InMemoryStore, Demo]) -> None:
    store, demo = seeded
    root = demo.failed_trace
    trace = found(store.get_trace(root.trace_id))
    full = client.get(f"{API}/traces/{root.trace_id}").json()
    assert full["traceId"] == root.trace_id
    assert [s["spanId"] for s in full["spans"]] == [s.span_id for s in trace.spans]
    assert all(set(s) == SPAN_KEYS | {"status"} for s in full["spans"])
    assert full["spans"][0]["status"] == "error"
    assert full["spans"][0]["error"]["message"] == root.error["message"]

    span = client.get(f"{API}/traces/{root.trace_id}/spans/{root.span_id}").json()["span"]
    assert set(span) == SPAN_KEYS and span["input"] == root.input

    light = client.get(f"{API}/traces/{root.trace_id}/light").json()
    assert [s["spanId"] for s in light["spans"]] == [s.span_id for s in trace.spans]
    assert "input" not in light["spans"][0] and "attributes" not in light["spans"][0]

    model = next(s for s in trace.spans if s.span_type == "model_generation")
    branch = client.get(f"{API}/traces/{root.trace_id}/branches/{model.span_id}",
                        params={"depth": 1}).json()
    assert branch["spans"][0]["spanId"] == model.span_id
    assert {s["parentSpanId"] for s in branch["spans"][1:]} <= {model.span_id}
    trajectory = client.get(f"{API}/traces/{root.trace_id}/trajectory").json()
    assert len(trajectory["steps"]) == len(trace.spans) - 1


@pytest.mark.parametrize(("path", "message"), [
    ("/traces/{t}", "Trace with ID '{t}' not found"),
    ("/traces/{t}/light", "Trace with ID '{t}' not found"),
    ("/traces/{t}/trajectory", "Trace with ID '{t}' not found"),
    ("/traces/{t}/spans/{s}", "Span not found"),
    ("/traces/{t}/branches/{s}", "Branch not found for span '{s}' in trace '{t}'"),
])
def test_unknown_ids_are_404_with_mastras_message(client: TestClient, path: str,
                                                  message: str) -> None:
    response = client.get(API + path.format(t="f" * 32, s="e" * 16))
    assert response.status_code == 404
    assert response.json() == {"error": message.format(t="f" * 32, s="e" * 16)}


def test_trace_lists_filter_page_and_order_like_the_store(
        client: TestClient, seeded: tuple[InMemoryStore, Demo]) -> None:
    store, demo = seeded
    got = client.get(f"{API}/traces", params={"page": 1, "perPage": 3, "field": "startedAt",
                                              "direction": "ASC"}).json()
    want = store.list_traces(page=1, per_page=3, order_by=TracesOrderBy("startedAt", "ASC"))
    assert got["pagination"] == {"total": 20, "page": 1, "perPage": 3, "hasMore": True}
    assert [s["traceId"] for s in got["spans"]] == [s.trace_id for s in want.spans]
    assert all(set(s) == SPAN_KEYS | {"status"} for s in got["spans"])

    failed = client.get(f"{API}/traces", params={"status": "error"}).json()
    assert [s["traceId"] for s in failed["spans"]] == [r.trace_id for r in demo.failed]
    light = client.get(f"{API}/traces/light", params={"threadId": demo.traces[3].thread_id,
                                                      "perPage": 25}).json()
    assert [s["traceId"] for s in light["spans"]] == [demo.traces[3].trace_id]
    assert set(light["spans"][0]) == LIGHT_KEYS
    assert light["spans"][0]["inputPreview"] == demo.traces[3].input["messages"][0]["content"]

    tags = client.get(f"{API}/traces", params=[("tags", "support"), ("tags", "eu")]).json()
    as_json = client.get(f"{API}/traces", params={"tags": '["support","eu"]'}).json()
    want_tags = store.list_traces(TracesFilter(tags=["support", "eu"]), per_page=100)
    assert [s["traceId"] for s in tags["spans"]] == [s["traceId"] for s in as_json["spans"]]
    assert tags["pagination"]["total"] == want_tags.total > 0

    meta = client.get(f"{API}/traces", params={"metadata": '{"tier":"pro"}'}).json()
    assert meta["pagination"]["total"] == store.list_traces(
        TracesFilter(metadata={"tier": "pro"})).total


def test_trace_id_filter_of_the_lists(client: TestClient,
                                      seeded: tuple[InMemoryStore, Demo]) -> None:
    _, demo = seeded
    one = demo.traces[2]
    for path in ("/traces", "/traces/light"):
        got = client.get(API + path, params={"traceId": one.trace_id}).json()
        assert [s["traceId"] for s in got["spans"]] == [one.trace_id]
        assert got["pagination"] == {"total": 1, "page": 0, "perPage": 10, "hasMore": False}
        other = client.get(API + path, params={"traceId": one.trace_id, "status": "error"})
        assert other.json()["spans"] == ([] if one.status != "error" else other.json()["spans"])
        assert client.get(API + path, params={"traceId": "0" * 32}).json()["spans"] == []
    branches = client.get(f"{API}/branches", params={"traceId": one.trace_id,
                                                     "perPage": 100}).json()
    assert branches["branches"] and {b["traceId"] for b in branches["branches"]} == {
        one.trace_id}


def test_date_coercion_iso_date_only_and_epoch_ms(
        client: TestClient, seeded: tuple[InMemoryStore, Demo]) -> None:
    _, demo = seeded
    oldest = demo.traces[-1].started_at
    later = oldest + timedelta(milliseconds=1)
    forms = [{"start": format_iso(later)}, {"start": int(later.timestamp() * 1000)}]
    for start in forms:
        got = client.get(f"{API}/traces", params={"startedAt": json.dumps(start),
                                                  "perPage": 100}).json()
        assert demo.traces[-1].trace_id not in {s["traceId"] for s in got["spans"]}
    day = (oldest + timedelta(days=1)).date().isoformat()
    none = client.get(f"{API}/traces", params={"startedAt": json.dumps({"start": day})})
    assert none.json()["spans"] == []
    legacy = client.get(f"{API}/traces", params={"dateRange": json.dumps({"end": day})})
    assert legacy.json()["pagination"]["total"] == 20


@pytest.mark.parametrize(("params", "field", "message"), [
    ({"perPage": "101"}, "perPage", "Too big: expected number to be <=100"),
    ({"perPage": "0"}, "perPage", "Too small: expected number to be >=1"),
    ({"page": "-1"}, "page", "Too small: expected number to be >=0"),
    ({"page": "x"}, "page", "Invalid input: expected number, received NaN"),
    ([("perPage", "1"), ("perPage", "2")], "perPage", None),
    ({"direction": "down"}, "direction", 'Invalid option: expected one of "ASC"|"DESC"'),
    ({"field": "name"}, "field", 'Invalid option: expected one of "startedAt"|"endedAt"'),
    ({"startedAt": "yesterday"}, "startedAt", "Invalid input"),
    ({"startedAt": '{"start":"not a date"}'}, "startedAt", None),
    ({"tags": "a"}, "tags", "Invalid input"),
    ({"hasChildError": "1"}, "hasChildError", None),
    ({"status": "ok"}, "status", None),
    ({"spanType": "bogus"}, "spanType", None),
    ({"entityType": "bogus"}, "entityType", None),
    ({"metadata": "[1]"}, "metadata", None),
    ({"after": "x"}, "after", "`after` is only allowed when `mode=delta`"),
    ({"mode": "sometimes"}, "mode", None),
])
def test_invalid_list_parameters_are_400_naming_the_field(
        client: TestClient, params: Any, field: str, message: str | None) -> None:
    response = client.get(f"{API}/traces", params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "Invalid query parameters"
    assert [i["field"] for i in body["issues"]] == [field]
    if message is not None:
        assert body["issues"][0]["message"] == message


def test_unknown_parameters_are_ignored_and_workflow_means_workflow_run(
        client: TestClient) -> None:
    assert client.get(f"{API}/traces", params={"requestContext": "e30=", "x": "1"}
                      ).status_code == 200
    legacy = client.get(f"{API}/branches", params={"entityType": "workflow"}).json()
    current = client.get(f"{API}/branches", params={"entityType": "workflow_run"}).json()
    assert legacy == current and current["pagination"]["total"] > 0


def test_filters_no_store_takes_are_501_not_ignored(client: TestClient) -> None:
    response = client.get(f"{API}/traces", params={"rootEntityName": "x"})
    assert response.status_code == 501
    assert "rootEntityName" in response.json()["error"]


def test_delta_polling_is_501_as_mastra_says_it(client: TestClient) -> None:
    for path, endpoint in (("/traces", "traces"), ("/logs", "logs"), ("/branches", "branches")):
        response = client.get(API + path, params={"mode": "delta"})
        assert response.status_code == 501
        assert response.json() == {"error": "Delta polling is not supported by the configured "
                                            f"observability store for {endpoint}"}
    query = client.post(f"{API}/traces/query", json={"timeRange": week(), "mode": "delta"})
    assert query.status_code == 501 and query.json()["code"] == "TRACE_QUERY_UNSUPPORTED"


# ---------------------------------------------------------------------------- trace query errors

def _chain(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"op": "exists", "path": "threadId"}
    for _ in range(depth - 1):
        node = {"op": "not", "arg": node}
    return node


def _wide(nodes: int) -> dict[str, Any]:
    leaf = {"op": "exists", "path": "threadId"}
    return {"op": "or", "args": [leaf] * (nodes - 1)}


@pytest.mark.parametrize(("where", "ok"), [
    (_chain(12), True), (_chain(13), False), (_wide(100), True), (_wide(101), False)])
def test_where_limits_are_mastras_100_nodes_and_12_levels(
        client: TestClient, where: dict[str, Any], ok: bool) -> None:
    response = client.post(f"{API}/traces/query", json={"timeRange": week(), "where": where})
    if ok:
        assert response.status_code == 200
        return
    assert response.status_code == 422  # Mastra's status for trace-query validation
    assert response.json() == {
        "code": "TRACE_QUERY_INVALID", "message": "The trace query is invalid",
        "issues": [{"code": "predicate_too_complex", "path": ["where"],
                    "message": "Predicates are limited to 100 nodes and 12 levels"}]}


@pytest.mark.parametrize(("body", "code", "path"), [
    ({}, "invalid_request", ["timeRange"]),
    ({"timeRange": {"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"}},
     "invalid_time_range", ["timeRange"]),
    ({"timeRange": {"from": "2026-01-01T00:00:00Z", "to": "2026-03-01T00:00:00Z"}},
     "time_range_too_large", ["timeRange"]),
    ({"timeRange": "week"}, "invalid_request", ["timeRange"]),
    ({"extra": 1}, "invalid_request", []),
    ({"where": {"op": "eq", "left": {"path": "password"}, "right": {"literal": "x"}}},
     "field_not_allowed", ["where", "left", "path"]),
    ({"where": {"op": "lt", "left": {"path": "status"}, "right": {"literal": "x"}}},
     "operator_not_allowed", ["where", "op"]),
    ({"where": {"op": "eq", "left": {"path": "metadata.a.b"}, "right": {"literal": "x"}}},
     "invalid_metadata_key", ["where", "left", "path"]),
    ({"page": {"limit": 1001}}, "invalid_request", ["page", "limit"]),
])
def test_trace_query_validation_keeps_mastras_envelope(
        client: TestClient, body: dict[str, Any], code: str, path: list[Any]) -> None:
    if {"where", "page"} & body.keys():
        body = {"timeRange": week(), **body}
    response = client.post(f"{API}/traces/query", json=body)
    assert response.status_code == 422, response.text
    envelope = response.json()
    assert envelope["code"] == "TRACE_QUERY_INVALID"
    assert envelope["message"] == "The trace query is invalid"
    assert (envelope["issues"][0]["code"], envelope["issues"][0]["path"]) == (code, path)


def test_cursors_malformed_and_foreign(client: TestClient) -> None:
    first = client.post(f"{API}/traces/query", json={"timeRange": week(),
                                                     "page": {"limit": 2}}).json()
    cursor = first["page"]["next"]
    for bad in ("!!!", base64.urlsafe_b64encode(b'{"version":1}').decode(), "x" * 9000):
        response = client.post(f"{API}/traces/query", json={
            "timeRange": week(), "page": {"limit": 2, "after": bad}})
        assert response.status_code == 400
        assert response.json() == {"code": "TRACE_QUERY_CURSOR_MALFORMED",
                                   "message": "The trace query cursor is malformed"}
    other = client.post(f"{API}/traces/query", json={
        "timeRange": week(), "where": {"op": "exists", "path": "threadId"},
        "page": {"limit": 2, "after": cursor}})
    assert other.status_code == 409
    assert other.json() == {"code": "TRACE_QUERY_CURSOR_CONFLICT",
                            "message": "The cursor does not match the query"}


def test_bodies_are_bounded_and_parsed_like_mastra(client: TestClient) -> None:
    big = client.post(f"{API}/traces/query", content=b'{"x":"' + b"a" * (257 * 1024) + b'"}',
                      headers={"content-type": "application/json"})
    assert big.status_code == 413 and big.json() == {"error": "Request body too large"}
    bad = client.post(f"{API}/traces/query", content=b"{x",
                      headers={"content-type": "application/json"})
    assert bad.status_code == 400
    assert bad.json()["error"] == "Invalid request body"
    assert bad.json()["issues"][0]["field"] == "body"
    deep = client.post(f"{API}/traces/query", content=b"[" * 100_000 + b"]" * 100_000,
                       headers={"content-type": "application/json"})
    assert deep.status_code == 400 and deep.json()["error"] == "Invalid request body"
    nested = {"timeRange": week(), "where": _chain(1)}
    for _ in range(70):
        nested = {"a": nested}
    assert client.post(f"{API}/traces/query", json=nested).status_code == 400
    huge = client.post(f"{API}/metrics/aggregate", content=b" " * (5 * 1024 * 1024),
                       headers={"content-type": "application/json"})
    assert huge.status_code == 413


def test_query_fields_and_values_suggest_what_is_there(client: TestClient) -> None:
    fields = client.post(f"{API}/traces/query/fields", json={
        "timeRange": week(), "predicateScope": "trace", "limit": 100}).json()
    assert [f["path"] for f in fields["canonicalFields"]][:3] == ["traceId", "threadId",
                                                                  "resourceId"]
    assert {f["path"] for f in fields["observedFields"]} == {"metadata.tier", "metadata.channel"}
    values = client.post(f"{API}/traces/query/values", json={
        "timeRange": week(), "predicateScope": "trace", "path": "metadata.tier",
        "limit": 100}).json()
    assert {v["value"] for v in values["values"]} <= {"free", "pro", "enterprise"}
    assert sum(v["count"] for v in values["values"]) == 20


# ---------------------------------------------------------------------------- signals

def test_logs_list_filter_and_order(client: TestClient,
                                    seeded: tuple[InMemoryStore, Demo]) -> None:
    store, demo = seeded
    got = client.get(f"{API}/logs", params={"page": 0, "perPage": 20, "field": "timestamp",
                                            "direction": "DESC",
                                            "timestamp": json.dumps({"start": "2020-01-01"})})
    want = store.list_logs(per_page=20)
    body = got.json()
    assert body["pagination"]["total"] == want.total
    assert [g["logId"] for g in body["logs"]] == [w.log_id for w in want.items]
    assert {"logId", "timestamp", "level", "message", "data", "traceId", "spanId",
            "entityType", "entityName", "environment", "serviceName", "executionSource",
            "tags", "metadata"} <= set(body["logs"][0])
    errors = client.get(f"{API}/logs", params=[("level", "error"), ("level", "fatal")]).json()
    assert errors["pagination"]["total"] == store.list_logs(
        LogsFilter(level=("error", "fatal"))).total > 0
    one = client.get(f"{API}/logs", params={"traceId": demo.failed_trace.trace_id}).json()
    assert {g["traceId"] for g in one["logs"]} == {demo.failed_trace.trace_id}
    bad = client.get(f"{API}/logs", params={"level": '["info"]'})
    assert bad.status_code == 400 and issue_fields(bad) == ["level"]


def test_scores_routes(client: TestClient, seeded: tuple[InMemoryStore, Demo]) -> None:
    store, demo = seeded
    root = demo.failed_trace
    scorer = store.list_scores(ScoresFilter(trace_id=root.trace_id)).items[0].scorer_id
    got = client.get(f"{API}/scores", params={"scorerId": scorer, "perPage": 5,
                                              "field": "score", "direction": "ASC"}).json()
    want = store.list_scores(ScoresFilter(scorer_id=(scorer,)), 0, 5,
                             SignalOrder("score", "ASC"))
    assert got["pagination"]["total"] == want.total == len(demo.traces)
    assert [s["scoreId"] for s in got["scores"]] == [s.score_id for s in want.items]
    assert [s["score"] for s in got["scores"]] == sorted(s["score"] for s in got["scores"])
    first = got["scores"][0]
    assert {"scoreId", "timestamp", "traceId", "spanId", "scorerId", "scorerName",
            "scoreSource", "score", "reason"} <= set(first)
    assert first["scorerName"]
    one = client.get(f"{API}/scores/{first['scoreId']}").json()
    assert one["score"]["scoreId"] == first["scoreId"]
    assert client.get(f"{API}/scores/nope").json() == {"score": None}  # Mastra: 200, null
    tab = client.get(f"{API}/traces/{root.trace_id}/{root.span_id}/scores").json()
    mine = store.list_scores(ScoresFilter(trace_id=root.trace_id)).items
    assert tab["pagination"]["total"] == len(mine) > 0
    legacy = tab["scores"][0]
    assert {"id", "scorerId", "entityId", "runId", "score", "scorer", "source", "entity",
            "createdAt", "updatedAt"} <= set(legacy)
    assert legacy["scorer"] == {"id": scorer, "name": first["scorerName"]}
    assert legacy["createdAt"].endswith("Z")


def test_feedback_routes(client: TestClient, seeded: tuple[InMemoryStore, Demo]) -> None:
    store, demo = seeded
    root = demo.failed_trace
    got = client.get(f"{API}/feedback", params={"traceId": root.trace_id, "page": 0,
                                                "perPage": 10}).json()
    want = store.list_feedback(FeedbackFilter(trace_id=root.trace_id)).items
    assert [f["feedbackId"] for f in got["feedback"]] == [f.feedback_id for f in want]
    mine = next(f for f in got["feedback"] if f["feedbackSource"] == "studio")
    assert (mine["feedbackType"], mine["value"], mine["reviewStatus"]) == (
        "thumbs", 1.0, "needs-review")
    inbox = client.get(f"{API}/feedback", params={"reviewStatus": "needs-review",
                                                  "perPage": 1, "field": "timestamp",
                                                  "direction": "DESC"}).json()
    assert inbox["pagination"]["total"] == store.list_feedback(
        FeedbackFilter(review_status="needs-review")).total
    assert client.get(f"{API}/feedback", params={"reviewStatus": "late"}).status_code == 400


def test_metric_routes_answer_what_the_store_computes(
        client: TestClient, seeded: tuple[InMemoryStore, Demo]) -> None:
    store, demo = seeded
    names = ["mastra_model_total_input_tokens", "mastra_model_total_output_tokens"]
    got = client.post(f"{API}/metrics/aggregate", json={"name": names,
                                                        "aggregation": "sum"}).json()
    want = store.metric_aggregate(MetricAggregateRequest(name=tuple(names)))
    assert got == {"value": want.value, "estimatedCost": want.estimated_cost,
                   "costUnit": want.cost_unit}
    ids = [r.trace_id for r in demo.traces[:3]]
    per_trace = client.post(f"{API}/metrics/breakdown", json={
        "name": names, "groupBy": ["traceId", "name"], "aggregation": "sum",
        "filters": {"traceIds": ids}, "limit": 6}).json()
    assert {g["dimensions"]["traceId"] for g in per_trace["groups"]} == set(ids)
    by_model = client.post(f"{API}/metrics/breakdown", json={
        "name": names[:1], "groupBy": ["model"], "aggregation": "sum"}).json()
    assert by_model["groups"] == [
        {"dimensions": g.dimensions, "value": g.value, "estimatedCost": g.estimated_cost,
         "costUnit": g.cost_unit}
        for g in store.metric_breakdown(MetricBreakdownRequest(
            name=tuple(names[:1]), group_by=("model",)))]
    series = client.post(f"{API}/metrics/timeseries", json={
        "name": names, "interval": "1h", "aggregation": "sum"}).json()["series"]
    assert sum(p["value"] for s in series for p in s["points"]) == want.value
    latency = client.post(f"{API}/metrics/percentiles", json={
        "name": "mastra_agent_duration_ms", "percentiles": [0.5, 0.95],
        "interval": "1h"}).json()
    assert [s["percentile"] for s in latency["series"]] == [0.5, 0.95]
    listed = client.get(f"{API}/metrics", params={"name": json.dumps(names[:1]),
                                                  "perPage": 100}).json()
    assert listed["pagination"]["total"] > 0
    assert {m["name"] for m in listed["metrics"]} == set(names[:1])


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/metrics/aggregate", {"name": "x", "aggregation": "sum"}, "name"),
    ("/metrics/aggregate", {"name": ["x"], "aggregation": "median"}, "aggregation"),
    ("/metrics/aggregate", {"name": ["x"], "aggregation": "count_distinct"},
     "distinctColumn"),
    ("/metrics/breakdown", {"name": ["x"], "groupBy": "model", "aggregation": "sum"},
     "groupBy"),
    ("/metrics/timeseries", {"name": ["x"], "interval": "7m", "aggregation": "sum"},
     "interval"),
    ("/metrics/percentiles", {"name": "x", "percentiles": "p50", "interval": "1h"},
     "percentiles"),
    ("/metrics/aggregate", {"name": ["x"], "aggregation": "sum",
                            "filters": {"timestamp": "today"}}, "filters.timestamp"),
])
def test_invalid_metric_bodies_are_400_naming_the_field(
        client: TestClient, path: str, body: dict[str, Any], field: str) -> None:
    response = client.post(API + path, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "Invalid request body"
    assert issue_fields(response) == [field]


def test_discovery_routes(client: TestClient, seeded: tuple[InMemoryStore, Demo]) -> None:
    store, _ = seeded
    expect = {
        "entity-types": ("entityTypes", store.discover_entity_types()),
        "entity-names?entityType=agent": ("names", store.discover_entity_names("agent")),
        "service-names": ("serviceNames", store.discover_service_names()),
        "environments": ("environments", store.discover_environments()),
        "tags": ("tags", store.discover_tags()),
        "metric-names": ("names", store.discover_metric_names()),
        "metric-label-keys?metricName=mastra_agent_duration_ms": (
            "keys", store.discover_metric_label_keys("mastra_agent_duration_ms")),
        "metric-label-values?metricName=mastra_agent_duration_ms&labelKey=status": (
            "values", store.discover_metric_label_values("mastra_agent_duration_ms",
                                                         "status")),
    }
    for path, (key, values) in expect.items():
        assert client.get(f"{API}/discovery/{path}").json() == {key: values}, path
    assert "support-demo" in store.discover_service_names()
    missing = client.get(f"{API}/discovery/metric-label-keys")
    assert missing.status_code == 400 and issue_fields(missing) == ["metricName"]
    bad = client.get(f"{API}/discovery/entity-names", params={"entityType": "robot"})
    assert bad.status_code == 400 and issue_fields(bad) == ["entityType"]


# ---------------------------------------------------------------------------- writes

WRITES = [
    ("POST", "/traces/delete", {"traceIds": ["x"]}),
    ("POST", "/scores", {"score": {"scorerId": "s", "score": 1}}),
    ("DELETE", "/scores", {"scoreIds": ["x"]}),
    ("POST", "/feedback", {"feedback": {"feedbackType": "t", "value": 1}}),
    ("DELETE", "/feedback", {"feedbackIds": ["x"]}),
    ("PATCH", "/feedback/x/review-status", {"reviewStatus": "reviewed"}),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_read_only_by_default(client: TestClient, method: str, path: str,
                              body: dict[str, Any]) -> None:
    response = client.request(method, API + path, json=body)
    assert response.status_code == 403
    assert "--allow-writes" in response.json()["error"]


def test_writes_when_allowed() -> None:
    store = InMemoryStore()
    demo = seed_demo(store, traces=3)
    client = TestClient(create_app(store, allow_writes=True))
    root = demo.traces[0]
    assert client.post(f"{API}/scores", json={"score": {
        "scorerId": "judge", "score": 0.25, "traceId": root.trace_id, "spanId": root.span_id,
        "scorerName": "Judge"}}).json() == {"success": True}
    assert store.list_scores(ScoresFilter(scorer_id=("judge",))).items[0].score == 0.25
    missing = client.post(f"{API}/scores", json={"score": {"score": 1}})
    assert missing.status_code == 400 and issue_fields(missing) == ["score.scorerId"]
    assert client.post(f"{API}/feedback", json={"feedback": {
        "feedbackType": "rating", "value": 4, "traceId": root.trace_id}}).json() == {
        "success": True}
    feedback_id = store.list_feedback().items[0].feedback_id
    reviewed = client.patch(f"{API}/feedback/{feedback_id}/review-status",
                            json={"reviewStatus": "reviewed"})
    assert reviewed.json()["reviewStatus"] == "reviewed"
    assert client.patch(f"{API}/feedback/nope/review-status",
                        json={"reviewStatus": "reviewed"}).status_code == 404
    assert client.request("DELETE", f"{API}/scores", json={"scoreIds": ["x"]}).status_code == 501
    assert client.post(f"{API}/traces/delete", json={"traceIds": [root.trace_id]}).json() == {
        "success": True}
    assert store.get_trace(root.trace_id) is None
    no_ids = client.post(f"{API}/traces/delete", json={})
    assert no_ids.status_code == 400 and issue_fields(no_ids) == ["traceIds"]


# ---------------------------------------------------------------------------- token

def test_a_token_guards_every_route(seeded: tuple[InMemoryStore, Demo]) -> None:
    client = TestClient(create_app(seeded[0], token="s3cret"), follow_redirects=False)
    for path in ("/", "/api/system/packages", "/api/auth/capabilities", f"{API}/traces",
                 "/nope", "/static/app.js"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
    assert client.get(f"{API}/traces", headers={"Authorization": "Bearer wrong"}
                      ).status_code == 401
    assert client.get(f"{API}/traces", headers={"Authorization": "Bearer s3cret"}
                      ).status_code == 200
    # a preflight carries no credentials; it must still pass for the real call to be made
    preflight = client.options(f"{API}/traces", headers={
        "Origin": STUDIO, "Access-Control-Request-Method": "GET"})
    assert preflight.status_code == 204
    # the viewer: ?token= once, then a cookie
    login = client.get("/?token=s3cret")
    assert login.status_code == 303
    assert client.get(f"{API}/traces").status_code == 200


# ---------------------------------------------------------------------------- failures

class Broken(InMemoryStore):
    """A store whose reads fail the way a driver does."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__()
        self.exc = exc

    def list_traces(self, *args: Any, **kwargs: Any) -> Any:
        raise self.exc

    def query_traces(self, query: Any) -> Any:
        raise self.exc


def test_unexpected_errors_are_500_without_details() -> None:
    secret = RuntimeError("boom at postgresql://app:hunter2@db/prod\nTraceback (most recent …")
    client = TestClient(create_app(Broken(secret)), raise_server_exceptions=False)
    for response in (client.get(f"{API}/traces"),
                     client.post(f"{API}/traces/query", json={"timeRange": week()})):
        assert response.status_code == 500
        assert response.json() == {"error": "Internal Server Error"}


def test_a_store_that_is_down_is_503(seeded: tuple[InMemoryStore, Demo]) -> None:
    client = TestClient(create_app(Broken(ConnectionRefusedError(
        "connect to postgresql://app:hunter2@db failed"))))
    response = client.get(f"{API}/traces")
    assert response.status_code == 503
    assert "unavailable" in response.json()["error"]
    assert "hunter2" not in response.text and "postgresql" not in response.text


class SpansOnly(InMemoryStore):
    """A store with the span basics only (no signals, no trace query)."""

    def features(self) -> frozenset[Feature]:
        return frozenset()

    def query_traces(self, query: Any) -> Any:
        raise self._unsupported("trace queries")

    def list_logs(self, *args: Any, **kwargs: Any) -> Any:
        raise self._unsupported("listing logs")

    def discover_tags(self, entity_type: str | None = None) -> list[str]:
        raise self._unsupported("tag discovery")


def test_capabilities_are_honest_and_the_rest_is_501() -> None:
    client = TestClient(create_app(SpansOnly()))
    caps = client.get("/api/system/packages").json()["observabilityStorageCapabilities"]
    assert caps == {"metrics": False, "logs": False, "traceQueryDiscovery": False}
    query = client.post(f"{API}/traces/query", json={"timeRange": week()})
    assert query.status_code == 501
    assert query.json() == {"code": "TRACE_QUERY_UNSUPPORTED", "message": (
        "Advanced trace queries are not supported by the configured observability store")}
    fields = client.post(f"{API}/traces/query/fields",
                         json={"timeRange": week(), "predicateScope": "trace"})
    assert fields.status_code == 501
    assert fields.json()["code"] == "TRACE_QUERY_DISCOVERY_UNSUPPORTED"
    logs = client.get(f"{API}/logs")
    assert logs.status_code == 501 and "listing logs" in logs.json()["error"]
    assert client.get(f"{API}/discovery/tags").json() == {"tags": []}  # as Mastra answers
    assert client.get(f"{API}/traces").status_code == 200


def test_a_composite_store_from_two_urls(tmp_path: Path) -> None:
    app_db = create_store(f"sqlite:///{tmp_path / 'app.db'}")
    traces_db = create_store(f"sqlite:///{tmp_path / 'traces.db'}")
    composite = CompositeStore(default=app_db, domains={"observability": traces_db})
    seed_demo(traces_db, traces=4)
    client = TestClient(create_app(composite))
    body = client.get("/api/system/packages").json()
    assert body["storageType"] == "CompositeStore"
    assert body["observabilityStorageType"] == type(traces_db).__name__
    assert client.get(f"{API}/traces").json()["pagination"]["total"] == 4
    if Feature.TRACE_QUERY in traces_db.features():
        rows = client.post(f"{API}/traces/query", json={"timeRange": week()}).json()
        assert len(rows["traces"]) == 4
    disabled = TestClient(create_app(CompositeStore(default=app_db,
                                                    domains={"observability": None})))
    assert disabled.get("/api/system/packages").json()["observabilityEnabled"] is False
    off = disabled.get(f"{API}/traces")
    assert off.status_code == 501
    assert off.json() == {"error": "Observability storage domain is not available"}
    composite.close()


def test_mountable_into_another_asgi_app(seeded: tuple[InMemoryStore, Demo]) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    host = Starlette(routes=[Mount("/mastra", app=create_app(
        seeded[0], ServerOptions(viewer=False)))])
    client = TestClient(host)
    assert client.get("/mastra/api/observability/traces").json()["pagination"]["total"] == 20


def test_timestamps_are_iso_with_milliseconds_and_z(client: TestClient) -> None:
    rows = client.post(f"{API}/traces/query", json={"timeRange": week()}).json()["traces"]
    for row in rows:
        for key in ("startedAt", "endedAt", "createdAt"):
            parsed = datetime.strptime(row[key], "%Y-%m-%dT%H:%M:%S.%fZ")
            assert parsed.replace(tzinfo=timezone.utc) <= utc_now() + timedelta(seconds=1)
