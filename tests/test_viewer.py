"""The built-in viewer in a real browser: Debian's ``chromium`` driven by Python Playwright
(never a downloaded browser), against ``create_app`` served by uvicorn on loopback.

The data is the demo's: ``mastra-storage demo`` writes a SQLite file, and the viewer reads
it when the SQLite store answers the signal reads (logs, metrics, scores, feedback);
otherwise the same workload goes through the same exporter into the in-memory store.
Logs, scores and feedback are seeded through the store API when the demo wrote none.

Screenshots land in ``tests/artifacts/viewer/`` (gitignored; CI keeps them as artefacts).
Without playwright or chromium the module skips, or fails when ``MASTRA_TEST_REQUIRE`` is
set: a CI run must not skip its way past the browser.
"""

from __future__ import annotations

import html
import json
import random
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.backends import skip_unless_required

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    skip_unless_required("playwright is not installed (pip install 'mastra-storage[test]')")
CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:  # pragma: no cover - depends on the machine
    skip_unless_required("Debian's chromium is not installed (apt-get install chromium)")

import typer  # noqa: E402 - after the skip checks
import uvicorn  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from mastra_storage import (  # noqa: E402
    DefaultExporter,
    Observability,
    ObservabilityConfig,
    SensitiveDataFilter,
    create_store,
)
from mastra_storage.cli import demo as demo_command  # noqa: E402
from mastra_storage.errors import UnsupportedOperation  # noqa: E402
from mastra_storage.model.signals import FeedbackRecord, LogRecord, ScoreRecord  # noqa: E402
from mastra_storage.model.spans import SpanRecord  # noqa: E402
from mastra_storage.model.time import utc_now  # noqa: E402
from mastra_storage.server import create_app  # noqa: E402
from mastra_storage.server.viewer_api import matches  # noqa: E402
from mastra_storage.storage.memory import InMemoryStore  # noqa: E402
from mastra_storage.storage.queries import TracesFilter  # noqa: E402
from mastra_storage.storage.signal_queries import LogsFilter, MetricAggregateRequest  # noqa: E402
from mastra_storage.workload import run_workload  # noqa: E402

ARTIFACTS = Path(__file__).parent / "artifacts" / "viewer"
DEMO_TRACES = 20
XSS = '<img src=x onerror="window.__xss=1">'
XSS_JSON = json.dumps(XSS)  # as the JSON viewer shows the string
expect.set_options(timeout=15_000)


# ---------------------------------------------------------------------------- data

def _reads_signals(store: Any) -> bool:
    """Whether the store answers every read the viewer's signal pages make."""
    try:
        store.list_logs(None, 0, 1)
        store.list_scores(None, 0, 1)
        store.list_feedback(None, 0, 1)
        tokens = store.metric_aggregate(MetricAggregateRequest(
            name=("mastra_model_total_input_tokens",), aggregation="sum"))
    except (UnsupportedOperation, NotImplementedError):
        return False
    return bool(tokens.value)


def _demo_store(tmp: Path) -> tuple[Any, str]:
    db = tmp / "mastra.db"
    cli = typer.Typer()
    demo_command.register(cli)  # the `mastra-storage demo` command itself
    result = CliRunner().invoke(cli, ["--db", str(db), "--traces", str(DEMO_TRACES)])
    assert result.exit_code == 0, result.output
    store = create_store(f"sqlite:///{db}")
    store.init()
    if _reads_signals(store):
        return store, "sqlite"
    store.close()
    # The SQLite store can't serve the signal pages yet: the demo's workload, through the
    # demo's pipeline, into the in-memory store.
    memory = InMemoryStore()
    obs = Observability(storage=memory, configs={"default": ObservabilityConfig(
        service_name="support-demo", exporters=[DefaultExporter()],
        span_output_processors=[SensitiveDataFilter()])})
    run_workload(obs.get_default_instance(), DEMO_TRACES, spans_per_trace=10, error_rate=0.1,
                 seed=7, latency_ms=3.0)
    obs.shutdown()
    return memory, "memory"


