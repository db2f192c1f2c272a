"""The shared store suite: every query-API behaviour, run unchanged against every backend."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from mastra_storage.model.spans import COLUMNS, SpanRecord
from mastra_storage.storage import TracesFilter, TracesOrderBy
from mastra_storage.storage.capabilities import TracingStrategy

from .factories import at, full_span, sid, span, tid
from .helpers import found


def roundtrip_equal(got: SpanRecord, want: SpanRecord) -> None:
    for c in COLUMNS:
        if c.attr in ("created_at", "updated_at"):
            continue
        assert getattr(got, c.attr) == getattr(want, c.attr), c.name


# ------------------------------------------------------------------------- writes & reads

def test_full_record_roundtrip(store):
    rec = full_span(tid(), sid())
    store.batch_create_spans([rec])
    got = store.get_span(rec.trace_id, rec.span_id)
    assert got is not None
    roundtrip_equal(got, rec)
    assert got.created_at is not None and got.created_at.tzinfo is not None
    assert got.started_at.utcoffset() == timedelta(0)


def test_unknown_ids_give_none(store):
    assert store.get_span(tid(), sid()) is None
    assert store.get_root_span(tid()) is None
    assert store.get_trace(tid()) is None
    assert store.get_trace_light(tid()) is None


@pytest.mark.needs("span-rewrites")
def test_create_is_idempotent_upsert(store):
    t = tid()
    rec = span(t, sid(), name="first")
    store.batch_create_spans([rec])
    store.batch_create_spans([rec.copy(name="second")])
    trace = store.get_trace(t)
    assert trace is not None and len(trace.spans) == 1
    assert trace.spans[0].name == "second"


@pytest.mark.needs("span-updates")
def test_update_rewrites_fields_and_ignores_missing_rows(store):
    t = tid()
    rec = span(t, sid(), end=None, output=None)
    store.batch_create_spans([rec])
    store.batch_update_spans([rec.copy(ended_at=at(3), output={"answer": 42},
                                       attributes={"k": "v"})])
    store.batch_update_spans([span(t, sid())])  # no such row: nothing happens
    got = store.get_span(t, rec.span_id)
    assert got is not None
    assert got.ended_at == at(3) and got.output == {"answer": 42}
    assert got.attributes == {"k": "v"}
    assert got.updated_at is not None
    assert len(store.get_trace(t).spans) == 1


def skip_insert_only(store: Any) -> None:
    if store.observability_strategy.supported == (TracingStrategy.INSERT_ONLY,):
        pytest.skip("an insert-only store is only ever sent ended spans, and no updates")


@pytest.mark.needs("span-updates")
def test_a_running_snapshot_never_replaces_an_ended_span(store):
    """Snapshots of one span can arrive out of order across processes (ended in a forked
    child while the parent still writes its start): the ended one stays."""
    skip_insert_only(store)
    t = tid()
    ended = span(t, sid(), end=2, output={"answer": 42})
    store.batch_create_spans([ended])
    running = ended.copy(ended_at=None, output=None, name="late start")
    store.batch_create_spans([running])
    assert store.batch_update_spans([running]) in (0, None)
    got = found(store.get_span(t, ended.span_id))
    assert got.ended_at == ended.ended_at and got.output == {"answer": 42}
    assert got.name == ended.name
    # an ended snapshot still replaces a running one, and a later end an earlier one
    other = span(t, sid(), end=None)
    store.batch_create_spans([other])
    store.batch_create_spans([other.copy(ended_at=at(3))])
    assert found(store.get_span(t, other.span_id)).ended_at == at(3)


@pytest.mark.needs("span-updates")
def test_updates_say_how_many_rows_they_rewrote(store):
    skip_insert_only(store)
    t = tid()
    a, b = span(t, sid(), end=None), span(t, sid(), end=None)
    store.batch_create_spans([a, b])
    n = store.batch_update_spans([a.copy(ended_at=at(2)), b.copy(ended_at=at(2)),
                                  span(t, sid())])  # the third row doesn't exist
    assert n == 2
    assert store.batch_update_spans([]) == 0


def test_trace_spans_ordered_by_start_and_light_view(store):
    t = tid()
    root = span(t, sid(), start=0, input={"q": 1}, metadata={"m": 1})
    late = span(t, sid(), parent=root.span_id, start=5, name="late", output={"x": 1})
    early = span(t, sid(), parent=root.span_id, start=1, name="early",
                 attributes={"a": 1})
    store.batch_create_spans([late, root, early])
    trace = store.get_trace(t)
    assert [s.span_id for s in trace.spans] == [root.span_id, early.span_id, late.span_id]
    assert trace.spans[2].output == {"x": 1}
    light = store.get_trace_light(t)
    assert [s.span_id for s in light.spans] == [root.span_id, early.span_id, late.span_id]
    for s in light.spans:
        assert s.input is None and s.output is None
        assert s.attributes is None and s.metadata is None
    assert light.spans[1].name == "early" and light.spans[1].ended_at is not None
    root_got = store.get_root_span(t)
    assert root_got is not None and root_got.span_id == root.span_id


def test_event_spans_and_bool_column(store):
    t = tid()
    root = span(t, sid())
    ev = span(t, sid(), parent=root.span_id, is_event=True, start=0.5, end=0.5)
    store.batch_create_spans([root, ev])
    assert store.get_span(t, ev.span_id).is_event is True
    assert store.get_span(t, root.span_id).is_event is False


# ------------------------------------------------------------------------- awkward payloads

def test_nul_nan_and_unserialisable_values_have_a_defined_outcome(store):
    class Opaque:
        def __repr__(self) -> str:
            return "<Opaque>"

    t = tid()
    rec = span(t, sid(), name="nul\x00name",
               input={"text": "a\x00b", "nan": float("nan"), "inf": float("inf"),
                      "ninf": float("-inf"), "obj": Opaque(), "when": at(1), "set": {1},
                      "bytes": b"abc", "k\x00ey": 1})
    store.batch_create_spans([rec])
    got = store.get_span(t, rec.span_id)
    assert got.name == "nul\ufffdname"
    assert got.input == {"text": "a\ufffdb", "nan": "NaN", "inf": "Infinity",
                         "ninf": "-Infinity", "obj": "<Opaque>",
                         "when": "2026-11-01T12:00:01.123Z", "set": [1],
                         "bytes": "<bytes:3>", "k\ufffdey": 1}


def test_circular_payload_is_cut(store):
    t = tid()
    loop: dict[str, Any] = {"name": "loop"}
    loop["self"] = loop
    rec = span(t, sid(), input=loop)
    store.batch_create_spans([rec])
    assert store.get_span(t, rec.span_id).input == {"name": "loop", "self": "[Circular]"}


def test_large_payload_roundtrips(store):
    t = tid()
    big = {"text": "x" * 300_000, "list": list(range(2000))}
    rec = span(t, sid(), output=big)
    store.batch_create_spans([rec])
    assert store.get_span(t, rec.span_id).output == big


# ------------------------------------------------------------------------- list_traces

def _seed_statuses(store):
    ok, err, running, child_err = tid(), tid(), tid(), tid()
    c = sid()
    store.batch_create_spans([
        span(ok, sid(), start=0, end=1),
        span(err, sid(), start=1, end=2, error={"message": "boom"}),
        span(running, sid(), start=2, end=None),
        span(child_err, "0" * 15 + "1", start=3, end=4),
        span(child_err, c, parent="0" * 15 + "1", start=3.5, end=3.6,
             error={"message": "tool failed"}),
    ])
    return ok, err, running, child_err


@pytest.mark.needs("running-spans")
def test_list_traces_returns_roots_with_status(store):
    ok, err, running, child_err = _seed_statuses(store)
    page = store.list_traces()
    assert page.total == 4 and not page.has_more
    assert all(s.parent_span_id is None for s in page.spans)
    status = {s.trace_id: s.status for s in page.spans}
    assert status == {ok: "success", err: "error", running: "running", child_err: "success"}
    # default order: startedAt DESC
    assert [s.trace_id for s in page.spans] == [child_err, running, err, ok]


@pytest.mark.needs("running-spans")
@pytest.mark.parametrize("status", ["success", "error", "running"])
def test_status_filter(store, status):
    ok, err, running, child_err = _seed_statuses(store)
    want = {"success": {ok, child_err}, "error": {err}, "running": {running}}[status]
    page = store.list_traces(TracesFilter(status=status))
    assert {s.trace_id for s in page.spans} == want and page.total == len(want)


def test_has_child_error_filter(store):
    # Mastra's meaning in every store: some span of the trace failed, the root included.
    ok, err, running, child_err = _seed_statuses(store)
    assert {s.trace_id for s in store.list_traces(TracesFilter(has_child_error=True)).spans} \
        == {err, child_err}
    assert {s.trace_id for s in store.list_traces(TracesFilter(has_child_error=False)).spans} \
        == {ok, running}


def test_pagination(store):
    ids = [tid() for _ in range(25)]
    store.batch_create_spans([span(t, sid(), start=i) for i, t in enumerate(ids)])
    newest_first = list(reversed(ids))
    p0 = store.list_traces(page=0, per_page=10)
    p2 = store.list_traces(page=2, per_page=10)
    p3 = store.list_traces(page=3, per_page=10)
    assert [s.trace_id for s in p0.spans] == newest_first[:10]
    assert (p0.total, p0.page, p0.per_page, p0.has_more) == (25, 0, 10, True)
    assert [s.trace_id for s in p2.spans] == newest_first[20:]
    assert p2.has_more is False
    assert p3.spans == [] and p3.total == 25 and p3.has_more is False
    assert store.list_traces().per_page == 10


@pytest.mark.parametrize("page,per_page", [(-1, 10), (0, 0), (0, 101)])
def test_pagination_bounds(store, page, per_page):
    with pytest.raises(ValueError):
        store.list_traces(page=page, per_page=per_page)


@pytest.mark.needs("running-spans")
def test_order_by_started_and_ended(store):
    a, b, c, d = tid(), tid(), tid(), tid()
    store.batch_create_spans([
        span(a, sid(), start=0, end=10),
        span(b, sid(), start=1, end=5),
        span(c, sid(), start=2, end=None),
        span(d, sid(), start=3, end=7),
    ])

    def order(field, direction):
        page = store.list_traces(order_by=TracesOrderBy(field, direction))
        return [s.trace_id for s in page.spans]

    assert order("startedAt", "ASC") == [a, b, c, d]
    assert order("startedAt", "DESC") == [d, c, b, a]
    assert order("endedAt", "DESC") == [c, a, d, b]  # running first
    assert order("endedAt", "ASC") == [b, d, a, c]  # running last


def test_equality_filters(store):
    fields: dict[str, Any] = dict(
        span_type="workflow_run", entity_type="workflow_run", entity_id="wf-9",
        entity_name="Nine", user_id="u9", organization_id="o9", resource_id="r9",
        run_id="run9", session_id="s9", thread_id="th9", request_id="rq9",
        environment="staging", source="local", service_name="svc9")
    target = tid()
    store.batch_create_spans([span(target, sid(), **fields), span(tid(), sid())])
    for attr, value in fields.items():
        page = store.list_traces(TracesFilter(**{attr: value}))
        assert [s.trace_id for s in page.spans] == [target], attr
        assert store.list_traces(TracesFilter(**{attr: value + "x"})).total == 0, attr
    assert store.list_traces(TracesFilter(**fields)).total == 1


def test_filters_apply_to_root_span_only(store):
    t = tid()
    root = span(t, sid(), user_id="root-user")
    store.batch_create_spans([root, span(t, sid(), parent=root.span_id, user_id="child-user")])
    assert store.list_traces(TracesFilter(user_id="child-user")).total == 0
    assert store.list_traces(TracesFilter(user_id="root-user")).total == 1


@pytest.mark.needs("running-spans")
def test_time_range_filters_are_inclusive(store):
    a, b, c = tid(), tid(), tid()
    store.batch_create_spans([span(a, sid(), start=0, end=1), span(b, sid(), start=10, end=11),
                              span(c, sid(), start=20, end=None)])

    def ids(**kw):
        return {s.trace_id for s in store.list_traces(TracesFilter(**kw)).spans}

    assert ids(started_from=at(10)) == {b, c}
    assert ids(started_to=at(10)) == {a, b}
    assert ids(started_from=at(5), started_to=at(15)) == {b}
    assert ids(ended_from=at(1), ended_to=at(11)) == {a, b}
    assert ids(ended_from=at(2)) == {b}  # running traces have no end


def test_tags_all_must_match(store):
    a, b, c = tid(), tid(), tid()
    store.batch_create_spans([span(a, sid(), tags=["prod", "vip"]), span(b, sid(), tags=["prod"]),
                              span(c, sid(), tags=None)])
    assert {s.trace_id for s in store.list_traces(TracesFilter(tags=["prod"])).spans} == {a, b}
    assert {s.trace_id for s in store.list_traces(TracesFilter(tags=["prod", "vip"])).spans} == {a}
    assert store.list_traces(TracesFilter(tags=["nope"])).total == 0


def test_metadata_and_scope_partial_match(store):
    a, b = tid(), tid()
    store.batch_create_spans([
        span(a, sid(), metadata={"tier": "gold", "n": 3, "flag": True, "gone": None,
                                 "obj": {"x": 1}},
             scope={"core": "1.0", "env": "x"}),
        span(b, sid(), metadata={"tier": "silver", "n": 1, "flag": False}, scope={"core": "2.0"}),
    ])

    def ids(**kw):
        return {s.trace_id for s in store.list_traces(TracesFilter(**kw)).spans}

    assert ids(metadata={"tier": "gold"}) == {a}
    assert ids(metadata={"tier": "gold", "n": 3}) == {a}
    assert ids(metadata={"n": 1}) == {b}
    assert ids(metadata={"flag": True}) == {a}
    assert ids(metadata={"flag": False}) == {b}
    assert ids(metadata={"n": True}) == set()  # JSON true is not the number 1
    assert ids(metadata={"gone": None}) == {a}
    assert ids(metadata={"obj": {"x": 1}}) == {a}
    assert ids(metadata={"tier": "gold", "n": 1}) == set()
    assert ids(metadata={"missing": "x"}) == set()
    assert ids(scope={"core": "2.0"}) == {b}


def test_object_and_array_filter_values_match_only_equal_objects_and_arrays(store):
    """An object or array as a metadata/scope filter value, while other roots hold
    a string (or a number, a boolean, null, the other container) under that key, simply
    doesn't match them (SQLite raised "malformed JSON", reading the string as JSON)."""
    a, b, c, d = tid(), tid(), tid(), tid()
    store.batch_create_spans([
        span(a, sid(), metadata={"k": "text", "o": {"x": 1}}, scope={"k": "1.0"}),
        span(b, sid(), metadata={"k": '{"x":1}', "o": [{"x": 1}]}, scope={"k": "[1]"}),
        span(c, sid(), metadata={"k": 3, "o": None}, scope={"k": True}),
        span(d, sid(), metadata={"k": {"x": 1}, "o": ["a", 1]}, scope={"k": [1]}),
    ])

    def ids(**kw):
        return {s.trace_id for s in store.list_traces(TracesFilter(**kw)).spans}

    assert ids(metadata={"k": {"x": 1}}) == {d}
    assert ids(metadata={"k": ["text"]}) == set()
    assert ids(metadata={"k": {}}) == set()
    assert ids(metadata={"k": []}) == set()
    assert ids(metadata={"o": {"x": 1}}) == {a}
    assert ids(metadata={"o": [{"x": 1}]}) == {b}
    assert ids(metadata={"o": ["a", 1]}) == {d}
    assert ids(metadata={"k": '{"x":1}'}) == {b}  # a string is compared as a string
    assert ids(scope={"k": [1]}) == {d}
    assert ids(scope={"k": {"x": 1}}) == set()
    assert ids(scope={"k": ["1.0"]}) == set()


