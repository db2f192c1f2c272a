"""A Python app and Mastra's ``PostgresStoreVNext`` (``@mastra/pg`` 1.27.1, pinned in
``tests/interop/package.json``) sharing one PostgreSQL v-next layout, both ways, with the
real npm package driven by ``tests/interop/mastra_driver.mjs`` (see
``test_interop_mastra.py`` for the machinery, reused here).

``test_python_and_mastra_share_the_vnext_layout``:

1. Python creates the layout and writes a rich workload through its tracer and
   ``DefaultExporter`` (``auto`` → ``event-sourced``: a row at span start, one at span
   end), with logs, metrics, scores and feedback; Mastra adopts the tables (its
   ``init()``) and writes its own workload the way its exporter does in this strategy
   (``batchCreateSpans(buildCreateSpanRecord(span))`` at start and at end) and its own
   signals.
2. Both read everything: every trace (full and light), root and span field by field,
   the trace list with every filter both stores mean the same way (in both start
   orders, and in pages), and every log, metric, score and feedback record.
3. Mixed writers: Python ends Mastra's running trace and Mastra ends Python's (each by
   appending an end row), each deletes a trace the other wrote; both agree again.
4. Retention: Mastra's ``prune`` and Python's ``prune`` each drop the day partitions the
   other wrote into.

``test_python_opens_tables_mastra_created`` is the reverse start-up order, and
``test_both_write_at_once`` has the two writing into the same tables at the same time.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mastra_storage import DefaultExporter, Observability, ObservabilityConfig, SpanType
from mastra_storage.model.signals import SIGNAL_TABLES
from mastra_storage.model.spans import SpanRecord
from mastra_storage.model.time import utc_now
from mastra_storage.storage import InMemoryStore, TracesFilter, TracesOrderBy
from mastra_storage.storage.capabilities import TracingStrategy
from mastra_storage.storage.sql.pg_vnext import PostgresVNextStore
from tests.backends import Provider, selected, skip_unless_required

from .helpers import RecordingExporter
from .test_interop_mastra import (
    ALL_NAMES,
    DRIVER,
    INTEROP,
    LIGHT_DROPPED,
    NODE_TIMEOUT_S,
    WRITER_MEANT,
    Clock,
    Mastra,
    MastraTracer,
    Query,
    _drop_pg_schema,
    _encode,
    _exported,
    _hex,
    _install,
    as_record,
    mastra_args,
    mastra_create_record,
    mastra_workload,
    python_workload,
    same,
    tie_groups,
)
from .test_interop_mastra import queries as classic_queries

pytestmark = pytest.mark.skipif("postgres-vnext" not in selected(),
                                reason="postgres-vnext not in MASTRA_TEST_BACKENDS")

UTC = timezone.utc
STARTED_ORDERS = (("startedAt", "DESC"), ("startedAt", "ASC"))
# Trace-list filters whose meaning differs on purpose (docs/postgres-vnext.md): Mastra's
# v-next reader matches metadata string values only and ignores the scope filter.
DIFFERENT = {"metadata nested", "metadata two keys", "metadata number", "metadata bool",
             "scope", "has child error", "no child error"}
SIGNAL_IDS = {"logs": "logId", "metrics": "metricId", "scores": "scoreId",
              "feedback": "feedbackId"}
MASTRA_LIST = {"logs": "listLogs", "metrics": "listMetrics", "scores": "listScores",
               "feedback": "listFeedback"}


# ================================================================ where both sides meet

@dataclass
class Site:
    mastra: Mastra
    url: str
    schema: str
    made: list[Any] = field(default_factory=list)

    def store(self, **options: Any) -> PostgresVNextStore:
        store = PostgresVNextStore(self.url, schema=self.schema, **options)
        store.init()
        self.made.append(store)
        return store


@pytest.fixture
def site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    problem = _install()
    if problem is not None:
        skip_unless_required(f"Mastra interop: {problem}", "postgres-vnext")
    from tests.conftest import _provider

    provider: Provider = _provider("postgres-vnext", request.getfixturevalue(
        "tmp_path_factory"))
    url: str = provider.info["url"]
    schema = f"vnext_{uuid.uuid4().hex[:10]}"
    store = {"kind": "pg-vnext", "connectionString": url, "schemaName": schema,
             "appSchemaName": f"{schema}_app"}
    s = Site(Mastra(store, tmp_path), url, schema)
    yield s
    for made in s.made:
        made.close()
    for name in (schema, f"{schema}_app"):
        _drop_pg_schema(url, name)


# ================================================================ comparing

def norm(name: str, value: Any) -> Any:
    """Both readers' "no tags" as one value (Python: None; Mastra: [])."""
    if name == "tags" and not value:
        return None
    return value


