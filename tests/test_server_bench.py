"""The Studio trace-list benchmark (mastra_storage/bench/studio_reads.py) on a tiny file:
it fills, reuses and measures; no timing is asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from mastra_storage.bench import reads, studio_reads
from mastra_storage.storage.signal_queries import Feature
from mastra_storage.storage.urls import create_store


def test_fill_then_measure_the_trace_list(tmp_path: Path) -> None:
    db = tmp_path / "studio.db"
    store = create_store(f"sqlite:///{db}")
    answers = Feature.TRACE_QUERY in store.features()
    store.close()
    if not answers:
        pytest.skip("SQLite does not answer the trace query in this build")
    report = studio_reads.run(db, spans=305, requests=3)
    assert report["fill"] == {"spans": 305, "reused": False, "seconds": report["fill"]["seconds"]}
    assert report["spans"] == 305
    for key in ("first_page", "second_page", "store_only"):
        assert set(report[key]) == {"median_ms", "p95_ms", "max_ms"}
    again = studio_reads.run(db, spans=305, requests=1)
    assert again["fill"]["reused"] is True
    with pytest.raises(SystemExit, match="use --fresh"):
        studio_reads.fill(db, 10)
    assert studio_reads.run(db, spans=300, requests=1, fresh=True)["spans"] == 300


def test_generated_traces_have_whole_trees() -> None:
    spans = list(reads.generate(25, spans_per_trace=10))  # what studio_reads fills with
    assert len(spans) == 25
    roots = [s for s in spans if s.parent_span_id is None]
    assert len(roots) == 3 and all(r.input["messages"][0]["role"] == "user" for r in roots)
    ids = {s.span_id for s in spans}
    assert all(s.parent_span_id in ids for s in spans if s.parent_span_id is not None)
