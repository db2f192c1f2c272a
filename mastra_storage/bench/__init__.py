"""Benchmark harness behind ``mastra-storage bench``: is the pipeline close enough to the raw
driver, and cheap enough on the caller's thread (targets in ``docs/bench.md``)?

:func:`run_bench` measures one store and strategy: end-to-end spans/s, the hot-path cost
on the caller's thread, statements issued, peak RSS, and, in the same run, the raw-driver
baseline and OpenTelemetry's ``BatchSpanProcessor.on_end`` as references.
:func:`run_memory_check` checks that a storage outage keeps memory bounded and that every
dropped event is counted. ``docs/bench.md`` explains the numbers.
"""

from __future__ import annotations

from .baselines import BASELINES, BaselineInput, run_baseline
from .memcheck import UnavailableStore, run_memory_check
from .report import render_text
from .runner import BenchOptions, run_bench

__all__ = [
    "BASELINES", "BaselineInput", "BenchOptions", "UnavailableStore", "render_text",
    "run_baseline", "run_bench", "run_memory_check",
]