@pytest.mark.parametrize("hostile", [
    "' OR '1'='1", "\" OR 1=1 --", "x'); DROP TABLE mastra_ai_spans; --", "$where", "a.b",
    "$.tier", "tier\"]", "%", "_", "\\", "\x00",
])
def test_hostile_filter_values_are_inert(store, hostile):
    t = tid()
    store.batch_create_spans([span(t, sid(), user_id="u", metadata={"tier": "gold"},
                                   tags=["prod"])])
    assert store.list_traces(TracesFilter(user_id=hostile)).total == 0
    assert store.list_traces(TracesFilter(metadata={hostile: "gold"})).total == 0
    assert store.list_traces(TracesFilter(metadata={"tier": hostile})).total == 0
    assert store.list_traces(TracesFilter(scope={hostile: hostile})).total == 0
    assert store.list_traces(TracesFilter(tags=[hostile])).total == 0
    assert store.get_trace(hostile) is None
    assert store.list_traces().total == 1  # the table is intact


@pytest.mark.parametrize("bad", [123, None, b"ab", ["a"], {"$ne": ""}, 1.5, True])
def test_ids_that_are_not_strings_are_type_errors(store, bad):
    """One clear TypeError everywhere, never a driver error nor a query operator."""
    t = tid()
    store.batch_create_spans([span(t, sid())])
    calls = [
        lambda: store.get_trace(bad), lambda: store.get_trace_light(bad),
        lambda: store.get_span(bad, "x"), lambda: store.get_span(t, bad),
        lambda: store.get_root_span(bad), lambda: store.batch_delete_traces([bad]),
        lambda: store.batch_delete_traces([t, bad]), lambda: store.get_spans(bad, []),
        lambda: store.get_spans(t, [bad]), lambda: store.get_branch(t, bad),
    ]
    for call in calls:
        with pytest.raises(TypeError):
            call()
    assert store.get_trace(t) is not None  # nothing was deleted on the way


