"""Logs, metrics, scores and feedback in MongoDB: documents, filters, writes and reads.

Collections: ``mastra_log_events``, ``mastra_metric_events``, ``mastra_score_events``,
``mastra_feedback_events``, one document per record with Mastra's v-next column names
(:data:`~...model.signals.SIGNAL_TABLES`) in their natural BSON types: timestamps as BSON
dates (UTC, milliseconds), numbers as doubles, ``tags`` as an array of strings (``[]``
when there are none; read back as ``None``, as the reference store does), ``data``,
``labels``, ``costMetadata``, ``metadata``, ``scope`` as native documents prepared by the
span codec's payload rules (:meth:`SpanCodec.payload`: the shared JSON rules plus BSON's
limits). Every column is written (``null`` when unset).

Writes are idempotent on the record id (``logId``/``metricId``/``scoreId``/``feedbackId``,
each with a unique index): one ``insert_many(ordered=False)``; records the server refuses
as duplicates (a retried batch) are then replaced, so the newest version wins — exactly
the in-memory store's ``table[id] = row``. A document the server refuses for ``$``/``.``
keys in a payload goes again with those keys escaped, and a document over the server's
16 MB limit has its largest payloads replaced by the truncation marker, as for spans.

Filters are documents of fixed field names with the caller's values under explicit
operators (``$eq``, ``$in``, ``$all``, ``$gte``...), label and metadata keys are read
with ``$getField`` on a ``$literal`` name and compared with ``$literal`` values, and a
message search is a ``$regex`` of the escaped text: nothing the caller passes can become
a field path or an operator.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, cast

import bson
from pymongo import ASCENDING, DESCENDING, IndexModel, ReplaceOne, ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DocumentTooLarge, OperationFailure

from ...model.jsonsafe import clean_text
from ...model.jsonsafe import encode as json_encode
from ...model.signals import (
    SIGNAL_TABLES,
    FeedbackRecord,
    LogRecord,
    MetricRecord,
    ScoreRecord,
    SignalContext,
    SignalTable,
)
from ...model.spans import TABLE_SPANS
from ...model.time import format_iso, parse_iso, truncate_ms
from ..base import check_id
from ..memory import check_signals
from ..signal_queries import (
    ALL_FEATURES,
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
    SignalFilter,
    SignalOrder,
    TimeRange,
    check_page,
)
from .codec import (
    DECODE_OPTIONS,
    PREVIEW_CHARS,
    RAW_OPTIONS,
    SpanCodec,
    _from_raw,
    _plain,
    escape_keys,
    truncation_marker,
)
from .query import NOTHING, _json_key_matches

if TYPE_CHECKING:
    from ..queries import TracesFilter, TracesOrderBy, TracesPage
    from ..trace_query import (
        FieldSuggestions,
        SuggestionRequest,
        TraceQuery,
        TraceQueryResult,
        ValueSuggestions,
    )
    from .store import MongoDBStore

SIGNAL_NAMES: tuple[str, ...] = tuple(SIGNAL_TABLES)  # logs, metrics, scores, feedback
DUPLICATE_KEY = 11000
TOO_LARGE = 10334  # BSONObjectTooLarge
TOO_LARGE_CODES = frozenset({TOO_LARGE, 17419, 17420})  # and "document too large" on update
FIELD_NAME = -1  # a refusal for '$'/'.' payload keys (several server codes)

# Column name of every record attribute, per signal (``source`` is ``executionSource``).
COLUMN_NAMES: dict[str, dict[str, str]] = {
    sig: {c.attr: c.name for c in t.columns} for sig, t in SIGNAL_TABLES.items()}
ID_FIELDS: dict[str, str] = {
    sig: COLUMN_NAMES[sig][t.id_attr] for sig, t in SIGNAL_TABLES.items()}
_PAYLOAD_KINDS = ("json", "tags")
_PAYLOAD_NAMES: dict[str, frozenset[str]] = {
    sig: frozenset(c.name for c in t.columns if c.kind in _PAYLOAD_KINDS)
    for sig, t in SIGNAL_TABLES.items()}

_I = ASCENDING
_D = DESCENDING
# Per collection: the unique id, then the reads' access paths (time-ordered lists, a
# trace's signals for deletes and the trace query, and each signal's main filter).
SIGNAL_INDEXES: dict[str, tuple[tuple[tuple[tuple[str, int], ...], bool], ...]] = {
    "logs": (((("logId", _I),), True), ((("timestamp", _D),), False),
             ((("traceId", _I),), False), ((("level", _I), ("timestamp", _D)), False)),
    "metrics": (((("metricId", _I),), True), ((("timestamp", _D),), False),
                ((("traceId", _I),), False), ((("name", _I), ("timestamp", _D)), False)),
    "scores": (((("scoreId", _I),), True), ((("timestamp", _D),), False),
               ((("traceId", _I),), False), ((("scorerId", _I), ("timestamp", _D)), False)),
    "feedback": (((("feedbackId", _I),), True), ((("timestamp", _D),), False),
                 ((("traceId", _I),), False),
                 ((("feedbackType", _I), ("timestamp", _D)), False)),
}


class DuplicateSignalsError(RuntimeError):
    """A signal collection holds duplicate ids: its unique index can't be created."""


