"""Logs, metrics, scores and feedback on ClickHouse: writes, reads, metric analytics,
discovery and retention (a mixin of :class:`~.store.ClickHouseStore`).

The tables are Mastra's v-next tables (:mod:`.signal_ddl`): ``ReplacingMergeTree``
without a version column, keyed by ``(…, timestamp, <id>)``. Every read uses ``FINAL``,
so a retried batch (same ids, same timestamps, same key) is seen once whether or not the
merges have run. The tables are partitioned by day on ``timestamp``, which is part of the
key: two copies of a row are always in the same partition, so ``FINAL`` need not merge
across partitions. Reads say so (``do_not_merge_across_partitions_select_final=1``);
recent servers work that out themselves (measured: no difference on ClickHouse 26.9),
older ones then de-duplicate each partition on its own.

Aggregates run in the engine: ``sum/avg/min/max``, ``count()``, ``argMax(value,
timestamp)`` for ``last``, ``uniqExact`` for ``count_distinct``, ``toStartOfInterval``
buckets, and ``quantilesExactInclusive`` for percentiles (linear interpolation between
the closest ranks, the in-memory store's :func:`~..memory.percentile`). Every value the
caller supplies is a typed query parameter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from ...model.jsonsafe import BAD_CHARS, clean_text, loads
from ...model.signals import (
    REVIEW_STATUSES,
    FeedbackRecord,
    LogRecord,
    MetricRecord,
    ScoreRecord,
)
from ...model.time import truncate_ms
from ..base import check_id
from ..memory import check_signals
from ..signal_queries import (
    ALL_FEATURES,
    DISTINCT_COLUMNS,
    GROUP_COLUMNS,
    AggregateResult,
    BreakdownGroup,
    Feature,
    FeedbackFilter,
    LogsFilter,
    MetricAggregateRequest,
    MetricBreakdownRequest,
    MetricPercentilesRequest,
    MetricsFilter,
    MetricTimeseriesRequest,
    Page,
    PercentileSeries,
    ScoresFilter,
    Series,
    SeriesPoint,
    SignalFilter,
    SignalOrder,
    TimeRange,
    change_percent,
    check_page,
    comparison_window,
    replace_filter,
)
from . import signal_ddl
from .ddl import SchemaOptions, quote_ident
from .expressions import ROOT, Params, json_key_equals, ts_text
from .slices import row_slices

if TYPE_CHECKING:
    from .store import VersionClock

SIGNAL_NAMES = signal_ddl.SIGNALS
INTERVAL_SQL = {"1m": "INTERVAL 1 MINUTE", "5m": "INTERVAL 5 MINUTE",
                "15m": "INTERVAL 15 MINUTE", "1h": "INTERVAL 1 HOUR", "1d": "INTERVAL 1 DAY"}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NEEDS_REVIEW = "needs-review"


_ONE_MS = timedelta(milliseconds=1)


_EPOCH_NAIVE = datetime(1970, 1, 1)


def _ms(value: datetime) -> int:
    """Milliseconds since the epoch, truncated (naive means UTC): DateTime64(3) takes
    them as they are."""
    if value.tzinfo is None:
        return (value - _EPOCH_NAIVE) // _ONE_MS
    return (value - _EPOCH) // _ONE_MS


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return truncate_ms(value)
    if isinstance(value, date):  # a Date bucket (1d intervals on some servers)
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    raise TypeError(f"not a timestamp: {value!r}")


def _text(value: Any) -> Any:
    if value is None:
        return None
    return clean_text(value if isinstance(value, str) else str(value))


def _texts(column: Sequence[Any], required: bool = False) -> list[Any]:
    """A text column as stored: NUL and lone surrogates become U+FFFD (the shared rule),
    non-strings become text, and a required column gets '' for None. One scan of the
    joined column decides whether anything needs fixing (it almost never does)."""
    try:
        joined = "".join(filter(None, column))
    except TypeError:  # something that is not a str
        joined = None
    clean = joined is not None and (
        ("\x00" not in joined and joined.isascii()) or not BAD_CHARS.search(joined))
    out = list(column) if clean else [_text(v) for v in column]
    if required and None in out:
        out = [v if v is not None else "" for v in out]
    return out


# ---------------------------------------------------------------------------- row codec

@dataclass(frozen=True)
class SignalCodec:
    """How one signal's records become the columns of Mastra's table, and back."""

    signal: str
    names: tuple[str, ...]  # Mastra's columns, in its order
    types: tuple[str, ...]
    attrs: tuple[str, ...]  # record attribute of each column
    id_name: str

    @classmethod
    def of(cls, signal: str) -> SignalCodec:
        spec = signal_ddl.spec(signal)
        attr_of = {c.name: c.attr for c in spec.columns}
        cols = signal_ddl.mastra_columns(signal)
        return cls(signal, tuple(n for n, _ in cols), tuple(t for _, t in cols),
                   tuple(attr_of[n] for n, _ in cols), spec.columns[0].name)

    @property
    def select(self) -> str:
        return ", ".join(quote_ident(n) for n in self.names)

    def encode(self, records: Sequence[Any], encode_json: Any) -> list[list[Any]]:
        """Column-oriented values for one INSERT."""
        getter = attrgetter(*self.attrs)
        pivot = list(zip(*map(getter, records), strict=True))
        out: list[list[Any]] = []
        for attr, ch_type, column in zip(self.attrs, self.types, pivot, strict=True):
            if ch_type.startswith("DateTime64"):
                out.append(list(map(_ms, column)))
            elif ch_type.startswith("Array("):
                out.append([_texts([t for t in v if t is not None], True) if v else []
                            for v in column])
            elif ch_type.startswith("Map("):
                out.append([_labels(v) for v in column])
            elif "Float64" in ch_type:
                out.append([float(v) if v is not None else None for v in column])
            elif attr in _JSON_ATTRS:
                out.append([encode_json(v) if v is not None else None for v in column])
            else:  # text; a non-Nullable one never gets NULL
                out.append(_texts(column, not ch_type.startswith(
                    ("Nullable(", "LowCardinality(Nullable("))))
        return out

    def decode(self, row: Sequence[Any], review_status: str | None = None) -> Any:
        values: dict[str, Any] = {}
        for attr, ch_type, value in zip(self.attrs, self.types, row, strict=True):
            if ch_type.startswith("DateTime64"):
                value = _utc(value)
            elif ch_type.startswith("Array("):
                value = list(value) if value else None
            elif ch_type.startswith("Map("):
                value = dict(value) if value else {}
            elif attr in _JSON_ATTRS:
                value = None if value in (None, "") else loads(value)
            elif "Float64" in ch_type and value is not None:
                value = float(value)
            values[attr] = value
        if self.signal == "feedback":
            values["review_status"] = review_status or _NEEDS_REVIEW
        return signal_ddl.spec(self.signal).record(**values)


def _labels(value: Any) -> dict[str, str]:
    """Metric labels as Map(String, String): text keys and values (None becomes '')."""
    if not value:
        return {}
    keys, values = _texts(list(value.keys())), _texts(list(value.values()), True)
    return dict(zip(keys, values, strict=True))


_JSON_ATTRS = frozenset({"data", "metadata", "scope", "cost_metadata"})
CODECS: dict[str, SignalCodec] = {s: SignalCodec.of(s) for s in SIGNAL_NAMES}
_COLUMN_OF: dict[str, dict[str, str]] = {
    s: {c.attr: c.name for c in signal_ddl.spec(s).columns} for s in SIGNAL_NAMES}
_AGGREGATES = {"sum": "sum(`value`)", "avg": "avg(`value`)", "min": "min(`value`)",
               "max": "max(`value`)", "count": "toFloat64(count())",
               "last": "argMax(`value`, `timestamp`)"}


def _aggregate_sql(aggregation: str, distinct_column: str | None, cond: str | None = None
                   ) -> str:
    """The engine's aggregate for a request (``cond``: only the rows where it holds)."""
    if aggregation == "count_distinct":
        col = _COLUMN_OF["metrics"][DISTINCT_COLUMNS[distinct_column or ""]]
        inner = f"uniqExact(`{col}`)" if cond is None else f"uniqExactIf(`{col}`, {cond})"
        return f"toFloat64({inner})"
    expr = _AGGREGATES[aggregation]
    if cond is None:
        return expr
    if aggregation == "count":
        return f"toFloat64(countIf({cond}))"
    name, _, args = expr.partition("(")
    return f"{name}If({args[:-1]}, {cond})"


