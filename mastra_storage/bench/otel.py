"""Throughput of OpenTelemetry spans through :class:`MastraSpanProcessor`.

``python -m mastra_storage.bench.otel [--store URL] [--spans N] [--payload-bytes B]
[--strategy S] [--json]`` emits an agent workload with the real OpenTelemetry SDK
(per trace: an ``invoke_agent`` root, ``chat`` spans with GenAI usage attributes and
messages, ``execute_tool`` spans), with the processor on the provider, and reports:

* ``end_to_end``: spans/s from the first span start until ``provider.shutdown()`` has
  returned (every row written), and the rows verified in the store;
* ``on_end`` / ``on_start``: what the app's thread pays per call (median, p99);
* ``batch_span_processor_on_end``: OpenTelemetry's own ``BatchSpanProcessor.on_end`` on
  the same workload (with an exporter that discards), the reference for "cheap";
* ``conversion``: the mapping's cost per span (done on the exporter's worker), i.e. what
  ``on_end`` would cost if it converted eagerly.

With ``--otlp`` it also measures the wire path: the app exports with OpenTelemetry's own
``BatchSpanProcessor`` + ``OTLPSpanExporter`` (protobuf over HTTP) to the studio server's
``POST /v1/traces`` on loopback (``--otlp-only``), and ``otlp`` reports spans/s from the
first span until the server has written every row, with the rows counted in the store.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .measure import Clock, rates, summarize_ns

_perf = time.perf_counter_ns


def _payload(rng: random.Random, size: int) -> str:
    words = ("order", "refund", "customer", "shipping", "invoice", "delay", "agent")
    out: list[str] = []
    n = 0
    while n < size:
        w = rng.choice(words)
        out.append(w)
        n += len(w) + 1
    return " ".join(out)[:size]


def emit(tracer: Any, spans: int, payload_bytes: int, spans_per_trace: int = 10,
         seed: int = 7) -> int:
    """Emit about ``spans`` spans as agent traces; return the number emitted."""
    rng = random.Random(seed)
    emitted = 0
    while emitted < spans:
        budget = min(spans_per_trace, spans - emitted)
        with tracer.start_as_current_span("invoke_agent support", attributes={
                "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support",
                "gen_ai.conversation.id": f"thread-{emitted}", "session.id": "s",
                "user.id": f"user-{rng.randrange(50)}"}):
            emitted += 1
            budget -= 1
            turn = 0
            while budget > 0:
                content = _payload(rng, payload_bytes)
                with tracer.start_as_current_span("chat gpt-4o", attributes={
                        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                        "gen_ai.request.model": "gpt-4o", "gen_ai.request.temperature": 0.2,
                        "gen_ai.response.model": "gpt-4o-2024-08-06",
                        "gen_ai.response.finish_reasons": ("tool_calls",),
                        "gen_ai.usage.input_tokens": rng.randrange(200, 2000),
                        "gen_ai.usage.output_tokens": rng.randrange(20, 400),
                        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [
                            {"type": "text", "content": content}]}]),
                        "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [
                            {"type": "text", "content": content}]}])}):
                    emitted += 1
                    budget -= 1
                if budget > 0:
                    with tracer.start_as_current_span("execute_tool lookup", attributes={
                            "gen_ai.operation.name": "execute_tool",
                            "gen_ai.tool.name": "lookup", "gen_ai.tool.call.id": f"c{turn}",
                            "gen_ai.tool.call.arguments": json.dumps({"q": content[:64]}),
                            "gen_ai.tool.call.result": json.dumps({"r": content})}):
                        emitted += 1
                        budget -= 1
                turn += 1
    return emitted


def _timed(fn: Callable[..., Any], samples: list[int]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = _perf()
        try:
            return fn(*args, **kwargs)
        finally:
            samples.append(_perf() - t0)
    return wrapper


def run(store_url: str, spans: int = 10_000, payload_bytes: int = 1024,
        strategy: str = "auto") -> dict[str, Any]:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from ..otel import MastraSpanProcessor
    from ..otel.data import from_readable
    from ..otel.mapping import to_record
    from ..storage.urls import create_store

    resource = Resource.create({"service.name": "otel-bench"})
    store = create_store(store_url, auto_migrate=True) if "://" in store_url \
        else create_store(store_url)
    result: dict[str, Any] = {"store": store_url.split("@")[-1], "spans": spans,
                              "payload_bytes": payload_bytes}
    try:
        # 1. end to end, timing the processor's hooks on the app's thread
        provider = TracerProvider(resource=resource)
        processor = MastraSpanProcessor(store=store, strategy=strategy)
        ends: list[int] = []
        starts: list[int] = []
        processor.on_end = _timed(processor.on_end, ends)
        processor.on_start = _timed(processor.on_start, starts)
        provider.add_span_processor(processor)
        tracer = provider.get_tracer("bench")
        clock = Clock()
        emitted = emit(tracer, spans, payload_bytes)
        provider.shutdown()
        wall, cpu = clock.elapsed()
        page = store.list_traces(per_page=1)
        result["strategy"] = str(processor.exporter.strategy)
        result["end_to_end"] = rates(emitted, wall, cpu)
        result["traces_listed"] = page.total
        result["drops"] = processor.exporter.drops.snapshot()
        result["on_end"] = summarize_ns(ends)
        result["on_start"] = summarize_ns(starts)

        # 2. the reference: OpenTelemetry's BatchSpanProcessor.on_end, same workload
        class Discard(SpanExporter):
            def export(self, batch: Sequence[Any]) -> SpanExportResult:
                return SpanExportResult.SUCCESS

        ref_provider = TracerProvider(resource=resource)
        bsp = BatchSpanProcessor(Discard(), max_queue_size=max(spans + 1, 2048))
        ref: list[int] = []
        bsp.on_end = _timed(bsp.on_end, ref)  # type: ignore[method-assign]
        ref_provider.add_span_processor(bsp)
        collected: list[Any] = []

        class Collect(SpanExporter):
            def export(self, batch: Sequence[Any]) -> SpanExportResult:
                collected.extend(batch)
                return SpanExportResult.SUCCESS

        ref_provider.add_span_processor(BatchSpanProcessor(Collect(),
                                                           max_queue_size=max(spans + 1, 2048)))
        emit(ref_provider.get_tracer("bench"), spans, payload_bytes)
        ref_provider.shutdown()
        result["batch_span_processor_on_end"] = summarize_ns(ref)

        # 3. the conversion itself (what the worker does per span)
        conv: list[int] = []
        for span in collected:
            t0 = _perf()
            to_record(from_readable(span), remote_parent="root")
            conv.append(_perf() - t0)
        result["conversion"] = summarize_ns(conv)
        total = sum(conv) / 1e9
        result["conversion"]["spans_per_s"] = round(len(conv) / total, 1) if total else None
    finally:
        store.close()
    return result


def run_otlp(store_url: str, spans: int = 10_000, payload_bytes: int = 1024) -> dict[str, Any]:
    """Spans/s through OTLP/HTTP into the studio server's receiver (see the module doc)."""
    import socket
    import threading

    import uvicorn
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from ..server import create_app
    from ..storage.queries import TracesFilter
    from ..storage.urls import create_store

    store = create_store(store_url)
    service = f"otlp-bench-{random.randrange(1 << 30)}"
    try:
        app = create_app(store, otlp_only=True)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                               log_level="warning", lifespan="on"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the OTLP server did not start")
            time.sleep(0.01)  # startup handshake only; nothing is measured here
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(BatchSpanProcessor(
            OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces"),
            max_queue_size=max(spans + 1, 2048)))
        clock = Clock()
        emitted = emit(provider.get_tracer("bench"), spans, payload_bytes)
        provider.shutdown()  # every batch delivered (the server answered)
        ingest = app.state.ingest
        flushed = ingest.exporter.flush(120) if ingest.exporter is not None else True
        wall, cpu = clock.elapsed()
        server.should_exit = True
        thread.join(30)
        stored = store.list_traces(TracesFilter(service_name=service), per_page=1).total
        drops = ingest.exporter.drops.snapshot() if ingest.exporter is not None else {}
        return {"spans": emitted, "end_to_end": rates(emitted, wall, cpu),
                "flushed": flushed, "traces_stored": stored, "drops": drops}
    finally:
        store.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mastra_storage.bench.otel",
                                     description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--store", help="store URL (default: a temporary SQLite file)")
    parser.add_argument("--spans", type=int, default=10_000)
    parser.add_argument("--payload-bytes", type=int, default=1024)
    parser.add_argument("--strategy", default="auto")
    parser.add_argument("--otlp", action="store_true",
                        help="also measure OTLP/HTTP into the studio server's receiver")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.store or f"sqlite:///{Path(tmp) / 'otel-bench.db'}"
        result = run(url, args.spans, args.payload_bytes, args.strategy)
        if args.otlp:
            result["otlp"] = run_otlp(url, args.spans, args.payload_bytes)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    e2e = result["end_to_end"]
    print(f"store {result['store']} ({result['strategy']}), {result['spans']} spans, "
          f"~{result['payload_bytes']} B messages")
    print(f"  end to end: {e2e['spans_per_s']:,} spans/s ({e2e['seconds']} s, "
          f"{e2e['cpu_us_per_span']} µs CPU/span); traces listed: {result['traces_listed']}; "
          f"drops: {result['drops'] or 'none'}")
    for key, label in (("on_end", "MastraSpanProcessor.on_end"),
                       ("on_start", "MastraSpanProcessor.on_start"),
                       ("batch_span_processor_on_end", "BatchSpanProcessor.on_end (reference)"),
                       ("conversion", "conversion per span (on the worker)")):
        s = result[key]
        print(f"  {label}: median {s['median_us']} µs, p99 {s['p99_us']} µs")
    print(f"  conversion alone: {result['conversion']['spans_per_s']:,} spans/s")
    if "otlp" in result:
        o = result["otlp"]
        print(f"  OTLP/HTTP (BatchSpanProcessor + OTLPSpanExporter -> studio --otlp-only): "
              f"{o['end_to_end']['spans_per_s']:,} spans/s end to end; traces stored: "
              f"{o['traces_stored']}; drops: {o['drops'] or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
