"""CloudExporter when the collector misbehaves: retries, Retry-After, auth cooldown, drops.

Every scenario runs against the real loopback collector; the backoff base and the auth
cooldown are shortened through the exporter's ``_retry_base`` / ``_auth_cooldown_*``
settings, so the schedule is real but quick.
"""

from __future__ import annotations

import itertools
import logging
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from mastra_storage import CloudExporter, Observability, ObservabilityConfig
from mastra_storage.exporters.cloud import parse_retry_after
from mastra_storage.model.time import utc_now
from mastra_storage.tracing.events import FeedbackEvent, LogEvent, MetricEvent, ScoreEvent

from .collector import Reply, clean_cloud_env, collector  # noqa: F401
from .factories import span, tid
from .test_cloud_exporter import all_signals, ended

pytestmark = pytest.mark.usefixtures("clean_cloud_env")

TOKEN = "sk_SECRET_token_do_not_log_4242"


def make(collector, **kw):  # noqa: F811
    kw.setdefault("access_token", TOKEN)
    kw.setdefault("endpoint", collector.url)
    kw.setdefault("max_batch_wait_ms", 60_000)
    kw.setdefault("_retry_base", 0.01)
    return CloudExporter(**kw)


def log(msg: str = "m") -> LogEvent:
    return LogEvent(utc_now(), "info", msg)


