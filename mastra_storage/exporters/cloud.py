"""CloudExporter: spans, logs, metrics, scores and feedback → a collector over HTTP(S).

The Python counterpart of Mastra's ``CloudExporter`` (``@mastra/observability``). The app's
thread only appends the event to the bounded buffer of its signal (a short lock, no
formatting, no I/O); the shared batch worker (:mod:`.batching`) hands due batches back
here, where they are formatted and POSTed with a pooled ``httpx`` client:

* ``span_ended`` → ``POST …/ai/spans/publish``    body ``{"spans": [...]}`` (Mastra's
  span record, camelCase, ISO-8601 timestamps); ``model_chunk`` spans are skipped and
  ``span_started`` / ``span_updated`` are ignored (the collector stores complete spans).
  The config's span output processors (e.g. ``SensitiveDataFilter``) run on the worker
  when the span is formatted; a span a processor filters out is not sent;
* logs, metrics, scores, feedback → ``…/ai/{logs|metrics|scores|feedback}/publish`` with
  ``{"logs": [...]}`` etc.

A batch of a signal is sent when it reaches ``max_batch_size``, ``max_batch_wait_ms``
after its oldest event was exported, on :meth:`flush` and on :meth:`shutdown`. Failures
never reach the app: network errors, 408, 429 and 5xx are retried with exponential
backoff and jitter (honouring ``Retry-After``) up to ``max_retries`` attempts in all;
401/403 start an authentication cooldown (60 s doubling to 15 min, jittered) during which
events are dropped; other answers drop the batch. Every dropped event is counted by
reason (:class:`~mastra_storage.exporters.drops.DropReason`). The access token is never
logged nor put in an exception.
"""

from __future__ import annotations

import contextlib
import gzip as gzip_module
import logging
import os
import random
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from ..lifecycle import after_fork_in_child
from ..model.jsonsafe import encode, encode_object
from ..model.spans import COLUMNS
from ..model.time import utc_now
from ..tracing.events import (
    FeedbackEvent,
    LogEvent,
    MetricEvent,
    ScoreEvent,
    TracingEvent,
    TracingEventType,
)
from .batching import BatchWorker, QueueBuffer, Stop, WorkerHandles
from .cloud_endpoints import (
    SEGMENTS,
    SIGNALS,
    Endpoints,
    Signal,
    resolve_endpoints,
    validate_project_id,
)
from .drops import DropCounter, DropReason, OnDrop
from .retry import Retry, RetryPolicy, parse_retry_after

if TYPE_CHECKING:
    from ..storage.base import ObservabilityStore
    from ..tracing.events import ExportedEvent

logger = logging.getLogger("mastra_storage.exporters.cloud")

ENV_TOKEN = "MASTRA_CLOUD_ACCESS_TOKEN"
ENV_PROJECT = "MASTRA_PROJECT_ID"
ENV_TRACES_ENDPOINT = "MASTRA_CLOUD_TRACES_ENDPOINT"
# Names used by newer Mastra releases ("Mastra platform"); read after the ones above.
ENV_TOKEN_PLATFORM = "MASTRA_PLATFORM_ACCESS_TOKEN"
ENV_TRACES_ENDPOINT_PLATFORM = "MASTRA_PLATFORM_OBSERVABILITY_ENDPOINT"

_ENDED = TracingEventType.SPAN_ENDED
_MODEL_CHUNK = "model_chunk"
_SIGNAL_OF: dict[type, Signal] = {
    LogEvent: "logs", MetricEvent: "metrics", ScoreEvent: "scores", FeedbackEvent: "feedback",
}
_JSON_NAMES = tuple(c.name for c in COLUMNS if c.kind == "json")
_RETRYABLE_STATUS = frozenset({408, 429})
# The platform's flow control (quota): a 402, or this header saying "disabled" on any
# answer, pauses every signal; the optional retry header says for how long.
QUOTA_STATUS = 402
STATUS_HEADER = "x-mastra-observability"
RETRY_HEADER = "x-mastra-observability-retry-after"
CAPABILITIES_HEADER = "x-mastra-observability-capabilities"
CAPABILITIES = "quota-pause-v1"
DEFAULT_PAUSE_SECONDS = 300
MAX_PAUSE_SECONDS = 2_147_483
_AUTH_STATUS = frozenset({401, 403})
_LOG_LEVELS = {
    "debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
    "warning": logging.WARNING, "error": logging.ERROR, "silent": logging.CRITICAL + 10,
    "none": logging.CRITICAL + 10,
}
_USER_AGENT = "mastra-storage-cloud-exporter"