def test_a_single_string_is_not_a_list_of_trace_ids(store):
    t = tid()
    store.batch_create_spans([span(t, sid())])
    with pytest.raises(TypeError):
        store.batch_delete_traces(t)
    assert store.get_trace(t) is not None


def test_filter_type_errors_are_clear():
    with pytest.raises(TypeError):
        TracesFilter(tags="prod")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        TracesFilter(status="done")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        TracesFilter(metadata={1: "x"})  # type: ignore[dict-item]
    with pytest.raises(ValueError):
        TracesOrderBy("name")  # type: ignore[arg-type]


# ------------------------------------------------------------------------- deletes

def test_batch_delete_traces(store):
    a, b = tid(), tid()
    ra = span(a, sid())
    store.batch_create_spans([ra, span(a, sid(), parent=ra.span_id), span(b, sid())])
    assert store.batch_delete_traces([a, tid()]) in (2, -1)  # -1: backend can't count
    assert store.get_trace(a) is None
    assert store.get_trace(b) is not None
    assert store.batch_delete_traces([]) == 0


def test_delete_traces_older_than(store):
    old, new = tid(), tid()
    ro = span(old, sid(), start=0)
    store.batch_create_spans([ro, span(old, sid(), parent=ro.span_id, start=100),
                              span(new, sid(), start=50)])
    store.delete_traces_older_than(at(10))
    assert store.get_trace(old) is None
    assert store.get_trace(new) is not None


