"""Metric aggregates, breakdowns, time series and percentiles as aggregation pipelines.

Everything that touches rows runs on the server: ``$match`` (the filters), ``$group``
(per group and/or time bucket: the aggregation, the summed cost, how many rows had a
cost, the set of cost units and the first ``_id`` seen), ``$sort``/``$limit`` for
breakdowns. Python only assembles the few result documents into the reference
answers (:mod:`..memory`): the same ``None``/``0.0`` rules, the single cost unit, the
comparison window, series names and group order.

How each aggregation maps (the reference is ``memory.aggregate``):

* ``sum``/``avg``/``min``/``max``: ``$sum``/``$avg``/``$min``/``$max`` of ``value``
  (MongoDB sums doubles with extra precision, so a sum can differ from Python's
  left-to-right one in the last bits); ``count``: ``$sum: 1``;
* ``last``: ``$sort {timestamp, _id}`` then ``$last`` — the newest row, and of rows with
  the same timestamp the last inserted (``_id`` order), as the reference;
* ``count_distinct``: a first ``$group`` on (group, value), a second one counting the
  non-null values per group (no set of values is ever held in one document);
* percentiles: exact linear interpolation between closest ranks (``percentile_cont``,
  not MongoDB's approximate ``$percentile``), with the reference's ``memory.percentile``.
  The server counts the values per bucket, then collects each bucket's values with
  ``$push`` (Python sorts them) as long as every bucket holds at most
  :data:`PUSH_LIMIT` values; a larger bucket would not fit one 16 MB document, so then
  ``$setWindowFields`` numbers each bucket's values in order and only the (at most two
  per percentile) ranks the interpolation reads are sent.

Ties in a breakdown's ordering (equal values) keep the order in which groups first
appear (smallest ``_id``), as the reference's stable sort does; time series come in the
same first-appearance order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

from pymongo.collection import Collection

from ...model.time import from_epoch_ms
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
from .signals import COLUMN_NAMES, label_value, metrics_match

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NAMES = COLUMN_NAMES["metrics"]

# Per group: the cost sum, whether any row had a cost (``$max`` ignores nulls, so it is
# null exactly when none had one), the cost units, the first _id (for the group order).
_COST: dict[str, Any] = {
    "cost": {"$sum": "$estimatedCost"},
    "anyCost": {"$max": "$estimatedCost"},
    "units": {"$addToSet": "$costUnit"},
    "first": {"$min": "$_id"},
}
# Values per bucket above which percentiles are not collected with `$push` (one result
# document per bucket, which MongoDB caps at 16 MB: ~16 bytes per double in an array).
PUSH_LIMIT = 500_000
_ACCUMULATORS: dict[str, Any] = {
    "sum": {"$sum": "$value"}, "avg": {"$avg": "$value"}, "min": {"$min": "$value"},
    "max": {"$max": "$value"}, "count": {"$sum": 1}, "last": {"$last": "$value"},
}


def group_expression(key: str) -> dict[str, Any]:
    """The value a row has for a ``group_by`` key: a metric column, else a label."""
    attr = GROUP_COLUMNS.get(key)
    if attr is not None:
        return {"$ifNull": [f"${_NAMES[attr]}", None]}
    return label_value(key)


def bucket_expression(interval: str) -> dict[str, Any]:
    """Milliseconds since the epoch of the bucket start: floor(t / step) * step (UTC)."""
    step = INTERVALS[interval] * 1000
    return {"$multiply": [
        {"$floor": {"$divide": [{"$subtract": ["$timestamp", EPOCH]}, step]}}, step]}


def stats_pipeline(match: dict[str, Any], key: Any, aggregation: str,
                   distinct_column: str | None) -> list[dict[str, Any]]:
    """One result document per ``key`` value: ``value``, ``cost``, ``anyCost``,
    ``units`` (a list, or a list of lists for ``count_distinct``), ``first``."""
    stages: list[dict[str, Any]] = [{"$match": match}] if match else []
    if aggregation == "count_distinct":
        column = _NAMES[DISTINCT_COLUMNS[distinct_column or ""]]
        return [*stages,
                {"$group": {"_id": {"k": key, "v": {"$ifNull": [f"${column}", None]}}, **_COST}},
                {"$group": {"_id": "$_id.k",
                            "value": {"$sum": {"$cond": [{"$eq": ["$_id.v", None]}, 0, 1]}},
                            "cost": {"$sum": "$cost"}, "anyCost": {"$max": "$anyCost"},
                            "units": {"$addToSet": "$units"}, "first": {"$min": "$first"}}}]
    if aggregation == "last":
        stages.append({"$sort": {"timestamp": 1, "_id": 1}})
    return [*stages, {"$group": {"_id": key, "value": _ACCUMULATORS[aggregation], **_COST}}]


def _units(doc: dict[str, Any]) -> set[Any]:
    units: set[Any] = set()
    for unit in doc.get("units") or ():
        if isinstance(unit, list):  # count_distinct: a set per distinct value
            units.update(unit)
        else:
            units.add(unit)
    units.discard(None)
    return units


def _one_unit(units: set[Any]) -> str | None:
    return next(iter(units)) if len(units) == 1 else None


def _cost(doc: dict[str, Any]) -> float | None:
    return float(doc["cost"]) if doc.get("anyCost") is not None else None


def _value(doc: dict[str, Any]) -> float | None:
    value = doc.get("value")
    return None if value is None else float(value)


def _run(coll: Collection[Any], pipeline: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    return iter(coll.aggregate(pipeline, allowDiskUse=True))


# ---------------------------------------------------------------------------- requests

def _summary(coll: Collection[Any], filters: MetricsFilter | None, names: Sequence[str],
             aggregation: str, distinct_column: str | None
             ) -> tuple[float | None, float | None, str | None]:
    """(value, summed cost, single cost unit) over the matching rows."""
    docs = list(_run(coll, stats_pipeline(metrics_match(filters, names), None, aggregation,
                                          distinct_column)))
    if not docs:  # no rows: None, but a distinct count of nothing is 0
        return (0.0 if aggregation == "count_distinct" else None), None, None
    doc = docs[0]
    return _value(doc), _cost(doc), _one_unit(_units(doc))


def metric_aggregate(coll: Collection[Any], request: MetricAggregateRequest) -> AggregateResult:
    def summary(filters: MetricsFilter | None) -> Summary:
        return _summary(coll, filters, request.name, request.aggregation,
                        request.distinct_column)

    return compared_aggregate(summary, request)


def metric_breakdown(coll: Collection[Any], request: MetricBreakdownRequest
                     ) -> list[BreakdownGroup]:
    key = [group_expression(k) for k in request.group_by]
    pipeline = stats_pipeline(metrics_match(request.filters, request.name), key,
                              request.aggregation, request.distinct_column)
    direction = -1 if request.order_direction == "DESC" else 1
    pipeline.append({"$sort": {"value": direction, "first": 1}})
    if request.limit:
        pipeline.append({"$limit": request.limit})
    out = []
    for doc in _run(coll, pipeline):
        value = _value(doc)
        out.append(BreakdownGroup(dict(zip(request.group_by, doc["_id"], strict=True)),
                                  value if value is not None else 0.0, _cost(doc),
                                  _one_unit(_units(doc))))
    return out


def metric_timeseries(coll: Collection[Any], request: MetricTimeseriesRequest) -> list[Series]:
    # The reference groups on `value or ""`, so a missing value and "" are one series.
    group = ([{"$ifNull": [group_expression(k), ""]} for k in request.group_by]
             if request.group_by else None)
    key = {"g": group, "b": bucket_expression(request.interval)}
    pipeline = stats_pipeline(metrics_match(request.filters, request.name), key,
                              request.aggregation, request.distinct_column)
    series: dict[tuple[Any, ...], dict[str, Any]] = {}
    for doc in _run(coll, pipeline):
        gkey = tuple(doc["_id"].get("g") or ())
        entry = series.setdefault(gkey, {"first": doc["first"], "points": [], "units": set()})
        entry["first"] = min(entry["first"], doc["first"])
        entry["units"] |= _units(doc)
        value = _value(doc)
        entry["points"].append(SeriesPoint(from_epoch_ms(int(doc["_id"]["b"])),
                                           value if value is not None else 0.0, _cost(doc)))
    if not request.group_by:
        entry = series.get((), {"points": [], "units": set()})
        return [Series(",".join(request.name), sorted(entry["points"], key=_at),
                       _one_unit(entry["units"]))]
    ordered = sorted(series.items(), key=lambda kv: kv[1]["first"])
    return [Series("|".join(v if isinstance(v, str) else str(v) for v in gkey),
                   sorted(entry["points"], key=_at), _one_unit(entry["units"]))
            for gkey, entry in ordered]


def _at(point: SeriesPoint) -> datetime:
    return point.timestamp


class _Ranks(Sequence[float]):
    """The sorted values of one bucket, of which only some ranks are known: enough for
    :func:`memory.percentile`, which reads ``len()`` and the ranks it interpolates."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.values: dict[int, float] = {}

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: Any) -> Any:
        return self.values[index]


