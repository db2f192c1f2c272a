"""Mastra Studio itself (npm ``mastra``, its prebuilt ``dist/studio``) on our server.

``mastra studio`` serves the real Studio, pointed at ``mastra-storage studio`` over the
demo's data; headless chromium (Debian's, driven by Playwright) opens the Traces page,
an errored trace, one of its spans, the Logs and the Metrics pages, and every assertion
compares what Studio shows with what the Python store API reads. Screenshots go to
``$MASTRA_TEST_ARTIFACTS/studio`` (default ``tests/artifacts/studio``). Any request of
Studio's that our server answers with an error, any uncaught page error and any console
error naming our server fail the test.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mastra_storage.storage.signal_queries import MetricAggregateRequest, MetricBreakdownRequest
from tests.studio import harness

ARTIFACTS = Path(os.environ.get("MASTRA_TEST_ARTIFACTS") or Path(__file__).parent / "artifacts"
                 ) / "studio"
TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, harness.Demo, Any]]:
    """(API port, the demo as the store holds it, the store): harness.STUDIO_STORE."""
    harness.need("node", "npm", "chromium", "playwright")
    with harness.demo_server(tmp_path_factory.mktemp("studio")) as served:
        yield served


@pytest.fixture(scope="module")
def studio(served: tuple[int, harness.Demo, Any]) -> Iterator[str]:
    with harness.start_studio(served[0]) as url:
        yield url


class Watch:
    """What went wrong between Studio and our server while a page was open."""

    def __init__(self, api_port: int) -> None:
        self.api = re.compile(rf"//(localhost|127\.0\.0\.1):{api_port}\b")
        self.problems: list[str] = []

    def attach(self, page: Any) -> None:
        page.on("response", self._response)
        page.on("pageerror", lambda exc: self.problems.append(f"uncaught: {exc}"))
        page.on("console", self._console)
        page.on("requestfailed", self._failed)

    def _response(self, response: Any) -> None:
        if self.api.search(response.url) and response.status >= 400:
            self.problems.append(f"{response.status} {response.request.method} "
                                 f"{response.url}")

    def _failed(self, request: Any) -> None:
        if self.api.search(request.url):
            self.problems.append(f"failed {request.method} {request.url}: {request.failure}")

    def _console(self, message: Any) -> None:
        where = (message.location or {}).get("url", "")
        if message.type == "error" and (self.api.search(message.text) or self.api.search(where)):
            self.problems.append(f"console: {message.text}")


@pytest.fixture
def page(studio: str, served: tuple[int, harness.Demo, Any],
         request: pytest.FixtureRequest) -> Iterator[Any]:
    watch = Watch(served[0])
    with harness.browser() as context:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        watch.attach(page)
        try:
            yield page
        finally:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"))
    assert watch.problems == []


def _question(root: Any) -> str:
    return str(root.input["messages"][0]["content"])


def _compact(value: float) -> str:
    """A number as Studio's KPI cards write it (Intl compact notation: 75.9K)."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if value >= size:
            return f"{value / size:.1f}".rstrip("0").rstrip(".") + suffix
    return f"{value:g}"


def test_traces_page_lists_the_demo_traces(page: Any, studio: str,
                                           served: tuple[int, harness.Demo, Any]) -> None:
    _, demo, _ = served
    page.goto(f"{studio}/traces")
    rows = page.locator("button.data-list-row")
    rows.first.wait_for()
    newest = demo.traces[:25]  # Studio's first page: 25 rows, newest first
    assert rows.count() == len(newest)
    for root, row in zip(newest, rows.all(), strict=True):
        text = row.inner_text()
        assert root.name in text  # the trace's name: support-agent
        assert "Agent" in text  # the Type column, from the root's entityType
        assert _question(root) in text  # the input preview: the user's message
        assert ("ERR" if root.status == "error" else "OK") in text
    assert demo.failed, "the demo writes at least one failed trace"


