"""The DefaultExporter persists logs, metrics, scores and feedback, derives Mastra's metrics
from ended spans, and drops (counted) what a store can't hold, asking only once.

Stores are real (the in-memory reference store, a SQLite file); faults are injected by
wrapping them.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from typing import Any

import pytest

from mastra_storage import DefaultExporter, SpanType
from mastra_storage.exporters.derived_metrics import TOTAL_INPUT, TOTAL_OUTPUT
from mastra_storage.exporters.pricing import PriceTable
from mastra_storage.storage import InMemoryStore
from mastra_storage.storage.signal_queries import MetricAggregateRequest, MetricsFilter

from .pipelines import Pipelines


class SignalFaults:
    """A real store whose signal writes can fail or be 'not implemented'."""

    def __init__(self, inner: Any, unsupported: Iterable[str] = (), fail: int = 0) -> None:
        self.inner = inner
        self.provider = inner.provider
        self.unsupported = set(unsupported)
        self.fail = fail
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def get_store(self, domain: str) -> Any:
        return self

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if not name.startswith("batch_create_") or name == "batch_create_spans":
            return target

        def call(records: Any) -> Any:
            signal = name.removeprefix("batch_create_")
            with self._lock:
                self.calls.append(signal)
                if signal in self.unsupported:
                    raise NotImplementedError(f"no {signal} here")
                if self.fail > 0:
                    self.fail -= 1
                    raise ConnectionError("flaky")
            return target(records)

        return call


def emit_all(obs: Any, n: int = 3) -> None:
    for i in range(n):
        obs.log("info", f"log {i}")
        obs.metric("custom", float(i))
        obs.score("t" * 32, "relevance", 0.5)
        obs.feedback("t" * 32, "thumbs", "up")


def test_a_signal_the_store_lacks_is_tried_once_then_dropped_at_the_door(observe):
    store = SignalFaults(InMemoryStore(), unsupported={"logs"})
    drops: list[tuple[str, int]] = []
    exporter = DefaultExporter(strategy="batch-with-updates", max_batch_wait_ms=60_000,
                               on_drop=lambda reason, n: drops.append((reason, n)))
    obs = observe(exporter, storage=store)
    emit_all(obs)
    assert obs.flush(10)
    assert store.calls.count("logs") == 1 and exporter.unsupported == {"logs"}
    emit_all(obs)  # logs now stop at the door; the other signals go on
    assert obs.flush(10)
    assert store.calls.count("logs") == 1
    assert exporter.drops.snapshot() == {"unsupported-storage": 6}
    assert store.inner.list_metrics().total == 6 and store.inner.list_scores().total == 6
    assert drops[0] == ("unsupported-storage", 3)


def test_a_failed_signal_batch_is_retried_without_duplicates(observe):
    store = SignalFaults(InMemoryStore(), fail=2)
    exporter = DefaultExporter(strategy="batch-with-updates", max_batch_wait_ms=60_000)
    delays: list[float] = []
    exporter.sleep = delays.append
    obs = observe(exporter, storage=store)
    obs.log("warn", "retry me")
    assert obs.flush(10)
    assert delays == [0.5, 1.0] and exporter.drops.total == 0
    assert store.inner.list_logs().total == 1


def test_signals_are_counted_when_the_observability_domain_is_disabled(observe):
    from mastra_storage.storage import CompositeStore

    exporter = DefaultExporter()
    obs = observe(exporter, storage=CompositeStore(InMemoryStore(),
                                                   {"observability": None}))
    emit_all(obs, 1)
    assert exporter.drops.snapshot() == {"unsupported-storage": 4}


def test_non_finite_metric_values_are_not_recorded_and_counted(observe: Pipelines) -> None:
    store = InMemoryStore()
    exporter = DefaultExporter(strategy="batch-with-updates")
    obs = observe(exporter, storage=store)
    for bad in (math.nan, math.inf, "12 ms", None, True):
        obs.metric("latency", bad)  # type: ignore[arg-type]
    obs.metric("latency", "12.5")  # type: ignore[arg-type]  # a number as text is a number
    obs.score("t" * 32, "s", math.nan)
    assert obs.flush(10)
    failures = obs.get_default_instance().failures
    assert failures["metric:invalid-value"] == 5 and failures["score:invalid-value"] == 1
    assert [m.value for m in store.list_metrics().items] == [12.5]


# ---------------------------------------------------------------------------- derived

def model_call(tracer: Any, usage: dict[str, Any], **attributes: Any) -> Any:
    with tracer.start_span("support", type=SpanType.AGENT_RUN, user_id="u-1") as agent:
        with agent.child("llm", type=SpanType.MODEL_GENERATION,
                         attributes={"usage": usage, **attributes}):
            pass
        with agent.child("lookup", type=SpanType.TOOL_CALL) as tool:
            tool.error(RuntimeError("timeout"))
    return agent


def metrics_by_name(store: Any) -> dict[str, Any]:
    page = store.list_metrics(per_page=100)
    out: dict[str, Any] = {}
    for m in page.items:
        out.setdefault(m.name, []).append(m)
    return out


def test_ended_spans_yield_mastras_duration_and_token_metrics(observe):
    store = InMemoryStore()
    obs = observe(DefaultExporter(strategy="batch-with-updates"), storage=store)
    usage = {"inputTokens": 1200, "outputTokens": 300,
             "inputDetails": {"cacheRead": 200, "text": 1000},
             "outputDetails": {"reasoning": 100}}
    agent = model_call(obs.get_default_instance(), usage, provider="openai.chat",
                       model="gpt-4o", responseModel="gpt-4o-2024-08-06")
    assert obs.flush(10)
    got = metrics_by_name(store)
    assert set(got) == {
        "mastra_agent_duration_ms", "mastra_model_duration_ms", "mastra_tool_duration_ms",
        TOTAL_INPUT, TOTAL_OUTPUT, "mastra_model_input_text_tokens",
        "mastra_model_input_cache_read_tokens", "mastra_model_output_reasoning_tokens"}
    (tool,) = got["mastra_tool_duration_ms"]
    assert tool.labels == {"status": "error"} and tool.entity_type == "tool"
    assert got["mastra_agent_duration_ms"][0].labels == {"status": "ok"}
    (inputs,) = got[TOTAL_INPUT]
    assert inputs.value == 1200 and inputs.labels == {}
    assert (inputs.provider, inputs.model) == ("openai.chat", "gpt-4o-2024-08-06")
    # gpt-4o: 2.5e-6 per input token, 1.25e-6 per cached one, 1e-5 per output token
    assert inputs.estimated_cost == pytest.approx(1000 * 2.5e-6 + 200 * 1.25e-6)
    assert inputs.cost_unit == "USD" and inputs.cost_metadata["pricedModel"] == "gpt-4o"
    assert got[TOTAL_OUTPUT][0].estimated_cost == pytest.approx(300 * 1e-5)
    assert got["mastra_model_input_cache_read_tokens"][0].estimated_cost is None
    assert (inputs.trace_id, inputs.user_id, inputs.entity_type, inputs.entity_name) == (
        agent.trace_id, "u-1", "agent", "support")
    total = store.metric_aggregate(MetricAggregateRequest(
        (TOTAL_INPUT, TOTAL_OUTPUT), "sum", filters=MetricsFilter(trace_ids=(agent.trace_id,))))
    assert total.value == 1500
    assert total.estimated_cost == pytest.approx(1000 * 2.5e-6 + 200 * 1.25e-6 + 300 * 1e-5)


def test_reported_cost_wins_and_unknown_models_are_marked(observe):
    store = InMemoryStore()
    obs = observe(DefaultExporter(strategy="batch-with-updates"), storage=store)
    tracer = obs.get_default_instance()
    model_call(tracer, {"inputTokens": 10, "outputTokens": 5}, provider="openai",
               model="gpt-4o", costContext={"estimatedCost": 0.42, "costUnit": "USD"})
    model_call(tracer, {"promptTokens": 7, "completionTokens": 3}, provider="acme",
               model="secret-model")
    assert obs.flush(10)
    inputs = {m.model: m for m in metrics_by_name(store)[TOTAL_INPUT]}
    assert inputs["gpt-4o"].estimated_cost == 0.42
    assert inputs["gpt-4o"].cost_metadata["allocation"] == "query_total"
    assert inputs["secret-model"].value == 7 and inputs["secret-model"].estimated_cost is None
    assert inputs["secret-model"].cost_metadata == {"error": "no_matching_model"}


def test_price_table_can_be_replaced_or_turned_off(observe, tmp_path):
    table = tmp_path / "prices.json"
    table.write_text('{"models": [{"provider": "acme", "model": "secret-model", '
                     '"input": 0.5, "output": 1}]}')
    custom = InMemoryStore()
    obs = observe(DefaultExporter(strategy="batch-with-updates", prices=str(table)),
                  storage=custom)
    model_call(obs.get_default_instance(), {"inputTokens": 2, "outputTokens": 3},
               provider="acme", model="secret-model")
    off = InMemoryStore()
    obs2 = observe(DefaultExporter(strategy="batch-with-updates", prices=False), storage=off)
    model_call(obs2.get_default_instance(), {"inputTokens": 2}, provider="openai",
               model="gpt-4o")
    assert obs.flush(10) and obs2.flush(10)
    (acme,) = metrics_by_name(custom)[TOTAL_INPUT]
    assert acme.estimated_cost == 1.0
    (free,) = metrics_by_name(off)[TOTAL_INPUT]
    assert free.estimated_cost is None and free.cost_metadata is None
    with pytest.raises(ValueError, match="invalid price table entry"):
        PriceTable([{"provider": "x"}])


def test_derived_metrics_can_be_turned_off(observe):
    store = InMemoryStore()
    obs = observe(DefaultExporter(strategy="batch-with-updates", derived_metrics=False),
                  storage=store)
    model_call(obs.get_default_instance(), {"inputTokens": 2})
    assert obs.flush(10)
    assert store.list_metrics().total == 0
