"""A Mastra (TypeScript) app and a Python app sharing one store agree on every trace,
filter and ordering, both ways: tested against the real npm packages.

``tests/interop/`` pins ``@mastra/core`` 1.71.0, ``@mastra/libsql`` 1.23.1,
``@mastra/pg`` 1.27.1 and ``@mastra/mongodb`` 1.19.0 (``package-lock.json``); the first
test run installs them with ``npm ci`` into ``tests/interop/node_modules``. The Python
side and Mastra's own store (driven by ``tests/interop/mastra_driver.mjs``, one ``node``
process per batch of operations, JSON over a file and stdout) use the same database: a
libSQL file (Python through the stdlib ``sqlite3`` as ``sqlite:`` and as ``file:``, while
Mastra writes JSONB blobs into it), the PostgreSQL server and the MongoDB wire server the
other tests use.

Per backend, ``test_mixed_writers_agree``:

1. Python creates the table, then writes a rich workload through its tracer and
   ``DefaultExporter`` (every span type, nesting, errors at the root and below, events,
   running spans, tags, nested metadata, unicode); Mastra adopts the table and writes its
   own workload the way its exporter does (``buildCreateSpanRecord`` at start,
   ``batchUpdateSpans`` with ``buildUpdateSpanRecord`` at the end), root times interleaved
   with Python's.
2. Both sides read everything: every trace (full and light), every span, every root, and
   ``listTraces`` with every filter Mastra supports, every ordering and pagination. Each
   span is compared field by field between the two readers (timestamps to the
   millisecond, JSON deep-equal with booleans kept apart from numbers, nulls), against
   what its writer meant, and each list against the in-memory reference store.
3. Mixed writers: Python ends a Mastra span, Mastra ends a Python span, each deletes a
   trace the other wrote, and each side's retention removes the other's old spans; both
   sides then agree again, totals included.

``test_python_adopts_a_table_mastra_created`` is the reverse start-up order.

A missing ``node``/``npm`` or a failed install skips these tests, or fails them when the
backend is listed in ``MASTRA_TEST_REQUIRE``.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from mastra_storage import DefaultExporter, Observability, ObservabilityConfig
from mastra_storage.model.jsonsafe import to_jsonable
from mastra_storage.model.spans import COLUMNS, SpanRecord
from mastra_storage.model.time import (
    format_iso,
    from_epoch_ms,
    parse_iso,
    to_epoch_ms,
    truncate_ms,
    utc_now,
)
from mastra_storage.storage import InMemoryStore, TracesFilter, TracesOrderBy
from mastra_storage.tracing import TracingEventType
from mastra_storage.tracing.span_types import ENTITY_TYPE_FOR_SPAN_TYPE, EntityType, SpanType
from tests.backends import selected, skip_unless_required

from .helpers import RecordingExporter

INTEROP = Path(__file__).resolve().parent / "interop"
DRIVER = INTEROP / "mastra_driver.mjs"
PINNED = {"@mastra/core": "1.71.0", "@mastra/libsql": "1.23.1", "@mastra/pg": "1.27.1",
          "@mastra/mongodb": "1.19.0"}
BACKENDS = ("sqlite", "libsql", "postgres", "mongodb")
NODE_TIMEOUT_S = 180
UTC = timezone.utc

# Columns Mastra's readers return: pg's fixed SELECT list leaves these out (they are
# written, and read back by libsql and mongodb).
PG_UNREAD = frozenset({
    "parentEntityType", "parentEntityId", "parentEntityName", "rootEntityType",
    "rootEntityId", "rootEntityName", "entityVersionId", "parentEntityVersionId",
    "rootEntityVersionId", "experimentId", "requestContext"})
LIGHT_DROPPED = frozenset({"input", "output", "attributes", "metadata", "tags", "links"})
ALL_NAMES = tuple(c.name for c in COLUMNS)
WRITER_MEANT = tuple(n for n in ALL_NAMES if n not in ("createdAt", "updatedAt"))

pytestmark = pytest.mark.skipif(not set(BACKENDS) & set(selected()),
                                reason="no interop backend in MASTRA_TEST_BACKENDS")


# ================================================================ node / npm

def _install() -> str | None:
    """Install the pinned packages if needed; an error message when that's impossible."""
    if shutil.which("node") is None:
        return "node is not installed (Node.js >= 20 runs Mastra's packages)"
    marker = INTEROP / "node_modules" / ".package-lock.json"
    lock = INTEROP / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "npm is not installed (needed once to install tests/interop's packages)"
    # one install at a time (several pytest processes may start together)
    with open(Path(tempfile.gettempdir()) / "mastra-storage-interop-npm.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
            return None
        try:
            done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                                  cwd=INTEROP, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"npm ci in {INTEROP} failed: {exc}"
        if done.returncode != 0:
            return f"npm ci in {INTEROP} failed: {(done.stderr or done.stdout)[-2000:]}"
    return None


@pytest.fixture(scope="session")
def node_problem() -> str | None:
    return _install()


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "$date" in obj:
        return parse_iso(obj["$date"])
    return obj


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$date": format_iso(value)}
    raise TypeError(f"not JSON: {value!r}")


class MastraError(AssertionError):
    pass


@dataclass
class Mastra:
    """Runs jobs of operations against one of Mastra's stores (see mastra_driver.mjs)."""

    store: dict[str, Any]
    workdir: Path
    runs: list[float] = field(default_factory=list)
    _seq: Iterator[int] = field(default_factory=itertools.count)

    def run(self, ops: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        path = self.workdir / f"job-{next(self._seq)}.json"
        path.write_text(json.dumps({"store": self.store, "ops": list(ops)}, default=_encode,
                                   ensure_ascii=False), encoding="utf-8")
        started = time.perf_counter()
        done = subprocess.run(["node", str(DRIVER), str(path)], cwd=INTEROP, capture_output=True,
                              timeout=NODE_TIMEOUT_S)
        self.runs.append(time.perf_counter() - started)
        if os.environ.get("MASTRA_DRIVER_TIMING"):  # per-op timings, printed by the driver
            print(done.stderr.decode().strip(), f"(wall {self.runs[-1]:.2f} s)")
        if done.returncode != 0:
            raise MastraError(f"mastra_driver.mjs failed: {done.stderr.decode()[-3000:]}")
        results: list[dict[str, Any]] = json.loads(done.stdout.decode("utf-8"),
                                                   object_hook=_decode)["results"]
        return results

    def values(self, ops: Sequence[dict[str, Any]]) -> list[Any]:
        """Run ``ops``; every one must succeed."""
        out = []
        for op, result in zip(ops, self.run(ops), strict=True):
            if not result["ok"]:
                raise MastraError(f"Mastra's {op['op']} failed: {result['error']}")
            out.append(result["value"])
        return out


# ================================================================ where both sides meet

@dataclass
class Site:
    """One database, reachable from Python and from Mastra."""

    backend: str
    mastra: Mastra
    make: Callable[[], Any]  # a Python store on the database (initialised)
    raw: Any = None  # backend-specific access for checks (the pymongo collection)
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    @property
    def unread(self) -> frozenset[str]:
        return PG_UNREAD if self.backend == "postgres" else frozenset()


@pytest.fixture(params=[b for b in BACKENDS if b in selected()])
def site_factory(request: pytest.FixtureRequest, tmp_path: Path,
                 node_problem: str | None) -> Iterator[Callable[[], Site]]:
    backend: str = request.param
    if node_problem is not None:
        skip_unless_required(f"Mastra interop: {node_problem}", backend)
    made: list[Site] = []
    counter = itertools.count()

    def make_site() -> Site:
        n = next(counter)
        work = tmp_path / f"site-{n}"
        work.mkdir()
        if backend in ("sqlite", "libsql"):
            from mastra_storage.storage.sql.sqlite import SQLiteStore

            path = work / "shared.db"
            # The libsql variant runs with the optional metadata index installed: its
            # triggers then fire for Mastra's writes too (root_metadata.py).
            site = Site(backend, Mastra({"kind": "libsql", "url": f"file:{path}"}, work),
                        lambda: _init(SQLiteStore(path, driver=backend,
                                                  metadata_index=backend == "libsql")))
        elif backend == "postgres":
            from mastra_storage.storage.sql.postgres import PostgresStore

            url = request.getfixturevalue("pg").url
            schema = f"interop_{uuid.uuid4().hex[:10]}"
            # With the optional metadata index installed: its triggers then fire for
            # Mastra's writes too (root_metadata.py).
            site = Site(backend, Mastra({"kind": "pg", "connectionString": url,
                                         "schemaName": schema}, work),
                        lambda: _init(PostgresStore.from_url(url, schema=schema,
                                                             auto_migrate=True,
                                                             metadata_index=True)))
            site.cleanup.append(lambda: _drop_pg_schema(url, schema))
        else:
            from pymongo import MongoClient

            from mastra_storage.storage.mongodb import MongoDBStore

            url = request.getfixturevalue("mongo").url
            name = f"interop_{uuid.uuid4().hex[:10]}"
            client: Any = MongoClient(url)
            site = Site(backend, Mastra({"kind": "mongodb", "uri": url, "dbName": name}, work),
                        lambda: _init(MongoDBStore.from_url(url, database=name)),
                        raw=client[name]["mastra_ai_spans"])
            site.cleanup += [lambda: client.drop_database(name), client.close]
        made.append(site)
        return site

    yield make_site
    for site in made:
        for step in site.cleanup:
            with contextlib.suppress(Exception):
                step()


def _init(store: Any) -> Any:
    store.init()
    return store


def _drop_pg_schema(url: str, schema: str) -> None:
    import sqlalchemy as sa

    from mastra_storage.storage.sql.postgres import engine_url

    engine = sa.create_engine(engine_url(url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        engine.dispose()


# ================================================================ comparing values

def same(a: Any, b: Any) -> bool:
    """JSON deep equality as both languages see it: key order ignored, true != 1,
    1 == 1.0 (JavaScript has one number type), datetimes equal to the millisecond."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, datetime) and isinstance(b, datetime):
        return truncate_ms(a) == truncate_ms(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def python_view(rec: SpanRecord) -> dict[str, Any]:
    return rec.to_dict()


def mastra_view(span: Mapping[str, Any]) -> dict[str, Any]:
    """Mastra's record as the same camelCase dict (absent = null)."""
    return {name: span.get(name) for name in ALL_NAMES}


def diff(got: Mapping[str, Any], want: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    return [f"{n}: {got.get(n)!r} != {want.get(n)!r}" for n in names
            if not same(got.get(n), want.get(n))]


def assert_same_span(py: SpanRecord, ms: Mapping[str, Any], site: Site, what: str,
                     drop: frozenset[str] = frozenset()) -> None:
    names = [n for n in ALL_NAMES if n not in site.unread and n not in drop]
    problems = diff(python_view(py), mastra_view(ms), names)
    assert not problems, f"{site.backend} {what} {py.trace_id}/{py.span_id}: " \
                         f"Python read != Mastra read: {problems}"


def tie_groups(ids: Sequence[str], key: Callable[[str], Any]) -> list[frozenset[str]]:
    """Consecutive ids with an equal ordering key, as sets: Mastra's stores order ties
    arbitrarily (no tie-break), so only the order of distinct keys is compared."""
    out: list[frozenset[str]] = []
    for _, group in itertools.groupby(ids, key=key):
        out.append(frozenset(group))
    return out


# ================================================================ the Python workload

STAMP = "✓ «ünïcode» 😀 — 中文 — עברית"
SHARED: dict[str, Any] = {"user_id": "u-1", "organization_id": "org-1",
                          "resource_id": "res-1", "session_id": "sess-1",
                          "thread_id": "thread-1", "source": "cloud"}
NESTED = {"a": [1, 2.5, "x"], "b": {"c": "d", "deep": {"e": [{"f": None}]}}}
# Large enough that PostgreSQL compresses it out of line (the store's sessions use lz4):
# Mastra's reader must get it back whole.
LONG_ANSWER = " ".join(f"line {i}: {STAMP}" for i in range(120))


@dataclass
class Workload:
    truth: dict[tuple[str, str], SpanRecord]  # what the writer meant, per span
    traces: dict[str, str]  # label -> trace id
    running_root: tuple[str, str] = ("", "")


def _pause() -> None:
    time.sleep(0.004)  # distinct root start/end milliseconds: Mastra has no tie-break


def python_workload(obs: Observability, rec: RecordingExporter) -> Workload:
    """Through the public tracing API, flushed by ``DefaultExporter`` (batch-with-updates);
    ``rec`` sees the same events: the last snapshot of each span is what was meant."""
    tracer = obs.get_default_instance()
    traces: dict[str, str] = {}

    with tracer.start_span(f"support-agent {STAMP}", type=SpanType.AGENT_RUN,
                           input={"messages": [{"role": "user", "content": f"héllo {STAMP}"}]},
                           metadata={"tier": "gold", "count": 3, "ok": True, "nested": NESTED,
                                     "ключ": "значение"},
                           tags=["prod", "vip"], scope={"core": "1.71.0", "app": "py"},
                           run_id="run-p1", request_id="req-p1",
                           request_context={"locale": "fr-FR"}, experiment_id="exp-1",
                           entity_version_id="v1", **SHARED) as root:
        traces["py-agent"] = root.trace_id
        with root.child("gpt-4o", type=SpanType.MODEL_GENERATION,
                        attributes={"model": "gpt-4o", "provider": "openai",
                                    "usage": {"inputTokens": 12, "outputTokens": 7}}) as llm:
            with llm.child("step 0", type=SpanType.MODEL_STEP) as step:
                step.child("chunk", type=SpanType.MODEL_CHUNK, input=None).end(output="Hel")
                step.update(output={"text": LONG_ANSWER})
            llm.update(output={"text": "hello", "score": 0.25})
        with root.child("lookup-order", type=SpanType.TOOL_CALL, input={"order": 1042}) as tool:
            try:
                raise LookupError(f"order 1042 not found {STAMP}")
            except LookupError as exc:
                tool.error(exc)
        root.event("guardrail-passed", output={"ok": True, "checks": ["pii", "toxicity"]})
        root.child("mcp-search", type=SpanType.MCP_TOOL_CALL,
                   links=[{"traceId": "a" * 32, "spanId": "b" * 16}]).end(output=[1, 2, 3])
        root.child("remember", type=SpanType.MEMORY_OPERATION).end(output="stored")
        root.child("pii-filter", type=SpanType.PROCESSOR_RUN).end()
        root.update(output={"answer": f"done {STAMP}", "big": 2**53})
    _pause()
    with tracer.start_span("nightly-etl", type=SpanType.WORKFLOW_RUN, tags=["batch"],
                           input={"date": "2026-11-30"}, metadata={"tier": "silver"},
                           **SHARED) as wf:
        traces["py-workflow"] = wf.trace_id
        for step_type in (SpanType.WORKFLOW_STEP, SpanType.WORKFLOW_CONDITIONAL,
                          SpanType.WORKFLOW_CONDITIONAL_EVAL, SpanType.WORKFLOW_PARALLEL,
                          SpanType.WORKFLOW_LOOP, SpanType.WORKFLOW_SLEEP,
                          SpanType.WORKFLOW_WAIT_EVENT, SpanType.MAPPING):
            wf.child(f"{step_type.value}-1", type=step_type, input={"i": 1}).end(output={"o": 2})
    _pause()
    with pytest.raises(RuntimeError), tracer.start_span(
            "failing-agent", type=SpanType.AGENT_RUN, tags=["prod"],
            metadata={"tier": "gold"}) as failing:  # the root itself fails
        traces["py-root-error"] = failing.trace_id
        failing.child("fine", type=SpanType.GENERIC).end()
        raise RuntimeError("root failed")
    _pause()
    with tracer.start_span("catalog", type=SpanType.GENERIC, metadata={"tier": "bronze"},
                           tags=["catalog"]) as catalog:
        traces["py-catalog"] = catalog.trace_id
        for span_type in SpanType:
            catalog.child(f"{span_type.value} span", type=span_type,
                          attributes={"kind": span_type.value}).end()
    _pause()
    with tracer.start_span("relevance", type=SpanType.SCORER_RUN, input={"q": "?"}) as scorer:
        traces["py-scorer"] = scorer.trace_id
        scorer.child("judge", type=SpanType.SCORER_STEP).end(output={"score": 0.9})
        scorer.child("classify", type=SpanType.CLASSIFIER_EVALUATION).end(output="relevant")
    _pause()
    with tracer.start_span("ingest-docs", type=SpanType.RAG_INGESTION) as rag:
        traces["py-rag"] = rag.trace_id
        rag.child("embed", type=SpanType.RAG_EMBEDDING).end()
        rag.child("upsert", type=SpanType.RAG_VECTOR_OPERATION).end()
    _pause()
    with tracer.start_span("tools/list", type=SpanType.MCP_SERVER_REQUEST) as mcp:
        traces["py-mcp"] = mcp.trace_id
    _pause()
    running = tracer.start_span("still-running", type=SpanType.AGENT_RUN, tags=["prod"],
                                metadata={"tier": "gold"}, scope={"core": "1.71.0"}, **SHARED)
    traces["py-running"] = running.trace_id
    running.child("waiting-tool", type=SpanType.TOOL_CALL, input={"q": "slow"})
    obs.flush()

    truth: dict[tuple[str, str], SpanRecord] = {}
    for event in rec.events:
        if getattr(event, "type", None) in (TracingEventType.SPAN_STARTED,
                                            TracingEventType.SPAN_UPDATED,
                                            TracingEventType.SPAN_ENDED):
            truth[event.span.key] = event.span
    return Workload(truth, traces, (running.trace_id, running.span_id))


# ================================================================ the Mastra workload

class Clock:
    """Hands out root timestamps no other root uses (per millisecond)."""

    def __init__(self, taken: set[int]) -> None:
        self.taken = set(taken)

    def free(self, at: datetime) -> datetime:
        ms = to_epoch_ms(at)
        while ms in self.taken:
            ms += 1
        self.taken.add(ms)
        return from_epoch_ms(ms)


@dataclass
class MastraWorkload:
    events: list[dict[str, Any]]
    truth: dict[tuple[str, str], dict[str, Any]]  # the record Mastra meant, per span
    traces: dict[str, str]
    running_root: tuple[str, str] = ("", "")


def _hex(n: int) -> str:
    return uuid.uuid4().hex[:n]


def _metadata_string(metadata: Mapping[str, Any], key: str) -> str | None:
    value = metadata.get(key)
    return value if isinstance(value, str) else None


def mastra_create_record(span: Mapping[str, Any]) -> dict[str, Any]:
    """What @mastra/core's buildCreateSpanRecord makes of an exported span (our reading)."""
    md = span.get("metadata") or {}
    scope = md.get("scope")
    rec = {
        "traceId": span["traceId"], "spanId": span["id"], "parentSpanId": span.get("parentSpanId"),
        "name": span["name"], "entityType": span.get("entityType"),
        "entityId": span.get("entityId"), "entityName": span.get("entityName"),
        "entityVersionId": _metadata_string(md, "entityVersionId"),
        "scope": scope if isinstance(scope, dict) else None,
        "spanType": span["type"], "attributes": span.get("attributes"),
        "metadata": span.get("metadata"), "tags": span.get("tags"), "links": None,
        "input": span.get("input"), "output": span.get("output"),
        "error": span.get("errorInfo"), "isEvent": span["isEvent"],
        "requestContext": span.get("requestContext"), "startedAt": span["startTime"],
        "endedAt": span.get("endTime"),
    }
    for key in ("userId", "organizationId", "resourceId", "runId", "sessionId", "threadId",
                "requestId", "environment", "source", "serviceName", "experimentId"):
        rec[key] = _metadata_string(md, key)
    return rec


def mastra_update_record(span: Mapping[str, Any]) -> dict[str, Any]:
    """buildUpdateSpanRecord (note: it sets scope and links to null)."""
    return {"name": span["name"], "scope": None, "attributes": span.get("attributes"),
            "metadata": span.get("metadata"), "links": None, "endedAt": span.get("endTime"),
            "input": span.get("input"), "output": span.get("output"),
            "error": span.get("errorInfo")}


class MastraTracer:
    """Exported spans shaped like @mastra/observability's, with its entity and metadata
    inheritance (a child takes its parent's entity and metadata unless it sets its own)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.events: list[dict[str, Any]] = []

    def root(self, name: str, span_type: str, start: datetime, **fields: Any) -> dict[str, Any]:
        return self._span(None, name, span_type, self.clock.free(start), **fields)

    def child(self, parent: dict[str, Any], name: str, span_type: str, offset_ms: int,
              **fields: Any) -> dict[str, Any]:
        start = parent["startTime"] + timedelta(milliseconds=offset_ms)
        return self._span(parent, name, span_type, start, **fields)

    def _span(self, parent: dict[str, Any] | None, name: str, span_type: str, start: datetime,
              *, is_event: bool = False, **fields: Any) -> dict[str, Any]:
        entity = ENTITY_TYPE_FOR_SPAN_TYPE.get(span_type)
        span: dict[str, Any] = {
            "id": _hex(16), "traceId": parent["traceId"] if parent else _hex(32),
            "parentSpanId": parent["id"] if parent else None, "name": name, "type": span_type,
            "isEvent": is_event, "isRootSpan": parent is None, "startTime": start,
            "endTime": None, "attributes": {}, "metadata": None, "tags": None, "input": None,
            "output": None, "errorInfo": None, "requestContext": None,
            "entityType": entity or (parent or {}).get("entityType"),
            "entityId": name if entity else (parent or {}).get("entityId"),
            "entityName": name if entity else (parent or {}).get("entityName"),
        }
        metadata = {**((parent or {}).get("metadata") or {}), **fields.pop("metadata", {})}
        span["metadata"] = metadata or None
        span.update(fields)
        self.events.append({"kind": "event" if is_event else "start", "span": dict(span)})
        return span

    def end(self, span: dict[str, Any], after_ms: int, **fields: Any) -> None:
        span.update(fields)
        span["endTime"] = span["startTime"] + timedelta(milliseconds=after_ms)
        self.events.append({"kind": "end", "span": dict(span)})


def mastra_workload(py: Workload) -> MastraWorkload:
    roots = sorted((r for r in py.truth.values() if r.parent_span_id is None),
                   key=lambda r: r.started_at)
    taken = {to_epoch_ms(r.started_at) for r in roots} | {
        to_epoch_ms(r.ended_at) for r in roots if r.ended_at}
    clock = Clock(taken)
    t = MastraTracer(clock)
    traces: dict[str, str] = {}
    # Each Mastra root starts just after a Python root: the two writers' roots interleave.
    starts = iter([r.started_at + timedelta(milliseconds=1) for r in roots])
    shared = {"userId": "u-1", "organizationId": "org-1", "resourceId": "res-1",
              "sessionId": "sess-1", "threadId": "thread-1", "source": "cloud",
              "serviceName": "py-interop", "environment": "interop"}

    def end_root(span: dict[str, Any], after_ms: int, **fields: Any) -> None:
        end = clock.free(span["startTime"] + timedelta(milliseconds=after_ms))
        span.update(fields)
        span["endTime"] = end
        t.events.append({"kind": "end", "span": dict(span)})

    agent = t.root(f"weather-agent {STAMP}", "agent_run", next(starts), tags=["prod", "vip"],
                   input={"messages": [{"role": "user", "content": f"météo? {STAMP}"}]},
                   metadata={**shared, "tier": "gold", "count": 3, "ok": True,
                             "nested": NESTED, "runId": "run-m1", "requestId": "req-m1",
                             "experimentId": "exp-1", "entityVersionId": "v1",
                             "scope": {"core": "1.71.0", "app": "ts"}},
                   requestContext={"locale": "de-DE"})
    traces["ts-agent"] = agent["traceId"]
    llm = t.child(agent, "llm: 'gpt-4o'", "model_generation", 1,
                  attributes={"model": "gpt-4o", "usage": {"inputTokens": 5}})
    step = t.child(llm, "step: 0", "model_step", 1)
    t.end(step, 2, output={"text": "Sunny"})
    t.end(llm, 3, output={"text": "Sunny", "score": 0.5})
    tool = t.child(agent, "tool: 'weather'", "tool_call", 4, input={"city": "Zürich"})
    t.end(tool, 1, errorInfo={"message": "upstream 503", "id": "TOOL_FAILED",
                              "domain": "TOOL", "category": "THIRD_PARTY",
                              "details": {"status": 503}})
    t.child(agent, "guardrail", "generic", 5, is_event=True, output={"ok": True})
    end_root(agent, 9, output={"answer": f"Sunny {STAMP}"})

    wf = t.root("daily-report", "workflow_run", next(starts), tags=["batch"],
                input={"date": "2026-11-30"}, metadata={**shared, "tier": "silver"})
    traces["ts-workflow"] = wf["traceId"]
    for i, step_type in enumerate(("workflow_step", "workflow_conditional", "workflow_parallel",
                                   "workflow_loop", "workflow_sleep", "workflow_wait_event")):
        s = t.child(wf, f"workflow step: '{step_type}'", step_type, i + 1, input={"i": i})
        t.end(s, 1, output={"o": i})
    end_root(wf, 12, output={"ok": True})

    bad = t.root("broken-agent", "agent_run", next(starts), tags=["prod"],
                 metadata={"tier": "gold"})
    traces["ts-root-error"] = bad["traceId"]
    ok_child = t.child(bad, "fine", "generic", 1)
    t.end(ok_child, 1)
    end_root(bad, 3, errorInfo={"message": "agent crashed", "name": "Error"})

    catalog = t.root("ts-catalog", "generic", next(starts), tags=["catalog"],
                     metadata={"tier": "bronze"})
    traces["ts-catalog"] = catalog["traceId"]
    for i, span_type in enumerate(SpanType):
        s = t.child(catalog, f"{span_type.value} ts", span_type.value, (i % 5) + 1,
                    attributes={"kind": span_type.value})
        t.end(s, 1)
    end_root(catalog, 20)

    scorer = t.root("scorer run: 'faithfulness'", "scorer_run", next(starts))
    traces["ts-scorer"] = scorer["traceId"]
    judge = t.child(scorer, "judge", "classifier_evaluation", 1)
    t.end(judge, 1, output={"label": "faithful"})
    end_root(scorer, 4, output={"score": 1})

    running = t.root("waiting-agent", "agent_run", next(starts), tags=["prod"],
                     metadata={**shared, "tier": "gold", "scope": {"core": "1.71.0"}})
    traces["ts-running"] = running["traceId"]
    t.child(running, "tool: 'slow'", "tool_call", 1, input={"q": "slow"})

    return MastraWorkload(t.events, mastra_truth(t.events), traces,
                          (running["traceId"], running["id"]))


def mastra_truth(events: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The record each span's events leave in a store, as Mastra means it."""
    truth: dict[tuple[str, str], dict[str, Any]] = {}
    for event in events:
        span = event["span"]
        key = (span["traceId"], span["id"])
        if event["kind"] in ("start", "event"):
            truth[key] = mastra_create_record(span)
        else:
            truth[key].update(mastra_update_record(span))
    return truth


def as_record(values: Mapping[str, Any]) -> SpanRecord:
    rec = SpanRecord.from_dict(values)
    for name in ("started_at", "ended_at", "created_at", "updated_at"):
        value = getattr(rec, name)
        if value is not None:
            setattr(rec, name, truncate_ms(value))
    return rec


# ================================================================ the queries

@dataclass
class Query:
    label: str
    py: dict[str, Any]  # TracesFilter kwargs
    ts: dict[str, Any]  # Mastra's filters
    orders: tuple[tuple[str, str], ...] = (("startedAt", "DESC"),)


def queries(backend: str, roots: Sequence[SpanRecord]) -> list[Query]:
    by_start = sorted(roots, key=lambda r: r.started_at)
    ended = sorted((r for r in roots if r.ended_at), key=lambda r: r.ended_at)  # type: ignore
    s_lo, s_hi = by_start[2].started_at, by_start[-3].started_at
    e_lo, e_hi = ended[1].ended_at, ended[-2].ended_at
    all_orders = (("startedAt", "DESC"), ("startedAt", "ASC"), ("endedAt", "DESC"),
                  ("endedAt", "ASC"))
    q = [
        Query("everything", {}, {}, all_orders),
        Query("started range", {"started_from": s_lo, "started_to": s_hi},
              {"startedAt": {"start": s_lo, "end": s_hi}}, all_orders),
        Query("started from", {"started_from": s_lo}, {"startedAt": {"start": s_lo}}),
        Query("started to", {"started_to": s_hi}, {"startedAt": {"end": s_hi}}),
        Query("ended range", {"ended_from": e_lo, "ended_to": e_hi},
              {"endedAt": {"start": e_lo, "end": e_hi}}, all_orders),
        Query("ended from", {"ended_from": e_lo}, {"endedAt": {"start": e_lo}}),
        Query("status success", {"status": "success"}, {"status": "success"}, all_orders),
        Query("status error", {"status": "error"}, {"status": "error"}),
        Query("status running", {"status": "running"}, {"status": "running"}),
        Query("has child error", {"has_child_error": True}, {"hasChildError": True}, all_orders),
        Query("no child error", {"has_child_error": False}, {"hasChildError": False}),
        Query("tags prod", {"tags": ["prod"]}, {"tags": ["prod"]}),
        Query("tags prod+vip", {"tags": ["prod", "vip"]}, {"tags": ["prod", "vip"]}),
        Query("tags none", {"tags": ["nope"]}, {"tags": ["nope"]}),
        Query("metadata string", {"metadata": {"tier": "gold"}}, {"metadata": {"tier": "gold"}},
              all_orders),
        Query("metadata nested", {"metadata": {"nested": NESTED}},
              {"metadata": {"nested": NESTED}}),
        Query("metadata two keys", {"metadata": {"tier": "gold", "ok": True}},
              {"metadata": {"tier": "gold", "ok": True}}),
        Query("scope", {"scope": {"core": "1.71.0"}}, {"scope": {"core": "1.71.0"}}),
        Query("combined", {"status": "success", "tags": ["prod"], "user_id": "u-1",
                           "metadata": {"tier": "gold"}},
              {"status": "success", "tags": ["prod"], "userId": "u-1",
               "metadata": {"tier": "gold"}}, all_orders),
    ]
    if backend in ("sqlite", "libsql"):
        # @mastra/libsql compares json_extract() (a number/boolean) with the filter value
        # bound as text, so non-string metadata values never match there (a Mastra bug we
        # don't copy): those filters are compared on PostgreSQL and MongoDB only.
        q = [x for x in q if x.label != "metadata two keys"]
    else:
        q += [Query("metadata number", {"metadata": {"count": 3}}, {"metadata": {"count": 3}}),
              Query("metadata bool", {"metadata": {"ok": True}}, {"metadata": {"ok": True}})]
    for span_type in ("agent_run", "workflow_run", "generic", "scorer_run",
                      "mcp_server_request", "rag_ingestion"):
        q.append(Query(f"spanType {span_type}", {"span_type": span_type},
                       {"spanType": span_type}))
    for entity in ("agent", "workflow_run", "scorer", "rag_ingestion", "mcp_server", "tool"):
        q.append(Query(f"entityType {entity}", {"entity_type": entity}, {"entityType": entity}))
    for py_name, ts_name, value in (
            ("entity_id", "entityId", "nightly-etl"), ("entity_name", "entityName", "daily-report"),
            ("user_id", "userId", "u-1"), ("organization_id", "organizationId", "org-1"),
            ("resource_id", "resourceId", "res-1"), ("run_id", "runId", "run-m1"),
            ("session_id", "sessionId", "sess-1"), ("thread_id", "threadId", "thread-1"),
            ("request_id", "requestId", "req-p1"), ("environment", "environment", "interop"),
            ("source", "source", "cloud"), ("service_name", "serviceName", "py-interop")):
        q.append(Query(f"{ts_name}={value}", {py_name: value}, {ts_name: value}))
    return q


def mastra_args(query: Query, order: tuple[str, str], page: int = 0,
                per_page: int = 100) -> dict[str, Any]:
    return {"filters": query.ts, "pagination": {"page": page, "perPage": per_page},
            "orderBy": {"field": order[0], "direction": order[1]}}


# ================================================================ reading both sides

@dataclass
class Reads:
    """Everything one side read, keyed like the ops that produced it."""

    traces: dict[str, Any] = field(default_factory=dict)
    light: dict[str, Any] = field(default_factory=dict)
    roots: dict[str, Any] = field(default_factory=dict)
    spans: dict[tuple[str, str], Any] = field(default_factory=dict)
    lists: dict[tuple[str, str, str, int, int], Any] = field(default_factory=dict)


def list_keys(qs: Sequence[Query]) -> list[tuple[Query, tuple[str, str], int, int]]:
    out = []
    for query in qs:
        for order in query.orders:
            out.append((query, order, 0, 100))
    everything = next(x for x in qs if x.label == "everything")
    for order in (("startedAt", "DESC"), ("startedAt", "ASC")):
        for page in range(5):  # 3 per page: more pages than there are roots
            out.append((everything, order, page, 3))
    return out


def read_mastra(site: Site, trace_ids: Sequence[str], span_keys: Sequence[tuple[str, str]],
                qs: Sequence[Query], before: Sequence[dict[str, Any]] = ()) -> Reads:
    """Mastra's reads, in one node run after the operations ``before``."""
    ops: list[dict[str, Any]] = list(before)
    for t in trace_ids:
        ops += [{"op": "getTrace", "args": {"traceId": t}},
                {"op": "getTraceLight", "args": {"traceId": t}},
                {"op": "getRootSpan", "args": {"traceId": t}}]
    ops += [{"op": "getSpan", "args": {"traceId": t, "spanId": s}} for t, s in span_keys]
    keys = list_keys(qs)
    ops += [{"op": "listTraces", "args": mastra_args(q, o, p, n)} for q, o, p, n in keys]
    values = iter(site.mastra.values(ops)[len(before):])
    reads = Reads()
    for t in trace_ids:
        reads.traces[t], reads.light[t], reads.roots[t] = next(values), next(values), next(values)
    for key in span_keys:
        reads.spans[key] = next(values)
    for q, o, p, n in keys:
        reads.lists[(q.label, o[0], o[1], p, n)] = next(values)
    return reads


def read_python(store: Any, trace_ids: Sequence[str], span_keys: Sequence[tuple[str, str]],
                qs: Sequence[Query]) -> Reads:
    reads = Reads()
    for t in trace_ids:
        reads.traces[t] = store.get_trace(t)
        reads.light[t] = store.get_trace_light(t)
        reads.roots[t] = store.get_root_span(t)
    for t, s in span_keys:
        reads.spans[(t, s)] = store.get_span(t, s)
    for q, o, p, n in list_keys(qs):
        reads.lists[(q.label, o[0], o[1], p, n)] = store.list_traces(
            TracesFilter(**q.py), page=p, per_page=n, order_by=TracesOrderBy(*o))  # type: ignore
    return reads


def compare(site: Site, py: Reads, ts: Reads, reference: Any, qs: Sequence[Query],
            truth: Mapping[tuple[str, str], SpanRecord]) -> int:
    """Every read equal on both sides, field by field; returns how many checks ran."""
    checks = 0
    for t, p_trace in py.traces.items():
        m_trace = ts.traces[t]
        if p_trace is None:
            assert m_trace is None, f"{site.backend}: Mastra sees trace {t} Python doesn't"
            continue
        assert m_trace is not None, f"{site.backend}: Mastra doesn't see trace {t}"
        m_spans = {s["spanId"]: s for s in m_trace["spans"]}
        assert set(m_spans) == {s.span_id for s in p_trace.spans}, t
        for span in p_trace.spans:
            assert_same_span(span, m_spans[span.span_id], site, "getTrace")
            checks += 1
        starts = [s["startedAt"] for s in m_trace["spans"]]
        assert starts == sorted(starts), f"Mastra's getTrace {t} is not in start order"
        m_light = {s["spanId"]: s for s in ts.light[t]["spans"]}
        for span in py.light[t].spans:
            light = m_light[span.span_id]  # each store returns its own subset of columns
            assert_same_span(span, light, site, "getTraceLight",
                             drop=frozenset(ALL_NAMES) - set(light) | LIGHT_DROPPED)
            for heavy in ("input", "output", "attributes", "metadata"):
                assert getattr(span, heavy) is None and heavy not in light
        assert_same_span(py.roots[t], ts.roots[t]["span"], site, "getRootSpan")
    for key, p_span in py.spans.items():
        m_span = ts.spans[key]
        if p_span is None:
            assert m_span is None, key
            continue
        assert_same_span(p_span, m_span["span"], site, "getSpan")
        want = truth.get(key)
        if want is not None:  # what the writer meant (createdAt/updatedAt aside)
            problems = diff(python_view(p_span), python_view(want), WRITER_MEANT)
            assert not problems, f"{site.backend} {key}: stored != written: {problems}"
        checks += 1
    for q, o, p, n in list_keys(qs):
        label = (q.label, o[0], o[1], p, n)
        p_page, m_page = py.lists[label], ts.lists[label]
        want = reference.list_traces(TracesFilter(**q.py), page=p, per_page=n,
                                     order_by=TracesOrderBy(*o))  # type: ignore[arg-type]
        m_pag = m_page["pagination"]
        got = (m_pag["total"], m_pag["page"], m_pag["perPage"], m_pag["hasMore"])
        assert got == (want.total, p, n, want.has_more), f"{site.backend} {label}: Mastra {got}"
        assert (p_page.total, p_page.has_more) == (want.total, want.has_more), \
            f"{site.backend} {label}: Python {p_page.total}, want {want.total}"
        want_ids = [s.trace_id for s in want.spans]
        assert [s.trace_id for s in p_page.spans] == want_ids, f"{site.backend} {label}"
        key_of = {s.trace_id: getattr(s, "started_at" if o[0] == "startedAt" else "ended_at")
                  for s in want.spans}
        m_ids = [s["traceId"] for s in m_page["spans"]]
        assert tie_groups(m_ids, key_of.get) == tie_groups(want_ids, key_of.get), \
            f"{site.backend} {label}: Mastra's order {m_ids} != {want_ids}"
        m_by_id = {s["traceId"]: s for s in m_page["spans"]}
        for root in p_page.spans:
            assert m_by_id[root.trace_id]["status"] == root.status, (label, root.trace_id)
            assert_same_span(root, m_by_id[root.trace_id], site, f"listTraces {label}")
        checks += 1
    return checks


# ================================================================ the tests

def test_mastra_packages_are_the_pinned_ones_and_agree_on_enums(
        node_problem: str | None, tmp_path: Path) -> None:
    if node_problem is not None:
        skip_unless_required(f"Mastra interop: {node_problem}", *BACKENDS)
    mastra = Mastra({"kind": "libsql", "url": f"file:{tmp_path / 'info.db'}"}, tmp_path)
    (info,) = mastra.values([{"op": "info"}])
    assert info["versions"] == PINNED
    assert info["spanTypes"] == [t.value for t in SpanType]
    assert info["entityTypes"] == [t.value for t in EntityType]
    assert {k: v for k, v in info["entityForSpanType"].items() if v} \
        == ENTITY_TYPE_FOR_SPAN_TYPE


def test_mixed_writers_agree(site_factory: Callable[[], Site]) -> None:
    site = site_factory()
    py_store = site.make()  # Python creates the table ...
    rec = RecordingExporter()
    obs = Observability(storage=py_store, configs={"default": ObservabilityConfig(
        service_name="py-interop", environment="interop",
        exporters=[DefaultExporter(strategy="batch-with-updates"), rec])})
    try:
        _mixed_writers(site, py_store, obs, rec)
    finally:
        obs.shutdown()
        py_store.close()


def _mixed_writers(site: Site, py_store: Any, obs: Observability,
                   rec: RecordingExporter) -> None:
    started = time.perf_counter()
    pw = python_workload(obs, rec)
    mw = mastra_workload(pw)

    truth: dict[tuple[str, str], SpanRecord] = dict(pw.truth)
    truth.update({k: as_record(v) for k, v in mw.truth.items()})
    reference = InMemoryStore()
    reference.batch_create_spans([r.copy(created_at=None, updated_at=None)
                                  for r in truth.values()])
    roots = [r for r in truth.values() if r.parent_span_id is None]
    qs = queries(site.backend, roots)
    trace_ids = sorted({k[0] for k in truth})
    keys = sorted(truth)

    # -- 1. Mastra adopts the table and writes; everything both wrote, read by both
    ts_reads = read_mastra(site, trace_ids, keys, qs,
                           before=[{"op": "init"}, {"op": "export", "events": mw.events}])
    py_reads = read_python(py_store, trace_ids, keys, qs)
    checks = compare(site, py_reads, ts_reads, reference, qs, truth)
    if site.backend in ("sqlite", "libsql"):  # Mastra wrote JSONB: Python read it above
        with py_store.engine.connect() as conn:
            assert conn.exec_driver_sql(
                "SELECT count(*) FROM mastra_ai_spans WHERE typeof(input) = 'blob'"
            ).scalar_one() > 0
    if site.backend == "libsql":  # the metadata index's triggers ran for both writers
        with py_store.engine.connect() as conn:
            indexed = {tuple(r) for r in conn.exec_driver_sql(
                'SELECT "traceId", "spanId" FROM mastra_storage_root_metadata')}
            unindexed = {tuple(r) for r in conn.exec_driver_sql(
                'SELECT "traceId", "spanId" FROM mastra_storage_unindexed_roots')}
        py_roots = {k for k, r in pw.truth.items() if r.parent_span_id is None and r.metadata}
        assert py_roots <= indexed
        assert unindexed  # Mastra's JSONB roots, read by the general filter above
    if site.backend == "postgres":  # the metadata index's triggers ran for both writers
        with py_store.engine.connect() as conn:
            indexed = {tuple(r) for r in conn.exec_driver_sql(
                f'SELECT "traceId", "spanId" FROM "{py_store.schema}".'
                "mastra_storage_root_metadata")}
        with_metadata = {k for k, r in truth.items()
                         if r.parent_span_id is None and r.metadata}
        assert with_metadata and with_metadata <= indexed  # Python's and Mastra's roots
    if site.backend == "mongodb":  # both writers store BSON dates
        for doc in site.raw.find({}, {"startedAt": 1, "endedAt": 1, "createdAt": 1,
                                      "updatedAt": 1}):
            for name in ("startedAt", "createdAt", "updatedAt"):
                assert isinstance(doc[name], datetime), (name, doc)
            assert doc["endedAt"] is None or isinstance(doc["endedAt"], datetime), doc

    # the entity and error semantics the issue is about, in plain words
    wf_page = ts_reads.lists[("entityType workflow_run", "startedAt", "DESC", 0, 100)]
    assert {s["traceId"] for s in wf_page["spans"]} \
        == {pw.traces["py-workflow"], mw.traces["ts-workflow"]}
    err_page = ts_reads.lists[("has child error", "startedAt", "DESC", 0, 100)]
    assert {pw.traces["py-root-error"], mw.traces["ts-root-error"]} \
        <= {s["traceId"] for s in err_page["spans"]}

    # -- 2. each side ends the other's running root and deletes a trace the other wrote
    py_running = truth[pw.running_root]
    ts_running = truth[mw.running_root]
    closed_at = utc_now()
    stored = py_store.get_span(*mw.running_root)
    assert stored is not None
    truth[mw.running_root] = stored.copy(ended_at=closed_at,
                                         output={"closed_by": "python", "ok": True})
    py_store.batch_update_spans([truth[mw.running_root]])
    gone_py, gone_ts = pw.traces["py-scorer"], mw.traces["ts-scorer"]
    assert py_store.batch_delete_traces([gone_ts]) == len(
        [k for k in truth if k[0] == gone_ts])
    end = _exported(py_running, closed_at + timedelta(milliseconds=7),
                    output={"closed_by": "mastra"})
    closed = py_running.copy()
    for name, value in mastra_update_record(end).items():
        setattr(closed, _attr(name), value)
    truth[pw.running_root] = closed
    for key in [k for k in truth if k[0] in (gone_py, gone_ts)]:
        del truth[key]

    reference = InMemoryStore()
    reference.batch_create_spans([r.copy(created_at=None, updated_at=None)
                                  for r in truth.values()])
    touched = [py_running.trace_id, ts_running.trace_id, gone_py, gone_ts]
    touched_keys = [k for k in keys if k[0] in touched]
    ts_reads = read_mastra(site, touched, touched_keys, qs, before=[
        {"op": "export", "events": [{"kind": "end", "span": end}]},
        {"op": "batchDeleteTraces", "args": {"traceIds": [gone_py]}}])
    py_reads = read_python(py_store, touched, touched_keys, qs)
    checks += compare(site, py_reads, ts_reads, reference, qs, truth)
    assert py_reads.traces[gone_py] is None and ts_reads.traces[gone_ts] is None
    for key in (pw.running_root, mw.running_root):
        got = py_store.get_span(*key)
        assert got is not None and got.status == "success", key
    assert py_reads.lists[("status running", "startedAt", "DESC", 0, 100)].total == 0

    # -- 4. retention: each side's removes the other's old spans
    _retention(site, py_store)
    if site.backend == "mongodb":  # no document mixes date and string timestamps
        for doc in site.raw.find({}):
            kinds = {type(doc.get(n)) for n in ("startedAt", "endedAt", "createdAt",
                                                "updatedAt")} - {type(None)}
            assert kinds == {datetime}, doc
    elapsed = time.perf_counter() - started
    print(f"\n{site.backend}: {checks} comparisons, {len(site.mastra.runs)} node runs "
          f"({sum(site.mastra.runs):.1f} s), {elapsed:.1f} s in all")


def _attr(name: str) -> str:
    return next(c.attr for c in COLUMNS if c.name == name)


def _exported(rec: SpanRecord, end: datetime, **fields: Any) -> dict[str, Any]:
    """A Python-written span as Mastra's exporter would hold it at its end."""
    span = {
        "id": rec.span_id, "traceId": rec.trace_id, "parentSpanId": rec.parent_span_id,
        "name": rec.name, "type": rec.span_type, "isEvent": rec.is_event,
        "isRootSpan": rec.parent_span_id is None, "startTime": rec.started_at, "endTime": end,
        "attributes": to_jsonable(rec.attributes), "metadata": to_jsonable(rec.metadata),
        "tags": rec.tags, "input": to_jsonable(rec.input), "output": to_jsonable(rec.output),
        "errorInfo": to_jsonable(rec.error), "entityType": rec.entity_type,
        "entityId": rec.entity_id, "entityName": rec.entity_name,
    }
    span.update(fields)
    return span


def _retention(site: Site, py_store: Any) -> None:
    """Spans of both writers, four and two years old: Mastra's prune (three years, on
    startedAt) removes the older ones of both, then Python's retention the others."""
    now = utc_now()
    four, two = now - timedelta(days=4 * 365), now - timedelta(days=2 * 365)

    def python_trace(at: datetime) -> str:
        t = uuid.uuid4().hex
        root = SpanRecord(trace_id=t, span_id=_hex(16), name="old python",
                          span_type="agent_run", started_at=at, ended_at=at)
        child = SpanRecord(trace_id=t, span_id=_hex(16), name="old child",
                           span_type="tool_call", started_at=at, ended_at=at,
                           parent_span_id=root.span_id)
        py_store.batch_create_spans([root, child])
        return t

    def mastra_trace(at: datetime, events: list[dict[str, Any]]) -> str:
        tracer = MastraTracer(Clock(set()))
        root = tracer.root("old mastra", "agent_run", at)
        child = tracer.child(root, "old child", "tool_call", 1)
        tracer.end(child, 1)
        tracer.end(root, 3)
        events += tracer.events
        return str(root["traceId"])

    events: list[dict[str, Any]] = []
    p4, p2 = python_trace(four), python_trace(two)
    m4, m2 = mastra_trace(four, events), mastra_trace(two, events)
    got = site.mastra.values([
        {"op": "export", "events": events},
        {"op": "prune", "args": {"retention": {"observability": {"spans": {"maxAge": "1095d"}}}}},
        *({"op": "getTrace", "args": {"traceId": t}} for t in (p4, m4, p2, m2))])
    assert got[2:4] == [None, None], f"Mastra's prune left old spans: {got[1]}"
    assert got[4] is not None and got[5] is not None
    assert py_store.get_trace(p4) is None and py_store.get_trace(m4) is None
    assert py_store.get_trace(m2) is not None
    assert py_store.delete_traces_older_than(now - timedelta(days=365)) == 4
    got = site.mastra.values([{"op": "getTrace", "args": {"traceId": p2}},
                              {"op": "getTrace", "args": {"traceId": m2}},
                              {"op": "listTraces", "args": {"pagination": {"perPage": 100}}}])
    assert got[0] is None and got[1] is None
    assert got[2]["pagination"]["total"] == py_store.list_traces(per_page=100).total


def test_python_adopts_a_table_mastra_created(site_factory: Callable[[], Site]) -> None:
    site = site_factory()
    clock = Clock(set())
    t = MastraTracer(clock)
    root = t.root(f"first {STAMP}", "workflow_run", datetime.now(UTC) - timedelta(seconds=5),
                  tags=["prod"], metadata={"userId": "u-9", "nested": NESTED})
    step = t.child(root, "step", "workflow_step", 1, input={"x": 1})
    t.end(step, 2, output={"y": 2})
    # Mastra creates the table (and every other domain's) and writes first
    site.mastra.values([{"op": "init"}, {"op": "export", "events": t.events}])
    py_store = site.make()  # ... Python adopts it
    try:
        got = py_store.get_trace(root["traceId"])
        assert got is not None and len(got.spans) == 2
        truth = mastra_truth(t.events)
        for span in got.spans:
            want = as_record(truth[span.key])
            problems = diff(python_view(span), python_view(want), WRITER_MEANT)
            assert not problems, problems
        page = py_store.list_traces(TracesFilter(entity_type="workflow_run", status="running"))
        assert [s.trace_id for s in page.spans] == [root["traceId"]]
        # Python writes into Mastra's table; Mastra reads it
        mine = SpanRecord(trace_id=uuid.uuid4().hex, span_id=_hex(16), name="python root",
                          span_type="agent_run", started_at=utc_now(), entity_type="agent",
                          metadata={"n": 1}, tags=["py"])
        py_store.batch_create_spans([mine])
        read, listed = site.mastra.values([
            {"op": "getSpan", "args": {"traceId": mine.trace_id, "spanId": mine.span_id}},
            {"op": "listTraces", "args": {"filters": {"entityType": "agent"}}}])
        assert_same_span(found_span(py_store, mine), read["span"], site, "adopted getSpan")
        assert [s["traceId"] for s in listed["spans"]] == [mine.trace_id]
    finally:
        py_store.close()


def found_span(store: Any, rec: SpanRecord) -> SpanRecord:
    got: SpanRecord | None = store.get_span(rec.trace_id, rec.span_id)
    assert got is not None
    return got