def span_problems(py: SpanRecord, ms: Mapping[str, Any],
                  names: Sequence[str] = ALL_NAMES) -> list[str]:
    got = py.to_dict()
    return [f"{n}: {got.get(n)!r} != {ms.get(n)!r}" for n in names
            if not same(norm(n, got.get(n)), norm(n, ms.get(n)))]


def assert_same_span(py: SpanRecord | None, ms: Mapping[str, Any] | None, what: str,
                     names: Sequence[str] = ALL_NAMES) -> None:
    assert py is not None and ms is not None, f"{what}: Python {py!r}, Mastra {ms!r}"
    problems = span_problems(py, ms, names)
    assert not problems, f"{what} {py.trace_id}/{py.span_id}: Python != Mastra: {problems}"


def vnext_truth(events: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], SpanRecord]:
    """What each Mastra span's last event-sourced row says (its end row, else its start
    row; an event span reads its start as its end)."""
    truth: dict[tuple[str, str], SpanRecord] = {}
    for event in events:
        if event["kind"] == "update":
            continue
        rec = as_record(mastra_create_record(event["span"]))
        if rec.is_event:
            rec.ended_at = rec.started_at
        truth[rec.key] = rec
    return truth


def recorded_truth(rec: RecordingExporter) -> dict[tuple[str, str], SpanRecord]:
    """The last snapshot of every span the Python tracer exported: what it meant."""
    truth: dict[tuple[str, str], SpanRecord] = {}
    for event in rec.events:
        span = getattr(event, "span", None)
        if isinstance(span, SpanRecord):
            truth[span.key] = span
    return truth


def signal_dict(signal: str, record: Any) -> dict[str, Any]:
    """A Python signal record with Mastra's field names."""
    out = {c.name: getattr(record, c.attr) for c in SIGNAL_TABLES[signal].columns}
    if signal == "feedback":
        number, text = out.pop("valueNumber"), out.pop("valueString")
        out["value"] = number if number is not None else (text if text is not None else "")
    return out


def signal_problems(signal: str, py: Any, ms: Mapping[str, Any]) -> list[str]:
    mine = signal_dict(signal, py)
    return [f"{k}: {v!r} != {ms.get(k)!r}" for k, v in mine.items()
            if not same(norm(k, v), norm(k, ms.get(k)))]


def python_signals(store: Any, signal: str) -> dict[str, Any]:
    method = getattr(store, {"logs": "list_logs", "metrics": "list_metrics",
                             "scores": "list_scores", "feedback": "list_feedback"}[signal])
    out: dict[str, Any] = {}
    for page in itertools.count():
        got = method(None, page, 100)
        for item in got.items:
            out[getattr(item, SIGNAL_TABLES[signal].id_attr)] = item
        if not got.has_more:
            return out
    raise AssertionError("unreachable")


def mastra_signal_ops(signal: str, pages: int) -> list[dict[str, Any]]:
    return [{"op": MASTRA_LIST[signal], "args": {"pagination": {"page": p, "perPage": 100}}}
            for p in range(pages)]


