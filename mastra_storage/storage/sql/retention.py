"""Retention and statistics of the SQL stores: ``prune``, ``stats``, and the signal rows
removed with their traces.

``prune(older_than)`` deletes whole traces whose root started before the cutoff — their
spans and their logs, metrics, scores and feedback together, one transaction per batch
of traces, so a reader never sees half a trace — then every signal row older than the
cutoff. Work is done in batches of ``batch_size`` (each its own short transaction), so
a large prune never holds a lock for long. On PostgreSQL, day partitions entirely older
than the cutoff are detached and dropped instead of deleted row by row (as Mastra's
``prune`` does); the remaining rows go in batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ...model.time import truncate_ms
from ..memory import check_signals
from .codec import SignalCodec
from .parts import CHUNK, StoreParts


class RetentionMixin(StoreParts):
    """``prune``, ``stats`` and the signal side of ``batch_delete_traces``."""

    def _delete_trace_signals(self, conn: sa.Connection, trace_ids: Sequence[str],
                              codecs: dict[str, SignalCodec]) -> dict[str, int]:
        """Delete the signal rows of ``trace_ids`` (in the caller's transaction)."""
        counts = dict.fromkeys(codecs, 0)
        for i in range(0, len(trace_ids), CHUNK):
            chunk = list(trace_ids[i:i + CHUNK])
            for signal, codec in codecs.items():
                t = codec.table
                result = conn.execute(sa.delete(t).where(t.c.traceId.in_(chunk)))
                counts[signal] += result.rowcount or 0
        return counts

    def _present_codecs(self, signals: Sequence[str]) -> dict[str, SignalCodec]:
        if not self._check_signal_tables():
            return {}
        return {s: self.signals[s] for s in signals if s in self.signals}

    def prune(self, older_than: datetime, signals: Sequence[str] | None = None,
              batch_size: int = 1000) -> dict[str, int]:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        cutoff = truncate_ms(older_than)
        chosen = check_signals(signals)
        if signals is None and not self._check_signal_tables():
            chosen = ("spans",)  # a database without the signal tables: its spans
        counts = dict.fromkeys(chosen, 0)
        codecs = {s: self._signal(s, "pruning") for s in chosen if s != "spans"}
        if "spans" in chosen:
            for signal, n in self._prune_traces(cutoff, codecs, batch_size).items():
                counts[signal] += n
        for signal, codec in codecs.items():
            counts[signal] += self.dialect.drop_signal_partitions(self.engine, codec.table,
                                                                  cutoff)
            counts[signal] += self._prune_rows(codec, cutoff, batch_size)
        return counts

    def _prune_traces(self, cutoff: datetime, codecs: dict[str, SignalCodec],
                      batch_size: int) -> dict[str, int]:
        t = self.table
        counts = dict.fromkeys(["spans", *codecs], 0)
        old = (sa.select(t.c.traceId).where(t.c.parentSpanId.is_(None),
                                            t.c.startedAt < self.dialect.timestamp_param(cutoff))
               .distinct().limit(batch_size))
        while True:
            with self.engine.begin() as conn:  # one batch of whole traces
                ids = [row[0] for row in conn.execute(old)]
                if not ids:
                    return counts
                for i in range(0, len(ids), CHUNK):
                    result = conn.execute(sa.delete(t).where(t.c.traceId.in_(ids[i:i + CHUNK])))
                    counts["spans"] += result.rowcount or 0
                for signal, n in self._delete_trace_signals(conn, ids, codecs).items():
                    counts[signal] += n

    def _prune_rows(self, codec: SignalCodec, cutoff: datetime, batch_size: int) -> int:
        t = codec.table
        older = t.c.timestamp < self.dialect.signal_timestamp_param(cutoff)
        batch = sa.select(codec.order).where(older).limit(batch_size)
        deleted = 0
        while True:
            with self.engine.begin() as conn:
                ids = [row[0] for row in conn.execute(batch)]
                if not ids:
                    return deleted
                for i in range(0, len(ids), CHUNK):
                    result = conn.execute(sa.delete(t).where(
                        codec.order.in_(ids[i:i + CHUNK]), older))
                    deleted += result.rowcount or 0

    def _span_rows(self) -> sa.Table:
        """The table whose rows the span statistics count (v-next: its span events)."""
        return self.table

    def stats(self) -> dict[str, dict[str, Any]]:
        d = self.dialect
        t = self._span_rows()
        with self.engine.connect() as conn:
            n, low, high = conn.execute(sa.select(
                sa.func.count(), sa.func.min(t.c.startedAt), sa.func.max(t.c.startedAt))).one()
            spans = {"rows": int(n), "bytes": d.table_bytes(conn, t),
                     "oldest": d.decode_timestamp(low), "newest": d.decode_timestamp(high)}
        return {"spans": spans, **self._signal_stats()}

    def _signal_stats(self) -> dict[str, dict[str, Any]]:
        """Rows, bytes, oldest and newest of each signal table the database has."""
        d = self.dialect
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for signal, codec in self._present_codecs(list(self.signals)).items():
                s = codec.table
                n, low, high = conn.execute(sa.select(
                    sa.func.count(), sa.func.min(s.c.timestamp),
                    sa.func.max(s.c.timestamp))).one()
                out[signal] = {"rows": int(n), "bytes": d.table_bytes(conn, s),
                               "oldest": d.decode_signal_timestamp(low),
                               "newest": d.decode_signal_timestamp(high)}
        return out


__all__ = ["RetentionMixin"]