def _seed_signals(store: Any) -> None:
    """Logs, scores and feedback for the demo's traces, where the demo wrote none."""
    rng = random.Random(3)
    roots = store.list_traces(TracesFilter(), 0, 100).spans
    logs, scores, feedback = [], [], []
    for root in roots:
        trace = store.get_trace(root.trace_id)
        for span in trace.spans[:3]:
            failed = span.error is not None
            logs.append(LogRecord(
                timestamp=span.started_at,
                level="error" if failed else rng.choice(("info", "debug")),
                message=f"{span.name}: {'failed' if failed else 'done'}",
                data={"spanType": span.span_type},
                trace_id=span.trace_id, span_id=span.span_id, entity_type=span.entity_type,
                entity_name=span.entity_name, service_name="support-demo"))
        scores.append(ScoreRecord(
            timestamp=root.ended_at or root.started_at, scorer_id="answer-relevancy",
            score=round(rng.random(), 2), reason="addresses the customer's question",
            trace_id=root.trace_id, span_id=root.span_id, entity_type="agent",
            entity_name="support-agent", score_source="live"))
        feedback.append(FeedbackRecord(
            timestamp=root.ended_at or root.started_at, feedback_type="thumbs",
            feedback_source="user", value_number=float(rng.randrange(2)), comment="thanks",
            trace_id=root.trace_id, feedback_user_id=root.user_id))
    if not store.list_logs(None, 0, 1).total:
        store.batch_create_logs(logs)
    if not store.list_scores(None, 0, 1).total:
        store.batch_create_scores(scores)
    if not store.list_feedback(None, 0, 1).total:
        store.batch_create_feedback(feedback)