def mastra_signal_items(results: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for result in results:
        (key,) = [k for k in result if k not in ("pagination", "deltaCursor")]
        items += result[key]
    return items


def list_queries(roots: Sequence[SpanRecord]) -> list[Query]:
    return [q for q in classic_queries("postgres", roots) if q.label not in DIFFERENT]


# ================================================================ workloads

def python_signals_workload(obs: Observability) -> str:
    """One trace with every signal through the public API."""
    tracer = obs.get_default_instance()
    with tracer.start_span("signals-agent", type=SpanType.AGENT_RUN, tags=["sig"],
                           user_id="u-1", environment="interop") as root:
        root.log("info", "started", data={"k": 1, "ü": [1.5, None]})
        root.log("warn", "slow tool")
        root.metric("latency_ms", 12.5, labels={"tool": "search"})
        root.score("relevance", 0.75, reason="on topic")
        root.feedback("thumbs", "up", source="user")
        root.feedback("rating", 4, source="user")
    return root.trace_id


def mastra_signals(trace_id: str, span_id: str) -> list[dict[str, Any]]:
    now = utc_now()
    ctx = {"traceId": trace_id, "spanId": span_id, "entityType": "agent",
           "entityName": "weather-agent", "userId": "u-1", "environment": "interop",
           "executionSource": "cloud", "serviceName": "ts-interop"}
    return [
        {"op": "batchCreateLogs", "args": {"logs": [
            {**ctx, "logId": f"ml-{_hex(8)}", "timestamp": now, "level": "error",
             "message": "from Mastra ✓", "data": {"n": 2}, "tags": ["ts", "ts", " x "],
             "metadata": {"m": "v"}},
            {**ctx, "logId": f"ml-{_hex(8)}", "timestamp": now + timedelta(milliseconds=1),
             "level": "debug", "message": "second"}]}},
        {"op": "batchCreateMetrics", "args": {"metrics": [
            {**ctx, "metricId": f"mm-{_hex(8)}", "timestamp": now, "name": "mastra_tokens",
             "value": 42, "labels": {"model": "gpt-4o"}, "provider": "openai",
             "model": "gpt-4o", "estimatedCost": 0.002, "costUnit": "USD"}]}},
        {"op": "batchCreateScores", "args": {"scores": [
            {**ctx, "scoreId": f"ms-{_hex(8)}", "timestamp": now, "scorerId": "faithfulness",
             "score": 0.5, "reason": "half", "scoreSource": "live",
             "metadata": {"judge": "gpt"}}]}},
        {"op": "batchCreateFeedback", "args": {"feedbacks": [
            {**ctx, "feedbackId": f"mf-{_hex(8)}", "timestamp": now, "feedbackType": "thumbs",
             "feedbackSource": "user", "value": "down", "comment": "wrong city"},
            {**ctx, "feedbackId": f"mf-{_hex(8)}", "timestamp": now, "feedbackType": "rating",
             "feedbackSource": "user", "value": 2}]}},
    ]


# ================================================================ reads of both sides

def read_both(site: Site, store: PostgresVNextStore, trace_ids: Sequence[str],
              keys: Sequence[tuple[str, str]], qs: Sequence[Query],
              before: Sequence[dict[str, Any]] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every read of Mastra (one node run, after ``before``) and of Python."""
    ops: list[dict[str, Any]] = list(before)
    for t in trace_ids:
        ops += [{"op": "getTrace", "args": {"traceId": t}},
                {"op": "getTraceLight", "args": {"traceId": t}},
                {"op": "getRootSpan", "args": {"traceId": t}}]
    ops += [{"op": "getSpan", "args": {"traceId": t, "spanId": s}} for t, s in keys]
    lists = [(q, o, p, n) for q in qs for o in STARTED_ORDERS for p, n in ((0, 100),)]
    everything = next(q for q in qs if q.label == "everything")
    lists += [(everything, o, p, 3) for o in STARTED_ORDERS for p in range(4)]
    ops += [{"op": "listTraces", "args": mastra_args(q, o, p, n)} for q, o, p, n in lists]
    ops += [op for s in SIGNAL_IDS for op in mastra_signal_ops(s, 2)]
    values = iter(site.mastra.values(ops)[len(before):])
    ms: dict[str, Any] = {"traces": {}, "light": {}, "roots": {}, "spans": {}, "lists": {},
                          "signals": {}}
    py: dict[str, Any] = {"traces": {}, "light": {}, "roots": {}, "spans": {}, "lists": {},
                          "signals": {}}
    for t in trace_ids:
        ms["traces"][t], ms["light"][t], ms["roots"][t] = next(values), next(values), next(values)
        py["traces"][t], py["light"][t] = store.get_trace(t), store.get_trace_light(t)
        py["roots"][t] = store.get_root_span(t)
    for key in keys:
        ms["spans"][key] = next(values)
        py["spans"][key] = store.get_span(*key)
    for q, o, p, n in lists:
        label = (q.label, o, p, n)
        ms["lists"][label] = next(values)
        py["lists"][label] = store.list_traces(TracesFilter(**q.py), page=p, per_page=n,
                                               order_by=TracesOrderBy(*o))  # type: ignore
    for signal in SIGNAL_IDS:
        items = mastra_signal_items([next(values), next(values)])
        ms["signals"][signal] = {i[SIGNAL_IDS[signal]]: i for i in items}
        py["signals"][signal] = python_signals(store, signal)
    return py, ms


def compare(py: dict[str, Any], ms: dict[str, Any], truth: Mapping[tuple[str, str], SpanRecord],
            qs: Sequence[Query]) -> int:
    """Both sides' reads equal, field by field, and equal to what the writers meant and to
    the in-memory reference's lists; returns the number of comparisons."""
    checks = 0
    reference = InMemoryStore()
    reference.batch_create_spans([r.copy(created_at=None, updated_at=None)
                                  for r in truth.values()])
    for t, p_trace in py["traces"].items():
        m_trace = ms["traces"][t]
        if p_trace is None:
            assert m_trace is None, f"Mastra sees trace {t}, Python doesn't"
            continue
        assert m_trace is not None, f"Mastra doesn't see trace {t}"
        m_spans = {s["spanId"]: s for s in m_trace["spans"]}
        assert set(m_spans) == {s.span_id for s in p_trace.spans}, t
        for span in p_trace.spans:
            assert_same_span(span, m_spans[span.span_id], "getTrace")
            checks += 1
        m_light = {s["spanId"]: s for s in ms["light"][t]["spans"]}
        for span in py["light"][t].spans:
            light = m_light[span.span_id]
            names = [n for n in ALL_NAMES if n in light and n not in LIGHT_DROPPED]
            assert_same_span(span, light, "getTraceLight", names)
        assert_same_span(py["roots"][t], ms["roots"][t]["span"], "getRootSpan")
    for key, p_span in py["spans"].items():
        m_span = ms["spans"][key]
        if p_span is None:
            assert m_span is None, key
            continue
        assert_same_span(p_span, m_span["span"], "getSpan")
        want = truth.get(key)
        if want is not None:
            got, meant = p_span.to_dict(), want.to_dict()
            problems = [n for n in WRITER_MEANT
                        if not same(norm(n, got.get(n)), norm(n, meant.get(n)))]
            assert not problems, f"{key}: stored != written: " + ", ".join(
                f"{n}: {got.get(n)!r} != {meant.get(n)!r}" for n in problems)
        checks += 1
    for label, p_page in py["lists"].items():
        q_label, order, page, per_page = label
        query = next(q for q in qs if q.label == q_label)
        expected = reference.list_traces(TracesFilter(**query.py), page=page,
                                         per_page=per_page, order_by=TracesOrderBy(*order))
        m_page = ms["lists"][label]
        pag = m_page["pagination"]
        assert (pag["total"], pag["hasMore"]) == (expected.total, expected.has_more), \
            f"{label}: Mastra {pag}, want {expected.total}"
        assert (p_page.total, p_page.has_more) == (expected.total, expected.has_more), label
        want_ids = [s.trace_id for s in expected.spans]
        assert [s.trace_id for s in p_page.spans] == want_ids, label
        start_of = {s.trace_id: s.started_at for s in expected.spans}
        m_ids = [s["traceId"] for s in m_page["spans"]]
        assert tie_groups(m_ids, start_of.get) == tie_groups(want_ids, start_of.get), label
        m_by_id = {s["traceId"]: s for s in m_page["spans"]}
        for root in p_page.spans:
            assert m_by_id[root.trace_id]["status"] == root.status, (label, root.trace_id)
            assert_same_span(root, m_by_id[root.trace_id], f"listTraces {label}")
        checks += 1
    for signal, p_items in py["signals"].items():
        m_items = ms["signals"][signal]
        assert set(p_items) == set(m_items), signal
        for item_id, item in p_items.items():
            problems = signal_problems(signal, item, m_items[item_id])
            assert not problems, f"{signal} {item_id}: Python != Mastra: {problems}"
            checks += 1
    return checks


# ================================================================ the tests

def test_python_and_mastra_share_the_vnext_layout(site: Site) -> None:
    py_store = site.store(auto_migrate=True)  # Python creates the layout ...
    rec = RecordingExporter()
    exporter = DefaultExporter()
    obs = Observability(storage=py_store, configs={"default": ObservabilityConfig(
        service_name="py-interop", environment="interop", exporters=[exporter, rec])})
    try:
        assert exporter.strategy is TracingStrategy.EVENT_SOURCED
        pw = python_workload(obs, rec)
        python_signals_workload(obs)
        obs.flush()
        assert exporter.drops.total == 0
        mw = mastra_workload(pw)
        truth = recorded_truth(rec)  # both Python workloads
        truth.update(vnext_truth(mw.events))
        roots = [r for r in truth.values() if r.parent_span_id is None]
        qs = list_queries(roots)
        trace_ids = sorted({k[0] for k in truth})
        keys = sorted(truth)
        agent = mw.traces["ts-agent"]
        agent_root = next(k for k in keys if k[0] == agent and truth[k].parent_span_id is None)

        # -- 1. Mastra adopts the tables and writes its spans (event-sourced) and signals
        before: list[dict[str, Any]] = [{"op": "init"},
                  {"op": "export", "strategy": "event-sourced", "events": mw.events},
                  *mastra_signals(*agent_root)]
        py, ms = read_both(site, py_store, trace_ids, keys, qs, before)
        checks = compare(py, ms, truth, qs)
        assert len(py["signals"]["logs"]) >= 4 and len(py["signals"]["feedback"]) >= 4
        # where the readers differ on purpose: has_child_error counts the root's own error
        # here (every store of this package), not in Mastra's v-next reader
        both_root_errors = {pw.traces["py-root-error"], mw.traces["ts-root-error"]}
        mastra_err = {s["traceId"] for s in site.mastra.values([
            {"op": "listTraces", "args": {"filters": {"hasChildError": True},
                                          "pagination": {"perPage": 100}}}])[0]["spans"]}
        ours = {s.trace_id for s in py_store.list_traces(
            TracesFilter(has_child_error=True), per_page=100).spans}
        assert ours - mastra_err == both_root_errors

        # -- 2. each side ends the other's running root and deletes a trace it wrote
        py_running, ts_running = truth[pw.running_root], truth[mw.running_root]
        closed_at = utc_now()
        ended = ts_running.copy(ended_at=closed_at, output={"closed_by": "python"})
        py_store.batch_create_spans([ended])  # an end row, as the exporter writes it
        truth[mw.running_root] = ended
        end = _exported(py_running, closed_at + timedelta(milliseconds=7),
                        output={"closed_by": "mastra"})
        truth[pw.running_root] = vnext_truth([{"kind": "end", "span": end}])[pw.running_root]
        gone_py, gone_ts = pw.traces["py-scorer"], mw.traces["ts-scorer"]
        py_store.batch_delete_traces([gone_ts])
        for key in [k for k in truth if k[0] in (gone_py, gone_ts)]:
            del truth[key]
        touched = [py_running.trace_id, ts_running.trace_id, gone_py, gone_ts]
        py, ms = read_both(site, py_store, touched, [k for k in keys if k[0] in touched], qs,
                           before=[{"op": "export", "strategy": "event-sourced",
                                    "events": [{"kind": "end", "span": end}]},
                                   {"op": "batchDeleteTraces", "args": {"traceIds": [gone_py]}}])
        checks += compare(py, ms, truth, qs)
        assert py["traces"][gone_py] is None and ms["traces"][gone_ts] is None
        for key in (pw.running_root, mw.running_root):
            got = py_store.get_span(*key)
            assert got is not None and got.status == "success", key
        assert py_store.list_traces(TracesFilter(status="running")).total == 0

        # -- 3. retention: each side's prune drops the day partitions the other wrote into
        _retention(site, py_store)
        print(f"\npostgres-vnext: {checks} comparisons, {len(site.mastra.runs)} node runs")
    finally:
        obs.shutdown()


def _retention(site: Site, py_store: PostgresVNextStore) -> None:
    """Spans of both writers, four and two years old, on the same days (Mastra can only
    write into days that have a partition: Python's writes make them). Mastra's prune
    (three years) drops the older days, Python's (one year) the others."""
    now = utc_now()
    four, two = now - timedelta(days=4 * 365), now - timedelta(days=2 * 365)

    def python_trace(at: datetime) -> str:
        t = uuid.uuid4().hex
        root = SpanRecord(trace_id=t, span_id=_hex(16), name="old python",
                          span_type="agent_run", started_at=at, ended_at=at)
        py_store.batch_create_spans([root, SpanRecord(
            trace_id=t, span_id=_hex(16), name="old child", span_type="tool_call",
            started_at=at, ended_at=at, parent_span_id=root.span_id)])
        return t

    events: list[dict[str, Any]] = []

    def mastra_trace(at: datetime) -> str:
        tracer = MastraTracer(Clock(set()))
        root = tracer.root("old mastra", "agent_run", at)
        child = tracer.child(root, "old child", "tool_call", 1)
        tracer.end(child, 1)
        tracer.end(root, 3)
        events.extend(tracer.events)
        return str(root["traceId"])

    p4, p2 = python_trace(four), python_trace(two)
    m4, m2 = mastra_trace(four), mastra_trace(two)
    got = site.mastra.values([
        {"op": "export", "strategy": "event-sourced", "events": events},
        {"op": "prune", "args": {"retention": {"observability": {"spans": {"maxAge": "1095d"}}}}},
        *({"op": "getTrace", "args": {"traceId": t}} for t in (p4, m4, p2, m2))])
    assert got[2:4] == [None, None], f"Mastra's prune left old spans: {got[1]}"
    assert got[4] is not None and got[5] is not None
    assert py_store.get_trace(p4) is None and py_store.get_trace(m4) is None
    rows = _rows_of(py_store, [p2, m2])  # Mastra's batch keeps only the end row of a
    assert rows >= 4  # span that starts and ends within one second (its dedupe key)
    counts = py_store.prune(now - timedelta(days=365), signals=["spans"])
    assert counts["spans"] == rows
    got = site.mastra.values([{"op": "getTrace", "args": {"traceId": p2}},
                              {"op": "getTrace", "args": {"traceId": m2}},
                              {"op": "listTraces", "args": {"pagination": {"perPage": 100}}}])
    assert got[0] is None and got[1] is None
    assert got[2]["pagination"]["total"] == py_store.list_traces(per_page=100).total


def _rows_of(store: PostgresVNextStore, trace_ids: Sequence[str]) -> int:
    """The span-event rows of some traces."""
    t = store.events
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(t).where(
            t.c.traceId.in_(list(trace_ids)))).scalar_one())