# ---------------------------------------------------------------------------- documents

def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Enum):
        value = value.value
    return clean_text(value if isinstance(value, str) else str(value))


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return float(value)


def _timestamp(value: Any) -> Any:
    if isinstance(value, datetime):
        return truncate_ms(value)
    if isinstance(value, str):
        return parse_iso(value)
    return value


def encode_signal(table: SignalTable, record: SignalContext, codec: SpanCodec
                  ) -> dict[str, Any]:
    """The document of ``record`` (every column, ``null`` when unset)."""
    doc: dict[str, Any] = {}
    for col in table.columns:
        value = getattr(record, col.attr)
        kind = col.kind
        if kind == "text":
            doc[col.name] = _text(value)
        elif kind == "timestamp":
            doc[col.name] = _timestamp(value)
        elif kind == "float":
            doc[col.name] = _number(value)
        elif kind == "tags":
            if isinstance(value, tuple):
                value = list(value)
            doc[col.name] = codec.payload(value) if value else []
        else:
            doc[col.name] = codec.payload(value)
    return doc


def as_dict(raw: Any) -> dict[str, Any]:
    """A stored document as plain Python (``{"$ref", "$id"}`` payloads stay documents)."""
    if isinstance(raw, bson.raw_bson.RawBSONDocument):
        data = raw.raw
        decoded: dict[str, Any] = (_from_raw(raw) if b"$ref\x00" in data
                                   else bson.decode(data, DECODE_OPTIONS))
        return decoded
    return dict(raw)


def decode_signal(table: SignalTable, doc: Any) -> Any:
    """A record from a stored document (missing fields are None)."""
    if not isinstance(doc, dict):
        doc = as_dict(doc)
    values: dict[str, Any] = {}
    for col in table.columns:
        value = doc.get(col.name)
        kind = col.kind
        if value is None:
            pass
        elif kind == "text":
            if not isinstance(value, str):
                value = str(value)
        elif kind == "timestamp":
            value = parse_iso(value) if isinstance(value, (str, datetime)) else value
        elif kind == "float":
            value = _number(value)
        elif kind == "tags":
            value = _plain(value) or None
        else:
            value = _plain(value)
        values[col.attr] = value
    return table.record(**values)