def test_parent_precedes_children_started_in_the_same_millisecond(store):
    t = tid()
    root = span(t, "f" * 16, start=0)
    child = span(t, "1" * 16, parent=root.span_id, start=0)
    grandchild = span(t, "0" * 16, parent=child.span_id, start=0)
    store.batch_create_spans([grandchild, child, root])
    assert [s.span_id for s in store.get_trace(t).spans] == ["f" * 16, "1" * 16, "0" * 16]
    assert [s.span_id for s in store.get_trace_light(t).spans] == ["f" * 16, "1" * 16, "0" * 16]


def test_surrogates_and_non_string_keys_have_one_outcome_everywhere(store):
    t = tid()
    fast = span(t, sid(), name="lone\ud800", user_id="u\udfff",
                input={True: 1, None: 2, 3: "three", 1.5: "x", "s\ud83d": "v\udc00"})
    slow = span(t, sid(), input={True: 1, None: 2, 3: "three", 1.5: "x", "nan": float("nan")})
    store.batch_create_spans([fast, slow])
    got_fast = store.get_span(t, fast.span_id)
    assert got_fast.name == "lone\ufffd" and got_fast.user_id == "u\ufffd"
    assert got_fast.input == {"true": 1, "null": 2, "3": "three", "1.5": "x",
                              "s\ufffd": "v\ufffd"}
    assert store.get_span(t, slow.span_id).input == {"true": 1, "null": 2, "3": "three",
                                                     "1.5": "x", "nan": "NaN"}