def _agg_value(aggregation: str, n: int, value: Any) -> float | None:
    """None when no row matched (a distinct count is 0 then), as the in-memory store."""
    if aggregation == "count_distinct":
        return float(value or 0)
    return None if not n else float(value)


def _unit(units: Sequence[str]) -> str | None:
    return units[0] if len(units) == 1 else None


def _cost(value: Any) -> float | None:
    return None if value is None else float(value)


def time_conditions(window: TimeRange | None, p: Params, column: str = "timestamp"
                    ) -> list[str]:
    if window is None:
        return []
    out = []
    if window.start is not None:
        out.append(f"`{column}` {'>' if window.start_exclusive else '>='} {p.ts(window.start)}")
    if window.end is not None:
        out.append(f"`{column}` {'<' if window.end_exclusive else '<='} {p.ts(window.end)}")
    return out


def filter_conditions(signal: str, f: SignalFilter, p: Params, review_table: str = ""
                      ) -> list[str]:
    """WHERE conditions of a signal filter (the in-memory store's ``*_matches``)."""
    columns = _COLUMN_OF[signal]
    conds = [f"`{columns[attr]}` = {p.add(value, 'String')}" for attr, value in f.equalities()]
    conds += time_conditions(f.timestamp, p)
    if f.tags:
        conds.append(f"hasAll(`tags`, {p.add(list(f.tags), 'Array(String)')})")
    if isinstance(f, LogsFilter):
        if f.level:
            conds.append(f"`level` IN {p.add(list(f.level), 'Array(String)')}")
        if f.search:
            conds.append(f"positionCaseInsensitiveUTF8(`message`, {p.add(f.search, 'String')}) > 0")
    elif isinstance(f, MetricsFilter):
        if f.name:
            conds.append(f"`name` IN {p.add(list(f.name), 'Array(String)')}")
        if f.trace_ids is not None:
            conds.append(f"`traceId` IN {p.add(list(f.trace_ids), 'Array(String)')}")
        for attr in ("provider", "model", "cost_unit"):
            wanted = getattr(f, attr)
            if wanted is not None:
                conds.append(f"`{columns[attr]}` = {p.add(wanted, 'String')}")
        for key, value in (f.labels or {}).items():
            k = p.add(key, "String")
            if value is None:
                conds.append(f"NOT mapContains(`labels`, {k})")
            else:
                conds.append(f"(mapContains(`labels`, {k}) AND `labels`[{k}] = "
                             f"{p.add(str(value), 'String')})")
    elif isinstance(f, ScoresFilter):
        if f.scorer_id:
            conds.append(f"`scorerId` IN {p.add(list(f.scorer_id), 'Array(String)')}")
        if f.score_source is not None:
            conds.append(f"`scoreSource` = {p.add(f.score_source, 'String')}")
        for key, value in (f.metadata or {}).items():
            conds.append(json_key_equals("metadata", key, value, p))
    elif isinstance(f, FeedbackFilter):
        if f.feedback_type:
            conds.append(f"`feedbackType` IN {p.add(list(f.feedback_type), 'Array(String)')}")
        for attr in ("feedback_source", "feedback_user_id"):
            wanted = getattr(f, attr)
            if wanted is not None:
                conds.append(f"`{columns[attr]}` = {p.add(wanted, 'String')}")
        if f.review_status is not None:
            # A feedback without a review row is "needs-review".
            reviewed = (f"SELECT `feedbackId` FROM {review_table} FINAL "
                        f"WHERE `reviewStatus` != {p.add(_NEEDS_REVIEW, 'String')}")
            if f.review_status == _NEEDS_REVIEW:
                conds.append(f"`feedbackId` NOT IN ({reviewed})")
            else:
                conds.append(
                    f"`feedbackId` IN (SELECT `feedbackId` FROM {review_table} FINAL "
                    f"WHERE `reviewStatus` = {p.add(f.review_status, 'String')})")
    return conds