def _fit(doc: dict[str, Any], signal: str, limit: int, codec: SpanCodec) -> dict[str, Any]:
    """``doc`` made smaller than ``limit`` BSON bytes: the largest payloads become the
    truncation marker, then long text fields are cut (each change counted)."""
    size = len(bson.encode(doc))
    if size <= limit:
        return doc
    doc = dict(doc)
    payloads = _PAYLOAD_NAMES[signal]
    sizes = sorted(((len(bson.encode({"v": v})), k) for k, v in doc.items()
                    if k != "_id" and k != ID_FIELDS[signal]
                    and (k in payloads or isinstance(v, str))), reverse=True)
    for _, name in sizes:
        value = doc[name]
        if name in payloads:
            doc[name] = truncation_marker(json_encode(value))
            codec._count("truncated_fields")
        else:
            if len(value) <= PREVIEW_CHARS:
                continue
            doc[name] = value[:PREVIEW_CHARS] + f"…[truncated {len(value)} chars]"
            codec._count("truncated_text_fields")
        if len(bson.encode(doc)) <= limit:
            return doc
    raise ValueError(f"{signal} record {doc.get(ID_FIELDS[signal])} cannot be made smaller "
                     f"than {limit} bytes")


# ---------------------------------------------------------------------------- filters

def time_bounds(field: str, window: TimeRange) -> dict[str, Any] | None:
    bounds: dict[str, datetime] = {}
    if window.start is not None:
        bounds["$gt" if window.start_exclusive else "$gte"] = window.start
    if window.end is not None:
        bounds["$lt" if window.end_exclusive else "$lte"] = window.end
    return {field: bounds} if bounds else None


def context_conditions(signal: str, f: SignalFilter) -> list[dict[str, Any]]:
    """Conditions of the filters every signal shares (the reference ``matches_context``)."""
    names = COLUMN_NAMES[signal]
    conds: list[dict[str, Any]] = [{names[attr]: {"$eq": value}}
                                   for attr, value in f.equalities()]
    if f.timestamp is not None:
        bounds = time_bounds("timestamp", f.timestamp)
        if bounds:
            conds.append(bounds)
    if f.tags:
        conds.append({"tags": {"$all": list(f.tags)}})
    return conds


def _and(conds: list[dict[str, Any]]) -> dict[str, Any]:
    if not conds:
        return {}
    return conds[0] if len(conds) == 1 else {"$and": conds}


def contains_text(field: str, needle: str) -> dict[str, Any]:
    """``needle`` occurs in ``field`` ignoring case (the escaped text as a ``$regex``)."""
    if "\x00" in needle:
        return NOTHING  # stored text never holds NUL (it becomes U+FFFD on write)
    return {field: {"$regex": re.escape(needle), "$options": "i"}}


def logs_match(f: LogsFilter) -> dict[str, Any]:
    conds = context_conditions("logs", f)
    if f.level:
        conds.append({"level": {"$in": list(f.level)}})
    if f.search:
        conds.append(contains_text("message", f.search))
    return _and(conds)


def scores_match(f: ScoresFilter, codec: SpanCodec) -> dict[str, Any]:
    conds = context_conditions("scores", f)
    if f.scorer_id:
        conds.append({"scorerId": {"$in": list(f.scorer_id)}})
    if f.score_source is not None:
        conds.append({"scoreSource": {"$eq": f.score_source}})
    for key, value in (f.metadata or {}).items():
        conds.append(_json_key_matches("metadata", key, value, codec))
    return _and(conds)


def feedback_match(f: FeedbackFilter) -> dict[str, Any]:
    conds = context_conditions("feedback", f)
    if f.feedback_type:
        conds.append({"feedbackType": {"$in": list(f.feedback_type)}})
    for attr in ("feedback_source", "feedback_user_id", "review_status"):
        value = getattr(f, attr)
        if value is not None:
            conds.append({COLUMN_NAMES["feedback"][attr]: {"$eq": value}})
    return _and(conds)


def label_value(key: str) -> dict[str, Any]:
    """The expression reading label ``key`` (null when absent or labels isn't a document)."""
    return {"$cond": [{"$eq": [{"$type": "$labels"}, "object"]},
                      {"$ifNull": [{"$getField": {"field": {"$literal": key},
                                                  "input": "$labels"}}, None]},
                      None]}