@dataclass
class CloudExporterStats:
    requests: int = 0  # HTTP requests attempted (each retry counts)
    batches: int = 0  # batches the collector accepted
    sent: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SIGNALS, 0))
    retries: int = 0
    auth_failures: int = 0
    gzipped: int = 0  # requests sent with Content-Encoding: gzip
    quota_pauses: int = 0  # times the platform paused uploads
    probes: int = 0  # requests asking whether a pause is over


class MastraPlatformExporter(WorkerHandles):
    """Sends every signal to a Mastra-compatible collector; a no-op without a token.
    ``CloudExporter`` is the same class under Mastra's older name.

    Configuration (argument, else environment, else default):

    * ``access_token`` / ``MASTRA_CLOUD_ACCESS_TOKEN`` (``MASTRA_PLATFORM_ACCESS_TOKEN``);
      without one the exporter logs one warning and does nothing at all;
    * ``project_id`` / ``MASTRA_PROJECT_ID``: project-scoped routes
      ``/projects/{id}/ai/…/publish``; must match ``^[A-Za-z0-9_-]+$``;
    * ``endpoint`` (base origin), ``traces_endpoint`` / ``MASTRA_CLOUD_TRACES_ENDPOINT``
      (origin or full ``…/spans/publish`` URL) and per-signal overrides; default
      ``https://observability.mastra.ai``. See :mod:`.cloud_endpoints`.

    ``max_retries`` is the number of attempts per batch (Mastra's ``fetchWithRetry``
    semantics: 3 means at most 3 requests). Extra keyword-only settings:
    ``max_buffer_size`` (per signal), ``request_timeout`` (seconds), ``gzip`` (compress
    bodies over ``gzip_min_bytes`` when that makes them smaller), ``on_drop(reason, n)``,
    ``transport`` (an ``httpx.BaseTransport``, e.g. ``httpx.MockTransport`` in tests) and
    ``clock`` (monotonic seconds, for the auth cooldown and batch deadlines). Keyword
    arguments starting with ``_`` tune timings: ``_retry_base`` and ``_retry_max``
    (backoff, seconds), ``_retry_after_max`` (cap on ``Retry-After``),
    ``_auth_cooldown_base`` / ``_auth_cooldown_max`` (seconds).
    """

    name = "mastra-platform-exporter"

    def __init__(
        self,
        access_token: str | None = None,
        project_id: str | None = None,
        endpoint: str | None = None,
        traces_endpoint: str | None = None,
        logs_endpoint: str | None = None,
        metrics_endpoint: str | None = None,
        scores_endpoint: str | None = None,
        feedback_endpoint: str | None = None,
        max_batch_size: int = 1000,
        max_batch_wait_ms: int = 5000,
        max_retries: int = 3,
        log_level: str | int = "info",
        *,
        max_buffer_size: int = 10000,
        request_timeout: float = 30.0,
        gzip: bool = True,
        gzip_min_bytes: int = 1024,
        on_drop: OnDrop | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        _retry_base: float = 2.0,
        _retry_max: float = 10.0,
        _retry_after_max: float = 30.0,
        _auth_cooldown_base: float = 60.0,
        _auth_cooldown_max: float = 15 * 60.0,
    ) -> None:
        for label, value, low in (("max_batch_size", max_batch_size, 1),
                                  ("max_batch_wait_ms", max_batch_wait_ms, 0),
                                  ("max_buffer_size", max_buffer_size, 1),
                                  ("max_retries", max_retries, 0),
                                  ("gzip_min_bytes", gzip_min_bytes, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{label} must be an integer >= {low}, got {value!r}")
        if not request_timeout or request_timeout <= 0:
            raise ValueError(f"request_timeout must be > 0 seconds, got {request_timeout!r}")
        self.log_level = _parse_log_level(log_level)

        if project_id is not None:
            project: str | None = validate_project_id(project_id, "CloudExporter project_id")
        else:
            env_project = os.environ.get(ENV_PROJECT) or None  # empty means unset
            project = validate_project_id(env_project, ENV_PROJECT) if env_project else None
        env_traces, env_source = os.environ.get(ENV_TRACES_ENDPOINT), ENV_TRACES_ENDPOINT
        if not env_traces:
            env_traces, env_source = (os.environ.get(ENV_TRACES_ENDPOINT_PLATFORM),
                                      ENV_TRACES_ENDPOINT_PLATFORM)
        self.project_id = project
        self.endpoints: Endpoints = resolve_endpoints(
            endpoint=endpoint, traces_endpoint=traces_endpoint, logs_endpoint=logs_endpoint,
            metrics_endpoint=metrics_endpoint, scores_endpoint=scores_endpoint,
            feedback_endpoint=feedback_endpoint, project_id=project,
            env_traces_endpoint=env_traces or None, env_traces_source=env_source,
        )
        token = (access_token or os.environ.get(ENV_TOKEN)
                 or os.environ.get(ENV_TOKEN_PLATFORM) or None)
        self._token: str | None = token.strip() if token and token.strip() else None
        self.enabled = self._token is not None

        self.max_batch_size = max_batch_size
        self.max_batch_wait = max_batch_wait_ms / 1000
        self.max_buffer_size = max_buffer_size
        self.max_retries = max_retries
        self.request_timeout = float(request_timeout)
        self.gzip = gzip
        self.gzip_min_bytes = gzip_min_bytes
        self.retry_policy = RetryPolicy(attempts=max(1, max_retries), base=float(_retry_base),
                                        cap=float(_retry_max), jitter=0.2,
                                        hint_cap=float(_retry_after_max))
        self.auth_cooldown_base = float(_auth_cooldown_base)
        self.auth_cooldown_max = float(_auth_cooldown_max)
        self.transport = transport
        self.clock = clock
        self.drops = DropCounter(self.name, on_drop)
        self.stats = CloudExporterStats()
        self.truncated_fields = 0  # span payloads replaced by the truncation marker
        # Authentication cooldown (a deadline on ``clock``; 0 = none).
        self.auth_failures = 0
        self.auth_cooldown_until = 0.0
        # Quota pause (the platform's flow control): paused until a probe at probe_at says
        # otherwise.
        self.quota_paused = False
        self.probe_at = 0.0
        self._client: httpx.Client | None = None
        self._worker = BatchWorker(self.name, self, self.drops, max_batch_size=max_batch_size,
                                   max_batch_wait=self.max_batch_wait,
                                   thread_name="mastra-cloud-exporter", clock=clock)
        # At interpreter exit, shutdown() waits this long at most (a hung collector must
        # not hold the process); what is left then is dropped and counted.
        self._worker.exit_timeout = 30.0
        self._buffers: dict[Signal, QueueBuffer] = {
            signal: QueueBuffer(max_buffer_size) for signal in SIGNALS}
        for signal, buffer in self._buffers.items():
            self._worker.add_buffer(signal, buffer)
        if not self.enabled:
            self._log(logging.WARNING,
                      "CloudExporter is disabled: no access token. Set %s (or pass "
                      "access_token=) to send traces, logs, metrics, scores and feedback to "
                      "the collector; get a token from your Mastra Cloud project "
                      "(https://cloud.mastra.ai, project settings → access tokens). Until "
                      "then this exporter does nothing.", ENV_TOKEN)
            return
        after_fork_in_child(self)

    # ------------------------------------------------------------------ protocol
    def bind(self, storage: ObservabilityStore | None) -> None:
        """The collector is the destination: the storage is not used."""

    def export(self, event: ExportedEvent) -> None:
        """Append to the signal's buffer; never blocks on the network, never raises."""
        if not self.enabled:
            return
        kind = type(event)
        if kind is TracingEvent:
            # Route on the raw snapshot: reading ``span`` would run the span output
            # processors here, on the app's thread; the worker does that.
            if event.type is not _ENDED or event.raw.span_type == _MODEL_CHUNK:  # type: ignore[union-attr]
                return
            signal: Signal = "traces"
        else:
            found = _SIGNAL_OF.get(kind)
            if found is None:
                return
            signal = found
        if self._worker.closed:
            self.drops.add(DropReason.AFTER_SHUTDOWN)
            return
        now = self.clock()
        if now < self.auth_cooldown_until:
            self.drops.add(DropReason.AUTH_COOLDOWN)
            return
        if self.quota_paused and now < self.probe_at:
            self.drops.add(DropReason.QUOTA_PAUSED)
            return
        if not self._worker.put(self._buffers[signal], event):
            self.drops.add(DropReason.BUFFER_FULL)

    def flush(self, timeout: float | None = None) -> bool:
        """Block until everything exported so far was accepted by the collector or dropped.

        Returns ``False`` if ``timeout`` (seconds) passed first.
        """
        if not self.enabled:
            return True
        return self._worker.flush(timeout)

    def shutdown(self, timeout: float | None = None) -> None:
        """Send what is buffered, then stop; later events are dropped as ``after-shutdown``.

        With a ``timeout`` the worker is given that long; past it, it stops retrying and
        what it still holds is dropped (counted).
        """
        if not self.enabled:
            self._worker._closed = True
            return
        self._worker.shutdown(timeout)

    # ------------------------------------------------------------------ introspection
    @property
    def auth_cooldown_remaining(self) -> float:
        return max(0.0, self.auth_cooldown_until - self.clock())

    def __repr__(self) -> str:  # the token is deliberately absent
        state = "enabled" if self.enabled else "disabled (no access token)"
        return f"<CloudExporter {self.endpoints.traces} {state}>"

    # ------------------------------------------------------------------ the sink
    def write_batch(self, buffer: str, items: Sequence[Any]) -> None:
        signal: Signal = buffer  # type: ignore[assignment]
        if self.clock() < self.auth_cooldown_until:
            # Buffered while the request that failed authentication was in flight.
            self.drops.add(DropReason.AUTH_COOLDOWN, len(items))
            return
        if self.quota_paused and not self._probe():
            self.drops.add(DropReason.QUOTA_PAUSED, len(items))
            return
        records: list[str] = []
        try:
            for event in items:
                if signal == "traces" and event.filtered:
                    continue  # a span output processor dropped it (not a loss: a decision)
                records.append(self._format(signal, event))
            self._post(signal, records)
        except Stop:
            raise
        except Exception as exc:  # a bug must not lose the batch silently nor leak the token
            logger.error("%s: unexpected error while sending %s: %s: %s", self.name, signal,
                         type(exc).__name__, self._scrub(str(exc)))
            self.drops.add(DropReason.REJECTED, len(items),
                           f"{signal}: internal error {type(exc).__name__}")

    def on_flush(self) -> None:
        pass

    def on_stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):  # closing must not raise at exit
                client.close()

    # ------------------------------------------------------------------ formatting
    def _format(self, signal: Signal, event: Any) -> str:
        """One record as JSON text (camelCase keys, ISO-8601 timestamps)."""
        if signal == "traces":
            record: dict[str, Any] = event.span.to_dict()  # processors run here (worker)
            if record.get("createdAt") is None:
                record["createdAt"] = utc_now()
            if self.project_id is not None:
                record["projectId"] = self.project_id
            # Payload columns obey the stores' size rule, so a span reads the same here.
            text, cut = encode_object(record, _JSON_NAMES)
            self.truncated_fields += cut
            return text
        ctx = _camel_context(event.context)
        if self.project_id is not None:
            ctx["projectId"] = self.project_id
        if signal == "logs":
            out: dict[str, Any] = {
                "logId": _new_id(), "timestamp": event.timestamp, "level": event.level,
                "message": event.message, "data": event.data,
            }
        elif signal == "metrics":
            out = {"metricId": _new_id(), "timestamp": event.timestamp, "name": event.name,
                   "value": event.value, "labels": event.labels}
        elif signal == "scores":
            out = {"scoreId": _new_id(), "timestamp": event.timestamp,
                   "scorerId": event.scorer_id, "score": event.score, "reason": event.reason,
                   "metadata": event.metadata}
        else:
            out = {"feedbackId": _new_id(), "timestamp": event.timestamp,
                   "feedbackType": event.feedback_type, "value": event.value,
                   "feedbackSource": event.source, "comment": event.comment,
                   "metadata": event.metadata}
        out["traceId"] = event.trace_id
        out["spanId"] = event.span_id
        out["correlationContext"] = ctx
        return encode(out)

    def _body(self, signal: Signal, records: Sequence[str]) -> bytes:
        return f'{{"{SEGMENTS[signal]}":[{",".join(records)}]}}'.encode()

    # ------------------------------------------------------------------ upload
    def _client_for_worker(self) -> httpx.Client:
        client = self._client
        if client is None:
            timeout = httpx.Timeout(self.request_timeout,
                                    connect=min(10.0, self.request_timeout))
            client = httpx.Client(
                timeout=timeout, follow_redirects=False, transport=self.transport,
                limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
                headers={"User-Agent": _USER_AGENT},
            )
            self._client = client
        return client

    def _post(self, signal: Signal, records: list[str]) -> None:
        if not records:
            return
        url = self.endpoints.for_signal(signal)
        body = self._body(signal, records)
        headers = self._headers()
        gzipped = False
        if self.gzip and len(body) > self.gzip_min_bytes:
            packed = gzip_module.compress(body, compresslevel=6)
            if len(packed) < len(body):
                body, gzipped = packed, True
                headers["Content-Encoding"] = "gzip"
        n = len(records)
        client = self._client_for_worker()
        then: list[str] = []  # what to do after the attempts: "split" or "plain"

        def attempt() -> None:
            if self.clock() < self.auth_cooldown_until:
                self.drops.add(DropReason.AUTH_COOLDOWN, n)
                return
            self.stats.requests += 1
            if gzipped:
                self.stats.gzipped += 1
            try:
                response = client.post(url, content=body, headers=headers)
            except httpx.HTTPError as exc:
                raise Retry(f"{type(exc).__name__}: {self._scrub(str(exc)) or 'no detail'}"
                            ) from None
            status = response.status_code
            if status == QUOTA_STATUS or self._disabled(response):
                self._pause(response, n)
                return
            if 200 <= status < 300:
                self._accepted(signal, n)
                return
            if status in _AUTH_STATUS:
                self._auth_failed(signal, status, n)
                return
            if status == 413 and n > 1:  # too large: send each half on its own
                then.append("split")
                return
            if status == 415 and gzipped:
                then.append("plain")
                return
            problem = f"HTTP {status}{self._reason(response)}"
            if status not in _RETRYABLE_STATUS and status < 500:
                self.drops.add(DropReason.REJECTED, n, f"{signal}: {problem}")
                return
            raise Retry(problem, parse_retry_after(response.headers.get("retry-after")))

        self._worker.retry(attempt, self.retry_policy, count=n, what=f"{signal}: ",
                           on_retry=lambda i, total, delay, problem: self._retrying(
                               signal, i, total, delay, problem))
        if "split" in then:
            half = n // 2
            self._post(signal, records[:half])
            self._post(signal, records[half:])
        elif "plain" in then:
            self.gzip = False
            self._log(logging.WARNING, "%s: the collector does not accept gzip bodies (HTTP "
                      "415); sending uncompressed from now on", self.name)
            self._post(signal, records)

    # ------------------------------------------------------------------ quota pause
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}", "Content-Type": "application/json",
                CAPABILITIES_HEADER: CAPABILITIES}

    @staticmethod
    def _disabled(response: httpx.Response) -> bool:
        return str(response.headers.get(STATUS_HEADER, "")).strip().lower() == "disabled"

    @staticmethod
    def _pause_seconds(response: httpx.Response | None) -> int:
        hint = (response.headers.get(RETRY_HEADER, "") if response is not None else "").strip()
        if hint.isdigit() and int(hint) > 0:
            return min(int(hint), MAX_PAUSE_SECONDS)
        return DEFAULT_PAUSE_SECONDS

    def _pause(self, response: httpx.Response, n: int) -> None:
        """The platform's quota is used up: stop sending every signal until a probe says
        it is back; what is buffered now is dropped (counted as ``quota-paused``)."""
        seconds = self._pause_seconds(response)
        self.probe_at = self.clock() + seconds
        self.drops.add(DropReason.QUOTA_PAUSED, n, "the platform paused observability")
        if self.quota_paused:
            return
        self.quota_paused = True
        self.stats.quota_pauses += 1
        emptied = self._worker.discard_pending()
        if emptied:
            self.drops.add(DropReason.QUOTA_PAUSED, emptied, "emptied at the pause")
        self._log(logging.WARNING, "%s: Mastra observability export paused: the platform "
                  "quota is exhausted; dropping telemetry (counted as %s) and retrying in %d "
                  "seconds", self.name, DropReason.QUOTA_PAUSED, seconds)

    def _probe(self) -> bool:
        """While paused: once the pause is over, ask the platform (an empty span batch)
        whether to resume. True when uploads may go on."""
        if self.clock() < self.probe_at:
            return False
        client = self._client_for_worker()
        self.stats.probes += 1
        try:
            response = client.post(self.endpoints.traces, content=b'{"spans":[]}',
                                   headers=self._headers())
        except httpx.HTTPError:
            self.probe_at = self.clock() + self._pause_seconds(None)
            return False
        if response.status_code == QUOTA_STATUS or self._disabled(response) or not (
                200 <= response.status_code < 300):
            paused_for = (self._pause_seconds(response) if response.status_code == QUOTA_STATUS
                          or self._disabled(response) else DEFAULT_PAUSE_SECONDS)
            self.probe_at = self.clock() + paused_for
            return False
        self.quota_paused = False
        self._log(logging.WARNING, "%s: Mastra observability resumed: quota restored, exports "
                  "re-enabled", self.name)
        return True

    def _retrying(self, signal: Signal, attempt: int, retries: int, delay: float,
                  problem: str) -> None:
        self.stats.retries += 1
        self._log(logging.INFO, "%s: %s upload failed (%s), retry %d/%d in %.3fs", self.name,
                  signal, problem, attempt, retries, delay)

    def _accepted(self, signal: Signal, n: int) -> None:
        self.stats.batches += 1
        self.stats.sent[signal] += n
        if self.auth_failures:
            self._log(logging.INFO, "%s: the collector accepts the access token again",
                      self.name)
            self.auth_failures = 0
            self.auth_cooldown_until = 0.0

    def _auth_failed(self, signal: Signal, status: int, n: int) -> None:
        self.stats.auth_failures += 1
        self.auth_failures += 1
        target = min(self.auth_cooldown_base * 2 ** (self.auth_failures - 1),
                     self.auth_cooldown_max)
        cooldown = max(self.auth_cooldown_base, target * random.uniform(0.9, 1.1))
        self.auth_cooldown_until = self.clock() + cooldown
        self.drops.add(DropReason.REJECTED, n, f"{signal}: HTTP {status} (authentication)")
        self._log(logging.WARNING,
                  "%s: the collector refused the access token (HTTP %d, failure %d); pausing "
                  "uploads for %.0fs, events meanwhile are dropped (%s). Check %s / "
                  "access_token and the project.", self.name, status, self.auth_failures,
                  cooldown, DropReason.AUTH_COOLDOWN, ENV_TOKEN)

    # ------------------------------------------------------------------ helpers
    def _reason(self, response: httpx.Response) -> str:
        try:
            text = response.text.strip().replace("\n", " ")
        except Exception:  # pragma: no cover - undecodable body
            return ""
        if not text:
            return ""
        text = self._scrub(text)
        return f" ({text[:200]}…)" if len(text) > 200 else f" ({text})"

    def _scrub(self, text: str) -> str:
        token = self._token
        return text.replace(token, "[redacted]") if token and token in text else text

    def _log(self, level: int, msg: str, *args: Any) -> None:
        if level >= self.log_level:
            logger.log(level, msg, *args)

    def _after_fork_in_child(self) -> None:
        """The child starts empty, with its own connections; the parent sends its buffer."""
        self._client = None
        self.drops.reset()
        self.stats = CloudExporterStats()


# ---------------------------------------------------------------------------- helpers

def _parse_log_level(value: str | int) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    level = _LOG_LEVELS.get(str(value).lower())
    if level is None:
        raise ValueError(f"log_level must be one of {', '.join(_LOG_LEVELS)}, got {value!r}")
    return level


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _camel_context(context: dict[str, Any]) -> dict[str, Any]:
    return {_camel(k): v for k, v in context.items()}


def _new_id() -> str:
    return uuid.uuid4().hex


CloudExporter = MastraPlatformExporter
"""Mastra's older name of :class:`MastraPlatformExporter` (the same class)."""

__all__ = ["CloudExporter", "CloudExporterStats", "MastraPlatformExporter", "parse_retry_after"]