def test_python_opens_tables_mastra_created(site: Site) -> None:
    t = MastraTracer(Clock(set()))
    root = t.root("first ✓", "workflow_run", datetime.now(UTC) - timedelta(seconds=5),
                  tags=["prod", " prod"], metadata={"userId": "u-9", "tier": "gold"})
    step = t.child(root, "step", "workflow_step", 1, input={"x": 1})
    t.end(step, 2, output={"y": 2})
    # Mastra creates its tables and writes first (the root is still running)
    site.mastra.values([{"op": "init"},
                        {"op": "export", "strategy": "event-sourced", "events": t.events}])
    py_store = site.store()  # ... Python opens them, creating nothing
    got = py_store.get_trace(root["traceId"])
    assert got is not None and len(got.spans) == 2
    truth = vnext_truth(t.events)
    for span in got.spans:
        want = truth[span.key]
        problems = [n for n in WRITER_MEANT if not same(norm(n, span.to_dict().get(n)),
                                                        norm(n, want.to_dict().get(n)))]
        assert not problems or problems == ["tags"], problems
    assert got.spans[0].tags == ["prod"]  # Mastra's tag rule
    page = py_store.list_traces(TracesFilter(entity_type="workflow_run", status="running",
                                             metadata={"tier": "gold"}))
    assert [s.trace_id for s in page.spans] == [root["traceId"]]
    # Python writes into Mastra's tables (a start row, then an end row); Mastra reads them
    mine = SpanRecord(trace_id=uuid.uuid4().hex, span_id=_hex(16), name="python root",
                      span_type="agent_run", started_at=utc_now(), entity_type="agent",
                      metadata={"n": 1, "tier": "gold"}, tags=["py"])
    py_store.batch_create_spans([mine])
    running, listed = site.mastra.values([
        {"op": "getSpan", "args": {"traceId": mine.trace_id, "spanId": mine.span_id}},
        {"op": "listTraces", "args": {"filters": {"entityType": "agent", "status": "running"}}}])
    assert_same_span(py_store.get_span(mine.trace_id, mine.span_id), running["span"], "getSpan")
    assert [s["traceId"] for s in listed["spans"]] == [mine.trace_id]
    py_store.batch_create_spans([mine.copy(ended_at=mine.started_at + timedelta(seconds=1))])
    (listed,) = site.mastra.values([
        {"op": "listTraces", "args": {"filters": {"metadata": {"tier": "gold"},
                                                  "status": "success"}}}])
    assert [s["traceId"] for s in listed["spans"]] == [mine.trace_id]


