"""CloudExporter when the collector misbehaves: retries, Retry-After, auth cooldown, drops.

Every scenario runs against the real loopback collector. Time is the test's: retry waits
go through the exporter's ``sleep``, replaced by ``delays.append`` so the schedule is
recorded instead of slept, and the authentication cooldown and batch deadlines run on a
:class:`~tests.pipelines.FakeClock` the test moves. The real settings are used (2 s
backoff, 60 s cooldown doubling to 15 min): no test waits them out.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest

from mastra_storage.exporters.cloud import CloudExporter, parse_retry_after
from mastra_storage.model.time import utc_now
from mastra_storage.tracing.events import FeedbackEvent, LogEvent, MetricEvent, ScoreEvent

from .collector import Collector, Reply
from .factories import span, tid
from .pipelines import FakeClock, Pipelines
from .test_cloud_exporter import all_signals, ended

pytestmark = pytest.mark.usefixtures("clean_cloud_env")

TOKEN = "sk_SECRET_token_do_not_log_4242"

Make = Callable[..., CloudExporter]


@pytest.fixture
def delays() -> list[float]:
    """The retry waits the exporters of this test asked for, in order."""
    return []


@pytest.fixture
def make(collector: Collector, observe: Pipelines, clock: FakeClock,
         delays: list[float]) -> Make:
    """``make(**settings)``: a CloudExporter on the test's collector and fake clock, its
    retry waits recorded in ``delays`` instead of slept; shut down at teardown."""

    def build(**kw: Any) -> CloudExporter:
        kw.setdefault("access_token", TOKEN)
        kw.setdefault("endpoint", collector.url)
        kw.setdefault("max_batch_wait_ms", 60_000)
        kw.setdefault("clock", clock)
        ex = observe.track(CloudExporter(**kw))
        ex.sleep = delays.append
        return ex

    return build


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
def test_retryable_answers_are_retried_then_succeed(collector: Collector, make: Make,
                                                    delays: list[float],
                                                    statuses: tuple[int, ...]) -> None:
    collector.queue(*(Reply(s) for s in statuses))
    ex = make()
    ex.export(log("once"))
    assert ex.flush(10)
    reqs = collector.wait_for(len(statuses) + 1)
    assert len(reqs) == len(statuses) + 1
    assert len({r.body for r in reqs}) == 1  # the same body (same logId): idempotent retry
    assert ex.stats.retries == len(statuses) == len(delays)
    assert ex.stats.sent["logs"] == 1
    assert ex.drops.total == 0


def test_network_errors_are_retried_then_dropped_and_counted(make: Make,
                                                             delays: list[float]) -> None:
    drops: list[tuple[str, int]] = []
    ex = make(endpoint=closed_port_url(), max_retries=3,
              on_drop=lambda r, n: drops.append((r, n)))
    for event in all_signals():
        ex.export(event)
    assert ex.flush(30)
    assert ex.stats.requests == 5 * 3
    assert len(delays) == 5 * 2  # two waits between three attempts, per signal
    assert ex.drops.snapshot() == {"retry-exhausted": 5}
    assert drops == [("retry-exhausted", 1)] * 5


def test_gives_up_after_max_retries_attempts(collector: Collector, make: Make) -> None:
    collector.default = Reply(500, body=b'{"error":"down"}')
    ex = make(max_retries=3)
    for i in range(4):
        ex.export(log(f"m{i}"))
    assert ex.flush(10)
    assert len(collector.requests) == 3  # max_retries attempts in all
    assert ex.drops.snapshot() == {"retry-exhausted": 4}


def test_max_retries_zero_or_one_means_a_single_attempt(collector: Collector, make: Make,
                                                        delays: list[float]) -> None:
    collector.default = Reply(503)
    for n in (0, 1):
        ex = make(max_retries=n)
        ex.export(log())
        assert ex.flush(10)
        ex.shutdown()
    assert len(collector.requests) == 2
    assert delays == []


def test_backoff_grows_exponentially_up_to_the_cap(collector: Collector, make: Make,
                                                   delays: list[float]) -> None:
    collector.default = Reply(500)
    ex = make(max_retries=5)  # the defaults: 2 s doubling, capped at 10 s, +/-20 % jitter
    ex.export(log())
    assert ex.flush(30)
    assert len(collector.wait_for(5)) == 5
    assert len(delays) == 4
    for delay, nominal in zip(delays, (2.0, 4.0, 8.0, 10.0), strict=True):
        assert nominal * 0.8 <= delay <= nominal * 1.2, delays


def test_backoff_settings_scale_the_schedule(collector: Collector, make: Make,
                                             delays: list[float]) -> None:
    collector.default = Reply(500)
    ex = make(max_retries=4, _retry_base=0.1, _retry_max=10.0)
    ex.export(log())
    assert ex.flush(30)
    for delay, nominal in zip(delays, (0.1, 0.2, 0.4), strict=True):
        assert nominal * 0.8 <= delay <= nominal * 1.2, delays


# ------------------------------------------------------------------ Retry-After

def test_retry_after_seconds_is_honoured(collector: Collector, make: Make,
                                         delays: list[float]) -> None:
    collector.queue(Reply(429, headers={"Retry-After": "1"}))
    ex = make()
    ex.export(log())
    assert ex.flush(10)
    assert len(collector.wait_for(2)) == 2
    assert delays == [1.0]  # the server's hint, not the 2 s backoff
    assert ex.drops.total == 0 and ex.stats.sent["logs"] == 1


def test_retry_after_http_date_is_honoured(collector: Collector, make: Make,
                                           delays: list[float]) -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=120)
    collector.queue(Reply(503, headers={"Retry-After": format_datetime(when, usegmt=True)}))
    ex = make(_retry_after_max=3600.0)
    ex.export(log())
    assert ex.flush(10)
    assert len(collector.wait_for(2)) == 2
    # the date has whole seconds and is read a moment later: a little under 120 s, far
    # from the backoff's 2 s (the margin is for a slow machine, not a measurement)
    (delay,) = delays
    assert 60.0 < delay <= 120.0


def test_retry_after_is_capped(collector: Collector, make: Make, delays: list[float]) -> None:
    collector.queue(Reply(429, headers={"Retry-After": "3600"}))
    ex = make(_retry_after_max=0.05)
    ex.export(log())
    assert ex.flush(10)
    assert len(collector.wait_for(2)) == 2
    assert delays == [0.05]


def test_parse_retry_after() -> None:
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

def test_other_4xx_are_dropped_without_retry(collector: Collector, make: Make,
                                             delays: list[float]) -> None:
    collector.queue(Reply(400, body=b'{"error":"bad spans"}'), Reply(422))
    ex = make()
    ex.export(log("a"))
    assert ex.flush(10)
    ex.export(MetricEvent(utc_now(), "m", 1.0))
    ex.export(MetricEvent(utc_now(), "m", 2.0))
    assert ex.flush(10)
    assert len(collector.requests) == 2 and delays == []
    assert ex.drops.snapshot() == {"rejected": 3}
    # the exporter goes on working afterwards
    ex.export(log("b"))
    assert ex.flush(10)
    assert ex.stats.sent["logs"] == 1


def test_413_splits_the_batch(collector: Collector, make: Make) -> None:
    collector.queue(Reply(413))
    ex = make()
    for i in range(4):
        ex.export(log(f"m{i}"))
    assert ex.flush(10)
    sizes = [len(r.records) for r in collector.wait_for(3)]
    assert sizes == [4, 2, 2]
    assert [r["message"] for r in collector.records("logs")[4:]] == ["m0", "m1", "m2", "m3"]
    assert ex.drops.total == 0


def test_415_on_gzip_falls_back_to_plain_json(collector: Collector, make: Make) -> None:
    collector.queue(Reply(415))
    ex = make()
    ex.export(LogEvent(utc_now(), "info", "big", {"text": "abc " * 1000}))
    assert ex.flush(10)
    ex.export(LogEvent(utc_now(), "info", "big2", {"text": "abc " * 1000}))
    assert ex.flush(10)
    first, second, third = collector.wait_for(3)
    assert first.headers.get("content-encoding") == "gzip"
    assert "content-encoding" not in second.headers and "content-encoding" not in third.headers
    assert ex.stats.sent["logs"] == 2 and ex.drops.total == 0


# ------------------------------------------------------------------ auth cooldown

def test_401_starts_a_cooldown_that_drops_then_doubles_then_recovers(
        collector: Collector, make: Make, clock: FakeClock) -> None:
    collector.default = Reply(401)
    ex = make()  # the real cooldown: 60 s, doubling, jittered by +/-10 % (never below 60 s)
    ex.export(log("first"))
    assert ex.flush(10)
    assert len(collector.requests) == 1  # 401 is not retried
    assert ex.drops.snapshot() == {"rejected": 1}
    assert ex.auth_failures == 1
    assert 60.0 <= ex.auth_cooldown_remaining <= 66.0

    # during the cooldown every signal is dropped on arrival, nothing is buffered or sent
    for event in all_signals():
        ex.export(event)
    assert ex.buffered == 0
    assert ex.flush(10)
    assert len(collector.requests) == 1
    assert ex.drops.snapshot() == {"rejected": 1, "auth-cooldown": 5}
    clock.set(ex.auth_cooldown_until - 1.0)  # one second before its end: still dropped
    ex.export(log("too early"))
    assert ex.drops.snapshot() == {"rejected": 1, "auth-cooldown": 6}

    # after it, the next batch probes; a 403 doubles the cooldown
    clock.set(ex.auth_cooldown_until)
    collector.default = Reply(403)
    ex.export(log("probe"))
    assert ex.flush(10)
    assert len(collector.requests) == 2
    assert ex.auth_failures == 2
    assert 108.0 <= ex.auth_cooldown_remaining <= 132.0  # 120 s +/-10 %

    # the token is accepted again: uploads resume and the failure count resets
    clock.set(ex.auth_cooldown_until)
    collector.default = Reply(200)
    ex.export(log("back"))
    assert ex.flush(10)
    assert collector.records("logs")[-1]["message"] == "back"
    assert ex.auth_failures == 0 and ex.auth_cooldown_remaining == 0
    ex.export(log("normal"))
    assert ex.flush(10)
    assert ex.stats.sent["logs"] == 2


def test_cooldown_doubling_is_capped(collector: Collector, make: Make,
                                     clock: FakeClock) -> None:
    collector.default = Reply(401)
    ex = make()  # 60 s doubling: 60, 120, 240, 480, then the 15 min cap
    cooldowns = []
    for _ in range(6):
        clock.set(clock.now + ex.auth_cooldown_remaining)  # wait the cooldown out
        ex.export(log())
        assert ex.flush(10)
        cooldowns.append(ex.auth_cooldown_remaining)
    assert ex.auth_failures == 6 and len(collector.requests) == 6
    for got, nominal in zip(cooldowns, (60, 120, 240, 480, 900, 900), strict=True):
        assert max(60.0, nominal * 0.9) <= got <= nominal * 1.1, cooldowns


def test_events_buffered_while_the_failing_request_was_in_flight_are_dropped(
        collector: Collector, make: Make) -> None:
    gate = threading.Event()
    collector.queue(Reply(401, gate=gate))
    ex = make()
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


# ------------------------------------------------------------------ degrade, never raise

def test_unreachable_collector_never_raises_into_the_app(make: Make, observe: Pipelines,
                                                         delays: list[float]) -> None:
    ex = make(endpoint=closed_port_url(), max_retries=2, max_batch_size=50,
              max_batch_wait_ms=0)
    obs = observe(ex)
    tracer = obs.get_default_instance()
    for i in range(100):
        with tracer.start_span(f"s{i}", new_trace=True) as s:
            s.log("info", "x")
    assert obs.flush(30)
    obs.shutdown()
    assert tracer.failures == {}  # nothing reached the tracer's containment either
    assert ex.drops.snapshot() == {"retry-exhausted": 200}
    assert delays  # it did retry


def test_shutdown_timeout_stops_long_retries_and_counts_the_loss(observe: Pipelines) -> None:
    """A worker waiting an hour before its next retry is stopped by ``shutdown(timeout)``:
    the wait is cut short, what it held is counted as lost, and shutdown returns."""
    ex = observe.track(CloudExporter(access_token=TOKEN, endpoint=closed_port_url(),
                                     max_retries=5, _retry_base=3600.0,
                                     _retry_max=7200.0, max_batch_wait_ms=60_000))
    waits: list[float] = []
    waiting = threading.Event()
    abortable = ex.sleep  # the worker's own wait, which shutdown can cut short

    def sleep(seconds: float) -> object:
        waits.append(seconds)
        waiting.set()
        return abortable(seconds)

    ex.sleep = sleep
    for i in range(3):
        ex.export(ended(span(tid(), name=f"s{i}")))
    ex.export(log())
    stopper = threading.Thread(target=ex.shutdown, kwargs={"timeout": 0.3})
    stopper.start()
    assert waiting.wait(30)  # the worker failed once and now waits about an hour
    stopper.join(60)
    assert not stopper.is_alive(), "shutdown(timeout) waited for the retry"
    thread = ex._thread
    assert thread is not None
    thread.join(60)  # the worker wraps up once told to stop waiting
    assert not thread.is_alive()
    assert len(waits) == 1 and waits[0] >= 3600 * 0.8
    assert ex.drops.total == 4
    assert set(ex.drops.snapshot()) <= {"retry-exhausted", "after-shutdown"}


def test_held_collector_with_a_full_buffer_drops_not_blocks(collector: Collector,
                                                            make: Make) -> None:
    gate = threading.Event()
    collector.queue(Reply(gate=gate))
    ex = make(max_batch_size=10, max_buffer_size=20, max_batch_wait_ms=0)
    ex.export(log("m0"))
    assert collector.entered.wait(10)  # the worker holds m0 in a request that hangs
    for i in range(1, 500):
        ex.export(log(f"m{i}"))  # the caller is never held: it fills the buffer, then drops
    assert len(collector.requests) == 1 and not gate.is_set()
    assert ex.buffered == 20
    assert ex.drops.snapshot() == {"buffer-full": 479}
    gate.set()
    assert ex.flush(60)
    sent = ex.stats.sent["logs"]
    assert sent == 21 and sent + ex.drops.total == 500


# ------------------------------------------------------------------ secrets

def test_the_token_never_appears_in_logs_or_errors(collector: Collector, make: Make,
                                                   clock: FakeClock,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    echo = ('{"error":"invalid token ' + TOKEN + '"}').encode()
    collector.queue(Reply(500, body=echo), Reply(401, body=echo))
    collector.default = Reply(400, body=echo)
    ex = make(log_level="debug", max_retries=2)
    ex.export(log("a"))  # 500 then 401
    assert ex.flush(10)
    clock.set(ex.auth_cooldown_until)
    ex.export(log("b"))  # 400 echoing the token
    assert ex.flush(10)
    down = make(endpoint=closed_port_url(), max_retries=2, log_level="debug")
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


def test_log_level_silences_the_exporters_own_messages(collector: Collector, make: Make,
                                                       caplog: pytest.LogCaptureFixture
                                                       ) -> None:
    caplog.set_level(logging.DEBUG, logger="mastra_storage.exporters.cloud")
    collector.default = Reply(500)
    ex = make(log_level="error", max_retries=2)
    ex.export(log())
    assert ex.flush(10)
    ex.shutdown()
    assert [r for r in caplog.records if r.name == "mastra_storage.exporters.cloud"] == []
    assert ex.drops.snapshot() == {"retry-exhausted": 1}  # drops are still counted


def test_invalid_log_level_is_an_error() -> None:
    with pytest.raises(ValueError, match="log_level"):
        CloudExporter(access_token="t", log_level="loud")


def test_invalid_numbers_are_errors() -> None:
    for kwargs in ({"max_batch_size": 0}, {"max_retries": -1}, {"max_batch_wait_ms": -5},
                   {"max_buffer_size": 0}, {"request_timeout": 0}):
        with pytest.raises(ValueError):
            CloudExporter(access_token="t", **kwargs)  # type: ignore[arg-type]


def test_signals_are_timed_independently_of_each_other(collector: Collector, make: Make,
                                                       clock: FakeClock) -> None:
    """Each signal's batch waits from ITS first event: a metric due now does not take
    the log that arrived after it, and the log goes out on its own deadline."""
    ex = make(max_batch_wait_ms=250)
    start = clock.now
    ex.export(MetricEvent(utc_now(), "m", 1.0))
    clock.advance(0.125)
    ex.export(log("later"))
    clock.set(start + 0.25)  # the metric's deadline; the log has waited 0.125 s
    (first,) = collector.wait_for(1)
    assert first.signal_key == "metrics"
    clock.wait_for_worker()
    assert len(collector.requests) == 1 and ex.buffered == 1  # the log still waits
    clock.set(start + 0.375)  # the log's own deadline
    second = collector.wait_for(2)[1]
    assert second.signal_key == "logs"
    assert [r["message"] for r in second.records] == ["later"]


def test_an_internal_error_is_counted_and_the_worker_survives(
        collector: Collector, make: Make, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ex = make()
    real_body = ex._body

    def broken(*args: Any, **kwargs: Any) -> bytes:
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
