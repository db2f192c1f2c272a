"""A simulated support-agent workload, emitted through the public tracing API.

Shared by ``mastra-storage demo`` (to have something to look at) and ``mastra-storage
bench`` (to measure with a realistic shape): per trace one agent run → model generations
→ tool calls (sometimes a nested MCP call) → every third turn a workflow with steps and,
when the span budget allows, an event span; payloads of a chosen size and a
deterministic share of failures. Each trace has exactly ``spans_per_trace`` spans.

With ``signals=True`` (the demo) each run also emits the other four signals, as an app
would: logs (the question, each tool call, failures), a metric per turn, a score of the
answer and, for some runs, the user's feedback. The benchmark leaves them off, so its
numbers stay comparable to spans-only baselines.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from .tracing.span import Span
from .tracing.span_types import SpanType
from .tracing.tracer import Tracer

TOOLS = ("search_orders", "refund_payment", "lookup_customer", "send_email", "check_inventory")
QUESTIONS = (
    "Where is my order #{n}?", "I was charged twice for order #{n}", "Cancel subscription {n}",
    "Change the delivery address of #{n}", "Is item {n} back in stock?",
)


_latency = 0.0  # seconds; set per run_workload call
_signals = False  # emit logs, metrics, scores and feedback too; set per run_workload call


def _work(rng: random.Random, scale: float = 1.0) -> None:
    """Simulated model/tool latency (nothing when the run asked for none)."""
    if _latency > 0:
        time.sleep(_latency * scale * rng.uniform(0.5, 1.5))


class ToolFailure(RuntimeError):
    """The error the simulated tools raise."""


@dataclass
class WorkloadResult:
    traces: int = 0
    spans: int = 0
    failed_traces: int = 0
    failed_spans: int = 0
    logs: int = 0
    metrics: int = 0
    scores: int = 0
    feedback: int = 0


_WORDS = ("order", "refund", "customer", "shipping", "token", "invoice", "delay", "agent")
# Word soup that payloads are cut from (a fixed seed: the same in every process), and the
# offsets where its words start.
_corpus = ""
_starts: list[int] = []


def _grow_corpus(size: int) -> None:
    global _corpus, _starts
    soup = random.Random(0x5EED)
    words = [soup.choice(_WORDS) for _ in range(max(16_384, 2 * size // 5))]
    _corpus = " ".join(words)
    _starts = [0]
    for w in words[:-1]:
        _starts.append(_starts[-1] + len(w) + 1)


def _text(rng: random.Random, size: int) -> str:
    """``size`` characters of words, starting at a word chosen by ``rng``.

    Cut from one shared text rather than built word by word: building ~1 KB per payload
    cost the simulated app more than all its tracing calls together, which hid the
    library's own costs in the benchmark's end-to-end figure.
    """
    if size <= 0:
        return ""
    if len(_corpus) < 2 * size:
        _grow_corpus(2 * size)
    limit = len(_corpus) - size
    # word starts that leave room for `size` characters: the first ~half of the corpus
    start = _starts[rng.randrange(len(_starts) // 2)]
    if start > limit:  # pragma: no cover - the corpus is at least twice the size
        start = 0
    return _corpus[start:start + size]


def run_workload(
    tracer: Tracer,
    traces: int = 20,
    *,
    spans_per_trace: int = 10,
    payload_bytes: int = 256,
    error_rate: float = 0.1,
    seed: int = 7,
    latency_ms: float = 0.0,
    on_trace: Callable[[int], None] | None = None,
    signals: bool = False,
) -> WorkloadResult:
    """Emit ``traces`` agent runs of exactly ``spans_per_trace`` spans each (min 2).

    ``latency_ms`` > 0 makes each model, tool and step call take about that long (the demo
    uses it so trees show real durations; the benchmark leaves it at 0). ``signals``
    adds logs, metrics, scores and feedback (see the module docstring).
    """
    if spans_per_trace < 2:
        raise ValueError("spans_per_trace must be at least 2 (agent run + one model call)")
    if latency_ms < 0:
        raise ValueError("latency_ms must be >= 0")
    rng = random.Random(seed)
    global _latency, _signals
    _latency = latency_ms / 1000
    _signals = signals
    result = WorkloadResult()
    for n in range(traces):
        failed = _one_trace(tracer, rng, n, spans_per_trace, payload_bytes, error_rate, result)
        result.traces += 1
        result.failed_traces += failed
        if on_trace is not None:
            on_trace(n)
    return result


def _one_trace(tracer: Tracer, rng: random.Random, n: int, spans: int, payload: int,
               error_rate: float, result: WorkloadResult) -> int:
    question = rng.choice(QUESTIONS).format(n=1000 + n)
    user = f"user-{rng.randrange(50)}"
    remaining = spans - 1  # the agent run itself
    fail_trace = rng.random() < error_rate
    root = tracer.start_span(
        "support-agent", type=SpanType.AGENT_RUN, new_trace=True,
        input={"messages": [{"role": "user", "content": question}], "context": _text(rng, payload)},
        attributes={"instructions": "Help the customer", "maxSteps": 5,
                    "availableTools": list(TOOLS)},
        metadata={"tier": rng.choice(("free", "pro", "enterprise")), "channel": "chat"},
        tags=["support", rng.choice(("eu", "us"))],
        user_id=user, session_id=f"session-{n // 3}", thread_id=f"thread-{n}",
        resource_id=user, run_id=f"run-{n}", environment="demo",
    )
    result.spans += 1
    with root:
        if _signals:
            root.log("info", "question received", data={"question": question, "user": user})
            result.logs += 1
        step = 0
        while remaining > 0:
            remaining -= _model_turn(root, rng, step, payload, remaining, result)
            step += 1
            if remaining > 0 and step % 3 == 0:
                remaining -= _workflow(root, rng, payload, remaining, result)
        if _signals:
            root.metric("support.turns", step, labels={"channel": "chat"})
            result.metrics += 1
        if fail_trace:
            err = ToolFailure(f"escalation failed for {question!r}")
            if _signals:
                root.log("error", "could not resolve the request", data={"reason": str(err)})
                result.logs += 1
            root.error(err)
            result.failed_spans += 1
            _judge(root, random.Random(f"judge-{n}"), result, resolved=False)
            return 1
        root.end(output={"text": _text(rng, payload), "resolved": True})
    _judge(root, random.Random(f"judge-{n}"), result, resolved=True)
    return 0


def _judge(root: Span, rng: random.Random, result: WorkloadResult, resolved: bool) -> None:
    """An evaluation of the answer and, for some runs, the user's thumbs (signals only;
    ``rng`` is the run's own, so the spans are the same with or without signals)."""
    if not _signals:
        return
    relevance = round(rng.uniform(0.7, 1.0) if resolved else rng.uniform(0.1, 0.5), 2)
    root.score("answer-relevancy", relevance,
               reason="answers the question" if resolved else "the request was not resolved",
               scorer_name="Answer relevancy", score_source="live")
    result.scores += 1
    if not resolved or rng.random() < 0.4:
        thumbs = "up" if resolved and relevance >= 0.8 else "down"
        root.feedback("thumbs", thumbs, source="user",
                      comment=None if thumbs == "up" else "didn't solve my problem")
        result.feedback += 1


