"""Behaviour of SensitiveDataFilter: what is redacted, what is not, and that it is safe.

The filter runs on the application's thread on every span, so besides *what* it masks
these tests pin down that it never mutates the caller's objects, never recurses itself to
death and never lets an unfiltered value through when something goes wrong.
"""

from __future__ import annotations

import copy
import sys
from collections import namedtuple
from dataclasses import fields
from datetime import datetime, timezone
from typing import Any

import pytest

from mastra_storage.model.spans import SpanRecord
from mastra_storage.processors import SensitiveDataFilter as ExportedFilter
from mastra_storage.processors.base import SpanOutputProcessor
from mastra_storage.processors.sensitive_data import (
    DEFAULT_SENSITIVE_FIELDS,
    SensitiveDataFilter,
)

PAYLOAD_ATTRS = ("attributes", "metadata", "input", "output", "error")
FAILED = {"error": {"processor": "sensitive-data-filter"}}
R = "[REDACTED]"


def make_span(**payloads: Any) -> SpanRecord:
    return SpanRecord(
        trace_id="t" * 32,
        span_id="s" * 16,
        name="n",
        span_type="generic",
        started_at=datetime.now(timezone.utc),
        **payloads,
    )


def redact_input(value: Any, **kwargs: Any) -> Any:
    """Run ``value`` through the filter as a span's ``input`` and return the result."""
    return SensitiveDataFilter(**kwargs).process(make_span(input=value)).input


class ItemsExplode(dict):  # type: ignore[type-arg]
    """A mapping whose contents can't be read: stands for any payload that misbehaves."""

    def items(self) -> Any:
        raise RuntimeError("boom: contains sk-live-secret")


class StrExplodes:
    def __str__(self) -> str:
        raise RuntimeError("no str for you")