class ServerThread:
    """uvicorn serving an ASGI app on a loopback port, in a thread."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        while not self.server.started:  # readiness, not a timing assertion
            if not self.thread.is_alive():
                raise RuntimeError("the viewer's server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    store, kind = _demo_store(tmp_path_factory.mktemp("viewer"))
    _seed_signals(store)
    try:
        with ServerThread(create_app(store)) as server:
            yield store, server.url
    finally:
        store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="light")
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    yield pg
    context.close()
    assert not errors, f"the page raised: {errors}"


def _roots(store: Any, flt: TracesFilter | None = None) -> list[SpanRecord]:
    out, page_no = [], 0
    while True:
        page = store.list_traces(flt or TracesFilter(), page_no, 100)
        out += page.spans
        if not page.has_more:
            return out
        page_no += 1


def _rows(page: Page) -> Any:
    return page.locator("table.traces tbody tr")


def _shown_ids(page: Page) -> set[str]:
    return set(_rows(page).evaluate_all("rows => rows.map(r => r.dataset.traceId)"))


def _expect_rows(page: Page, ids: set[str]) -> None:
    expect(_rows(page)).to_have_count(len(ids))
    assert _shown_ids(page) == ids


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


# ---------------------------------------------------------------------------- traces page

def test_the_demo_traces_are_listed_newest_first(demo: tuple[Any, str], page: Page) -> None:
    store, url = demo
    roots = _roots(store)
    assert len(roots) >= DEMO_TRACES
    page.goto(url)
    _expect_rows(page, {r.trace_id for r in roots})
    expect(page.get_by_test_id("trace-count")).to_have_text(f"{len(roots)} traces")
    expect(page.locator(".boot")).to_have_count(0)  # the placeholder is gone
    shown = _rows(page).evaluate_all("rows => rows.map(r => r.dataset.traceId)")
    assert shown == [r.trace_id for r in roots]  # the store's order: newest first
    failed = next(r for r in roots if r.status == "error")
    row = page.locator(f'tr[data-trace-id="{failed.trace_id}"]')
    expect(row.locator(".status")).to_have_text("error")
    expect(row.locator(".c-preview")).not_to_be_empty()
    # tokens and cost arrive from the metrics breakdown
    page.wait_for_function("() => [...document.querySelectorAll('td.c-tokens')]"
                           ".some(td => /\\d/.test(td.textContent))")
    shot(page, "traces")


def test_filters_narrow_the_list_and_survive_a_reload(demo: tuple[Any, str], page: Page) -> None:
    store, url = demo
    page.goto(url)
    expect(_rows(page)).to_have_count(len(_roots(store)))

    # status
    page.select_option("select[name=status]", "error")
    errors = {r.trace_id for r in _roots(store, TracesFilter(status="error"))}
    assert errors
    _expect_rows(page, errors)
    assert "status=error" in page.url
    page.reload()
    _expect_rows(page, errors)
    expect(page.locator("select[name=status]")).to_have_value("error")

    # a metadata key (with the status still on: filters combine)
    page.select_option("select[name=status]", "")
    page.get_by_role("button", name="More filters").click()
    page.fill("input[name=metadata]", "tier=pro")
    page.press("input[name=metadata]", "Enter")
    pro = {r.trace_id for r in _roots(store, TracesFilter(metadata={"tier": "pro"}))}
    assert pro and len(pro) < DEMO_TRACES
    _expect_rows(page, pro)
    assert "meta=tier%3Dpro" in page.url
    page.reload()
    _expect_rows(page, pro)
    expect(page.locator("input[name=metadata]")).to_have_value("tier=pro")

    # tags, and has-a-failed-span, from shared links
    page.goto(url + "#/traces?tag=eu")
    tagged = {r.trace_id for r in _roots(store, TracesFilter(tags=["eu"]))}
    assert tagged and len(tagged) < DEMO_TRACES
    _expect_rows(page, tagged)
    expect(page.locator("input[name=tags]")).to_have_value("eu")
    page.goto(url + "#/traces?tag=eu&tag=support")
    _expect_rows(page, {r.trace_id for r in _roots(store, TracesFilter(tags=["eu", "support"]))})
    page.goto(url + "#/traces?hasChildError=true")
    broken = {r.trace_id for r in _roots(store, TracesFilter(has_child_error=True))}
    assert broken
    _expect_rows(page, broken)
    expect(page.locator("input[name=hasChildError]")).to_be_checked()

    # text search over inputs and outputs
    page.goto(url)
    expect(_rows(page)).to_have_count(len(_roots(store)))
    needle = "charged twice"
    hits = {r.trace_id for r in _roots(store) if matches(r, needle)}
    assert hits and len(hits) < DEMO_TRACES
    page.fill("#search", needle)
    page.press("#search", "Enter")
    _expect_rows(page, hits)
    assert "q=charged" in page.url
    page.reload()
    _expect_rows(page, hits)
    expect(page.locator("#search")).to_have_value(needle)
    for preview in page.locator("td.c-preview").all_text_contents():
        assert needle in preview.lower()


def test_keyboard_j_k_enter_and_esc(demo: tuple[Any, str], page: Page) -> None:
    store, url = demo
    roots = _roots(store)
    page.goto(url + "#/traces?status=success")
    expect(_rows(page).first).to_be_visible()
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("k")
    page.keyboard.press("j")
    ok = [r for r in roots if r.status == "success"]
    expect(page.locator("tr.selected")).to_have_attribute("data-trace-id", ok[1].trace_id)
    page.keyboard.press("Enter")
    expect(page.locator(".trace-page")).to_have_attribute("data-trace-id", ok[1].trace_id)
    page.keyboard.press("Escape")
    expect(_rows(page).first).to_be_visible()
    assert "status=success" in page.url


# ---------------------------------------------------------------------------- trace page

def test_waterfall_shows_every_span_to_scale(demo: tuple[Any, str], page: Page) -> None:
    store, url = demo
    failed = next(r for r in _roots(store) if r.status == "error")
    trace = store.get_trace(failed.trace_id)
    page.goto(url + f"#/trace/{failed.trace_id}")
    bars = page.locator(".wf-row[data-span-id] .wf-bar")
    expect(bars).to_have_count(len(trace.spans))
    shown = set(page.locator(".wf-row[data-span-id]").evaluate_all(
        "rows => rows.map(r => r.dataset.spanId)"))
    assert shown == {s.span_id for s in trace.spans}

    start = min(s.started_at for s in trace.spans)
    end = max(s.ended_at or s.started_at for s in trace.spans)
    total_ms = (end - start).total_seconds() * 1000
    track = page.locator(".wf-row[data-span-id] .wf-track").first.bounding_box()
    assert track is not None
    checked = 0
    for span in trace.spans:
        bar = page.locator(f'.wf-row[data-span-id="{span.span_id}"] .wf-bar')
        if span.is_event:
            assert "is-event" in (bar.get_attribute("class") or "")
            continue
        duration = (span.ended_at - span.started_at).total_seconds() * 1000
        box = bar.bounding_box()
        assert box is not None
        expected_width = duration / total_ms * track["width"]
        assert abs(box["width"] - max(expected_width, 2)) <= 1.5, (span.name, box, expected_width)
        expected_left = (span.started_at - start).total_seconds() * 1000 / total_ms * track["width"]
        assert abs(box["x"] - track["x"] - expected_left) <= 1.5, (span.name, box, expected_left)
        checked += 1
        if span.error is not None:
            assert "is-error" in (bar.get_attribute("class") or "")
            color = bar.evaluate("el => getComputedStyle(el).backgroundColor")
            assert color == "rgb(207, 34, 46)"  # the theme's red
    assert checked >= len(trace.spans) - 1
    # nesting: children are indented under their parent
    def level(span_id: str) -> str | None:
        return page.locator(f'.wf-row[data-span-id="{span_id}"]').get_attribute("aria-level")

    assert level(failed.span_id) == "1"
    child = next(s for s in trace.spans if s.parent_span_id == failed.span_id)
    assert level(child.span_id) == "2"
    # folding the root hides the rest
    page.locator(f'.wf-row[data-span-id="{failed.span_id}"] .twisty').click()
    expect(page.locator(".wf-row[data-span-id]")).to_have_count(1)
    page.locator(f'.wf-row[data-span-id="{failed.span_id}"] .twisty').click()
    expect(page.locator(".wf-row[data-span-id]")).to_have_count(len(trace.spans))
    stack = page.locator('.span-detail [data-section="error"] .stack')
    expect(stack).to_contain_text("ToolFailure")
    shot(page, "trace")


def test_model_span_shows_model_tokens_and_cost(demo: tuple[Any, str], page: Page) -> None:
    store, url = demo
    root = _roots(store)[0]
    trace = store.get_trace(root.trace_id)
    model = next(s for s in trace.spans if s.span_type == "model_generation")
    page.goto(url + f"#/trace/{root.trace_id}?span={model.span_id}")
    facts = page.get_by_test_id("model-facts")
    expect(facts).to_contain_text("gpt-4o")
    usage = model.attributes["usage"]
    expect(facts).to_contain_text(f"{usage['inputTokens']:,} / {usage['outputTokens']:,}")
    expect(facts).to_contain_text("$")
    expect(page.get_by_test_id("trace-tokens")).not_to_have_text("–")
    # the trace's logs, scores and feedback tabs
    for tab, selector in (("logs", "table.logs tbody tr"), ("scores", "table.scores tbody tr"),
                          ("feedback", "table.feedback tbody tr")):
        page.locator(f'button[data-tab="{tab}"]').click()
        expect(page.locator(selector).first).to_be_visible()
    # "open thread": the other traces of the same thread
    page.locator('button[data-tab="timeline"]').click()
    page.get_by_test_id("open-thread").click()
    expect(page.locator(f'table.thread tr[data-trace-id="{root.trace_id}"]')).to_be_visible()


def test_span_json_is_shown_and_payloads_render_as_text(demo: tuple[Any, str], page: Page) -> None:
    store, url = demo
    now = utc_now()
    trace_id, root_id, child_id = "ab" * 16, "cd" * 8, "ef" * 8
    root = SpanRecord(
        trace_id=trace_id, span_id=root_id, name=f"evil {XSS}", span_type="agent_run",
        started_at=now - timedelta(milliseconds=40), ended_at=now, entity_type="agent",
        entity_name=XSS, metadata={"note": XSS}, tags=[XSS],
        input={"messages": [{"role": "user", "content": XSS}],
               "html": "<script>window.__xss=2</script>"},
        output={"text": XSS})
    child = SpanRecord(
        trace_id=trace_id, span_id=child_id, parent_span_id=root_id, name=XSS,
        span_type="tool_call", started_at=now - timedelta(milliseconds=30),
        ended_at=now - timedelta(milliseconds=10), input={"query": XSS, "n": 3},
        error={"message": f"failed: {XSS}", "name": "Boom", "stack": f"Traceback\n  {XSS}"})
    store.batch_create_spans([root, child])
    try:
        page.goto(url)
        row = page.locator(f'tr[data-trace-id="{trace_id}"]')
        expect(row.locator("td.c-name")).to_have_text(f"evil {XSS}")
        expect(row.locator("td.c-preview")).to_have_text(XSS)
        row.locator("td.c-name a").click()
        detail = page.locator(".span-detail")
        expect(detail.locator("h2")).to_have_text(f"evil {XSS}")
        # chat rendering of the message list, and the rest of the input as JSON
        expect(detail.locator('[data-section="input"] .msg.role-user .msg-text')).to_have_text(XSS)
        input_json = detail.locator('[data-section="input"] .json')
        expect(input_json).to_contain_text("<script>window.__xss=2</script>")
        detail.locator('[data-section="input"] summary button', has_text="JSON").click()
        expect(detail.locator('[data-section="input"] .json')).to_contain_text(XSS_JSON)
        expect(detail.locator('[data-section="output"] .msg-text')).to_have_text(XSS)
        expect(detail.locator('[data-section="metadata"] .json')).to_contain_text(XSS_JSON)
        # the failing child: its input as foldable JSON, its error and stack as text
        page.locator(f'.wf-row[data-span-id="{child_id}"]').click()
        expect(detail.locator('[data-section="input"] .json')).to_contain_text("query")
        expect(detail.locator('[data-section="input"] .json')).to_contain_text(XSS_JSON)
        expect(detail.locator(".error-message")).to_contain_text(f"failed: {XSS}")
        expect(detail.locator(".stack")).to_contain_text(XSS)
        assert page.locator("img").count() == 0
        assert page.locator("main script").count() == 0
        assert page.evaluate("() => window.__xss") is None
        assert html.escape(XSS, quote=False) in page.content()
        # the copy button copies the JSON
        page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        detail.locator('[data-section="input"] .copy').click()
        assert json.loads(page.evaluate("() => navigator.clipboard.readText()")) == child.input
        shot(page, "xss-as-text")
    finally:
        store.batch_delete_traces([trace_id])


# ---------------------------------------------------------------------------- live

def test_a_span_persisted_while_the_page_is_open_appears_without_a_reload(
        demo: tuple[Any, str], page: Page) -> None:
    store, url = demo
    page.goto(url)
    expect(_rows(page)).to_have_count(len(_roots(store)))
    page.evaluate("() => { window.__marker = 1; }")  # gone if the page reloaded
    now = utc_now()
    trace_id, root_id = "12" * 16, "34" * 8
    running = SpanRecord(trace_id=trace_id, span_id=root_id, name="live-agent",
                         span_type="agent_run", started_at=now, entity_type="agent",
                         entity_name="live-agent", input={"messages": [
                             {"role": "user", "content": "arrives while you look"}]})
    store.batch_create_spans([running])
    try:
        row = page.locator(f'tr[data-trace-id="{trace_id}"]')
        expect(row).to_be_visible()
        expect(row.locator(".status")).to_have_text("running")
        assert _shown_ids(page) >= {trace_id}
        assert _rows(page).first.get_attribute("data-trace-id") == trace_id  # newest first

        # the running trace updates in place when it ends
        store.batch_update_spans([replace(running, ended_at=utc_now(), output={"text": "ok"})])
        expect(row.locator(".status")).to_have_text("success")
        expect(_rows(page)).to_have_count(len(_roots(store)))

        # and an open running trace grows without a reload
        child_id = "56" * 8
        second = "78" * 8
        store.batch_create_spans([replace(running, span_id=second, name="live-agent-2",
                                          trace_id="9a" * 16, ended_at=None)])
        page.goto(url + f"#/trace/{'9a' * 16}")
        expect(page.locator(".wf-row[data-span-id]")).to_have_count(1)
        store.batch_create_spans([SpanRecord(
            trace_id="9a" * 16, span_id=child_id, parent_span_id=second, name="late-tool",
            span_type="tool_call", started_at=utc_now())])
        expect(page.locator(f'.wf-row[data-span-id="{child_id}"]')).to_be_visible()
        assert page.evaluate("() => window.__marker") == 1
    finally:
        store.batch_delete_traces([trace_id, "9a" * 16])


# ---------------------------------------------------------------------------- signal pages

def test_logs_page_shows_and_filters_the_demo_logs(demo: tuple[Any, str], page: Page) -> None:
    store, url = demo
    total = store.list_logs(None, 0, 1).total
    page.goto(url + "#/logs")
    expect(page.get_by_test_id("log-count")).to_have_text(f"{total} logs")
    expect(page.locator("table.logs tbody tr")).to_have_count(min(total, 100))
    shot(page, "logs")

    page.locator("input[name=level][value=error]").check()
    errors = store.list_logs(LogsFilter(level=("error",)), 0, 100)
    assert errors.total
    expect(page.locator("table.logs tbody tr")).to_have_count(min(errors.total, 100))
    levels = page.locator("table.logs tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.level)")
    assert set(levels) == {"error"}
    assert "level=error" in page.url
    page.reload()
    expect(page.locator("table.logs tbody tr")).to_have_count(min(errors.total, 100))

    trace_id = errors.items[0].trace_id
    page.goto(url + f"#/logs?traceId={quote(trace_id)}")
    mine = store.list_logs(LogsFilter(trace_id=trace_id), 0, 100)
    expect(page.locator("table.logs tbody tr")).to_have_count(min(mine.total, 100))
    # text: a word of an error log's message
    needle = max(errors.items[0].message.split(), key=len)
    found = store.list_logs(LogsFilter(search=needle), 0, 100)
    assert 0 < found.total < total
    page.goto(url + "#/logs")
    page.fill("#search", needle)
    page.press("#search", "Enter")
    expect(page.locator("table.logs tbody tr")).to_have_count(min(found.total, 100))
    assert f"q={quote(needle)}" in page.url


def test_scores_and_feedback_page(demo: tuple[Any, str], page: Page) -> None:
    store, url = demo
    scores = store.list_scores(None, 0, 100)
    page.goto(url + "#/scores")
    expect(page.locator("table.scores tbody tr")).to_have_count(min(scores.total, 100))
    newest = scores.items[0]
    row = page.locator(f'tr[data-score-id="{newest.score_id}"]')
    name = (newest.metadata or {}).get("scorerName") or newest.scorer_id
    expect(row).to_contain_text(name)
    expect(row).to_contain_text(newest.reason or "")
    link = f"#/trace/{newest.trace_id}" + (f"?span={newest.span_id}" if newest.span_id else "")
    expect(row.locator("a")).to_have_attribute("href", link)
    shot(page, "scores")
    page.locator('button[data-tab="feedback"]').click()
    feedback = store.list_feedback(None, 0, 100)
    expect(page.locator("table.feedback tbody tr")).to_have_count(min(feedback.total, 100))
    item = feedback.items[0]
    expect(page.locator(f'tr[data-feedback-id="{item.feedback_id}"]')).to_contain_text(item.feedback_type)
    assert "view=feedback" in page.url


def test_metrics_page_charts_the_demo(demo: tuple[Any, str], page: Page) -> None:
    store, url = demo
    tokens = store.metric_aggregate(MetricAggregateRequest(
        name=("mastra_model_total_input_tokens", "mastra_model_total_output_tokens"),
        aggregation="sum"))
    assert tokens.value
    page.goto(url + "#/metrics")
    expect(page.get_by_test_id("kpi-tokens")).to_have_text(f"{round(tokens.value):,}")
    expect(page.get_by_test_id("kpi-cost")).to_contain_text("$")
    for chart in ("chart-tokens", "chart-cost", "chart-latency", "chart-errors"):
        expect(page.get_by_test_id(chart).locator("canvas")).to_have_count(1)
    expect(page.get_by_test_id("entity-table")).to_contain_text("support-agent")
    shot(page, "metrics")
    page.locator('button[data-tab="tool"]').click()
    expect(page.get_by_test_id("entity-table")).to_contain_text("search_orders")
    page.select_option("select[name=entity]", "search_orders")
    expect(page.get_by_test_id("chart-latency")).to_contain_text("search_orders")
    assert "kind=tool" in page.url and "entity=search_orders" in page.url


# ---------------------------------------------------------------------------- layout

def test_narrow_window_and_dark_theme(demo: tuple[Any, str], browser: Browser) -> None:
    store, url = demo
    context = browser.new_context(viewport={"width": 420, "height": 860}, color_scheme="dark")
    try:
        page = context.new_page()
        page.goto(url)
        expect(_rows(page)).to_have_count(len(_roots(store)))
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(15, 17, 21)"  # the dark theme
        shot(page, "traces-narrow-dark")
        root = _roots(store)[0]
        page.goto(url + f"#/trace/{root.trace_id}")
        expect(page.locator(".wf-row[data-span-id]")).to_have_count(len(store.get_trace(root.trace_id).spans))
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
        shot(page, "trace-narrow-dark")
    finally:
        context.close()
