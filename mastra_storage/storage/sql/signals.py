"""Logs, metrics, scores and feedback in the SQL stores: writes, filters, lists, discovery.

Every filter compiles to SQL with bound parameters and means exactly what the in-memory
store's does (``memory.log_matches`` & co.): empty lists filter nothing, ``tags`` must
all be present, ``search`` is a case-insensitive substring of the message, ties in time
order are broken by insertion order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from ...model.signals import FeedbackRecord, LogRecord, MetricRecord, ScoreRecord
from ..base import check_id
from ..signal_queries import (
    FeedbackFilter,
    LogsFilter,
    MetricsFilter,
    Page,
    ScoresFilter,
    SignalFilter,
    SignalOrder,
    check_page,
)
from .codec import SignalCodec
from .parts import CHUNK, SIGNAL_NAMES, StoreParts

Cond = sa.ColumnElement[bool]


class SignalsMixin(StoreParts):
    """Writes and reads of the four signal tables."""

    # ------------------------------------------------------------------ writes
    def _write(self, signal: str, records: Sequence[Any]) -> None:
        codec = self._signal(signal)
        if not records:
            return
        # Encoded column by column, a chunk at a time (see ..columnar).
        chunks = [codec.encode_columns(records[i:i + CHUNK])
                  for i in range(0, len(records), CHUNK)]
        d = self.dialect
        timestamps = codec.timestamps(records)
        for attempt in (1, 2):
            d.before_signal_write(self.engine, codec.table, timestamps)
            try:
                with self.engine.begin() as conn:
                    for columns in chunks:
                        d.insert_signal_columns(conn, codec.table, codec.id_name,
                                                codec.names, columns)
                return
            except sa.exc.DBAPIError as exc:
                if attempt == 2 or not d.lacks_room(exc):
                    raise
                d.forget_room(codec.table)

    def batch_create_logs(self, records: Sequence[LogRecord]) -> None:
        self._write("logs", records)

    def batch_create_metrics(self, records: Sequence[MetricRecord]) -> None:
        self._write("metrics", records)

    def batch_create_scores(self, records: Sequence[ScoreRecord]) -> None:
        self._write("scores", records)

    def batch_create_feedback(self, records: Sequence[FeedbackRecord]) -> None:
        self._write("feedback", records)

    def update_feedback_review_status(self, feedback_id: str,
                                      review_status: str) -> FeedbackRecord | None:
        check_id(feedback_id, "feedback_id")
        codec = self._signal("feedback", "feedback review")
        t = codec.table
        with self.engine.begin() as conn:
            conn.execute(sa.update(t).where(t.c.feedbackId == feedback_id)
                         .values(reviewStatus=review_status))
        rows = self._select(codec, [t.c.feedbackId == feedback_id],
                            [codec.order.desc()], limit=1)
        return rows[0] if rows else None

    # ------------------------------------------------------------------ filters
    def _context_conditions(self, codec: SignalCodec, f: SignalFilter) -> list[Cond]:
        d = self.dialect
        ts = codec.table.c.timestamp
        conds: list[Cond] = [codec.col(attr) == value for attr, value in f.equalities()]
        window = f.timestamp
        if window is not None:
            if window.start is not None:
                start = d.signal_timestamp_param(window.start)
                conds.append(ts > start if window.start_exclusive else ts >= start)
            if window.end is not None:
                end = d.signal_timestamp_param(window.end)
                conds.append(ts < end if window.end_exclusive else ts <= end)
        for tag in f.tags or ():
            conds.append(d.signal_tags_contains(codec.table.c.tags, tag))
        return conds

    def _log_conditions(self, codec: SignalCodec, f: LogsFilter) -> list[Cond]:
        conds = self._context_conditions(codec, f)
        if f.level:
            conds.append(codec.table.c.level.in_(f.level))
        if f.search:
            conds.append(self.dialect.contains_text(codec.table.c.message, f.search.lower()))
        return conds

    def _metric_conditions(self, codec: SignalCodec, f: MetricsFilter | None,
                           names: Sequence[str] | None = None) -> list[Cond]:
        f = f or MetricsFilter()
        t = codec.table
        conds = self._context_conditions(codec, f)
        if f.name:
            conds.append(t.c.name.in_(f.name))
        if names is not None:
            conds.append(t.c.name.in_(list(names)))
        if f.trace_ids is not None:
            conds.append(t.c.traceId.in_(list(f.trace_ids)))
        for attr in ("provider", "model", "cost_unit"):
            wanted = getattr(f, attr)
            if wanted is not None:
                conds.append(codec.col(attr) == wanted)
        for key, value in (f.labels or {}).items():
            conds.append(self.dialect.json_has_key_value(t.c.labels, key, value))
        return conds

    def _score_conditions(self, codec: SignalCodec, f: ScoresFilter) -> list[Cond]:
        t = codec.table
        conds = self._context_conditions(codec, f)
        if f.scorer_id:
            conds.append(t.c.scorerId.in_(f.scorer_id))
        if f.score_source is not None:
            conds.append(t.c.scoreSource == f.score_source)
        for key, value in (f.metadata or {}).items():
            conds.append(self.dialect.json_has_key_value(t.c.metadata, key, value))
        return conds

    def _feedback_conditions(self, codec: SignalCodec, f: FeedbackFilter) -> list[Cond]:
        conds = self._context_conditions(codec, f)
        if f.feedback_type:
            conds.append(codec.table.c.feedbackType.in_(f.feedback_type))
        for attr in ("feedback_source", "feedback_user_id", "review_status"):
            wanted = getattr(f, attr)
            if wanted is not None:
                conds.append(codec.col(attr) == wanted)
        return conds

    # ------------------------------------------------------------------ reads
    def _select(self, codec: SignalCodec, conds: Sequence[Cond], ordering: Sequence[Any],
                limit: int | None = None, offset: int = 0) -> list[Any]:
        stmt = sa.select(*codec.select_columns).where(*conds).order_by(*ordering)
        if limit is not None:
            stmt = stmt.limit(limit).offset(offset)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [codec.decode(dict(r)) for r in rows]

    def _page(self, signal: str, conditions: Callable[[SignalCodec], list[Cond]], page: int,
              per_page: int, order: SignalOrder | None) -> Page[Any]:
        check_page(page, per_page)
        codec = self._signal(signal)
        order = order or SignalOrder()
        conds = conditions(codec)
        t = codec.table
        key = t.c.score if order.field == "score" and "score" in t.c else t.c.timestamp
        # Ties keep insertion order in both directions (a stable sort, as in memory).
        ordering = [key.desc() if order.direction == "DESC" else key.asc(), codec.order.asc()]
        with self.engine.connect() as conn:
            total = int(conn.execute(sa.select(sa.func.count()).select_from(t)
                                     .where(*conds)).scalar_one())
        offset = page * per_page
        items = self._select(codec, conds, ordering, per_page, offset) if total > offset else []
        return Page(items, total, page, per_page)

    def list_logs(self, filters: LogsFilter | None = None, page: int = 0, per_page: int = 10,
                  order: SignalOrder | None = None) -> Page[LogRecord]:
        f = filters or LogsFilter()
        return self._page("logs", lambda c: self._log_conditions(c, f), page, per_page, order)

    def list_metrics(self, filters: MetricsFilter | None = None, page: int = 0,
                     per_page: int = 10, order: SignalOrder | None = None) -> Page[MetricRecord]:
        return self._page("metrics", lambda c: self._metric_conditions(c, filters), page,
                          per_page, order)

    def list_scores(self, filters: ScoresFilter | None = None, page: int = 0,
                    per_page: int = 10, order: SignalOrder | None = None) -> Page[ScoreRecord]:
        f = filters or ScoresFilter()
        return self._page("scores", lambda c: self._score_conditions(c, f), page, per_page,
                          order)

    def list_feedback(self, filters: FeedbackFilter | None = None, page: int = 0,
                      per_page: int = 10,
                      order: SignalOrder | None = None) -> Page[FeedbackRecord]:
        f = filters or FeedbackFilter()
        return self._page("feedback", lambda c: self._feedback_conditions(c, f), page,
                          per_page, order)

    def get_score(self, score_id: str) -> ScoreRecord | None:
        check_id(score_id, "score_id")
        codec = self._signal("scores", "reading scores")
        rows = self._select(codec, [codec.table.c.scoreId == score_id], [codec.order.desc()],
                            limit=1)
        return rows[0] if rows else None

    # ------------------------------------------------------------------ discovery
    def _context_tables(self) -> list[sa.Table]:
        """Spans and the four signal tables: where context values are discovered."""
        return [self.table, *(c.table for c in self._codecs())]

    def _distinct_strings(self, column: str, where: Callable[[sa.Table], list[Cond]]
                          | None = None) -> list[str]:
        parts = [sa.select(t.c[column].label("v")).where(t.c[column].is_not(None),
                                                          *(where(t) if where else []))
                 .distinct() for t in self._context_tables()]
        with self.engine.connect() as conn:
            values = {r[0] for r in conn.execute(sa.union(*parts))}
        return sorted(v for v in values if isinstance(v, str) and v)

    def discover_entity_types(self) -> list[str]:
        return self._distinct_strings("entityType")

    def discover_entity_names(self, entity_type: str | None = None) -> list[str]:
        where = None if entity_type is None else (lambda t: [t.c.entityType == entity_type])
        return self._distinct_strings("entityName", where)

    def discover_service_names(self) -> list[str]:
        return self._distinct_strings("serviceName")

    def discover_environments(self) -> list[str]:
        return self._distinct_strings("environment")

    def discover_tags(self, entity_type: str | None = None) -> list[str]:
        d = self.dialect
        parts = []
        for t in self._context_tables():
            each, elem = (d.json_string_elements(t.c.tags, "tg") if t is self.table
                          else d.signal_tag_elements(t.c.tags, "tg"))
            stmt = sa.select(elem.label("v")).select_from(d.join_each(t, each)).where(
                elem.is_not(None)).distinct()
            if entity_type is not None:
                stmt = stmt.where(t.c.entityType == entity_type)
            parts.append(stmt)
        with self.engine.connect() as conn:
            values = {r[0] for r in conn.execute(sa.union(*parts))}
        return sorted(v for v in values if isinstance(v, str) and v)

    def discover_metric_names(self, prefix: str | None = None,
                              limit: int | None = None) -> list[str]:
        t = self._signal("metrics", "metric discovery").table
        with self.engine.connect() as conn:
            names = sorted({r[0] for r in conn.execute(sa.select(t.c.name).distinct())
                            if prefix is None or r[0].startswith(prefix)})
        return names[:limit] if limit else names

    def _label_keys_statement(self, metric_name: str) -> sa.Select[Any]:
        d = self.dialect
        t = self._signal("metrics", "metric discovery").table
        each, key, _ = d.json_members(t.c.labels, "lk")
        return sa.select(key.label("k")).select_from(d.join_each(t, each)).where(
            t.c.name == metric_name).distinct()

    def discover_metric_label_keys(self, metric_name: str) -> list[str]:
        with self.engine.connect() as conn:
            return sorted(r[0] for r in conn.execute(self._label_keys_statement(metric_name)))

    def discover_metric_label_values(self, metric_name: str, label_key: str,
                                     prefix: str | None = None,
                                     limit: int | None = None) -> list[str]:
        t = self._signal("metrics", "metric discovery").table
        value = self.dialect.json_member(t.c.labels, label_key)
        stmt = sa.select(value.label("v")).where(t.c.name == metric_name).distinct()
        with self.engine.connect() as conn:
            values = sorted(v for (v,) in conn.execute(stmt)
                            if v is not None and (prefix is None or v.startswith(prefix)))
        return values[:limit] if limit else values


__all__ = ["SIGNAL_NAMES", "SignalsMixin"]
