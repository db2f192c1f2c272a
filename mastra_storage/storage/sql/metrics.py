"""Metric aggregates in SQL: KPI (with its comparison window), breakdown, time series and
percentiles, with exactly the in-memory store's semantics (``memory.aggregate`` & co.).

The database computes everything but SQLite's percentiles; Python shapes the result rows:

* ``sum avg min max count count_distinct``: the SQL aggregates; ``last``: the value of the
  latest row (time, then insertion order) through ``row_number()`` per group.
* Cost: ``SUM(estimatedCost)``; the cost unit is the one unit of the group (``MIN = MAX``),
  else None.
* Buckets: ``floor(epoch / interval) * interval`` in UTC, by the dialect.
* Percentiles: ``percentile_cont`` where the dialect has it (PostgreSQL aggregate, SQL
  Server window); SQLite has none: each bucket's values are read through the time index
  and sorted in Python (``memory.percentile`` on them, so the values are identical); past
  that path's bounds one statement picks the values around each rank (each bucket's
  sorted array, or ``row_number()``/``count()`` windows) and Python interpolates with the
  same formula.
* Breakdown groups and series keep the in-memory order: value order, ties in the order
  their first row was stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from ...model.time import UTC
from ..memory import percentile
from ..signal_queries import (
    DISTINCT_COLUMNS,
    GROUP_COLUMNS,
    INTERVALS,
    AggregateResult,
    BreakdownGroup,
    MetricAggregateRequest,
    MetricBreakdownRequest,
    MetricPercentilesRequest,
    MetricsFilter,
    MetricTimeseriesRequest,
    PercentileSeries,
    Series,
    SeriesPoint,
    Summary,
    compared_aggregate,
)
from .codec import SignalCodec
from .signals import SignalsMixin


def _epoch(seconds: Any) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC)


def _seconds(moment: datetime) -> int:
    """Whole seconds since the epoch; a time stored without an offset is UTC."""
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


class _Groups:
    """One grouped aggregation of metric rows (no keys: one group over all rows)."""

    def __init__(self, store: MetricsMixin, codec: SignalCodec, conds: Sequence[Any],
                 aggregation: str, distinct_column: str | None,
                 keys: Sequence[sa.ColumnElement[Any]]) -> None:
        t = codec.table
        # The keys are computed once, in a derived table (SQL Server can't group or
        # partition by a subquery, and a label lookup is one); "last" ranks the rows of
        # each group in another level above it.
        # Only what the aggregates read: rows go through a sort for GROUP BY, the narrower
        # the faster.
        cols: list[Any] = [k.label(f"g{i}") for i, k in enumerate(keys)]
        cols += [t.c.value.label("v"), t.c.estimatedCost.label("c"), t.c.costUnit.label("u")]
        if keys or aggregation == "last":
            cols.append(codec.order.label("o"))
        if aggregation == "last":
            cols.append(t.c.timestamp.label("ts"))
        if aggregation == "count_distinct":
            attr = DISTINCT_COLUMNS[distinct_column or ""]
            cols.append(codec.col(attr).label("dv"))
        inner = sa.select(*cols).where(*conds).subquery("mr")
        if aggregation == "last":
            groups = [inner.c[f"g{i}"] for i in range(len(keys))]
            rn = sa.func.row_number().over(partition_by=groups or None,
                                           order_by=[inner.c.ts.desc(), inner.c.o.desc()])
            inner = sa.select(*inner.c, rn.label("rn")).subquery("ml")
        self.group_cols = [inner.c[f"g{i}"] for i in range(len(keys))]
        agg: dict[str, sa.ColumnElement[Any]] = {
            "sum": sa.func.sum(inner.c.v), "avg": sa.func.avg(inner.c.v),
            "min": sa.func.min(inner.c.v), "max": sa.func.max(inner.c.v),
            "count": sa.func.count(),
        }
        value: sa.ColumnElement[Any]
        if aggregation == "count_distinct":
            value = sa.func.count(sa.distinct(inner.c.dv))
        elif aggregation == "last":
            value = sa.func.max(sa.case((inner.c.rn == 1, inner.c.v), else_=sa.null()))
        else:
            value = agg[aggregation]
        first = sa.func.min(inner.c.o) if keys else sa.literal(0)
        self.stmt = sa.select(
            *self.group_cols, value.label("value"), sa.func.count().label("n"),
            sa.func.sum(inner.c.c).label("cost"), sa.func.min(inner.c.u).label("umin"),
            sa.func.max(inner.c.u).label("umax"), first.label("first"),
        )
        if keys:
            self.stmt = self.stmt.group_by(*self.group_cols)
        self.aggregation = aggregation
        self.store = store
        self.table = t
        self.keyed = bool(keys)  # grouped: a group key may be outside the metric index

    def rows(self) -> list[Any]:
        with self.store.engine.connect() as conn:
            if self.keyed:
                self.store.dialect.before_metric_read(conn, self.table)
            return list(conn.execute(self.stmt).mappings())

    def value(self, row: Any) -> float | None:
        """The group's value as ``memory.aggregate`` gives it."""
        if self.aggregation == "count_distinct":
            return float(row["value"] or 0)
        if not row["n"]:
            return None
        return float(row["value"]) if row["value"] is not None else None