def _model_turn(root: Span, rng: random.Random, step: int, payload: int, budget: int,
                result: WorkloadResult) -> int:
    used = 1
    with root.child("gpt-4o", type=SpanType.MODEL_GENERATION,
                    input={"prompt": _text(rng, payload)},
                    attributes={"model": "gpt-4o", "provider": "openai", "streaming": False,
                                "parameters": {"temperature": 0.2}}) as gen:
        result.spans += 1
        tokens_in, tokens_out = rng.randrange(200, 2000), rng.randrange(20, 400)
        if budget - used >= 1:
            tool = rng.choice(TOOLS)
            with gen.child(tool, type=SpanType.TOOL_CALL, input={"query": _text(rng, payload // 4)},
                           attributes={"toolType": "function"}) as call:
                result.spans += 1
                used += 1
                if budget - used >= 1 and tool == "lookup_customer":
                    with call.child("crm.lookup", type=SpanType.MCP_TOOL_CALL,
                                    attributes={"mcpServer": "crm"}) as mcp:
                        result.spans += 1
                        used += 1
                        mcp.end(output={"customer": {"id": rng.randrange(10**6)}})
                _work(rng)
                if rng.random() < 0.05:
                    if _signals:
                        call.log("warn", "tool call timed out, the model goes on without it",
                                 data={"tool": tool, "timeoutMs": 3000})
                        result.logs += 1
                    call.error(ToolFailure(f"{tool} timed out"))
                    result.failed_spans += 1
                else:
                    if _signals:
                        call.log("debug", "tool call returned", data={"tool": tool})
                        result.logs += 1
                    call.end(output={"result": _text(rng, payload)})
        _work(rng, 3.0)  # the model call itself
        gen.update(attributes={"usage": {"inputTokens": tokens_in, "outputTokens": tokens_out}})
        gen.end(output={"text": _text(rng, payload)}, attributes={"finishReason": "stop"})
    return used


def _workflow(root: Span, rng: random.Random, payload: int, budget: int,
              result: WorkloadResult) -> int:
    used = 1
    with root.child("escalation-workflow", type=SpanType.WORKFLOW_RUN,
                    input={"reason": _text(rng, payload // 2)}) as wf:
        result.spans += 1
        for name in ("classify", "notify"):
            if budget - used < 1:
                break
            with wf.child(name, type=SpanType.WORKFLOW_STEP,
                          input={"step": name}) as step:
                result.spans += 1
                used += 1
                _work(rng, 0.5)
                step.end(output={"ok": True})
        if budget - used >= 1:
            wf.event("sla-checked", output={"withinSla": rng.random() < 0.9})
            result.spans += 1
            used += 1
        wf.end(output={"status": "done"})
    return used