class NamedKey:
    """A non-string dict key whose string form is a sensitive name."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


class Opaque:
    """A non-JSON object: the filter must pass it through as is."""

    def __init__(self) -> None:
        self.password = "not-looked-at"


# --------------------------------------------------------------------- 1. constructor

def test_defaults_and_name() -> None:
    f = SensitiveDataFilter()
    assert f.name == "sensitive-data-filter"
    assert f.redaction_token == R
    assert f.style == "full"
    assert f.sensitive_fields == frozenset(DEFAULT_SENSITIVE_FIELDS)


def test_is_a_span_output_processor_and_exported() -> None:
    assert ExportedFilter is SensitiveDataFilter
    assert isinstance(SensitiveDataFilter(), SpanOutputProcessor)


@pytest.mark.parametrize("style", ["Full", "masked", "", None])
def test_invalid_style_is_rejected(style: Any) -> None:
    with pytest.raises(ValueError, match=r"style must be 'full' or 'partial'"):
        SensitiveDataFilter(style=style)


def test_fields_given_as_a_bare_string_are_rejected() -> None:
    with pytest.raises(TypeError, match="not a string"):
        SensitiveDataFilter(sensitive_fields="password")


def test_non_string_field_and_token_are_rejected() -> None:
    with pytest.raises(TypeError):
        SensitiveDataFilter(sensitive_fields=["password", 3])  # type: ignore[list-item]
    with pytest.raises(TypeError):
        SensitiveDataFilter(redaction_token=None)  # type: ignore[arg-type]


def test_fields_accept_any_iterable() -> None:
    f = SensitiveDataFilter(sensitive_fields=(name for name in ["Foo_Bar", "__"]))
    assert f.sensitive_fields == frozenset({"foobar"})  # "__" normalises to nothing


# --------------------------------------------------------------------- 2. default keys

EXPECTED_DEFAULTS = [
    "password", "token", "secret", "key", "apikey", "auth", "authorization", "bearer",
    "bearertoken", "jwt", "credential", "clientsecret", "privatekey", "refresh", "ssn",
    "accesstoken", "authtoken", "refreshtoken", "sessiontoken", "cookie", "setcookie",
]


def test_default_list_is_exactly_the_documented_one() -> None:
    assert sorted(DEFAULT_SENSITIVE_FIELDS) == sorted(EXPECTED_DEFAULTS)


@pytest.mark.parametrize("key", EXPECTED_DEFAULTS)
def test_each_default_key_is_redacted(key: str) -> None:
    assert redact_input({key: "v4lue-v4lue", "other": "kept"}) == {key: R, "other": "kept"}


def test_custom_fields_replace_the_defaults() -> None:
    out = redact_input(
        {"password": "hunter2", "token": "t", "ssn_number": "123-45-6789", "x": 1},
        sensitive_fields=["SSN-Number"],
    )
    assert out == {"password": "hunter2", "token": "t", "ssn_number": R, "x": 1}


def test_empty_custom_list_redacts_nothing() -> None:
    assert redact_input({"password": "p"}, sensitive_fields=[]) == {"password": "p"}


# --------------------------------------------------------------------- 3. key matching

@pytest.mark.parametrize(
    "key",
    ["api_key", "API-Key", "apiKey", "APIKEY", "api key", "Api.Key", "Set-Cookie",
     "set_cookie", "Authorization", "Password", "access_token",
     "client-secret", "PRIVATE_KEY", "Session.Token", "__token__"],
)
def test_key_variants_normalise_to_a_sensitive_field(key: str) -> None:
    assert redact_input({key: "abc"}) == {key: R}


@pytest.mark.parametrize(
    "key",
    ["promptTokens", "keyword", "monkey", "tokens", "authorName", "passwords",
     "x-api-key", "keys", "author", "secretary", "cookies", "refreshed", "", "-"],
)
def test_only_exact_normalised_matches_are_redacted(key: str) -> None:
    assert redact_input({key: "visible"}) == {key: "visible"}


def test_configured_fields_are_normalised_too() -> None:
    out = redact_input(
        {"xapikey": "a", "X-Api-Key": "b", "x_api_key": "c", "apikey": "d"},
        sensitive_fields=["X-API_key"],
    )
    assert out == {"xapikey": R, "X-Api-Key": R, "x_api_key": R, "apikey": "d"}


def test_string_values_are_not_scanned() -> None:
    # Matching is by key only: free text that mentions a secret is left alone.
    text = "password=hunter2 token=abc"
    assert redact_input(text) == text
    assert redact_input(["password", text]) == ["password", text]


# --------------------------------------------------------------------- 4. replacement

@pytest.mark.parametrize(
    "value",
    ["s3cr3t", 12345, 1.5, True, None, {"nested": "x", "user": "u"}, ["a", "b"], ("t",),
     Opaque()],
)
def test_full_style_replaces_any_value_whole(value: Any) -> None:
    assert redact_input({"secret": value}) == {"secret": R}


def test_custom_token() -> None:
    assert SensitiveDataFilter(redaction_token="***").redaction_token == "***"
    out = redact_input({"password": "hunter2hunter2", "key": 5}, redaction_token="***")
    assert out == {"password": "***", "key": "***"}


def test_partial_style_keeps_ends_of_long_strings() -> None:
    assert redact_input({"apiKey": "sk-abcdef123456"}, style="partial") == {
        "apiKey": "sk-[REDACTED]456"
    }
    # Seven characters is the shortest string that is partially shown.
    assert redact_input({"token": "abcdefg"}, style="partial") == {"token": "abc[REDACTED]efg"}
    assert redact_input({"token": "abcdefg"}, style="partial", redaction_token="…") == {
        "token": "abc…efg"
    }


@pytest.mark.parametrize("value", ["abcdef", "", "x", 1234567890, {"a": "abcdefghij"},
                                   ["abcdefghij"], None, b"abcdefghij"])
def test_partial_style_hides_short_strings_and_non_strings_whole(value: Any) -> None:
    assert redact_input({"token": value}, style="partial") == {"token": R}


# --------------------------------------------------------------------- 5. depth & types

def test_redacts_at_any_depth_through_dicts_lists_and_tuples() -> None:
    value = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "tool", "args": ({"headers": {"Authorization": "Bearer x"}}, 3)},
        ],
        "config": {"llm": {"provider": "openai", "api_key": "sk-1", "temperature": 0.2}},
        "list_of_lists": [[[{"password": "p"}]]],
    }
    out = redact_input(value)
    assert out == {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "tool", "args": ({"headers": {"Authorization": R}}, 3)},
        ],
        "config": {"llm": {"provider": "openai", "api_key": R, "temperature": 0.2}},
        "list_of_lists": [[[{"password": R}]]],
    }


def test_tuples_come_back_as_tuples() -> None:
    point = namedtuple("point", "x y")
    out = redact_input({"t": (1, {"token": "a"}, (2, 3)), "nt": point(1, {"key": "k"})})
    assert out == {"t": (1, {"token": R}, (2, 3)), "nt": (1, {"key": R})}
    assert type(out["t"]) is tuple
    assert type(out["t"][2]) is tuple
    assert type(out["nt"]) is tuple  # named tuples become plain tuples
    assert redact_input(({"secret": 1},)) == ({"secret": R},)


def test_dict_and_list_subclasses_become_plain_containers() -> None:
    class MyDict(dict):  # type: ignore[type-arg]
        pass

    class MyList(list):  # type: ignore[type-arg]
        pass

    out = redact_input(MyDict(a=MyList([MyDict(password="p")])))
    assert out == {"a": [{"password": R}]}
    assert type(out) is dict
    assert type(out["a"]) is list
    assert type(out["a"][0]) is dict


def test_non_string_keys_are_compared_by_their_string_form() -> None:
    key = NamedKey("Pass_Word")
    out = redact_input({key: "p", 42: "x", 7: "y"}, sensitive_fields=["password", "42"])
    assert out == {key: R, 42: R, 7: "y"}
    # The key object itself is kept, not replaced by its string form.
    assert next(iter(out)) is key


def test_non_string_key_equal_to_a_cached_string_is_still_judged_by_its_str() -> None:
    class LooksLikePassword:
        """Hashes and compares like "password" but its string form is harmless."""

        def __hash__(self) -> int:
            return hash("password")

        def __eq__(self, other: object) -> bool:
            return other == "password"

        def __str__(self) -> str:
            return "harmless"

    f = SensitiveDataFilter()
    assert f.process(make_span(input={"password": "p"})).input == {"password": R}
    key = LooksLikePassword()
    assert f.process(make_span(input={key: "v"})).input == {key: "v"}


def test_key_order_is_preserved() -> None:
    value = {"z": 1, "password": 2, "a": {"y": 1, "b": 2}, "m": [1]}
    out = redact_input(value)
    assert list(out) == ["z", "password", "a", "m"]
    assert list(out["a"]) == ["y", "b"]


def test_non_json_objects_pass_through_untouched() -> None:
    opaque = Opaque()
    tags = {"password", "x"}
    when = datetime(2024, 1, 1, tzinfo=timezone.utc)
    out = redact_input({"obj": opaque, "set": tags, "when": when, "bytes": b"\x00"})
    assert out["obj"] is opaque
    assert opaque.password == "not-looked-at"
    assert out["set"] is tags
    assert out["when"] is when
    assert out["bytes"] == b"\x00"


@pytest.mark.parametrize("value", [None, 0, 3.5, "plain", True, Opaque()])
def test_non_container_fields_are_returned_as_is(value: Any) -> None:
    assert redact_input(value) is value


# --------------------------------------------------------------------- 6. cycles & depth

def test_self_referencing_dict_is_cut() -> None:
    value: dict[str, Any] = {"password": "p", "name": "n"}
    value["self"] = value
    out = redact_input(value)
    assert out == {"password": R, "name": "n", "self": "[Circular]"}


def test_self_referencing_list_and_mutual_cycle_are_cut() -> None:
    items: list[Any] = [1]
    items.append(items)
    assert redact_input(items) == [1, "[Circular]"]

    a: dict[str, Any] = {"name": "a"}
    b: dict[str, Any] = {"name": "b", "token": "t", "back": a}
    a["b"] = b
    a["list"] = [b, (a,)]
    out = redact_input(a)
    assert out == {
        "name": "a",
        "b": {"name": "b", "token": R, "back": "[Circular]"},
        "list": [{"name": "b", "token": R, "back": "[Circular]"}, ("[Circular]",)],
    }


def test_shared_but_acyclic_references_are_copied_not_marked_circular() -> None:
    shared = {"user": "u", "secret": "s"}
    value = {"a": shared, "b": shared, "c": [shared, shared]}
    out = redact_input(value)
    expected = {"user": "u", "secret": R}
    assert out == {"a": expected, "b": expected, "c": [expected, expected]}


def test_cycle_under_a_sensitive_key_is_just_redacted() -> None:
    value: dict[str, Any] = {}
    value["credential"] = value
    assert redact_input(value) == {"credential": R}


@pytest.mark.parametrize("depth", [2000, 20_000])
def test_very_deep_structures_do_not_hit_the_recursion_limit(depth: int) -> None:
    limit = sys.getrecursionlimit()
    assert depth > limit  # otherwise this test would prove nothing

    # Built bottom-up: dict -> list -> tuple levels in turn, a secret at the bottom.
    root: Any = {"password": "p", "ok": "v"}
    for i in range(depth):
        root = ({"next": root}, [root], (root,))[i % 3]

    out = redact_input(root)
    assert sys.getrecursionlimit() == limit

    # Walk both structures side by side without recursion (== would recurse).
    src, dst = root, out
    levels = 0
    while True:
        assert dst is not src
        assert type(dst) is type(src)
        if isinstance(src, dict):
            if "next" not in src:
                break
            assert set(dst) == {"next"}
            src, dst = src["next"], dst["next"]
        else:
            assert len(dst) == len(src) == 1
            src, dst = src[0], dst[0]
        levels += 1
    assert levels == depth
    assert dst == {"password": R, "ok": "v"}
    assert src == {"password": "p", "ok": "v"}


def test_deep_cycle_is_detected() -> None:
    root: dict[str, Any] = {}
    node = root
    for _ in range(3000):
        nxt: dict[str, Any] = {}
        node["n"] = nxt
        node = nxt
    node["n"] = root
    out = redact_input(root)
    for _ in range(3001):
        out = out["n"]
    assert out == "[Circular]"


# --------------------------------------------------------------------- 7. fail closed

def test_a_field_that_cannot_be_read_is_replaced_by_the_error_marker() -> None:
    bad = ItemsExplode(password="sk-live-secret")
    span = make_span(
        input={"ok": 1, "nested": [bad]},
        output=bad,
        metadata={"token": "t", "keep": "k"},
    )
    out = SensitiveDataFilter().process(span)
    assert out.input == FAILED
    assert out.output == FAILED
    # Other fields are filtered normally.
    assert out.metadata == {"token": R, "keep": "k"}
    assert out.attributes is None and out.error is None
    assert "sk-live-secret" not in repr(out)


def test_error_marker_is_a_fresh_object_each_time() -> None:
    f = SensitiveDataFilter()
    first = f.process(make_span(input=ItemsExplode())).input
    second = f.process(make_span(input=ItemsExplode())).input
    assert first == second == FAILED
    first["error"]["processor"] = "mutated"
    assert second == FAILED


def test_a_key_whose_str_fails_fails_closed() -> None:
    out = redact_input({"fine": "x", StrExplodes(): "secret-value"})
    assert out == FAILED


def test_failure_is_logged_without_the_payload(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        redact_input(ItemsExplode(token="sk-live-secret"))
    assert "sensitive-data-filter" in caplog.text
    assert "RuntimeError" in caplog.text
    assert "sk-live-secret" not in caplog.text


# --------------------------------------------------------------------- 8. copies

def _all_containers(value: Any) -> list[Any]:
    """Every dict, list and tuple reachable from ``value`` (cycle-safe, non-recursive)."""
    found: list[Any] = []
    seen: set[int] = set()
    todo: list[Any] = [value]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, dict):
            found.append(item)
            todo.extend(item.values())
        elif isinstance(item, (list, tuple)):
            found.append(item)
            todo.extend(item)
    return found


def test_payload_without_secrets_is_an_equal_but_new_copy() -> None:
    opaque = Opaque()
    value = {
        "messages": [{"role": "user", "content": "hi", "parts": [{"type": "text"}]}],
        "usage": {"promptTokens": 10, "completionTokens": 5},
        "opaque": opaque,
        "empty": {},
        "empty_list": [],
    }
    out = redact_input(value)
    assert out == value
    original_ids = {id(c) for c in _all_containers(value)}
    # No dict or list of the caller's is shared with the result (tuples are immutable,
    # but they are rebuilt as well).
    assert not original_ids & {id(c) for c in _all_containers(out)}
    assert out["opaque"] is opaque


def test_verdicts_stay_correct_with_many_distinct_keys() -> None:
    value = {f"id-{i}": i for i in range(10_000)}
    value["password"] = -1
    value["Id-1"] = 1
    f = SensitiveDataFilter()
    for _ in range(2):
        out = f.process(make_span(input=value)).input
        assert out["password"] == R
        assert out["id-9999"] == 9999
        assert len(out) == len(value)


# --------------------------------------------------------------------- 9. protocol

def test_shutdown_is_a_noop_and_filter_still_works_after() -> None:
    f = SensitiveDataFilter()
    f.shutdown()
    f.shutdown()  # idempotent: a second call must not raise either
    assert f.process(make_span(input={"jwt": "x"})).input == {"jwt": R}


def test_span_without_payloads_returns_a_span() -> None:
    span = make_span()
    out = SensitiveDataFilter().process(span)
    assert isinstance(out, SpanRecord)
    assert out is not span
    assert out == span


# --------------------------------------------------------------------- caller safety

def _rich_payloads() -> dict[str, Any]:
    cyclic: dict[str, Any] = {"name": "loop", "secret": "s3"}
    cyclic["me"] = [cyclic]
    return {
        "attributes": {"http": {"headers": {"Authorization": "Bearer abc", "Accept": "*/*"}}},
        "metadata": {"user": {"name": "ada", "ssn": "123-45-6789"}, "tags": ("a", "b")},
        "input": [{"role": "user", "content": "hi"}, {"tool": {"apiKey": "sk-abcdef123456"}}],
        "output": {"text": "done", "usage": {"promptTokens": 3}, "cycle": cyclic},
        "error": {"message": "401", "details": {"cookie": "session=abc", "code": 401}},
    }


@pytest.mark.parametrize("style", ["full", "partial"])
def test_callers_objects_are_not_mutated(style: Any) -> None:
    payloads = _rich_payloads()
    span = make_span(**payloads)
    before_span = copy.deepcopy(span)
    before_payloads = copy.deepcopy(payloads)
    ids_before = {attr: id(getattr(span, attr)) for attr in PAYLOAD_ATTRS}

    out = SensitiveDataFilter(style=style).process(span)

    assert out is not span
    # ``==`` on cyclic structures would recurse forever; compare via repr, which Python
    # prints with ``{...}`` at the cycle.
    assert repr(span) == repr(before_span)
    assert repr(payloads) == repr(before_payloads)
    assert {attr: id(getattr(span, attr)) for attr in PAYLOAD_ATTRS} == ids_before
    assert payloads["attributes"]["http"]["headers"]["Authorization"] == "Bearer abc"
    assert payloads["output"]["cycle"]["me"][0] is payloads["output"]["cycle"]
    # And the result shares no container with the caller's span.
    original = {id(c) for a in PAYLOAD_ATTRS for c in _all_containers(getattr(span, a))}
    produced = {id(c) for a in PAYLOAD_ATTRS for c in _all_containers(getattr(out, a))}
    assert not original & produced


def test_non_payload_fields_are_unchanged() -> None:
    span = SpanRecord(
        trace_id="t" * 32,
        span_id="s" * 16,
        name="password",
        span_type="generic",
        started_at=datetime(2024, 5, 1, tzinfo=timezone.utc),
        ended_at=datetime(2024, 5, 1, 0, 0, 1, tzinfo=timezone.utc),
        parent_span_id="p" * 16,
        entity_id="token",
        user_id="u1",
        scope={"password": "scope-is-not-a-payload"},
        tags=["secret"],
        links=[{"token": "link"}],
        request_context={"apiKey": "rc"},
        input={"password": "p"},
    )
    out = SensitiveDataFilter().process(span)
    for f in fields(SpanRecord):
        if f.name in PAYLOAD_ATTRS:
            continue
        assert getattr(out, f.name) is getattr(span, f.name), f.name
    assert out.input == {"password": R}


def test_end_to_end_span() -> None:
    span = SpanRecord(
        trace_id="t" * 32,
        span_id="s" * 16,
        name="n",
        span_type="generic",
        started_at=datetime.now(timezone.utc),
        **_rich_payloads(),
    )
    out = SensitiveDataFilter(style="partial").process(span)
    assert isinstance(out, SpanRecord)
    assert out.key == span.key
    assert out.attributes == {"http": {"headers": {"Authorization": "Bea[REDACTED]abc",
                                                   "Accept": "*/*"}}}
    assert out.metadata == {"user": {"name": "ada", "ssn": "123[REDACTED]789"},
                            "tags": ("a", "b")}
    assert out.input == [{"role": "user", "content": "hi"},
                         {"tool": {"apiKey": "sk-[REDACTED]456"}}]
    assert out.output == {
        "text": "done",
        "usage": {"promptTokens": 3},
        "cycle": {"name": "loop", "secret": R, "me": ["[Circular]"]},
    }
    assert out.error == {"message": "401",
                         "details": {"cookie": "ses[REDACTED]abc", "code": 401}}
    assert out.status == "error"
    # The record still serialises to Mastra's row shape.
    assert out.to_dict()["input"] == out.input