def _unit(row: Any) -> str | None:
    low, high = row["umin"], row["umax"]
    return low if low is not None and low == high else None


def _cost(row: Any) -> float | None:
    return float(row["cost"]) if row["cost"] is not None else None


class MetricsMixin(SignalsMixin):
    """``metric_aggregate``, ``metric_breakdown``, ``metric_timeseries``,
    ``metric_percentiles``."""

    def _group_key(self, codec: SignalCodec, key: str) -> sa.ColumnElement[Any]:
        """A breakdown/series key: a metric column, else a label of that name."""
        attr = GROUP_COLUMNS.get(key)
        if attr is not None:
            return codec.col(attr)
        return self.dialect.json_member(codec.table.c.labels, key)

    def _groups(self, filters: MetricsFilter | None, names: Sequence[str], aggregation: str,
                distinct_column: str | None, keys: Sequence[sa.ColumnElement[Any]] = ()
                ) -> _Groups:
        codec = self._signal("metrics", "metric aggregates")
        conds = self._metric_conditions(codec, filters, names)
        return _Groups(self, codec, conds, aggregation, distinct_column, keys)

    def metric_aggregate(self, request: MetricAggregateRequest) -> AggregateResult:
        def summary(filters: MetricsFilter | None) -> Summary:
            groups = self._groups(filters, request.name, request.aggregation,
                                  request.distinct_column)
            (row,) = groups.rows()
            return groups.value(row), _cost(row), _unit(row)

        return compared_aggregate(summary, request)

    def metric_breakdown(self, request: MetricBreakdownRequest) -> list[BreakdownGroup]:
        codec = self._signal("metrics", "metric breakdowns")
        keys = [self._group_key(codec, k) for k in request.group_by]
        groups = self._groups(request.filters, request.name, request.aggregation,
                              request.distinct_column, keys)
        rows = sorted(groups.rows(), key=lambda r: r["first"])  # first stored first
        out = []
        for row in rows:
            dims = {k: (None if row[f"g{i}"] is None else _dimension(row[f"g{i}"]))
                    for i, k in enumerate(request.group_by)}
            value = groups.value(row)
            out.append(BreakdownGroup(dims, value if value is not None else 0.0, _cost(row),
                                      _unit(row)))
        out.sort(key=lambda g: g.value, reverse=request.order_direction == "DESC")
        return out[: request.limit] if request.limit else out

    def metric_timeseries(self, request: MetricTimeseriesRequest) -> list[Series]:
        codec = self._signal("metrics", "metric time series")
        step = INTERVALS[request.interval]
        bucket = self.dialect.epoch_bucket(codec.table.c.timestamp, step)
        group_by = request.group_by or ()
        keys = [sa.func.coalesce(self._group_key(codec, k), "") for k in group_by]
        groups = self._groups(request.filters, request.name, request.aggregation,
                              request.distinct_column, [*keys, bucket])
        series: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in groups.rows():
            key = tuple(_dimension(row[f"g{i}"]) for i in range(len(keys)))
            s = series.setdefault(key, {"first": row["first"], "points": [], "units": set()})
            s["first"] = min(s["first"], row["first"])
            value = groups.value(row)
            s["points"].append(SeriesPoint(_epoch(row[f"g{len(keys)}"]),
                                           value if value is not None else 0.0, _cost(row)))
            s["units"] |= {u for u in (row["umin"], row["umax"]) if u is not None}
        if not group_by:
            s = series.get((), {"points": [], "units": set()})
            return [Series(",".join(request.name), _by_time(s["points"]), _one(s["units"]))]
        ordered = sorted(series.items(), key=lambda kv: kv[1]["first"])
        return [Series("|".join(key), _by_time(s["points"]), _one(s["units"]))
                for key, s in ordered]

    def _percentile_statement(self, request: MetricPercentilesRequest
                              ) -> tuple[str, sa.Select[Any]]:
        """The one statement answering a percentile request, and its shape:

        * ``"value"``: per bucket ``b``, the columns ``p0, p1, …`` (``percentile_cont``);
        * ``"sorted"``: per bucket ``b`` and its size ``n``, the two values around each
          percentile's rank, read from the bucket's sorted values (SQLite 3.44+);
        * ``"ranked"``: rows ``(b, rn, n, v)`` at the ranks around each percentile, by
          ``row_number()`` and ``count()`` over one window (any SQLite).
        """
        codec = self._signal("metrics", "metric percentiles")
        d = self.dialect
        t = codec.table
        conds = self._metric_conditions(codec, request.filters, [request.name])
        bucket = d.epoch_bucket(t.c.timestamp, INTERVALS[request.interval])
        inner = sa.select(bucket.label("b"), t.c.value.label("v")).where(*conds).subquery("pv")
        if d.native_percentiles:
            cols = [d.percentile_value(p, inner.c.v, inner.c.b).label(f"p{i}")
                    for i, p in enumerate(request.percentiles)]
            stmt = sa.select(inner.c.b, *cols)
            stmt = stmt.group_by(inner.c.b) if d.percentile_grouped() else stmt.distinct()
            return "value", stmt.order_by(inner.c.b)

        def rank(p: float, n: Any) -> Any:
            # low = int(p * (n - 1)), as memory.percentile computes it (double arithmetic)
            return sa.cast(sa.literal(p, sa.Float()) * (n - 1), sa.Integer())

        values = d.sorted_values(inner.c.v, self.engine.dialect)
        if values is not None:
            # Rows sorted once by (bucket, value): the GROUP BY then streams, and the
            # aggregate's own ORDER BY (which guarantees the order) finds them in order.
            ordered = sa.select(bucket.label("b"), t.c.value.label("v")).where(*conds) \
                .order_by(bucket, t.c.value).subquery("pv")
            values = d.sorted_values(ordered.c.v, self.engine.dialect)
            assert values is not None
            grouped = sa.select(ordered.c.b, sa.func.count().label("n"), values.label("vs")) \
                .group_by(ordered.c.b).subquery("ps")
            picks: list[Any] = []
            for p in request.percentiles:
                low = rank(p, grouped.c.n)
                high = sa.case((low + 1 < grouped.c.n, low + 1), else_=low)
                picks += [d.sorted_value_at(grouped.c.vs, low),
                          d.sorted_value_at(grouped.c.vs, high)]
            return "sorted", sa.select(grouped.c.b, grouped.c.n, *picks)

        # Both over the same window (one sort of the bucket's values): the row's rank and
        # the bucket's size (the whole partition is the frame).
        def over(fn: Any) -> Any:
            return fn.over(partition_by=inner.c.b, order_by=inner.c.v, rows=(None, None))

        ranked = sa.select(inner.c.b, inner.c.v, (over(sa.func.row_number()) - 1).label("rn"),
                           over(sa.func.count()).label("cnt")).subquery("rk")
        wanted = []
        for p in request.percentiles:
            low = rank(p, ranked.c.cnt)
            wanted += [ranked.c.rn == low, ranked.c.rn == low + 1]
        return "ranked", sa.select(ranked.c.b, ranked.c.rn, ranked.c.cnt, ranked.c.v).where(
            sa.or_(*wanted))

    # The per-bucket path's bounds: buckets in the requested range (each one indexed read)
    # and values of one bucket held in Python at once (~32 bytes each); beyond either the
    # statement of _percentile_statement answers instead.
    BUCKETS_READ_ONE_BY_ONE = 2_000
    BUCKET_VALUES_IN_MEMORY = 1_000_000

    def _percentiles_by_bucket(self, conn: sa.Connection, request: MetricPercentilesRequest
                               ) -> list[PercentileSeries] | None:
        """Percentiles read bucket by bucket (``dialect.percentiles_by_bucket``), or None
        when the request is past this path's bounds.

        SQLite has no percentile function, and sorting all the rows by bucket and value
        in one statement is most of a percentile request's time (its sorter, then the
        window ranks or each bucket's sorted array). Here each bucket's values are read
        through the metric index's time range (``name, timestamp``: no sort, no table
        row), sorted by Python and interpolated by ``memory.percentile`` itself, so the
        values are the in-memory store's by construction. A bucket's range is the text
        of its bounds, as the time filters compare: rows of a bucket are those whose
        stored time sorts inside it (the store's, and Mastra's, ISO-8601 UTC text)."""
        codec = self._signal("metrics", "metric percentiles")
        d = self.dialect
        t = codec.table
        conds = self._metric_conditions(codec, request.filters, [request.name])
        first = conn.execute(sa.select(sa.func.min(t.c.timestamp)).where(*conds)).scalar()
        last = conn.execute(sa.select(sa.func.max(t.c.timestamp)).where(*conds)).scalar()
        low, high = d.decode_signal_timestamp(first), d.decode_signal_timestamp(last)
        if low is None or high is None:
            return [PercentileSeries(p, []) for p in request.percentiles]
        step = INTERVALS[request.interval]
        start = _seconds(low) // step * step
        end = _seconds(high) // step * step
        if (end - start) // step + 1 > self.BUCKETS_READ_ONE_BY_ONE:
            return None
        since: Any = sa.bindparam("bucket_since")
        until: Any = sa.bindparam("bucket_until")
        read = sa.select(t.c.value).where(*conds, t.c.timestamp >= since, t.c.timestamp < until)
        points: list[list[SeriesPoint]] = [[] for _ in request.percentiles]
        for bucket in range(start, end + 1, step):
            bounds = {"bucket_since": d.signal_timestamp_param(_epoch(bucket)),
                      "bucket_until": d.signal_timestamp_param(_epoch(bucket + step))}
            values: list[float] = []
            # The driver's rows as they come (a REAL column's values need no processing):
            # a result object per row would double this path's time.
            with conn.execute(read, bounds) as result:
                cursor = result.cursor
                while part := cursor.fetchmany(50_000):
                    values += [row[0] for row in part]
                    if len(values) > self.BUCKET_VALUES_IN_MEMORY:
                        return None
            if values:
                values.sort()
                for series, p in zip(points, request.percentiles, strict=True):
                    series.append(SeriesPoint(_epoch(bucket), percentile(values, p)))
        return [PercentileSeries(p, series)
                for p, series in zip(request.percentiles, points, strict=True)]

    def metric_percentiles(self, request: MetricPercentilesRequest) -> list[PercentileSeries]:
        ps = request.percentiles
        with self.engine.connect() as conn:  # connected: the statement may ask the version
            if self.dialect.percentiles_by_bucket:
                answer = self._percentiles_by_bucket(conn, request)
                if answer is not None:
                    return answer
            shape, stmt = self._percentile_statement(request)
            rows = list(conn.execute(stmt))
        if shape == "value":
            rows.sort(key=lambda r: r[0])
            return [PercentileSeries(p, [SeriesPoint(_epoch(r[0]), float(r[1 + i]))
                                         for r in rows]) for i, p in enumerate(ps)]
        by_bucket: dict[int, dict[int, float]] = {}
        counts: dict[int, int] = {}
        for row in rows:
            b = int(row[0])
            if shape == "ranked":
                by_bucket.setdefault(b, {})[int(row[1])] = float(row[3])
                counts[b] = int(row[2])
                continue
            n = counts[b] = int(row[1])
            ranks = by_bucket.setdefault(b, {})
            for i, p in enumerate(ps):
                low = int(p * (n - 1))
                ranks[low] = float(row[2 + 2 * i])
                ranks[min(low + 1, n - 1)] = float(row[3 + 2 * i])
        out = []
        for p in ps:
            points = []
            for b in sorted(by_bucket):
                n, ranks = counts[b], by_bucket[b]
                position = p * (n - 1)  # memory.percentile, term for term
                low = int(position)
                high = min(low + 1, n - 1)
                value = ranks[low] + (ranks[high] - ranks[low]) * (position - low)
                points.append(SeriesPoint(_epoch(b), float(value)))
            out.append(PercentileSeries(p, points))
        return out


def _dimension(value: Any) -> Any:
    return value if isinstance(value, str) or value is None else str(value)


def _by_time(points: list[SeriesPoint]) -> list[SeriesPoint]:
    return sorted(points, key=lambda p: p.timestamp)


def _one(units: set[str]) -> str | None:
    return next(iter(units)) if len(units) == 1 else None


__all__ = ["MetricsMixin"]