def test_an_errored_trace_shows_its_tree_span_and_error(
        page: Any, studio: str, served: tuple[int, harness.Demo, Any]) -> None:
    _, demo, store = served
    failed = demo.failed_trace
    trace = store.get_trace(failed.trace_id)
    page.goto(f"{studio}/traces")
    page.locator("button.data-list-row", has_text=_question(failed)).click()
    page.wait_for_url(re.compile(f"traceId={failed.trace_id}"))
    # the span tree: every span of the trace by name, children under their parents
    tree = page.locator("button", has=page.locator("span[data-highlight]"))
    tree.first.wait_for()
    shown = [t.strip() for t in page.locator("span[data-highlight]").all_inner_texts()]
    assert sorted(shown) == sorted(s.name for s in trace.spans if not s.is_event)

    # the root span: its input (the user's message) and the red error card
    page.locator("span[data-highlight]", has_text=failed.name).first.click()
    page.wait_for_url(re.compile(f"spanId={failed.span_id}"))
    message = page.get_by_text(failed.error["message"], exact=True).last
    message.wait_for()
    card = message.evaluate_handle(_CARD)  # the nearest box with a background of its own
    assert failed.error["name"].upper() in card.inner_text().upper()
    red, green, blue = card.evaluate(_SRGB)
    assert red > green and red > blue, "the error card is red"
    page.get_by_text(_question(failed), exact=True).last.wait_for()

    # a model span: its input and output as the store holds them
    model = next(s for s in trace.spans if s.span_type == "model_generation")
    page.goto(f"{studio}/traces?traceId={failed.trace_id}&spanId={model.span_id}")
    page.get_by_text(model.output["text"][:40]).first.wait_for()
    page.get_by_text(model.input["prompt"][:40]).first.wait_for()


_CARD = """e => { for (let n = e; n; n = n.parentElement) {
    const bg = getComputedStyle(n).backgroundColor;
    if (bg && bg !== 'transparent' && !/rgba\\(.*, 0\\)$/.test(bg)) return n; } }"""


# The element's background in sRGB (Studio's CSS writes colours in oklab).
_SRGB = """e => { const c = document.createElement('canvas').getContext('2d');
    c.fillStyle = getComputedStyle(e).backgroundColor; c.fillRect(0, 0, 1, 1);
    return Array.from(c.getImageData(0, 0, 1, 1).data.slice(0, 3)); }"""


def test_logs_page_shows_the_demo_logs(page: Any, studio: str,
                                       served: tuple[int, harness.Demo, Any]) -> None:
    _, _, store = served
    logs = store.list_logs(per_page=20).items
    assert logs
    page.goto(f"{studio}/logs")
    for log in logs[:5]:
        page.get_by_text(log.message).first.wait_for()
    errors = [log for log in logs if log.level == "error"]
    if errors:
        page.get_by_text(errors[0].message).first.wait_for()


def test_metrics_page_shows_token_usage(page: Any, studio: str,
                                        served: tuple[int, harness.Demo, Any]) -> None:
    _, demo, store = served
    tokens = store.metric_aggregate(MetricAggregateRequest(
        name=("mastra_model_total_input_tokens", "mastra_model_total_output_tokens"),
        aggregation="sum"))
    assert tokens.value
    page.goto(f"{studio}/metrics")
    _card(page, "Total Agent Runs", str(len(demo.traces)))
    _card(page, "Total Tokens", _compact(tokens.value))
    by_model = {g.dimensions["model"]: g.value for g in store.metric_breakdown(
        MetricBreakdownRequest(name=("mastra_model_total_input_tokens",), group_by=("model",),
                               aggregation="sum"))}
    _card(page, "Model Usage & Cost", "gpt-4o", _compact(by_model["gpt-4o"]))


def _card(page: Any, title: str, *values: str) -> None:
    """Wait for a box of the page that shows ``title`` with each of ``values``."""
    box = page.locator("div", has=page.get_by_text(title, exact=True))
    for value in values:
        box = box.filter(has=page.get_by_text(value, exact=True))
    box.last.wait_for()


def test_studio_reaches_a_server_that_wants_a_token(tmp_path: Path) -> None:
    """With ``--token``, Studio's first probe (``GET /``, no credentials) is refused, so
    it shows its connection form; the URL and an Authorization header entered there
    are sent with every call from then on."""
    from mastra_storage.server import create_app
    from mastra_storage.storage.memory import InMemoryStore

    harness.need("node", "npm", "chromium", "playwright")
    store = InMemoryStore()
    demo = harness.seed_demo(store, traces=3)
    refused: list[str] = []
    with harness.ServerThread(create_app(store, token="s3cret")) as server, \
            harness.start_studio(server.port) as studio, harness.browser() as context:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("response", lambda r: refused.append(r.url) if (
            f":{server.port}/api" in r.url and r.status >= 400) else None)
        page.goto(f"{studio}/traces")
        page.get_by_placeholder("e.g: http://localhost:4111").fill(
            f"http://localhost:{server.port}")
        page.get_by_text("Add Header").click()
        page.get_by_placeholder("e.g. Authorization").fill("Authorization")
        page.get_by_placeholder("e.g. Bearer <token>").fill("Bearer s3cret")
        page.get_by_text("Save Configuration").click()
        page.goto(f"{studio}/traces")
        rows = page.locator("button.data-list-row")
        rows.first.wait_for()
        assert rows.count() == len(demo.traces)
        assert _question(demo.traces[0]) in rows.first.inner_text()
        page.screenshot(path=str(_artifact("token")))
    assert refused == []  # every API call carried the token


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{name}.png"