def _slices(cols: list[list[Any]], types: Sequence[str], n: int, max_rows: int,
            max_bytes: int) -> list[tuple[int, int]]:
    """Row ranges of at most ``max_rows`` rows and ``max_bytes`` of text."""
    text = [c for c, t in zip(cols, types, strict=True)
            if t in ("String", "Nullable(String)", "LowCardinality(String)",
                     "LowCardinality(Nullable(String))")]
    return row_slices(text, n, max_rows, max_bytes)


def _where(conds: Sequence[str]) -> str:
    return f" WHERE {' AND '.join(conds)}" if conds else ""


class SignalsMixin:
    """The signal half of :class:`~.store.ClickHouseStore`.

    Where the spans take part (discovery, prune, stats) it goes through three hooks the
    v-next layout overrides (:mod:`.vnext`): :meth:`_span_context_source`,
    :meth:`_old_trace_ids` / :meth:`_delete_trace_spans` and :meth:`_span_stats_query`.
    """

    if TYPE_CHECKING:
        schema: SchemaOptions
        database: str
        client: Any
        insert_settings: dict[str, Any]
        read_settings: dict[str, Any] | None
        max_insert_rows: int
        max_insert_bytes: int
        delete_method: str
        clock: VersionClock

        @property
        def helpers(self) -> bool: ...

        def query_rows(self, sql: str, params: dict[str, Any] | None = None,
                       settings: dict[str, Any] | None = None) -> list[tuple[Any, ...]]: ...

        def command(self, sql: str, params: dict[str, Any] | None = None,
                    settings: dict[str, Any] | None = None) -> Any: ...

        def _encode_json(self, value: Any) -> str | None: ...

        def _delete_where(self, condition: str, params: dict[str, Any]) -> None: ...

        def _delete_trace_spans(self, trace_ids: Sequence[str]) -> int: ...

    # ------------------------------------------------------------------ plumbing
    @property
    def signal_settings(self) -> dict[str, Any]:
        """Read settings for queries on the signal tables only (see the module doc)."""
        return {**(self.read_settings or {}),
                "do_not_merge_across_partitions_select_final": 1}

    def _table(self, signal: str) -> str:
        return signal_ddl.qualified(signal, self.schema)

    def _signal_rows(self, sql: str, params: dict[str, Any] | None = None
                     ) -> list[tuple[Any, ...]]:
        return self.query_rows(sql, params, settings=self.signal_settings)

    def features(self) -> frozenset[Feature]:
        """Everything the in-memory store answers, except delta polling."""
        return ALL_FEATURES - {Feature.DELTA_POLLING}

    # ------------------------------------------------------------------ writes
    def _insert_signal(self, signal: str, records: Sequence[Any]) -> None:
        """INSERTs in column form with the column types given (no DESCRIBE), each within
        ``max_insert_rows`` rows and ``max_insert_bytes`` of text (a larger row goes
        alone). A retried batch inserts rows with the same keys: FINAL and the merges
        keep one copy (see :mod:`.signal_ddl`)."""
        if not records:
            return
        codec = CODECS[signal]
        cols = codec.encode(records, self._encode_json)
        n = len(records)
        for start, end in _slices(cols, codec.types, n, self.max_insert_rows,
                                  self.max_insert_bytes):
            self.client.insert(
                signal_ddl.table_name(signal),
                cols if (start, end) == (0, n) else [c[start:end] for c in cols],
                column_names=list(codec.names), database=self.database,
                column_type_names=list(codec.types), column_oriented=True,
                settings=self.insert_settings)

    def batch_create_logs(self, records: Sequence[LogRecord]) -> None:
        self._insert_signal("logs", records)

    def batch_create_metrics(self, records: Sequence[MetricRecord]) -> None:
        self._insert_signal("metrics", records)

    def batch_create_scores(self, records: Sequence[ScoreRecord]) -> None:
        self._insert_signal("scores", records)

    def batch_create_feedback(self, records: Sequence[FeedbackRecord]) -> None:
        if not records:
            return
        self._insert_signal("feedback", records)
        # The status a record was created with, at the lowest version: a later
        # update_feedback_review_status always wins, a re-created record replaces it.
        self._insert_review([(r.feedback_id, r.review_status) for r in records], _EPOCH)

    def _insert_review(self, rows: Sequence[tuple[str, str]], version: datetime) -> None:
        ms = _ms(version)
        self.client.insert(
            signal_ddl.REVIEW_TABLE,
            [[_text(r[0]) for r in rows], [r[1] or _NEEDS_REVIEW for r in rows],
             [ms] * len(rows)],
            column_names=["feedbackId", "reviewStatus", "updatedAt"], database=self.database,
            column_type_names=["String", "LowCardinality(String)", "DateTime64(3, 'UTC')"],
            column_oriented=True, settings=self.insert_settings)

    def update_feedback_review_status(self, feedback_id: str,
                                      review_status: str) -> FeedbackRecord | None:
        """Set a feedback's review status (a new version in the review table); None when
        there is no such feedback."""
        check_id(feedback_id, "feedback_id")
        if review_status not in REVIEW_STATUSES:
            raise ValueError(f"review_status must be one of {', '.join(REVIEW_STATUSES)}; "
                             f"got {review_status!r}")
        found = self._select_signals("feedback", ["`feedbackId` = {id:String}"],
                                     {"id": feedback_id}, limit=1)
        if not found:
            return None
        self._insert_review([(feedback_id, review_status)], self.clock.next())
        item: FeedbackRecord = replace(found[0], review_status=review_status)
        return item

    # ------------------------------------------------------------------ reads
    def _select_signals(self, signal: str, conds: Sequence[str], params: dict[str, Any],
                        order: str = "", limit: int | None = None, offset: int = 0
                        ) -> list[Any]:
        codec = CODECS[signal]
        sql = f"SELECT {codec.select} FROM {self._table(signal)} FINAL{_where(conds)}"
        if order:
            sql += f" ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
        rows = self._signal_rows(sql, params)
        if signal != "feedback":
            return [codec.decode(r) for r in rows]
        statuses = self._review_statuses([r[codec.names.index("feedbackId")] for r in rows])
        return [codec.decode(r, statuses.get(r[codec.names.index("feedbackId")]))
                for r in rows]

    def _review_statuses(self, ids: Sequence[str]) -> dict[str, str]:
        if not ids:
            return {}
        rows = self.query_rows(
            f"SELECT `feedbackId`, `reviewStatus` FROM {signal_ddl.review_table(self.schema)} "
            "FINAL WHERE `feedbackId` IN {ids:Array(String)}", {"ids": list(set(ids))})
        return {r[0]: r[1] for r in rows}

    def _list(self, signal: str, f: SignalFilter, page: int, per_page: int,
              order: SignalOrder | None) -> Page[Any]:
        check_page(page, per_page)
        order = order or SignalOrder()
        if order.field == "score" and signal != "scores":
            raise ValueError("only scores can be ordered by score")
        p = Params()
        conds = filter_conditions(signal, f, p, signal_ddl.review_table(self.schema))
        table = self._table(signal)
        total = int(self._signal_rows(f"SELECT count() FROM {table} FINAL{_where(conds)}",
                                      p.values)[0][0])
        if total <= page * per_page:
            return Page([], total, page, per_page)
        d = order.direction
        codec = CODECS[signal]
        # Ties (same timestamp/score) in id order: a stable page order.
        items = self._select_signals(signal, conds, p.values,
                                     f"`{order.field}` {d}, `{codec.id_name}` {d}",
                                     per_page, page * per_page)
        return Page(items, total, page, per_page)

    def list_logs(self, filters: LogsFilter | None = None, page: int = 0, per_page: int = 10,
                  order: SignalOrder | None = None) -> Page[LogRecord]:
        return self._list("logs", filters or LogsFilter(), page, per_page, order)

    def list_metrics(self, filters: MetricsFilter | None = None, page: int = 0,
                     per_page: int = 10, order: SignalOrder | None = None) -> Page[MetricRecord]:
        return self._list("metrics", filters or MetricsFilter(), page, per_page, order)

    def list_scores(self, filters: ScoresFilter | None = None, page: int = 0,
                    per_page: int = 10, order: SignalOrder | None = None) -> Page[ScoreRecord]:
        return self._list("scores", filters or ScoresFilter(), page, per_page, order)

    def list_feedback(self, filters: FeedbackFilter | None = None, page: int = 0,
                      per_page: int = 10,
                      order: SignalOrder | None = None) -> Page[FeedbackRecord]:
        return self._list("feedback", filters or FeedbackFilter(), page, per_page, order)

    def get_score(self, score_id: str) -> ScoreRecord | None:
        check_id(score_id, "score_id")
        rows = self._select_signals("scores", ["`scoreId` = {id:String}"], {"id": score_id},
                                    limit=1)
        return rows[0] if rows else None

    # ------------------------------------------------------------------ metrics
    def _metric_conditions(self, filters: MetricsFilter | None, names: Sequence[str],
                           p: Params) -> list[str]:
        conds = [f"`name` IN {p.add(list(names), 'Array(String)')}"]
        return conds + filter_conditions("metrics", filters or MetricsFilter(), p)

    def metric_aggregate(self, request: MetricAggregateRequest) -> AggregateResult:
        """One scan: the KPI and, with a comparison, the earlier window beside it."""
        window = comparison_window(request.filters, request.compare_period)
        agg, distinct = request.aggregation, request.distinct_column
        p = Params()
        table = self._table("metrics")
        if window is None:
            conds = self._metric_conditions(request.filters, request.name, p)
            sql = (f"SELECT count(), {_aggregate_sql(agg, distinct)}, sum(`estimatedCost`), "
                   f"groupUniqArray(`costUnit`) FROM {table} FINAL{_where(conds)}")
            n, value, cost, units = self._signal_rows(sql, p.values)[0]
            return AggregateResult(_agg_value(agg, n, value), _cost(cost), _unit(units))
        assert request.filters is not None and request.filters.timestamp is not None
        base = replace_filter(request.filters, timestamp=None)
        conds = self._metric_conditions(base, request.name, p)
        now = " AND ".join(time_conditions(request.filters.timestamp, p))
        before = " AND ".join(time_conditions(window, p))
        conds.append(f"(({now}) OR ({before}))")
        sql = (f"SELECT countIf({now}), {_aggregate_sql(agg, distinct, now)}, "
               f"sumIf(`estimatedCost`, {now}), groupUniqArrayIf(`costUnit`, {now}), "
               f"countIf({before}), {_aggregate_sql(agg, distinct, before)}, "
               f"sumIf(`estimatedCost`, {before}) FROM {table} FINAL{_where(conds)}")
        n, value, cost, units, n0, value0, cost0 = self._signal_rows(sql, p.values)[0]
        current, previous = _agg_value(agg, n, value), _agg_value(agg, n0, value0)
        cost_now = _cost(cost) if n else None
        cost_before = _cost(cost0) if n0 else None
        return AggregateResult(
            current, cost_now, _unit(units), previous_value=previous,
            change_percent=change_percent(current, previous),
            previous_estimated_cost=cost_before,
            cost_change_percent=change_percent(cost_now, cost_before), compared=True)

    def _group_expressions(self, keys: Sequence[str], p: Params) -> list[str]:
        """A metric column, or else a label (NULL where the row has no such label)."""
        out = []
        for key in keys:
            attr = GROUP_COLUMNS.get(key)
            if attr is not None:
                out.append(f"CAST(`{_COLUMN_OF['metrics'][attr]}` AS Nullable(String))")
            else:
                k = p.add(key, "String")
                out.append(f"if(mapContains(`labels`, {k}), `labels`[{k}], NULL)")
        return out

    def metric_breakdown(self, request: MetricBreakdownRequest) -> list[BreakdownGroup]:
        p = Params()
        groups = self._group_expressions(request.group_by, p)
        conds = self._metric_conditions(request.filters, request.name, p)
        aliases = [f"g{i}" for i in range(len(groups))]
        d = request.order_direction
        sql = (f"SELECT {', '.join(f'{g} AS {a}' for g, a in zip(groups, aliases, strict=True))}, "
               f"{_aggregate_sql(request.aggregation, request.distinct_column)} AS v, "
               f"sum(`estimatedCost`), groupUniqArray(`costUnit`) "
               f"FROM {self._table('metrics')} FINAL{_where(conds)} "
               f"GROUP BY {', '.join(aliases)} ORDER BY v {d}, {', '.join(aliases)}")
        if request.limit:
            sql += f" LIMIT {p.add(request.limit, 'UInt32')}"
        out = []
        for row in self._signal_rows(sql, p.values):
            dims = dict(zip(request.group_by, row[:len(groups)], strict=True))
            value, cost, units = row[len(groups):]
            out.append(BreakdownGroup(dims, float(value), _cost(cost), _unit(units)))
        return out

    def metric_timeseries(self, request: MetricTimeseriesRequest) -> list[Series]:
        p = Params()
        keys = list(request.group_by or ())
        groups = [f"ifNull({g}, '')" for g in self._group_expressions(keys, p)]
        conds = self._metric_conditions(request.filters, request.name, p)
        bucket = f"toStartOfInterval(`timestamp`, {INTERVAL_SQL[request.interval]})"
        select = [*(f"{g} AS g{i}" for i, g in enumerate(groups)), f"{bucket} AS bucket",
                  _aggregate_sql(request.aggregation, request.distinct_column),
                  "sum(`estimatedCost`)", "groupUniqArray(`costUnit`)"]
        grouping = [*(f"g{i}" for i in range(len(groups))), "bucket"]
        rows = self._signal_rows(
            f"SELECT {', '.join(select)} FROM {self._table('metrics')} FINAL{_where(conds)} "
            f"GROUP BY {', '.join(grouping)} ORDER BY {', '.join(grouping)}", p.values)
        series: dict[tuple[str, ...], tuple[Series, set[str]]] = {}
        if not keys:
            series[()] = (Series(",".join(request.name)), set())
        for row in rows:
            key = tuple(row[:len(groups)])
            ts, value, cost, units = row[len(groups):]
            if key not in series:
                series[key] = (Series("|".join(key)), set())
            item, seen = series[key]
            item.points.append(SeriesPoint(_utc(ts), float(value), _cost(cost)))  # type: ignore[arg-type]
            seen.update(units)
        out = []
        for item, seen in series.values():
            item.cost_unit = next(iter(seen)) if len(seen) == 1 else None
            out.append(item)
        return out

    def metric_percentiles(self, request: MetricPercentilesRequest) -> list[PercentileSeries]:
        p = Params()
        conds = self._metric_conditions(request.filters, [request.name], p)
        levels = ", ".join(p.add(q, "Float64") for q in request.percentiles)
        bucket = f"toStartOfInterval(`timestamp`, {INTERVAL_SQL[request.interval]})"
        rows = self._signal_rows(
            f"SELECT {bucket} AS bucket, quantilesExactInclusive({levels})(`value`) "
            f"FROM {self._table('metrics')} FINAL{_where(conds)} "
            "GROUP BY bucket ORDER BY bucket", p.values)
        return [PercentileSeries(q, [SeriesPoint(_utc(ts), float(values[i]))  # type: ignore[arg-type]
                                     for ts, values in rows])
                for i, q in enumerate(request.percentiles)]

    # ------------------------------------------------------------------ discovery
    def _span_context_source(self) -> tuple[str, str]:
        """(FROM clause of the span rows, their tags as Array(Nullable(String)))."""
        return (f"{self.schema.spans} FINAL",
                "JSONExtract(ifNull(`tags`, '[]'), 'Array(Nullable(String))')")

    def _context_union(self, select: str, where: str = "") -> str:
        """``select`` over the spans and every signal table, UNION ALL (each FINAL).
        ``select`` may use ``{tags}``: the row's tags as Array(Nullable(String))."""
        parts = []
        for source, tags in (self._span_context_source(),
                             *((f"{self._table(s)} FINAL",
                                "CAST(`tags` AS Array(Nullable(String)))")
                               for s in ("logs", "metrics", "scores", "feedback"))):
            parts.append(f"SELECT {select.format(tags=tags)} FROM {source}"
                         + (f" WHERE {where}" if where else ""))
        return " UNION ALL ".join(parts)

    def _distinct_context(self, column: str, where: str = "",
                          params: dict[str, Any] | None = None) -> list[str]:
        union = self._context_union(f"CAST(`{column}` AS Nullable(String)) AS v", where)
        rows = self.query_rows(
            f"SELECT v FROM ({union}) WHERE v IS NOT NULL AND v != '' GROUP BY v ORDER BY v",
            params)
        return [r[0] for r in rows]

    def discover_entity_types(self) -> list[str]:
        return self._distinct_context("entityType")

    def discover_entity_names(self, entity_type: str | None = None) -> list[str]:
        if entity_type is None:
            return self._distinct_context("entityName")
        return self._distinct_context("entityName", "`entityType` = {t:String}",
                                      {"t": entity_type})

    def discover_service_names(self) -> list[str]:
        return self._distinct_context("serviceName")

    def discover_environments(self) -> list[str]:
        return self._distinct_context("environment")

    def discover_tags(self, entity_type: str | None = None) -> list[str]:
        where = "" if entity_type is None else "`entityType` = {t:String}"
        union = self._context_union("arrayJoin({tags}) AS v", where)
        rows = self.query_rows(
            f"SELECT v FROM ({union}) WHERE v IS NOT NULL AND v != '' GROUP BY v ORDER BY v",
            None if entity_type is None else {"t": entity_type})
        return [r[0] for r in rows]

    def discover_metric_names(self, prefix: str | None = None,
                              limit: int | None = None) -> list[str]:
        # ``name`` is in the table's key: copies of a row share it, no FINAL needed.
        p = Params()
        where = f" WHERE startsWith(`name`, {p.add(prefix, 'String')})" if prefix else ""
        sql = f"SELECT DISTINCT `name` FROM {self._table('metrics')}{where} ORDER BY `name`"
        if limit:
            sql += f" LIMIT {p.add(limit, 'UInt32')}"
        return [r[0] for r in self._signal_rows(sql, p.values)]

    def discover_metric_label_keys(self, metric_name: str) -> list[str]:
        rows = self._signal_rows(
            f"SELECT DISTINCT arrayJoin(mapKeys(`labels`)) AS k FROM {self._table('metrics')} "
            "FINAL WHERE `name` = {n:String} ORDER BY k", {"n": metric_name})
        return [r[0] for r in rows]

    def discover_metric_label_values(self, metric_name: str, label_key: str,
                                     prefix: str | None = None,
                                     limit: int | None = None) -> list[str]:
        p = Params()
        k = p.add(label_key, "String")
        conds = [f"`name` = {p.add(metric_name, 'String')}", f"mapContains(`labels`, {k})"]
        if prefix:
            conds.append(f"startsWith(`labels`[{k}], {p.add(prefix, 'String')})")
        sql = (f"SELECT DISTINCT `labels`[{k}] AS v FROM {self._table('metrics')} FINAL"
               f"{_where(conds)} ORDER BY v")
        if limit:
            sql += f" LIMIT {p.add(limit, 'UInt32')}"
        return [r[0] for r in self._signal_rows(sql, p.values)]

    # ------------------------------------------------------------------ retention
    def _delete_signal_where(self, signal: str, condition: str, params: dict[str, Any]
                             ) -> None:
        table = f"{signal_ddl.qualified_local(signal, self.schema)}{self.schema.on_cluster}"
        if self.delete_method == "lightweight":
            self.command(f"DELETE FROM {table} WHERE {condition}", params,
                         settings={"lightweight_deletes_sync": 2})
        else:
            self.command(f"ALTER TABLE {table} DELETE WHERE {condition}", params,
                         settings={"mutations_sync": 2})

    def _delete_signals_of_traces(self, trace_ids: Sequence[str]) -> None:
        """Delete the logs, metrics, scores and feedback of these traces (every table that
        has any; one count query decides which)."""
        if not trace_ids:
            return
        params = {"ids": list(trace_ids)}
        tables = ("logs", "metrics", "scores", "feedback")
        counts = self._signal_rows(
            "SELECT " + ", ".join(
                f"(SELECT count() FROM {self._table(s)} WHERE `traceId` IN {{ids:Array(String)}})"
                for s in tables), params)[0]
        for signal, count in zip(tables, counts, strict=True):
            if count:
                self._delete_signal_where(signal, "`traceId` IN {ids:Array(String)}", params)

    def _old_trace_ids(self, cutoff: datetime) -> list[str]:
        p = Params()
        conds = [ROOT, f"`startedAt` < {p.ts(cutoff)}"]
        if self.helpers:
            conds.append("`_isChild` = false")
        rows = self.query_rows(f"SELECT DISTINCT `traceId` FROM {self.schema.spans} FINAL "
                               f"WHERE {' AND '.join(conds)}", p.values)
        return [r[0] for r in rows]

    def prune(self, older_than: datetime, signals: Sequence[str] | None = None,
              batch_size: int = 1000) -> dict[str, int]:
        """Delete whole traces whose root started before ``older_than`` (every span, log,
        metric, score and feedback of them) and signal rows older than it; returns the
        rows deleted per signal. Signals first, then spans, so that a prune interrupted
        half-way finds the same traces again when re-run. ``batch_size`` traces per
        statement."""
        chosen = check_signals(signals)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        cutoff = truncate_ms(older_than)
        counts = dict.fromkeys(chosen, 0)
        old = self._old_trace_ids(cutoff) if "spans" in chosen else []
        chunks = [old[i:i + batch_size] for i in range(0, len(old), batch_size)]
        cut = {"c": ts_text(cutoff)}
        for signal in chosen:
            if signal == "spans":
                continue
            table = self._table(signal)
            older = "`timestamp` < {c:DateTime64(3, 'UTC')}"
            n = int(self._signal_rows(f"SELECT count() FROM {table} FINAL WHERE {older}",
                                      cut)[0][0])
            if n:
                self._delete_signal_where(signal, older, cut)
            for chunk in chunks:
                params = {**cut, "ids": chunk}
                of_traces = "`traceId` IN {ids:Array(String)}"
                found = int(self._signal_rows(
                    f"SELECT count() FROM {table} FINAL WHERE {of_traces} AND NOT ({older})",
                    params)[0][0])
                if found:
                    self._delete_signal_where(signal, of_traces, params)
                n += found
            counts[signal] = n
        for chunk in chunks:
            counts["spans"] += self._delete_trace_spans(chunk)
        return counts

    def _span_stats_query(self) -> tuple[str, list[str]]:
        """(A query for the spans' row count, oldest and newest start; the MergeTree
        tables their bytes are counted in)."""
        return (f"SELECT count(), minOrNull(`startedAt`), maxOrNull(`startedAt`) "
                f"FROM {self.schema.spans} FINAL", [self.schema.data_table])

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per signal: ``rows`` (exact, after de-duplication and deletes), ``bytes`` on
        disk of the active parts (system.parts; this node's parts in cluster mode), the
        ``oldest`` and ``newest`` timestamp (spans: ``startedAt``)."""
        queries = {"spans": self._span_stats_query(),
                   **{s: (f"SELECT count(), minOrNull(`timestamp`), maxOrNull(`timestamp`) "
                          f"FROM {self._table(s)} FINAL",
                          [signal_ddl.data_table(s, self.schema)])
                      for s in ("logs", "metrics", "scores", "feedback")}}
        sizes = dict(self.query_rows(
            "SELECT table, sum(bytes_on_disk) FROM system.parts WHERE active AND "
            "database = {db:String} AND table IN {t:Array(String)} GROUP BY table",
            {"db": self.database, "t": [t for _q, local in queries.values() for t in local]}))
        out: dict[str, dict[str, Any]] = {}
        for signal, (sql, local) in queries.items():
            n, oldest, newest = self.query_rows(sql)[0]
            out[signal] = {"rows": int(n), "bytes": sum(int(sizes.get(t, 0)) for t in local),
                           "oldest": _utc(oldest), "newest": _utc(newest)}
        return out


__all__ = ["CODECS", "SignalCodec", "SignalsMixin", "filter_conditions", "time_conditions"]
