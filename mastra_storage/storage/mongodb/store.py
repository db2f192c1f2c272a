"""MongoDB store on pymongo, sharing Mastra's ``mastra_ai_spans`` collection.

Writes (measured choices, see docs/mongodb.md):

* ``batch_create_spans`` = upsert. One ``insert_many(ordered=False)``; the documents the
  server refuses as duplicates (a retried batch, a span written earlier) are then sent as
  one unordered ``bulk_write`` of ``UpdateOne(upsert=True)`` that rewrites every field
  but ``createdAt`` — so the newer version wins and no other document of the batch is
  lost. Within a batch the last record of a key wins.
* ``batch_update_spans``: one unordered ``bulk_write`` of ``UpdateOne(..., {"$set": ...})``
  without upsert, so a missing span is left missing.
* a document refused for its payload keys (``$``/``.``, on servers that don't take them)
  is sent again with those keys escaped; any other refusal raises, and the exporter's
  retry re-sends the whole batch, which is idempotent.

Timestamps are BSON dates, as ``@mastra/mongodb`` writes them; documents an earlier
version of this library wrote with ISO-string timestamps are read and filtered all the
same, and :meth:`MongoDBStore.migrate_timestamps` turns them into dates.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, MongoClient, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, OperationFailure

from ...model.jsonsafe import DEFAULT_MAX_BYTES
from ...model.spans import COLUMNS, HEAVY_ATTRS, TABLE_SPANS, SpanRecord
from ...model.time import parse_iso, utc_now
from ..base import BaseStore
from ..queries import Pagination, TracesFilter, TracesOrderBy
from ..validation import require_ids
from .codec import DEFAULT_MAX_DOCUMENT_BYTES, RAW_OPTIONS, SpanCodec
from .query import ENDED_RANK, child_error_filter, root_filter, sort_stages, time_range
from .signals import SignalsMixin, StoreStats

logger = logging.getLogger(__name__)

DEFAULT_DATABASE = "mastra"
DUPLICATE_KEY = 11000
# Per-document refusals caused by field names: retried with the keys escaped.
FIELD_NAME_ERRORS = frozenset({
    52,  # DollarPrefixedFieldName
    55,  # InvalidDBRef
    56,  # EmptyFieldName
    57,  # DottedFieldName
})
DELETE_CHUNK = 1000
# Mastra's index list for the collection (stores/mongodb, observability domain).
INDEXES: tuple[tuple[tuple[tuple[str, int], ...], bool], ...] = (
    ((("spanId", ASCENDING), ("traceId", ASCENDING)), True),
    ((("traceId", ASCENDING),), False),
    ((("parentSpanId", ASCENDING),), False),
    ((("startedAt", DESCENDING),), False),
    ((("spanType", ASCENDING),), False),
    ((("name", ASCENDING),), False),
)
_LIGHT_PROJECTION = {c.name: 0 for c in COLUMNS if c.attr in HEAVY_ATTRS}
TIMESTAMP_FIELDS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.kind == "timestamp")
_NO_CREATED = frozenset({"_id", "createdAt"})
_NOT_UPDATED = frozenset({"_id", "traceId", "spanId", "createdAt"})


def _id(value: Any, what: str) -> str:
    """An id used in a filter: a string, else TypeError (never a value that could be read
    as an operator document by the server)."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, got {type(value).__name__}")
    return value


class DuplicateSpansError(RuntimeError):
    """The collection holds duplicate (traceId, spanId) pairs: the unique index can't exist."""


def _is_field_name_error(err: dict[str, Any]) -> bool:
    code = err.get("code")
    if code in FIELD_NAME_ERRORS:
        return True
    # Older servers answer BadValue (2) for the same reason and say so in the message.
    message = str(err.get("errmsg", "")).lower()
    return code == 2 and any(hint in message for hint in (
        "field name", "must not start with '$'", "must not contain '.'"))