def test_both_write_at_once(site: Site) -> None:
    """Mastra exports 40 traces, one transaction each, while Python keeps writing traces
    until Mastra is done: both see every span of both, and agree on each."""
    py_store = site.store(auto_migrate=True)
    site.mastra.values([{"op": "init"}])
    tracer_m = MastraTracer(Clock(set()))
    jobs: list[dict[str, Any]] = []
    start = utc_now()
    for i in range(40):
        before = len(tracer_m.events)
        m_root = tracer_m.root(f"ts-{i}", "agent_run", start + timedelta(milliseconds=10 * i))
        child = tracer_m.child(m_root, "tool", "tool_call", 1, input={"i": i})
        tracer_m.end(child, 1, output={"i": i})
        tracer_m.end(m_root, 3)
        jobs.append({"op": "export", "strategy": "event-sourced",
                     "events": tracer_m.events[before:]})
    path = site.mastra.workdir / "concurrent.json"
    path.write_text(json.dumps({"store": site.mastra.store, "ops": jobs}, default=_encode))
    proc = subprocess.Popen(["node", str(DRIVER), str(path)], cwd=INTEROP,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    exporter = DefaultExporter(max_batch_wait_ms=20)
    obs = Observability(storage=py_store, configs={"default": ObservabilityConfig(
        service_name="py-concurrent", exporters=[exporter])})
    py_traces: list[str] = []
    try:
        tracer = obs.get_default_instance()
        while (proc.poll() is None and len(py_traces) < 200) or len(py_traces) < 5:
            with tracer.start_span(f"py-{len(py_traces)}", type=SpanType.AGENT_RUN) as root:
                root.child("tool", type=SpanType.TOOL_CALL).end(output={"ok": True})
            py_traces.append(root.trace_id)
            obs.flush()
        out, err = proc.communicate(timeout=NODE_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
        obs.shutdown()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert all(r["ok"] for r in json.loads(out)["results"])
    ts_traces = [e["span"]["traceId"] for j in jobs for e in j["events"][:1]]
    every = ts_traces + py_traces
    ops = [{"op": "getTrace", "args": {"traceId": t}} for t in every]
    ops.append({"op": "listTraces", "args": {"pagination": {"perPage": 100}}})
    *traces, listed = site.mastra.values(ops)
    total = len(every)
    assert listed["pagination"]["total"] == total == py_store.list_traces().total
    for t, m_trace in zip(every, traces, strict=True):
        p_trace = py_store.get_trace(t)
        assert p_trace is not None and m_trace is not None, t
        m_spans = {s["spanId"]: s for s in m_trace["spans"]}
        assert len(p_trace.spans) == len(m_spans) == 2, t
        for span in p_trace.spans:
            assert span.status == "success"
            assert_same_span(span, m_spans[span.span_id], "concurrent getTrace")
    assert exporter.drops.total == 0