def closed_port_url() -> str:
    """A loopback URL nothing listens on (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


# ------------------------------------------------------------------ retry

@pytest.mark.parametrize("statuses", [(500, 503), (429, 502), (408,)])
def test_retryable_answers_are_retried_then_succeed(collector, statuses):  # noqa: F811
    collector.queue(*(Reply(s) for s in statuses))
    ex = make(collector)
    ex.export(log("once"))
    assert ex.flush(10)
    reqs = collector.wait_for(len(statuses) + 1)
    assert len(reqs) == len(statuses) + 1
    assert len({r.body for r in reqs}) == 1  # the same body (same logId): idempotent retry
    assert ex.stats.retries == len(statuses) and ex.stats.sent["logs"] == 1
    assert ex.drops.total == 0
    ex.shutdown()


def test_network_errors_are_retried_then_dropped_and_counted():
    drops: list[tuple[str, int]] = []
    ex = CloudExporter(access_token=TOKEN, endpoint=closed_port_url(), max_retries=3,
                       _retry_base=0.01, max_batch_wait_ms=60_000,
                       on_drop=lambda r, n: drops.append((r, n)))
    for event in all_signals():
        ex.export(event)
    assert ex.flush(30)
    assert ex.stats.requests == 5 * 3
    assert ex.drops.snapshot() == {"retry-exhausted": 5}
    assert drops == [("retry-exhausted", 1)] * 5
    ex.shutdown()


def test_gives_up_after_max_retries_attempts(collector):  # noqa: F811
    collector.default = Reply(500, body=b'{"error":"down"}')
    ex = make(collector, max_retries=3)
    for i in range(4):
        ex.export(log(f"m{i}"))
    assert ex.flush(10)
    assert len(collector.requests) == 3  # max_retries attempts in all
    assert ex.drops.snapshot() == {"retry-exhausted": 4}
    ex.shutdown()


def test_max_retries_zero_or_one_means_a_single_attempt(collector):  # noqa: F811
    collector.default = Reply(503)
    for n in (0, 1):
        ex = make(collector, max_retries=n)
        ex.export(log())
        assert ex.flush(10)
        ex.shutdown()
    assert len(collector.requests) == 2


def test_backoff_grows_exponentially(collector):  # noqa: F811
    collector.default = Reply(500)
    ex = make(collector, max_retries=4, _retry_base=0.1, _retry_max=10.0)
    ex.export(log())
    assert ex.flush(30)
    reqs = collector.wait_for(4)
    gaps = [b.received_at - a.received_at for a, b in itertools.pairwise(reqs)]
    # 0.1, 0.2, 0.4 s, each jittered by +/-20 %
    for gap, nominal in zip(gaps, (0.1, 0.2, 0.4), strict=True):
        assert nominal * 0.75 <= gap <= nominal * 1.2 + 0.3, gaps
    ex.shutdown()


# ------------------------------------------------------------------ Retry-After

def test_retry_after_seconds_is_honoured(collector):  # noqa: F811
    collector.queue(Reply(429, headers={"Retry-After": "1"}))
    ex = make(collector)
    ex.export(log())
    assert ex.flush(10)
    first, second = collector.wait_for(2)
    assert second.received_at - first.received_at >= 0.95  # not the 10 ms backoff
    assert ex.drops.total == 0 and ex.stats.sent["logs"] == 1
    ex.shutdown()


def test_retry_after_http_date_is_honoured(collector):  # noqa: F811
    when = datetime.now(timezone.utc) + timedelta(seconds=2)
    collector.queue(Reply(503, headers={"Retry-After": format_datetime(when, usegmt=True)}))
    ex = make(collector)
    ex.export(log())
    assert ex.flush(10)
    first, second = collector.wait_for(2)
    # the date has whole seconds: the wait is between 1 and 2 s
    assert second.received_at - first.received_at >= 0.9
    ex.shutdown()


def test_retry_after_is_capped(collector):  # noqa: F811
    collector.queue(Reply(429, headers={"Retry-After": "3600"}))
    ex = make(collector, _retry_after_max=0.05)
    ex.export(log())
    assert ex.flush(10)
    first, second = collector.wait_for(2)
    assert second.received_at - first.received_at < 1.0
    ex.shutdown()


def test_parse_retry_after():
    now = datetime(2026, 11, 22, 2, 9, 0, tzinfo=timezone.utc)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    assert parse_retry_after("Sun, 22 Nov 2026 02:09:30 GMT", now=now) == 30.0
    assert parse_retry_after("Sun, 22 Nov 2026 02:08:00 GMT", now=now) == 0.0


# ------------------------------------------------------------------ 4xx

def test_other_4xx_are_dropped_without_retry(collector):  # noqa: F811
    collector.queue(Reply(400, body=b'{"error":"bad spans"}'), Reply(422))
    ex = make(collector)
    ex.export(log("a"))
    assert ex.flush(10)
    ex.export(MetricEvent(utc_now(), "m", 1.0))
    ex.export(MetricEvent(utc_now(), "m", 2.0))
    assert ex.flush(10)
    assert len(collector.requests) == 2
    assert ex.drops.snapshot() == {"rejected": 3}
    # the exporter goes on working afterwards
    ex.export(log("b"))
    assert ex.flush(10)
    assert ex.stats.sent["logs"] == 1
    ex.shutdown()


def test_413_splits_the_batch(collector):  # noqa: F811
    collector.queue(Reply(413))
    ex = make(collector)
    for i in range(4):
        ex.export(log(f"m{i}"))
    assert ex.flush(10)
    sizes = [len(r.records) for r in collector.wait_for(3)]
    assert sizes == [4, 2, 2]
    assert [r["message"] for r in collector.records("logs")[4:]] == ["m0", "m1", "m2", "m3"]
    assert ex.drops.total == 0
    ex.shutdown()


def test_415_on_gzip_falls_back_to_plain_json(collector):  # noqa: F811
    collector.queue(Reply(415))
    ex = make(collector)
    ex.export(LogEvent(utc_now(), "info", "big", {"text": "abc " * 1000}))
    assert ex.flush(10)
    ex.export(LogEvent(utc_now(), "info", "big2", {"text": "abc " * 1000}))
    assert ex.flush(10)
    first, second, third = collector.wait_for(3)
    assert first.headers.get("content-encoding") == "gzip"
    assert "content-encoding" not in second.headers and "content-encoding" not in third.headers
    assert ex.stats.sent["logs"] == 2 and ex.drops.total == 0
    ex.shutdown()


# ------------------------------------------------------------------ auth cooldown

def test_401_starts_a_cooldown_that_drops_then_doubles_then_recovers(collector):  # noqa: F811
    collector.default = Reply(401)
    ex = make(collector, _auth_cooldown_base=0.4, _auth_cooldown_max=10.0)
    ex.export(log("first"))
    assert ex.flush(10)
    assert len(collector.requests) == 1  # 401 is not retried
    assert ex.drops.snapshot() == {"rejected": 1}
    assert ex.auth_failures == 1
    assert 0.2 < ex.auth_cooldown_remaining <= 0.4 * 1.1 + 0.01

    # during the cooldown every signal is dropped on arrival, nothing is buffered or sent
    for event in all_signals():
        ex.export(event)
    assert ex.buffered == 0
    assert ex.flush(10)
    assert len(collector.requests) == 1
    assert ex.drops.snapshot() == {"rejected": 1, "auth-cooldown": 5}

    # after it, the next batch probes; a 403 doubles the cooldown
    time.sleep(ex.auth_cooldown_remaining + 0.02)  # the cooldown is a wall-clock duration
    collector.default = Reply(403)
    ex.export(log("probe"))
    assert ex.flush(10)
    assert len(collector.requests) == 2
    assert ex.auth_failures == 2
    assert 0.8 * 0.9 - 0.1 < ex.auth_cooldown_remaining <= 0.8 * 1.1 + 0.01

    # the token is accepted again: uploads resume and the failure count resets
    time.sleep(ex.auth_cooldown_remaining + 0.02)
    collector.default = Reply(200)
    ex.export(log("back"))
    assert ex.flush(10)
    assert collector.records("logs")[-1]["message"] == "back"
    assert ex.auth_failures == 0 and ex.auth_cooldown_remaining == 0
    ex.export(log("normal"))
    assert ex.flush(10)
    assert ex.stats.sent["logs"] == 2
    ex.shutdown()


def test_cooldown_doubling_is_capped(collector):  # noqa: F811
    collector.default = Reply(401)
    ex = make(collector, _auth_cooldown_base=0.01, _auth_cooldown_max=0.05)
    for _ in range(6):
        time.sleep(ex.auth_cooldown_remaining + 0.005)
        ex.export(log())
        assert ex.flush(10)
    assert ex.auth_failures == 6 and len(collector.requests) == 6
    # 0.01 * 2**5 = 0.32 s, capped at 0.05 s (+/-10 % jitter)
    assert ex.auth_cooldown_remaining <= 0.05 * 1.1 + 0.005
    ex.shutdown()


def test_events_buffered_while_the_failing_request_was_in_flight_are_dropped(
        collector):  # noqa: F811
    gate = threading.Event()
    collector.queue(Reply(401, gate=gate))
    ex = make(collector, _auth_cooldown_base=60.0)
    ex.export(log("in-flight"))
    ex.flush(0.01)  # start sending now, without waiting
    assert collector.entered.wait(10)
    ex.export(ScoreEvent(utc_now(), "t" * 32, "s", 1.0))  # buffered: no cooldown yet
    ex.export(FeedbackEvent(utc_now(), "t" * 32, "thumbs", "up"))
    assert ex.buffered == 2
    gate.set()
    assert ex.flush(10)
    assert len(collector.requests) == 1
    assert ex.drops.snapshot() == {"rejected": 1, "auth-cooldown": 2}
    ex.shutdown()


# ------------------------------------------------------------------ degrade, never raise

def test_unreachable_collector_never_raises_into_the_app():
    ex = CloudExporter(access_token=TOKEN, endpoint=closed_port_url(), max_retries=2,
                       _retry_base=0.01, max_batch_size=50, max_batch_wait_ms=10)
    obs = Observability(configs={"default": ObservabilityConfig(
        service_name="svc", exporters=[ex])})
    tracer = obs.get_default_instance()
    for i in range(100):
        with tracer.start_span(f"s{i}", new_trace=True) as s:
            s.log("info", "x")
    assert obs.flush(30)
    obs.shutdown()
    assert tracer.failures == {}  # nothing reached the tracer's containment either
    assert ex.drops.snapshot() == {"retry-exhausted": 200}


def test_shutdown_timeout_stops_long_retries_and_counts_the_loss():
    ex = CloudExporter(access_token=TOKEN, endpoint=closed_port_url(), max_retries=5,
                       _retry_base=30.0, max_batch_wait_ms=60_000)
    for i in range(3):
        ex.export(ended(span(tid(), name=f"s{i}")))
    ex.export(log())
    start = time.monotonic()
    ex.shutdown(timeout=0.3)
    assert time.monotonic() - start < 2.0
    thread = ex._thread
    assert thread is not None
    thread.join(10)  # the worker wraps up promptly once told to stop waiting
    assert not thread.is_alive()
    assert ex.drops.total == 4
    assert set(ex.drops.snapshot()) <= {"retry-exhausted", "after-shutdown"}


def test_slow_collector_with_a_full_buffer_drops_not_blocks(collector):  # noqa: F811
    collector.default = Reply(delay=0.3)
    ex = make(collector, max_batch_size=10, max_buffer_size=20, max_batch_wait_ms=0)
    start = time.perf_counter()
    for i in range(500):
        ex.export(log(f"m{i}"))
    assert time.perf_counter() - start < 0.2
    assert ex.drops.snapshot().get("buffer-full", 0) > 0
    assert ex.flush(60)
    sent = ex.stats.sent["logs"]
    assert sent + ex.drops.total == 500
    ex.shutdown()


# ------------------------------------------------------------------ secrets

def test_the_token_never_appears_in_logs_or_errors(collector, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    echo = ('{"error":"invalid token ' + TOKEN + '"}').encode()
    collector.queue(Reply(500, body=echo), Reply(401, body=echo))
    collector.default = Reply(400, body=echo)
    ex = make(collector, log_level="debug", _auth_cooldown_base=0.01, max_retries=2)
    ex.export(log("a"))  # 500 then 401
    assert ex.flush(10)
    time.sleep(ex.auth_cooldown_remaining + 0.01)
    ex.export(log("b"))  # 400 echoing the token
    assert ex.flush(10)
    down = CloudExporter(access_token=TOKEN, endpoint=closed_port_url(), max_retries=2,
                         _retry_base=0.01, log_level="debug")
    down.export(log("c"))
    assert down.flush(10)
    down.shutdown()
    ex.shutdown()
    assert len(collector.requests) == 3
    assert any("HTTP 500" in r.getMessage() for r in caplog.records)  # failures were logged
    assert any("HTTP 401" in r.getMessage() for r in caplog.records)
    assert any("ConnectError" in r.getMessage() for r in caplog.records)
    assert TOKEN not in caplog.text
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        assert TOKEN not in (record.exc_text or "")
    assert TOKEN not in repr(ex)
    assert "[redacted]" in caplog.text  # the echoed body was scrubbed, not hidden


def test_log_level_silences_the_exporters_own_messages(collector, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG, logger="mastra_storage.exporters.cloud")
    collector.default = Reply(500)
    ex = make(collector, log_level="error", max_retries=2)
    ex.export(log())
    assert ex.flush(10)
    ex.shutdown()
    assert [r for r in caplog.records if r.name == "mastra_storage.exporters.cloud"] == []
    assert ex.drops.snapshot() == {"retry-exhausted": 1}  # drops are still counted


def test_invalid_log_level_is_an_error():
    with pytest.raises(ValueError, match="log_level"):
        CloudExporter(access_token="t", log_level="loud")


def test_invalid_numbers_are_errors():
    for kwargs in ({"max_batch_size": 0}, {"max_retries": -1}, {"max_batch_wait_ms": -5},
                   {"max_buffer_size": 0}, {"request_timeout": 0}):
        with pytest.raises(ValueError):
            CloudExporter(access_token="t", **kwargs)


def test_signals_are_timed_independently_of_each_other(collector):  # noqa: F811
    ex = make(collector, max_batch_wait_ms=200)
    ex.export(MetricEvent(utc_now(), "m", 1.0))
    (first,) = collector.wait_for(1)
    ex.export(log("later"))
    second = collector.wait_for(2)[1]
    assert first.signal_key == "metrics" and second.signal_key == "logs"
    assert second.received_at - first.received_at >= 0.15
    ex.shutdown()


def test_an_internal_error_is_counted_and_the_worker_survives(collector, caplog):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    ex = make(collector)
    real_body = ex._body

    def broken(*args, **kwargs):
        raise RuntimeError(f"bug mentioning {TOKEN}")

    ex._body = broken  # type: ignore[method-assign]
    ex.export(log("lost"))
    assert ex.flush(10)
    assert ex.drops.snapshot() == {"rejected": 1}
    ex._body = real_body  # type: ignore[method-assign]
    ex.export(log("after"))
    assert ex.flush(10)
    assert [r["message"] for r in collector.records("logs")] == ["after"]
    assert TOKEN not in caplog.text and "RuntimeError" in caplog.text
    ex.shutdown()
