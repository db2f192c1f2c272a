"""MongoDB-specific behaviour the shared suite can't see: Mastra's document shape and
indexes, URLs, create-as-upsert under retries, BSON's own limits, DBRef-looking payloads,
documents Mastra wrote, and filters that must stay inert whatever the caller passes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import bson
import pytest

from mastra_storage.model.spans import COLUMNS, TABLE_SPANS, SpanRecord
from mastra_storage.storage import TracesFilter, TracesOrderBy
from mastra_storage.storage.mongodb import MongoDBStore
from mastra_storage.storage.mongodb.codec import MAX_NESTING, escape_keys
from mastra_storage.storage.mongodb.store import _is_field_name_error
from mastra_storage.storage.urls import create_store
from tests.backends import Provider, selected

from .factories import at, full_span, sid, span, tid
from .helpers import found

pytestmark = pytest.mark.skipif("mongodb" not in selected(),
                                reason="mongodb not in MASTRA_TEST_BACKENDS")




def raw_doc(store: MongoDBStore, trace_id: str, span_id: str) -> dict[str, Any]:
    doc = store.collection.find_one({"traceId": trace_id, "spanId": span_id})
    assert doc is not None
    return dict(doc)


def ids(store: MongoDBStore, **filters: Any) -> set[str]:
    return {s.trace_id for s in store.list_traces(TracesFilter(**filters), per_page=100).spans}


# ----------------------------------------------------------------------- URLs, schema

def test_database_from_option_url_path_or_default(mongo: Provider) -> None:
    parts = urlsplit(mongo.url)

    def with_path(path: str) -> str:
        return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))

    cases = [
        (with_path("/from_path_db"), {}, "from_path_db"),
        (with_path("/from_path_db"), {"database": "from_option"}, "from_option"),
        (with_path("/"), {}, "mastra"),
        (with_path(""), {}, "mastra"),
    ]
    for url, options, want in cases:
        store = MongoDBStore.from_url(url, **options)
        try:
            assert store.database_name == want
            assert store.collection.full_name == f"{want}.{TABLE_SPANS}"
        finally:
            store.close()
    # an adopted client: its default database (else "mastra"), and it stays open
    from pymongo import MongoClient

    client: MongoClient[Any] = MongoClient(with_path("/adopted_db"))
    try:
        store = MongoDBStore(client=client)
        assert store.database_name == "adopted_db" and store.client is client
        assert MongoDBStore(client=client, database="x").database_name == "x"
        store.close()
        client.admin.command("ping")  # not closed by the store
    finally:
        client.close()
    with pytest.raises(ValueError):
        MongoDBStore()


def test_create_store_builds_an_initialised_mongodb_store(mongo: Provider) -> None:
    name = f"mastra_url_{tid()[-8:]}"
    store = create_store(mongo.url, database=name)
    assert isinstance(store, MongoDBStore)
    try:
        assert store.provider == "mongodb"
        assert store.database_name == name
        names = {ix["name"] for ix in store.collection.list_indexes()}
        assert "spanId_1_traceId_1" in names
        t = tid()
        store.batch_create_spans([span(t, sid())])
        assert store.get_trace(t) is not None
    finally:
        store.client.drop_database(name)
        store.close()


def test_indexes_are_mastras(mstore: MongoDBStore) -> None:
    got = {}
    for ix in mstore.collection.list_indexes():
        if ix["name"] == "_id_":
            continue
        got[tuple(ix["key"].items())] = bool(ix.get("unique", False))
    assert got == {
        (("spanId", 1), ("traceId", 1)): True,
        (("traceId", 1),): False,
        (("parentSpanId", 1),): False,
        (("startedAt", -1),): False,
        (("spanType", 1),): False,
        (("name", 1),): False,
    }
    mstore._initialised = False
    mstore.init()  # idempotent on an existing collection


def test_document_shape_is_mastras(mstore: MongoDBStore) -> None:
    rec = full_span(tid(), sid())
    sparse = span(rec.trace_id, sid(), parent=rec.span_id, end=None)
    mstore.batch_create_spans([rec, sparse])
    doc = raw_doc(mstore, rec.trace_id, rec.span_id)
    assert set(doc) == {c.name for c in COLUMNS} | {"_id"}
    for c in COLUMNS:
        value = doc[c.name]
        if c.kind == "timestamp":  # BSON dates (ms, UTC), as @mastra/mongodb writes them
            assert isinstance(value, datetime) and value.microsecond % 1000 == 0, c.name
        elif c.kind == "json" and getattr(rec, c.attr) is not None:
            assert isinstance(value, (dict, list)), c.name  # native BSON, not JSON text
    assert doc["startedAt"] == datetime(2026, 11, 1, 12, 0, 0, 123000)  # naive = UTC
    assert doc["isEvent"] is False
    assert doc["metadata"]["nested"] == {"a": [1, 2]}
    assert doc["input"]["big"] == 2**53
    other = raw_doc(mstore, sparse.trace_id, sparse.span_id)
    assert set(other) == set(doc)  # every column written, null when unset
    assert other["endedAt"] is None and other["output"] is None


def test_documents_written_by_mastra_are_read(mstore: MongoDBStore) -> None:
    """What @mastra/mongodb inserts: BSON dates, absent optional fields."""
    t, root_id, child_id = tid(), sid(), sid()
    mstore.collection.insert_many([
        {"traceId": t, "spanId": root_id, "name": "agent", "spanType": "agent_run",
         "isEvent": False, "startedAt": datetime(2026, 11, 1, 12),
         "attributes": {"model": "gpt-4o"}, "metadata": {"tier": "gold"}, "tags": ["x"],
         "createdAt": datetime(2026, 11, 1, 12, 0, 0, 500000),
         "updatedAt": datetime(2026, 11, 1, 12, 0, 0, 500000)},
        {"traceId": t, "spanId": child_id, "parentSpanId": root_id, "name": "tool",
         "spanType": "tool_call", "isEvent": False,
         "startedAt": datetime(2026, 11, 1, 12, 0, 0, 100000),
         "endedAt": datetime(2026, 11, 1, 12, 0, 0, 200000), "error": {"message": "boom"},
         "createdAt": datetime(2026, 11, 1, 12, 0, 0, 500000), "updatedAt": None},
    ])
    page = mstore.list_traces(TracesFilter(metadata={"tier": "gold"}, tags=["x"]))
    assert [s.trace_id for s in page.spans] == [t]
    root = page.spans[0]
    assert root.status == "running" and root.parent_span_id is None
    assert root.started_at.isoformat() == "2026-11-01T12:00:00+00:00"
    assert ids(mstore, has_child_error=True) == {t}
    assert ids(mstore, status="running") == {t}
    assert [s.span_id for s in found(mstore.get_trace(t)).spans] == [root_id, child_id]
    assert found(mstore.get_span(t, child_id)).error == {"message": "boom"}
    # running first for endedAt DESC even when endedAt is absent rather than null
    done = tid()
    mstore.batch_create_spans([span(done, sid(), start=5, end=6)])
    order = [s.trace_id for s in mstore.list_traces(
        order_by=TracesOrderBy("endedAt", "DESC")).spans]
    assert order == [t, done]
    order = [s.trace_id for s in mstore.list_traces(
        order_by=TracesOrderBy("endedAt", "ASC")).spans]
    assert order == [done, t]


def test_foreign_bson_types_in_payloads_read_as_json(mstore: MongoDBStore) -> None:
    from datetime import datetime, timezone

    from bson import Decimal128, Int64, ObjectId

    t, s = tid(), sid()
    oid = ObjectId()
    mstore.collection.insert_one({
        "traceId": t, "spanId": s, "name": "n", "spanType": "generic", "isEvent": False,
        "startedAt": datetime(2026, 11, 1, 12, tzinfo=timezone.utc),  # a BSON date
        "attributes": {"when": datetime(2026, 11, 1, 12, 0, 1, 5000, tzinfo=timezone.utc),
                       "id": oid, "n": Int64(7), "d": Decimal128("1.5"), "b": b"xyz"},
    })
    got = found(mstore.get_span(t, s))
    assert got.started_at == datetime(2026, 11, 1, 12, tzinfo=timezone.utc)
    assert got.attributes == {"when": "2026-11-01T12:00:01.005Z", "id": str(oid), "n": 7,
                              "d": "1.5", "b": "<bytes:3>"}
    assert type(got.attributes["n"]) is int


# ----------------------------------------------------------------------- writes

def test_retried_batch_is_idempotent_and_newer_version_wins(mstore: MongoDBStore) -> None:
    t = tid()
    first = [span(t, sid(), name=f"v1-{i}", start=i) for i in range(5)]
    mstore.batch_create_spans(first)
    created = {s.span_id: raw_doc(mstore, t, s.span_id)["createdAt"] for s in first}
    # the retry of a batch that partly reached the server, with newer versions and new spans
    newer = [r.copy(name=r.name.replace("v1", "v2"), output={"n": 2}) for r in first[:3]]
    fresh = [span(t, sid(), name="new", start=9)]
    mstore.batch_create_spans(newer + fresh)
    mstore.batch_create_spans(newer + fresh)
    spans = found(mstore.get_trace(t)).spans
    assert len(spans) == 6
    assert mstore.collection.count_documents({"traceId": t}) == 6
    by_id = {s.span_id: s for s in spans}
    for r in newer:
        assert by_id[r.span_id].name == r.name and by_id[r.span_id].output == {"n": 2}
        assert raw_doc(mstore, t, r.span_id)["createdAt"] == created[r.span_id]
    for r in first[3:]:
        assert by_id[r.span_id].name == r.name
    assert mstore.duplicate_upserts >= 6


def test_last_record_of_a_key_in_one_batch_wins(mstore: MongoDBStore) -> None:
    t, s = tid(), sid()
    mstore.batch_create_spans([span(t, s, name="a"), span(t, sid()), span(t, s, name="b")])
    assert found(mstore.get_span(t, s)).name == "b"
    assert mstore.collection.count_documents({"traceId": t}) == 2


def test_update_never_creates_and_keeps_created_at(mstore: MongoDBStore) -> None:
    t = tid()
    rec = span(t, sid(), end=None)
    mstore.batch_create_spans([rec])
    before = raw_doc(mstore, t, rec.span_id)
    ghost = span(t, sid())
    mstore.batch_update_spans([rec.copy(ended_at=at(4), output={"x": 1}), ghost])
    after = raw_doc(mstore, t, rec.span_id)
    assert after["createdAt"] == before["createdAt"] and after["_id"] == before["_id"]
    assert after["endedAt"] == datetime(2026, 11, 1, 12, 0, 4, 123000)
    assert after["output"] == {"x": 1}
    assert after["updatedAt"] >= before["updatedAt"]
    assert mstore.get_span(t, ghost.span_id) is None
    assert mstore.collection.count_documents({"traceId": t}) == 1


def test_deletes_count_spans(mstore: MongoDBStore) -> None:
    old, new = tid(), tid()
    ro = span(old, sid(), start=0)
    mstore.batch_create_spans([ro, span(old, sid(), parent=ro.span_id, start=100),
                               span(new, sid(), start=50)])
    assert mstore.delete_traces_older_than(at(10)) == 2
    assert mstore.batch_delete_traces([new, new]) == 1
    assert mstore.collection.count_documents({}) == 0


# ----------------------------------------------------------------------- payload keys

HOSTILE_PAYLOAD = {
    "a.b": 1, "$where": "sleep(1000)", "$inc": {"x": 1}, "a": {"b": 2},
    # pymongo would read this back as a DBRef object; the store rebuilds the plain object.
    # ("$db": null is not used: secantusdb re-encodes DBRef-shaped objects and drops it.)
    "ref": {"$ref": "users", "$id": 7, "$db": "app", "more": [1]}, "onlyref": {"$ref": "x"},
    "": "empty key", "$": "dollar", "deep": [{"$gt": 1, "k.k": [".", "$"]}],
}


def test_dollar_and_dotted_payload_keys_are_stored_as_they_are(mstore: MongoDBStore) -> None:
    t = tid()
    rec = span(t, sid(), end=None, metadata=HOSTILE_PAYLOAD, attributes=HOSTILE_PAYLOAD)
    mstore.batch_create_spans([rec])
    assert found(mstore.get_span(t, rec.span_id)).metadata == HOSTILE_PAYLOAD
    # stored natively (what Mastra writes), not escaped
    raw = mstore.collection.find_one(
        {"traceId": t}, projection={"metadata": 1},
    )
    assert raw is not None and "a.b" in raw["metadata"] and "$where" in raw["metadata"]
    # through the update path ($set) and the upsert path (retried create) too
    changed = {**HOSTILE_PAYLOAD, "$set": {"$unset": ""}}
    mstore.batch_update_spans([rec.copy(output=changed, ended_at=at(2))])
    assert found(mstore.get_span(t, rec.span_id)).output == changed
    mstore.batch_create_spans([rec.copy(input=changed, ended_at=at(2))])
    got = found(mstore.get_span(t, rec.span_id))
    assert got.input == changed and got.metadata == HOSTILE_PAYLOAD
    assert mstore.stats.escaped_documents == 0


def test_escaped_form_and_refusal_classification() -> None:
    assert escape_keys(HOSTILE_PAYLOAD)["a\uff0eb"] == 1
    escaped = escape_keys(HOSTILE_PAYLOAD)
    assert "\uff04where" in escaped and "$where" not in escaped
    assert escaped["deep"] == [{"\uff04gt": 1, "k\uff0ek": [".", "$"]}]  # values untouched
    assert _is_field_name_error({"code": 52, "errmsg": "..."})
    assert _is_field_name_error({"code": 57, "errmsg": "..."})
    assert _is_field_name_error({"code": 2, "errmsg": "field names may not start with '$'"})
    assert _is_field_name_error({"code": 2, "errmsg": "key $x must not start with '$'"})
    assert not _is_field_name_error({"code": 11000, "errmsg": "E11000 duplicate key"})
    assert not _is_field_name_error({"code": 2, "errmsg": "unknown top level operator"})


# ----------------------------------------------------------------------- BSON limits

def test_integers_beyond_int64_are_kept_as_text(mstore: MongoDBStore) -> None:
    t = tid()
    rec = span(t, sid(), input={"ok": 2**63 - 1, "neg": -(2**63), "big": 2**64, "small": -(2**70),
                               "list": [10**30]})
    mstore.batch_create_spans([rec])
    assert found(mstore.get_span(t, rec.span_id)).input == {
        "ok": 2**63 - 1, "neg": -(2**63), "big": str(2**64), "small": str(-(2**70)),
        "list": [str(10**30)]}
    assert mstore.stats.big_ints == 3


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for i in range(depth):
        value = {"d": value} if i % 2 else [value]
    return value


def test_too_deep_payloads_are_cut_into_json_text(mstore: MongoDBStore) -> None:
    t = tid()
    ok, deep = _nested(MAX_NESTING), _nested(MAX_NESTING + 40)
    rec = span(t, sid(), input=ok, output=deep)
    mstore.batch_create_spans([rec])
    got = found(mstore.get_span(t, rec.span_id))
    assert got.input == ok  # at the limit: kept as documents
    assert got.output != deep
    # walk down MAX_NESTING levels: there sits the rest of the value as JSON text
    node = got.output
    for _ in range(MAX_NESTING):
        node = node["d"] if isinstance(node, dict) else node[0]
    assert isinstance(node, str) and json.loads(node) == _nested(40)
    assert mstore.stats.deep_values == 1


def test_oversized_document_gets_markers_in_its_largest_fields(mongo: Provider) -> None:
    """A span too large for one document keeps its small fields; the largest payloads give
    way to the truncation marker, largest first, until it fits (smaller limit, same rule)."""
    store = mongo.make_store()
    limit = 256 * 1024
    store.codec.max_document_bytes = limit
    try:
        t = tid()
        rec = span(t, sid(), input={"text": "i" * 150_000}, output={"text": "o" * 140_000},
                   attributes={"text": "a" * 110_000}, metadata={"small": True})
        store.batch_create_spans([rec])
        got = found(store.get_span(t, rec.span_id))
        assert got.input == {"truncated": True, "originalBytes": 150_011,
                             "preview": ('{"text":"' + "i" * 150_000)[:1000]}
        assert got.output["truncated"] is True and got.output["originalBytes"] == 140_011
        assert got.attributes == {"text": "a" * 110_000} and got.metadata == {"small": True}
        assert len(bson.encode(raw_doc(store, t, rec.span_id))) <= limit
        assert store.stats.truncated_fields == 2
    finally:
        store.close()


@pytest.mark.slow
def test_document_over_16mb_is_stored_with_markers(mstore: MongoDBStore) -> None:
    """Five payloads of ~3.5 MB each (each under the 4 MB field limit) make a ~17.5 MB
    span: the largest payloads become markers and everything else is kept."""
    t = tid()
    chunk = 3_500_000
    rec = span(t, sid(), input={"t": "i" * (chunk + 4)}, output={"t": "o" * (chunk + 3)},
               attributes={"t": "a" * (chunk + 2)}, metadata={"t": "m" * (chunk + 1)},
               request_context={"t": "r" * chunk})
    mstore.batch_create_spans([rec])
    got = found(mstore.get_span(t, rec.span_id))
    markers = [name for name in ("input", "output", "attributes", "metadata", "request_context")
               if getattr(got, name).get("truncated") is True]
    assert markers == ["input"]  # the largest one was enough
    assert got.output == rec.output and got.request_context == rec.request_context
    assert len(bson.encode(raw_doc(mstore, t, rec.span_id))) < 16 * 1024 * 1024
    # a single payload over the 4 MB field limit becomes the marker before any of this
    big = span(t, sid(), input={"t": "x" * 5_000_000})
    mstore.batch_create_spans([big])
    assert found(mstore.get_span(t, big.span_id)).input["originalBytes"] == 5_000_008


# ----------------------------------------------------------------------- injection

def test_hostile_filter_keys_are_literal_keys_never_paths_or_operators(
        mstore: MongoDBStore) -> None:
    a, b, c = tid(), tid(), tid()
    mstore.batch_create_spans([
        span(a, sid(), metadata={"a.b": 1, "$where": "x", "$ne": None, "tier": "gold",
                                 "op": {"$ne": None}, "ref": "$tier"}),
        span(b, sid(), metadata={"a": {"b": 1}, "tier": "silver", "op": 5}),
        span(c, sid(), metadata=["not", "an", "object"], scope="text"),
    ])
    assert ids(mstore, metadata={"a.b": 1}) == {a}  # the key "a.b", not the path a → b
    assert ids(mstore, metadata={"a": {"b": 1}}) == {b}
    assert ids(mstore, metadata={"$where": "x"}) == {a}  # a key, not the $where operator
    assert ids(mstore, metadata={"$where": "true"}) == set()
    assert ids(mstore, metadata={"$ne": None}) == {a}  # key "$ne" present with null
    assert ids(mstore, metadata={"$exists": True}) == set()
    assert ids(mstore, metadata={"$expr": {"$eq": [1, 1]}}) == set()
    assert ids(mstore, metadata={"tier": {"$ne": None}}) == set()  # value matched literally
    assert ids(mstore, metadata={"tier": {"$exists": True}}) == set()
    assert ids(mstore, metadata={"op": {"$ne": None}}) == {a}
    assert ids(mstore, metadata={"tier": "$tier"}) == set()  # not a field reference
    assert ids(mstore, metadata={"ref": "$tier"}) == {a}
    assert ids(mstore, metadata={"tier": {"$gt": ""}}) == set()
    assert ids(mstore, metadata={"tier": ["gold"]}) == set()
    assert ids(mstore, metadata={"": None}) == set()
    assert ids(mstore, scope={"$where": "1"}, metadata={"tier": "gold"}) == set()
    assert ids(mstore, metadata={"0": "not"}) == set()  # a list is not an object
    assert ids(mstore, metadata={"missing": None}) == set()  # null requires the key
    assert mstore.list_traces().total == 3


@pytest.mark.parametrize("value", [
    {"$ne": None}, {"$gt": ""}, {"$regex": ".*"}, {"$in": ["u"]}, {"$exists": True},
    "$where", "$userId", "u' || '1'=='1", ["u"],
])
def test_hostile_values_in_plain_filters_and_lookups(mstore: MongoDBStore, value: Any) -> None:
    t = tid()
    rec = span(t, sid(), user_id="u", tags=["u"])
    mstore.batch_create_spans([rec])
    if isinstance(value, str):
        assert mstore.list_traces(TracesFilter(user_id=value)).total == 0
        assert mstore.list_traces(TracesFilter(tags=[value])).total == 0
    # ids typed wrongly by a caller are refused, never sent as a (possible) operator
    if not isinstance(value, str):
        for call in (lambda: mstore.get_span(value, "x"), lambda: mstore.get_span("x", value),
                     lambda: mstore.get_root_span(value), lambda: mstore.get_trace(value),
                     lambda: mstore.get_trace_light(value),
                     lambda: mstore.batch_delete_traces([value])):
            with pytest.raises(TypeError, match="must be a string"):
                call()
    else:
        assert mstore.get_span(value, value) is None
        assert mstore.get_root_span(value) is None
        assert mstore.get_trace(value) is None
        assert mstore.batch_delete_traces([value]) == 0
    assert mstore.get_trace(t) is not None


def test_tags_filter_needs_an_array(mstore: MongoDBStore) -> None:
    a, b = tid(), tid()
    mstore.batch_create_spans([span(a, sid(), tags="prod"), span(b, sid(), tags=["prod"])])
    assert ids(mstore, tags=["prod"]) == {b}


def test_filter_values_get_the_payload_rules(mstore: MongoDBStore) -> None:
    t = tid()
    mstore.batch_create_spans([span(t, sid(), metadata={"n": float("nan"), "s": "a\x00b",
                                                        "big": 2**70, "t": (1, 2)})])
    assert ids(mstore, metadata={"n": float("nan")}) == {t}
    assert ids(mstore, metadata={"s": "a\x00b"}) == {t}
    assert ids(mstore, metadata={"big": 2**70}) == {t}
    assert ids(mstore, metadata={"t": [1, 2]}) == {t}


def test_round_trip_equals_the_reference_normalisation(mstore: MongoDBStore) -> None:
    from mastra_storage.storage.memory import InMemoryStore

    rec = full_span(tid(), sid())
    rec.attributes = {"tuple": (1, 2), "set": {3}, 4: "int key", "nested": {"x": [None, 1.5]}}
    ref = InMemoryStore()
    ref.batch_create_spans([rec])
    mstore.batch_create_spans([rec])
    want: SpanRecord = ref.get_span(rec.trace_id, rec.span_id)  # type: ignore[assignment]
    got = found(mstore.get_span(rec.trace_id, rec.span_id))
    for c in COLUMNS:
        if c.attr not in ("created_at", "updated_at", "attributes"):
            assert getattr(got, c.attr) == getattr(want, c.attr), c.name
    # the SQL stores' JSON text rule for non-string keys (json.dumps: 4 -> "4")
    assert got.attributes == {"tuple": [1, 2], "set": [3], "4": "int key",
                              "nested": {"x": [None, 1.5]}}


def test_lone_surrogates_become_replacement_characters(mstore: MongoDBStore) -> None:
    t = tid()
    rec = span(t, sid(), name="bad \ud800 name", input={"text": "x\udfffy", "k\ud83d": 1})
    mstore.batch_create_spans([rec])
    got = found(mstore.get_span(t, rec.span_id))
    assert got.name == "bad \ufffd name"
    assert got.input == {"text": "x\ufffdy", "k\ufffd": 1}
    # the shared jsonsafe rule (every store), not a MongoDB special case


# ----------------------------------------------------------------------- Mastra reads ours

def test_mastra_style_queries_find_our_documents(mstore: MongoDBStore) -> None:
    """The query shapes @mastra/mongodb's observability domain sends, run on our documents."""
    rec = full_span(tid(), sid())
    child = span(rec.trace_id, sid(), parent=rec.span_id, start=1, end=2,
                 error={"message": "tool failed"})
    running = span(tid(), sid(), start=3, end=None, metadata={"tier": "gold"})
    mstore.batch_create_spans([rec, child, running])
    col = mstore.collection
    # listTraces: roots via parentSpanId null, dotted metadata/scope paths, $all tags,
    # time ranges as an $or of a Date range and an ISO-string range, status via
    # error/endedAt null checks, sort by startedAt
    lo, hi = datetime(2026, 11, 1, 12), datetime(2026, 11, 1, 12, 0, 0, 123000)
    hits = list(col.find({
        "parentSpanId": None, "metadata.tier": "gold", "scope.core": "1.2.3",
        "tags": {"$all": ["prod"]},
        "$and": [{"$or": [{"startedAt": {"$gte": lo, "$lte": hi}},
                          {"startedAt": {"$gte": "2026-11-01T12:00:00.000Z",
                                         "$lte": "2026-11-01T12:00:00.123Z"}}]},
                 {"endedAt": {"$exists": True, "$ne": None}, "error": None}],
    }).sort({"startedAt": -1}))
    assert [d["spanId"] for d in hits] == [rec.span_id]
    assert [d["traceId"] for d in col.find({"parentSpanId": None, "endedAt": None,
                                            "error": None})] == [running.trace_id]
    assert col.count_documents({"traceId": rec.trace_id, "error": {"$exists": True,
                                                                  "$ne": None}}) == 1
    # getTrace / getSpan
    spans = list(col.find({"traceId": rec.trace_id}).sort({"startedAt": 1}))
    assert [d["spanId"] for d in spans] == [rec.span_id, child.span_id]
    # updateSpan: Mastra $sets the changed fields, dates as BSON dates; we read it back
    col.update_one({"spanId": running.span_id, "traceId": running.trace_id},
                   {"$set": {"endedAt": datetime(2026, 11, 1, 12, 0, 9),
                             "output": {"answer": 42}, "updatedAt": datetime(2026, 11, 2)}})
    got = found(mstore.get_span(running.trace_id, running.span_id))
    assert got.output == {"answer": 42} and got.status == "success"
    assert got.ended_at is not None and got.ended_at.isoformat() == "2026-11-01T12:00:09+00:00"
