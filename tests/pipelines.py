"""Test plugin (loaded by tests/conftest.py): pipelines that are always shut down, and a
clock the test moves by hand.

* ``observe`` builds an :class:`Observability` (or registers an exporter used on its own)
  and shuts every one of them down at teardown, whether the test passed or failed, so no
  exporter worker outlives its test.
* ``clock`` is a :class:`FakeClock` for the exporters' ``clock=``: batch deadlines and the
  authentication cooldown are then decided by the test, not by the wall clock.

Retry waits are the other source of real time: an exporter's ``sleep`` attribute is the
wait between attempts, and tests replace it with ``delays.append`` to record the schedule
instead of waiting it out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, TypeVar

import pytest

from mastra_storage import Observability, ObservabilityConfig

logger = logging.getLogger(__name__)

# Teardown gives each pipeline this long to deliver what it holds; past it, what is
# left is dropped (a failed test may leave a collector holding a request).
TEARDOWN_TIMEOUT = 10.0


class _Stoppable(Protocol):
    def shutdown(self, timeout: float | None = None) -> None: ...


S = TypeVar("S", bound=_Stoppable)


class Pipelines:
    """What the ``observe`` fixture gives a test.

    ``observe(*exporters, storage=None, service_name="svc", span_output_processors=(),
    environment=None)`` builds an ``Observability`` with one ``default`` config;
    ``observe.track(obs_or_exporter)`` registers one built by hand (several configs, or an
    exporter used without an ``Observability``) and returns it. Everything registered is
    shut down at teardown, last built first; a test may still call ``shutdown()`` itself
    (it is idempotent) to assert on what happens after it.
    """

    def __init__(self) -> None:
        self._owned: list[_Stoppable] = []

    def __call__(self, *exporters: Any, storage: Any = None, service_name: str = "svc",
                 span_output_processors: Sequence[Any] = (),
                 environment: str | None = None) -> Observability:
        obs = Observability(storage=storage, configs={"default": ObservabilityConfig(
            service_name=service_name, exporters=list(exporters),
            span_output_processors=list(span_output_processors), environment=environment)})
        return self.track(obs)

    def track(self, thing: S) -> S:
        self._owned.append(thing)
        return thing

    def close(self) -> None:
        problems: list[BaseException] = []
        while self._owned:
            thing = self._owned.pop()
            try:
                thing.shutdown(TEARDOWN_TIMEOUT)
            except Exception as exc:  # shut the others down anyway, then report
                logger.exception("shutting %r down at teardown failed", thing)
                problems.append(exc)
        if problems:
            raise problems[0]


@pytest.fixture
def observe() -> Iterator[Pipelines]:
    """Build pipelines for one test; every one is shut down at teardown."""
    pipelines = Pipelines()
    try:
        yield pipelines
    finally:
        pipelines.close()


class FakeClock:
    """Monotonic seconds that move only when the test says so (``advance`` / ``set``).

    Reads from threads other than the one that made the clock (an exporter's worker) are
    counted, so a test can wait until the worker has looked at the time since it was
    moved, instead of sleeping and hoping it did.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._cond = threading.Condition()
        self._owner = threading.get_ident()
        self.worker_reads = 0

    def __call__(self) -> float:
        with self._cond:
            if threading.get_ident() != self._owner:
                self.worker_reads += 1
                self._cond.notify_all()
            return self._now

    @property
    def now(self) -> float:
        with self._cond:
            return self._now

    def advance(self, seconds: float) -> None:
        assert seconds >= 0, "a monotonic clock never goes back"
        with self._cond:
            self._now += seconds

    def set(self, when: float) -> None:
        with self._cond:
            assert when >= self._now, "a monotonic clock never goes back"
            self._now = when

    def wait_for_worker(self, reads: int = 3, timeout: float = 10.0) -> None:
        """Block until other threads have read the clock ``reads`` more times.

        Three reads: a worker waiting for a batch deadline reads the time, decides, waits
        and reads again, so it has finished deciding at least once at the current time.
        """
        with self._cond:
            target = self.worker_reads + reads
            ok = self._cond.wait_for(lambda: self.worker_reads >= target, timeout)
        assert ok, f"the worker did not read the clock {reads} times within {timeout}s"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