class MongoDBStore(SignalsMixin, BaseStore):
    """Observability store on a MongoDB (or MongoDB-wire-compatible) server.

    ``MongoDBStore.from_url("mongodb://host/db")`` — the database is ``database=``, else the
    URL's path, else ``"mastra"``. ``client=`` adopts an existing :class:`MongoClient`
    (not closed by :meth:`close`).
    """

    provider = "mongodb"

    def __init__(
        self,
        url: str | None = None,
        *,
        database: str | None = None,
        client: MongoClient[Any] | None = None,
        max_json_bytes: int = DEFAULT_MAX_BYTES,
        max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
        create_indexes: bool = True,
        **client_options: Any,
    ) -> None:
        if (url is None) == (client is None):
            raise ValueError("MongoDBStore needs exactly one of url= or client=")
        if client is None:
            assert url is not None
            client_options.setdefault("appname", "mastra-storage")
            self._client: MongoClient[Any] = MongoClient(url, **client_options)
            self._owns_client = True
        else:
            self._client = client
            self._owns_client = False
        if not database:  # the URL's path, as the client parsed it
            database = self._client.get_default_database(DEFAULT_DATABASE).name
        self.database_name: str = database
        self.create_indexes = create_indexes
        self.codec = SpanCodec(max_json_bytes, max_document_bytes)
        db = self._client[self.database_name]
        self._spans: Collection[Any] = db[TABLE_SPANS]
        self._raw: Collection[Any] = db.get_collection(TABLE_SPANS, codec_options=RAW_OPTIONS)
        self._init_lock = threading.Lock()
        self._initialised = False
        self.duplicate_upserts = 0  # creates that hit an existing span and were upserted

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MongoDBStore:
        return cls(url, **options)

    def __repr__(self) -> str:  # no URL: it may carry credentials
        return f"<MongoDBStore {self.database_name}.{TABLE_SPANS}>"

    # ------------------------------------------------------------------ lifecycle
    @property
    def client(self) -> MongoClient[Any]:
        return self._client

    @property
    def collection(self) -> Collection[Any]:
        return self._spans

    @property
    def stats(self) -> StoreStats:
        """``store.stats()``: rows, bytes, oldest/newest per signal; ``store.stats.<counter>``:
        what the codec had to change (:class:`CodecStats`)."""
        return StoreStats(self)

    @property
    def truncated_fields(self) -> int:
        return self.codec.stats.truncated_fields

    def init(self) -> None:
        """Create Mastra's indexes (idempotent) and learn the server's document limit."""
        with self._init_lock:
            if self._initialised:
                return
            try:
                hello = self._client.admin.command("hello")
            except OperationFailure:  # servers before MongoDB 4.4.2 / 5.0
                hello = self._client.admin.command("isMaster")
            server_max = int(hello.get("maxBsonObjectSize", DEFAULT_MAX_DOCUMENT_BYTES))
            self.codec.max_document_bytes = min(self.codec.max_document_bytes, server_max)
            if self.create_indexes:
                self._create_indexes()
                self._create_signal_indexes()  # logs, metrics, scores, feedback
            if self._spans.find_one({"startedAt": {"$type": "string"}}, {"_id": 1}):
                logger.warning(
                    "%s.%s holds spans with ISO-string timestamps (written by an earlier "
                    "version of mastra-storage): they are read and filtered, but sort apart "
                    "from the BSON-date ones; store.migrate_timestamps() converts them",
                    self.database_name, TABLE_SPANS)
            self._initialised = True

    def _create_indexes(self) -> None:
        models = [IndexModel(list(keys), unique=True) if unique else IndexModel(list(keys))
                  for keys, unique in INDEXES]
        try:
            self._spans.create_indexes(models)
        except OperationFailure as exc:
            if exc.code != DUPLICATE_KEY:
                raise
            raise DuplicateSpansError(
                f"{self.database_name}.{TABLE_SPANS} holds duplicate (traceId, spanId) pairs, "
                "so the unique index {spanId: 1, traceId: 1} cannot be created; remove the "
                "duplicates (Mastra: `npx mastra migrate`) and retry") from exc

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def drop(self) -> None:
        """Drop the spans collection (tests, ``dangerously clear all``)."""
        self._spans.drop()

    # ------------------------------------------------------------------ writes
    def _encode(self, records: Iterable[SpanRecord], now: datetime) -> list[dict[str, Any]]:
        latest: dict[tuple[str, str], SpanRecord] = {}
        for r in records:
            latest.pop(r.key, None)  # last one of a key wins, in its own position
            latest[r.key] = r
        return [self.codec.encode(r, now) for r in latest.values()]

    def batch_create_spans(self, records: Sequence[SpanRecord]) -> None:
        if not records:
            return
        require_ids(records)
        docs = self._encode(records, utc_now())
        try:
            self._spans.insert_many(docs, ordered=False)
            return
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY and not _is_field_name_error(e)
                   for e in errors):
                raise
        # Duplicates (a retried batch, a span written before): the newer version rewrites
        # every field but createdAt. Documents refused for their keys go again escaped.
        dup = [docs[e["index"]] for e in errors if e.get("code") == DUPLICATE_KEY]
        self.duplicate_upserts += len(dup)
        refused = [self._escaped(docs[e["index"]], "create")
                   for e in errors if e.get("code") != DUPLICATE_KEY]
        self._bulk(dup + refused, self._upsert_op, "create")

    def batch_update_spans(self, records: Sequence[SpanRecord]) -> int:
        """Rewrite existing documents; how many matched (a document that has gone, or an
        ended span a running snapshot would replace, doesn't)."""
        if not records:
            return 0
        now = utc_now()
        docs = self._encode((r.copy(updated_at=now) for r in records), now)
        return self._bulk(docs, self._update_op, "update")

    @staticmethod
    def _key(doc: dict[str, Any]) -> dict[str, Any]:
        """The document's key; for a running snapshot also "not ended yet": a running
        snapshot never replaces an ended span (snapshots of one span can arrive out of
        order across processes, e.g. a span ended in a forked child)."""
        key = {"traceId": doc["traceId"], "spanId": doc["spanId"]}
        if doc.get("endedAt") is None:
            key["endedAt"] = None
        return key

    @classmethod
    def _upsert_op(cls, doc: dict[str, Any]) -> UpdateOne:
        fields = {k: v for k, v in doc.items() if k not in _NO_CREATED}
        # A running snapshot that finds an ended span matches nothing, and its insert is
        # refused by the unique key: :meth:`_bulk` takes that refusal as "keep the ended".
        return UpdateOne(
            cls._key(doc),
            {"$set": fields, "$setOnInsert": {"createdAt": doc["createdAt"]}},
            upsert=True,
        )

    @classmethod
    def _update_op(cls, doc: dict[str, Any]) -> UpdateOne:
        fields = {k: v for k, v in doc.items() if k not in _NOT_UPDATED}
        return UpdateOne(cls._key(doc), {"$set": fields})

    def _escaped(self, doc: dict[str, Any], what: str) -> dict[str, Any]:
        logger.warning("MongoDB refused span %s/%s (%s) for its payload keys; sending it "
                       "again with '$' and '.' in keys escaped", doc.get("traceId"),
                       doc.get("spanId"), what)
        return self.codec.escaped(doc)

    def _bulk(self, docs: list[dict[str, Any]],
              make_op: Callable[[dict[str, Any]], UpdateOne], what: str) -> int:
        """One unordered bulk_write; documents refused for their keys go again escaped,
        and a running snapshot refused because its span has ended is left out (see
        :meth:`_key`). Returns the documents matched."""
        if not docs:
            return 0
        try:
            result = self._spans.bulk_write([make_op(d) for d in docs], ordered=False)
            return int(result.matched_count)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            kept_ended = [e for e in errors if e.get("code") == DUPLICATE_KEY
                          and docs[e["index"]].get("endedAt") is None]
            escape = [e for e in errors if _is_field_name_error(e)]
            if not errors or len(kept_ended) + len(escape) != len(errors):
                raise
            matched = int(exc.details.get("nMatched", 0))
            again = [self._escaped(docs[e["index"]], what) for e in escape]
            return matched + self._bulk(again, make_op, what)

    def batch_delete_traces(self, trace_ids: Sequence[str]) -> int:
        ids = list(dict.fromkeys(_id(t, "trace_id") for t in trace_ids))
        deleted = 0
        for i in range(0, len(ids), DELETE_CHUNK):
            self._delete_trace_signals(ids[i:i + DELETE_CHUNK])  # the traces' signals too
            result = self._spans.delete_many({"traceId": {"$in": ids[i:i + DELETE_CHUNK]}})
            deleted += result.deleted_count
        return deleted

    def delete_traces_older_than(self, before: datetime) -> int:
        cursor = self._spans.find(
            {"$and": [{"parentSpanId": None}, time_range("startedAt", {"$lt": before})]},
            projection={"_id": 0, "traceId": 1},
        )
        return self.batch_delete_traces(sorted({d["traceId"] for d in cursor}))

    def migrate_timestamps(self, batch_size: int = 1000) -> int:
        """Rewrite ISO-string timestamps (``startedAt``, ``endedAt``, ``createdAt``,
        ``updatedAt``, as earlier versions of this library wrote them) as BSON dates, in
        batches; returns how many documents changed.

        Reads and filters work on both types without this, but MongoDB sorts every date
        after every string, so until then the trace list orders old documents apart from
        new ones (Mastra's own reads and its retention likewise only see dates). A
        document changed concurrently keeps its new value; a string that is not a
        timestamp is left as it is (and logged).
        """
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        query = {"$or": [{f: {"$type": "string"}} for f in TIMESTAMP_FIELDS]}
        projection = dict.fromkeys(TIMESTAMP_FIELDS, 1)
        changed, last_id = 0, None
        while True:
            page = query if last_id is None else {"$and": [query, {"_id": {"$gt": last_id}}]}
            docs = list(self._spans.find(page, projection=projection)
                        .sort("_id", ASCENDING).limit(batch_size))
            if not docs:
                return changed
            last_id = docs[-1]["_id"]
            ops = []
            for doc in docs:
                old = {f: doc[f] for f in TIMESTAMP_FIELDS if isinstance(doc.get(f), str)}
                try:
                    new = {f: parse_iso(v) for f, v in old.items()}
                except ValueError:
                    logger.warning("span document %s has a timestamp that is not ISO-8601 "
                                   "text; left as it is: %r", doc["_id"], old)
                    continue
                ops.append(UpdateOne({"_id": doc["_id"], **old}, {"$set": new}))
            if ops:
                changed += self._spans.bulk_write(ops, ordered=False).modified_count

    # ------------------------------------------------------------------ reads
    def _decode_all(self, docs: Iterable[Any]) -> list[SpanRecord]:
        decode = self.codec.decode
        return [decode(d) for d in docs]

    def get_span(self, trace_id: str, span_id: str) -> SpanRecord | None:
        doc = self._raw.find_one({"traceId": _id(trace_id, "trace_id"),
                                  "spanId": _id(span_id, "span_id")})
        return self.codec.decode(doc) if doc is not None else None

    def get_root_span(self, trace_id: str) -> SpanRecord | None:
        docs = list(self._raw.find({"traceId": _id(trace_id, "trace_id"), "parentSpanId": None})
                    .sort([("startedAt", ASCENDING), ("_id", ASCENDING)]).limit(1))
        return self.codec.decode(docs[0]) if docs else None

    def _get_trace_spans(self, trace_id: str, light: bool) -> list[SpanRecord]:
        cursor = self._raw.find({"traceId": _id(trace_id, "trace_id")},
                                projection=_LIGHT_PROJECTION if light else None)
        cursor = cursor.sort([("startedAt", ASCENDING), ("spanId", ASCENDING)])
        return self._decode_all(cursor)

    def _list_roots(
        self, filters: TracesFilter, pagination: Pagination, order_by: TracesOrderBy
    ) -> tuple[list[SpanRecord], int]:
        match = root_filter(filters, self.codec)
        pipeline: list[dict[str, Any]] = [{"$match": match}]
        if filters.has_child_error is not None:
            pipeline += self._child_error_stages(filters.has_child_error)
        count = list(self._spans.aggregate([*pipeline, {"$count": "n"}]))
        total = int(count[0]["n"]) if count else 0
        if total <= pagination.offset:
            return [], total
        page = [*pipeline, *sort_stages(order_by),
                {"$skip": pagination.offset}, {"$limit": pagination.per_page}]
        if order_by.field == "endedAt":
            page.append({"$project": {ENDED_RANK: 0}})
        return self._decode_all(self._raw.aggregate(page, allowDiskUse=True)), total

    @staticmethod
    def _child_error_stages(wanted: bool) -> list[dict[str, Any]]:
        errors = child_error_filter()
        return [
            # localField/foreignField + pipeline (MongoDB >= 5.0): the join on traceId goes
            # through the traceId index; the pure `let` + `$expr` form scans (secantusdb).
            {"$lookup": {
                "from": TABLE_SPANS,
                "localField": "traceId",
                "foreignField": "traceId",
                "pipeline": [{"$match": errors}, {"$limit": 1}, {"$project": {"_id": 1}}],
                "as": "_mastraChildErrors",
            }},
            {"$match": {"_mastraChildErrors": {"$ne": []} if wanted else {"$eq": []}}},
            {"$project": {"_mastraChildErrors": 0}},
        ]
