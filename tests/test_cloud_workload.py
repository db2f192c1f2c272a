"""The done-criterion: a traced workload reaches the collector complete and in order.

Configured only through the environment (``CloudExporter()`` with no arguments):
MASTRA_CLOUD_ACCESS_TOKEN, MASTRA_PROJECT_ID and MASTRA_CLOUD_TRACES_ENDPOINT pointing at
the loopback collector.
"""

from __future__ import annotations

from collections import Counter

import pytest

from mastra_storage.exporters.cloud import CloudExporter
from mastra_storage.workload import WorkloadResult, run_workload

from .collector import Collector
from .pipelines import Pipelines
from .test_signals import EventRecorder

pytestmark = pytest.mark.usefixtures("clean_cloud_env")


def _configure(env: pytest.MonkeyPatch, url: str) -> None:
    env.setenv("MASTRA_CLOUD_ACCESS_TOKEN", "env-token-123")
    env.setenv("MASTRA_PROJECT_ID", "proj_42")
    env.setenv("MASTRA_CLOUD_TRACES_ENDPOINT", url)


def _run(observe: Pipelines, exporter: CloudExporter, traces: int,
         spans_per_trace: int) -> tuple[WorkloadResult, EventRecorder]:
    recorder = EventRecorder()
    obs = observe(exporter, recorder, service_name="support")
    result = run_workload(obs.get_default_instance(), traces=traces,
                          spans_per_trace=spans_per_trace, error_rate=0.3, seed=11)
    obs.shutdown()
    return result, recorder


def _check_complete_and_ordered(collector: Collector, result: WorkloadResult,
                                recorder: EventRecorder, spans_per_trace: int) -> None:
    spans = collector.records("spans")
    assert len(spans) == result.spans
    assert [s["spanId"] for s in spans] == recorder.ended_span_ids()  # order of completion
    per_trace = Counter(s["traceId"] for s in spans)
    assert len(per_trace) == result.traces
    assert set(per_trace.values()) == {spans_per_trace}
    roots = [s for s in spans if s["parentSpanId"] is None]
    assert len(roots) == result.traces
    assert sum(1 for r in roots if r["error"] is not None) == result.failed_traces
    assert all(s["endedAt"] is not None and s["serviceName"] == "support" for s in spans)
    ids = {s["spanId"] for s in spans}
    assert all(s["parentSpanId"] in ids for s in spans if s["parentSpanId"] is not None)


def test_env_configured_exporter_receives_the_whole_workload(
        clean_cloud_env: pytest.MonkeyPatch, collector: Collector, observe: Pipelines) -> None:
    _configure(clean_cloud_env, collector.url)
    exporter = CloudExporter()
    assert exporter.enabled
    result, recorder = _run(observe, exporter, traces=30, spans_per_trace=10)
    assert result.failed_traces > 0  # the workload has errors to carry
    paths = {r.path for r in collector.requests}
    assert paths == {"/projects/proj_42/ai/spans/publish"}
    assert all(r.headers["authorization"] == "Bearer env-token-123"
               for r in collector.requests)
    _check_complete_and_ordered(collector, result, recorder, 10)
    assert exporter.drops.total == 0


def test_order_is_kept_across_many_batches(clean_cloud_env: pytest.MonkeyPatch,
                                           collector: Collector, observe: Pipelines) -> None:
    _configure(clean_cloud_env, collector.url)
    exporter = CloudExporter(max_batch_size=17, max_batch_wait_ms=5)
    result, recorder = _run(observe, exporter, traces=40, spans_per_trace=7)
    assert len(collector.requests) >= result.spans // 17
    _check_complete_and_ordered(collector, result, recorder, 7)