def metrics_match(f: MetricsFilter | None, names: Sequence[str] | None = None
                  ) -> dict[str, Any]:
    conds: list[dict[str, Any]] = []
    if f is not None:
        conds = context_conditions("metrics", f)
        if f.name:
            conds.append({"name": {"$in": list(f.name)}})
        if f.trace_ids is not None:
            conds.append({"traceId": {"$in": list(f.trace_ids)}})
        for attr in ("provider", "model", "cost_unit"):
            value = getattr(f, attr)
            if value is not None:
                conds.append({COLUMN_NAMES["metrics"][attr]: {"$eq": value}})
        for key, value in (f.labels or {}).items():
            got = label_value(key)
            if value is None:  # the reference: labels.get(key) == None
                conds.append({"$expr": {"$eq": [got, None]}})
            else:
                conds.append({"$expr": {"$eq": [got, {"$literal": value}]}})
    if names is not None:
        conds.append({"name": {"$in": list(names)}})
    return _and(conds)


# ---------------------------------------------------------------------------- the mixin

def _refusal(err: dict[str, Any]) -> int | None:
    """How a refused document can be repaired: ``DUPLICATE_KEY``, a too-large code, or
    ``FIELD_NAME`` (payload keys); None for anything else (the batch fails, retried)."""
    from .store import _is_field_name_error  # store imports this module

    code = err.get("code")
    if code == DUPLICATE_KEY or code in TOO_LARGE_CODES:
        return int(code)
    if "too large" in str(err.get("errmsg", "")).lower():
        return TOO_LARGE
    return FIELD_NAME if _is_field_name_error(err) else None


