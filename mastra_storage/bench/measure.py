"""Small measuring tools: latency summaries, memory readings, machine facts, SQL counters."""

from __future__ import annotations

import math
import os
import platform
import resource
import sqlite3
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

MIB = 1024 * 1024


# ---------------------------------------------------------------------------- latency

def summarize_ns(samples: Sequence[int]) -> dict[str, Any]:
    """Median, p99, mean and max of nanosecond samples, in microseconds."""
    n = len(samples)
    if n == 0:
        return {"n": 0, "median_us": None, "p99_us": None, "mean_us": None, "max_us": None}
    ordered = sorted(samples)

    def rank(q: float) -> float:
        return ordered[max(0, math.ceil(q * n) - 1)] / 1000

    mid = n // 2
    median = ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2
    return {
        "n": n,
        "median_us": round(median / 1000, 2),
        "p99_us": round(rank(0.99), 2),
        "mean_us": round(sum(ordered) / n / 1000, 2),
        "max_us": round(ordered[-1] / 1000, 1),
    }


@dataclass
class Clock:
    """Wall and process-CPU time of one phase (CPU time covers every thread)."""

    wall_start: float = field(default_factory=time.perf_counter)
    cpu_start: float = field(default_factory=time.process_time)

    def elapsed(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall_start, time.process_time() - self.cpu_start


def rates(spans: int, wall: float, cpu: float) -> dict[str, Any]:
    return {
        "seconds": round(wall, 4),
        "spans_per_s": round(spans / wall, 1) if wall > 0 else None,
        "cpu_seconds": round(cpu, 4),
        "cpu_us_per_span": round(cpu / spans * 1e6, 1) if spans else None,
    }


# ---------------------------------------------------------------------------- memory

def _status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_bytes() -> int:
    """Current resident set size (``/proc``; falls back to the peak where unavailable)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """Peak RSS since start, or since the last successful :func:`reset_peak_rss`."""
    hwm = _status_kib("VmHWM")
    if hwm is not None:
        return hwm * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux ``clear_refs`` 5), so a phase has its own peak."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def mib(value: int | float) -> float:
    return round(value / MIB, 1)


# ---------------------------------------------------------------------------- machine

def machine_info() -> dict[str, Any]:
    mem_total = None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem_total = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        usable = os.cpu_count() or 0
    return {
        "nproc": usable,
        "mem_total_gib": mem_total,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(terse=True),
        "stdlib_sqlite": sqlite3.sqlite_version,
        "loadavg_start": loadavg(),
    }


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return None


# ---------------------------------------------------------------------------- SQL statements

class StatementCounter:
    """Counts what an SQLAlchemy engine sends to its driver while attached.

    ``executes`` are single-parameter-set cursor executions, ``executemany`` the
    multi-row ones (with the rows they carried); ``commits`` are transaction commits.
    """

    def __init__(self, engine: Any) -> None:
        self.engine = engine
        self.executes = 0
        self.executemany = 0
        self.executemany_rows = 0
        self.commits = 0
        self._attached = False

    def _on_execute(self, conn: Any, cursor: Any, statement: str, parameters: Any,
                    context: Any, executemany: bool) -> None:
        if executemany:
            self.executemany += 1
            self.executemany_rows += len(parameters)
        else:
            self.executes += 1

    def _on_commit(self, conn: Any) -> None:
        self.commits += 1

    def attach(self) -> StatementCounter:
        from sqlalchemy import event

        event.listen(self.engine, "before_cursor_execute", self._on_execute)
        event.listen(self.engine, "commit", self._on_commit)
        self._attached = True
        return self

    def detach(self) -> None:
        if not self._attached:
            return
        from sqlalchemy import event

        event.remove(self.engine, "before_cursor_execute", self._on_execute)
        event.remove(self.engine, "commit", self._on_commit)
        self._attached = False

    def snapshot(self) -> dict[str, int]:
        return {"execute": self.executes, "executemany": self.executemany,
                "executemany_rows": self.executemany_rows, "commits": self.commits}


def sql_engine(store: Any) -> Any | None:
    """The SQLAlchemy engine behind a SQL store, else None."""
    engine = getattr(store, "engine", None)
    try:
        import sqlalchemy as sa
    except ImportError:  # pragma: no cover - a core dependency
        return None
    return engine if isinstance(engine, sa.Engine) else None