def metric_percentiles(coll: Collection[Any], request: MetricPercentilesRequest
                       ) -> list[PercentileSeries]:
    match = metrics_match(request.filters, [request.name])
    bucket = bucket_expression(request.interval)
    counts = {int(d["_id"]): int(d["n"]) for d in _run(coll, [
        {"$match": match}, {"$group": {"_id": bucket, "n": {"$sum": 1}}}])}
    if counts and max(counts.values()) > PUSH_LIMIT:
        buckets = _ranked_values(coll, match, bucket, request.percentiles)
    else:  # every bucket's values fit in one document: the server collects, Python sorts
        buckets = {int(d["_id"]): sorted(float(v) for v in d["v"]) for d in _run(coll, [
            {"$match": match}, {"$group": {"_id": bucket, "v": {"$push": "$value"}}}])}
    ordered = sorted(buckets.items())
    return [PercentileSeries(p, [SeriesPoint(from_epoch_ms(b), percentile(values, p))
                                 for b, values in ordered])
            for p in request.percentiles]


def _ranked_values(coll: Collection[Any], match: dict[str, Any], bucket: dict[str, Any],
                   percentiles: Sequence[float]) -> dict[int, Sequence[float]]:
    """Per bucket, only the ranks the interpolation reads: ``$setWindowFields`` numbers
    each bucket's values in order and counts them, ``$match`` keeps (at most) two ranks
    per percentile. For buckets too large to collect."""
    last = {"$subtract": ["$n", 1]}
    rank = {"$subtract": ["$r", 1]}  # 0-based
    wanted = []
    for p in percentiles:
        low = {"$floor": {"$multiply": [{"$literal": p}, last]}}  # int(p * (n - 1))
        wanted += [{"$eq": [rank, low]}, {"$eq": [rank, {"$min": [{"$add": [low, 1]}, last]}]}]
    pipeline = [
        {"$match": match},
        {"$project": {"_id": 0, "b": bucket, "v": "$value"}},
        {"$setWindowFields": {
            "partitionBy": "$b", "sortBy": {"v": 1},
            "output": {"r": {"$documentNumber": {}},
                       "n": {"$count": {}, "window": {"documents": ["unbounded", "unbounded"]}}},
        }},
        {"$match": {"$expr": {"$or": wanted}}},
    ]
    buckets: dict[int, _Ranks] = {}
    for doc in _run(coll, pipeline):
        ranks = buckets.setdefault(int(doc["b"]), _Ranks(int(doc["n"])))
        ranks.values[int(doc["r"]) - 1] = float(doc["v"])
    return dict(buckets)


__all__ = ["metric_aggregate", "metric_breakdown", "metric_percentiles", "metric_timeseries"]