class SignalsMixin:
    """The signals, the newer span reads, retention and statistics of
    :class:`~.store.MongoDBStore` (which supplies ``_client``, ``database_name``,
    ``codec``, ``_spans`` and ``_raw``)."""

    _client: Any
    database_name: str
    codec: SpanCodec
    _spans: Collection[Any]
    _raw: Collection[Any]

    # ------------------------------------------------------------------ plumbing
    def signal_collection(self, signal: str, raw: bool = False) -> Collection[Any]:
        """The collection of ``signal`` (``raw``: documents as ``RawBSONDocument``)."""
        cache: dict[tuple[str, bool], Collection[Any]] | None = self.__dict__.get(
            "_signal_colls")
        if cache is None:
            cache = self.__dict__["_signal_colls"] = {}
        coll = cache.get((signal, raw))
        if coll is None:
            db = self._client[self.database_name]
            name = SIGNAL_TABLES[signal].table
            coll = db.get_collection(name, codec_options=RAW_OPTIONS) if raw else db[name]
            cache[(signal, raw)] = coll
        return coll

    def features(self) -> frozenset[Feature]:
        return ALL_FEATURES - {Feature.DELTA_POLLING}

    def _create_signal_indexes(self) -> None:
        for signal, specs in SIGNAL_INDEXES.items():
            models = [IndexModel(list(keys), unique=unique) for keys, unique in specs]
            try:
                self.signal_collection(signal).create_indexes(models)
            except OperationFailure as exc:
                if exc.code != DUPLICATE_KEY:
                    raise
                raise DuplicateSignalsError(
                    f"{self.database_name}.{SIGNAL_TABLES[signal].table} holds duplicate "
                    f"{ID_FIELDS[signal]} values, so its unique index cannot be created; "
                    "remove the duplicates and retry") from exc

    def drop_signals(self) -> None:
        """Drop the four signal collections (tests, ``dangerously clear all``)."""
        for signal in SIGNAL_NAMES:
            self.signal_collection(signal).drop()

    # ------------------------------------------------------------------ writes
    def _write_signals(self, signal: str, records: Sequence[Any]) -> None:
        if not records:
            return
        table = SIGNAL_TABLES[signal]
        docs: dict[str, dict[str, Any]] = {}
        for record in records:
            key = getattr(record, table.id_attr)
            if not isinstance(key, str) or not key:
                raise ValueError(f"{signal} record without a {table.id_attr}: {record!r}")
            docs[key] = encode_signal(table, record, self.codec)  # last one of an id wins
        batch = list(docs.values())
        coll = self.signal_collection(signal)
        try:
            coll.insert_many(batch, ordered=False)
            return
        except DocumentTooLarge:  # refused by the driver before sending: fit them all
            again = [self._repair(signal, d, TOO_LARGE) for d in batch]
        except BulkWriteError as exc:
            again = self._repairs(signal, batch, exc)
        self._replace_signals(signal, again)

    def _repair(self, signal: str, doc: dict[str, Any], code: int | None) -> dict[str, Any]:
        """``doc`` changed so the server takes it, for a refusal with ``code``."""
        doc = {k: v for k, v in doc.items() if k != "_id"}
        if code == DUPLICATE_KEY:
            return doc  # a retried batch or a repeated id: replaced, the newest wins
        if code in TOO_LARGE_CODES:
            return _fit(doc, signal, self.codec.document_limit, self.codec)
        self.codec._count("escaped_documents")
        names = _PAYLOAD_NAMES[signal]
        return {k: escape_keys(v) if k in names else v for k, v in doc.items()}

    def _repairs(self, signal: str, docs: list[dict[str, Any]], exc: BulkWriteError
                 ) -> list[dict[str, Any]]:
        """The refused documents of a bulk write, repaired; raises on other refusals."""
        errors = exc.details.get("writeErrors", [])
        codes = [_refusal(e) for e in errors]
        if not errors or None in codes:
            raise exc
        return [self._repair(signal, docs[e["index"]], code)
                for e, code in zip(errors, codes, strict=True)]

    def _replace_signals(self, signal: str, docs: list[dict[str, Any]]) -> None:
        """Replace-or-insert ``docs`` by id; refusals are repaired (each kind once)."""
        id_field = ID_FIELDS[signal]
        coll = self.signal_collection(signal)
        for _ in range(3):  # duplicate, then too large, then field names at most
            try:
                coll.bulk_write([ReplaceOne({id_field: d[id_field]}, d, upsert=True)
                                 for d in docs], ordered=False)
                return
            except BulkWriteError as exc:
                docs = self._repairs(signal, docs, exc)
        raise RuntimeError(f"{signal}: documents still refused after repairs")

    def batch_create_logs(self, records: Sequence[LogRecord]) -> None:
        self._write_signals("logs", records)

    def batch_create_metrics(self, records: Sequence[MetricRecord]) -> None:
        self._write_signals("metrics", records)

    def batch_create_scores(self, records: Sequence[ScoreRecord]) -> None:
        self._write_signals("scores", records)

    def batch_create_feedback(self, records: Sequence[FeedbackRecord]) -> None:
        self._write_signals("feedback", records)

    def update_feedback_review_status(self, feedback_id: str,
                                      review_status: str) -> FeedbackRecord | None:
        check_id(feedback_id, "feedback_id")
        check_id(review_status, "review_status")
        doc = self.signal_collection("feedback", raw=True).find_one_and_update(
            {"feedbackId": {"$eq": feedback_id}},
            {"$set": {"reviewStatus": _text(review_status)}},
            return_document=ReturnDocument.AFTER)
        return decode_signal(SIGNAL_TABLES["feedback"], doc) if doc is not None else None

    # ------------------------------------------------------------------ signal reads
    def _page(self, signal: str, match: dict[str, Any], page: int, per_page: int,
              order: SignalOrder | None) -> Page[Any]:
        check_page(page, per_page)
        order = order or SignalOrder()
        if order.field == "score" and signal != "scores":
            raise ValueError(f"{signal} can only be ordered by timestamp")
        coll = self.signal_collection(signal, raw=True)
        total = coll.count_documents(match)
        items: list[Any] = []
        if page * per_page < total:
            d = DESCENDING if order.direction == "DESC" else ASCENDING
            # Ties keep the insertion order in both directions (the reference's stable sort).
            cursor = coll.find(match).sort([(order.field, d), ("_id", ASCENDING)])
            table = SIGNAL_TABLES[signal]
            items = [decode_signal(table, doc)
                     for doc in cursor.skip(page * per_page).limit(per_page)]
        return Page(items, total, page, per_page)

    def list_logs(self, filters: LogsFilter | None = None, page: int = 0, per_page: int = 10,
                  order: SignalOrder | None = None) -> Page[LogRecord]:
        return self._page("logs", logs_match(filters or LogsFilter()), page, per_page, order)

    def list_metrics(self, filters: MetricsFilter | None = None, page: int = 0,
                     per_page: int = 10, order: SignalOrder | None = None) -> Page[MetricRecord]:
        return self._page("metrics", metrics_match(filters), page, per_page, order)

    def list_scores(self, filters: ScoresFilter | None = None, page: int = 0,
                    per_page: int = 10, order: SignalOrder | None = None) -> Page[ScoreRecord]:
        match = scores_match(filters or ScoresFilter(), self.codec)
        return self._page("scores", match, page, per_page, order)

    def get_score(self, score_id: str) -> ScoreRecord | None:
        check_id(score_id, "score_id")
        doc = self.signal_collection("scores", raw=True).find_one({"scoreId": {"$eq": score_id}})
        return decode_signal(SIGNAL_TABLES["scores"], doc) if doc is not None else None

    def list_feedback(self, filters: FeedbackFilter | None = None, page: int = 0,
                      per_page: int = 10,
                      order: SignalOrder | None = None) -> Page[FeedbackRecord]:
        return self._page("feedback", feedback_match(filters or FeedbackFilter()), page,
                          per_page, order)

    # ------------------------------------------------------------------ metrics
    def metric_aggregate(self, request: MetricAggregateRequest) -> AggregateResult:
        from .metrics import metric_aggregate

        return metric_aggregate(self.signal_collection("metrics"), request)

    def metric_breakdown(self, request: MetricBreakdownRequest) -> list[BreakdownGroup]:
        from .metrics import metric_breakdown

        return metric_breakdown(self.signal_collection("metrics"), request)

    def metric_timeseries(self, request: MetricTimeseriesRequest) -> list[Series]:
        from .metrics import metric_timeseries

        return metric_timeseries(self.signal_collection("metrics"), request)

    def metric_percentiles(self, request: MetricPercentilesRequest) -> list[PercentileSeries]:
        from .metrics import metric_percentiles

        return metric_percentiles(self.signal_collection("metrics"), request)

    # ------------------------------------------------------------------ discovery
    def _context_collections(self) -> list[Collection[Any]]:
        """Where the reference store looks for context values: spans and every signal."""
        return [self._spans, *(self.signal_collection(s) for s in SIGNAL_NAMES)]

    def _distinct(self, field: str, match: dict[str, Any] | None = None,
                  unwind: bool = False) -> list[str]:
        """Sorted distinct non-empty text values of ``field`` across the collections."""
        stages: list[dict[str, Any]] = [{"$match": match}] if match else []
        if unwind:
            stages += [{"$match": {field: {"$type": "array"}}}, {"$unwind": f"${field}"}]
        stages.append({"$group": {"_id": {"$ifNull": [f"${field}", None]}}})
        values: set[str] = set()
        for coll in self._context_collections():
            values.update(d["_id"] for d in coll.aggregate(stages)
                          if isinstance(d["_id"], str) and d["_id"])
        return sorted(values)

    @staticmethod
    def _entity_match(entity_type: Any) -> dict[str, Any] | None:
        if entity_type is None:
            return None
        if isinstance(entity_type, Enum):
            entity_type = entity_type.value
        return {"entityType": {"$eq": entity_type}}

    def discover_entity_types(self) -> list[str]:
        return self._distinct("entityType")

    def discover_entity_names(self, entity_type: str | None = None) -> list[str]:
        return self._distinct("entityName", self._entity_match(entity_type))

    def discover_service_names(self) -> list[str]:
        return self._distinct("serviceName")

    def discover_environments(self) -> list[str]:
        return self._distinct("environment")

    def discover_tags(self, entity_type: str | None = None) -> list[str]:
        return self._distinct("tags", self._entity_match(entity_type), unwind=True)

    def discover_metric_names(self, prefix: str | None = None,
                              limit: int | None = None) -> list[str]:
        stages: list[dict[str, Any]] = []
        if prefix is not None:
            stages.append({"$match": {"name": _prefix(prefix)}})
        stages.append({"$group": {"_id": "$name"}})
        names = sorted(d["_id"] for d in self.signal_collection("metrics").aggregate(stages)
                       if isinstance(d["_id"], str))
        return names[:limit] if limit else names

    def discover_metric_label_keys(self, metric_name: str) -> list[str]:
        stages: list[dict[str, Any]] = [
            {"$match": {"name": {"$eq": metric_name}, "labels": {"$type": "object"}}},
            {"$project": {"k": {"$objectToArray": "$labels"}}},
            {"$unwind": "$k"}, {"$group": {"_id": "$k.k"}}]
        return sorted(d["_id"] for d in self.signal_collection("metrics").aggregate(stages))

    def discover_metric_label_values(self, metric_name: str, label_key: str,
                                     prefix: str | None = None,
                                     limit: int | None = None) -> list[str]:
        check_id(label_key, "label_key")
        value: dict[str, Any] = {"$type": "string"}
        if prefix is not None:
            value = {**value, **_prefix(prefix)}
        stages: list[dict[str, Any]] = [
            {"$match": {"name": {"$eq": metric_name}, "labels": {"$type": "object"}}},
            {"$project": {"_id": 0, "v": label_value(label_key)}},
            {"$match": {"v": value}},
            {"$group": {"_id": "$v"}},
            {"$sort": {"_id": 1}},  # binary UTF-8 order = code point order = Python's
        ]
        if limit:
            stages.append({"$limit": limit})
        return [d["_id"] for d in self.signal_collection("metrics").aggregate(stages)]

    # ------------------------------------------------------------------ span reads
    def _store_self(self) -> MongoDBStore:
        return cast("MongoDBStore", self)

    def list_branches(self, filters: TracesFilter | None = None, page: int = 0,
                      per_page: int = 10, order_by: TracesOrderBy | None = None) -> TracesPage:
        from .trace_reads import list_branches

        return list_branches(self._store_self(), filters, page, per_page, order_by)

    def query_traces(self, query: TraceQuery) -> TraceQueryResult:
        from .trace_reads import query_traces

        return query_traces(self._store_self(), query)

    def trace_query_fields(self, request: SuggestionRequest) -> FieldSuggestions:
        from .trace_reads import trace_query_fields

        return trace_query_fields(self._store_self(), request)

    def trace_query_values(self, request: SuggestionRequest) -> ValueSuggestions:
        from .trace_reads import trace_query_values

        return trace_query_values(self._store_self(), request)

    # ------------------------------------------------------------------ retention
    def _delete_trace_signals(self, trace_ids: Sequence[str],
                              signals: Iterable[str] = SIGNAL_NAMES) -> dict[str, int]:
        """Delete the signal rows of ``trace_ids`` (one ``$in`` per collection)."""
        ids = list(trace_ids)
        return {s: self.signal_collection(s).delete_many({"traceId": {"$in": ids}}).deleted_count
                for s in signals}

    def _old_root_trace_ids(self, cutoff: datetime, limit: int) -> list[str]:
        cursor = self._spans.find(
            {"parentSpanId": None, **_before("startedAt", cutoff)},
            projection={"_id": 0, "traceId": 1}).limit(limit)
        return list(dict.fromkeys(d["traceId"] for d in cursor))

    def prune(self, older_than: datetime, signals: Sequence[str] | None = None,
              batch_size: int = 1000) -> dict[str, int]:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        cutoff = truncate_ms(older_than)
        chosen = check_signals(signals)
        counts = dict.fromkeys(chosen, 0)
        others = [s for s in chosen if s != "spans"]
        if "spans" in chosen:
            # Whole traces, a batch of traces at a time: their signals, then their spans,
            # roots last, so a prune that stops half-way leaves each remaining trace
            # findable by its old root and is finished by the next run.
            while True:
                ids = self._old_root_trace_ids(cutoff, batch_size)
                if not ids:
                    break
                for signal, n in self._delete_trace_signals(ids, others).items():
                    counts[signal] += n
                in_ids = {"traceId": {"$in": ids}}
                counts["spans"] += self._spans.delete_many(
                    {**in_ids, "parentSpanId": {"$ne": None}}).deleted_count
                counts["spans"] += self._spans.delete_many(in_ids).deleted_count
        for signal in others:
            coll = self.signal_collection(signal)
            old = {"timestamp": {"$lt": cutoff}}
            while True:
                ids = [d["_id"] for d in coll.find(old, projection={"_id": 1}).limit(batch_size)]
                if not ids:
                    break
                counts[signal] += coll.delete_many({"_id": {"$in": ids}}).deleted_count
        return counts

    def _collection_bytes(self, name: str) -> int | None:
        db = self._client[self.database_name]
        try:
            size = db.command("collStats", name).get("size")
        except OperationFailure as exc:
            if exc.code == 26:  # NamespaceNotFound: nothing written yet
                return 0
            return None  # collStats removed or not allowed (MongoDB 8 / Atlas roles)
        return int(size) if isinstance(size, (int, float)) else None

    @staticmethod
    def _bounds(coll: Collection[Any], field: str) -> tuple[datetime | None, datetime | None]:
        """Oldest and newest ``field`` values, whether stored as dates or ISO text."""
        found: list[datetime] = []
        for kind in ("date", "string"):
            for direction in (ASCENDING, DESCENDING):
                doc = coll.find_one({field: {"$type": kind}}, projection={"_id": 0, field: 1},
                                    sort=[(field, direction)])
                if doc is not None:
                    with contextlib.suppress(ValueError):
                        found.append(parse_iso(doc[field]))
        return (min(found), max(found)) if found else (None, None)

    def signal_stats(self) -> dict[str, dict[str, Any]]:
        """Per signal: ``rows`` (the collection's metadata count), ``bytes`` (``collStats``
        ``size``: uncompressed BSON; None where the server doesn't answer it),
        ``oldest``/``newest`` (from the time indexes). What ``store.stats()`` returns."""
        out: dict[str, dict[str, Any]] = {}
        targets = [("spans", self._spans, TABLE_SPANS, "startedAt")] + [
            (s, self.signal_collection(s), SIGNAL_TABLES[s].table, "timestamp")
            for s in SIGNAL_NAMES]
        for signal, coll, name, field in targets:
            oldest, newest = self._bounds(coll, field)
            out[signal] = {"rows": coll.estimated_document_count(),
                           "bytes": self._collection_bytes(name),
                           "oldest": oldest, "newest": newest}
        return out


class StoreStats:
    """``MongoDBStore.stats``: called, the per-signal statistics of ``BaseStore.stats()``;
    its attributes are the codec's counters (``store.stats.truncated_fields``, ...)."""

    def __init__(self, store: SignalsMixin) -> None:
        self._store = store

    def __call__(self) -> dict[str, dict[str, Any]]:
        return self._store.signal_stats()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store.codec.stats, name)

    def __repr__(self) -> str:
        return f"StoreStats({self._store.codec.stats!r})"


def _prefix(prefix: str) -> dict[str, Any]:
    """Text starting with ``prefix`` (an anchored, escaped ``$regex``: uses the index)."""
    if "\x00" in prefix:
        return {"$in": []}
    return {"$regex": "^" + re.escape(prefix)}


def _before(field: str, cutoff: datetime) -> dict[str, Any]:
    """``field < cutoff`` whether stored as a BSON date or as ISO-8601 text."""
    return {"$or": [{field: {"$lt": cutoff}}, {field: {"$lt": format_iso(cutoff)}}]}


__all__ = ["SIGNAL_INDEXES", "DuplicateSignalsError", "SignalsMixin", "StoreStats",
           "decode_signal", "encode_signal"]
