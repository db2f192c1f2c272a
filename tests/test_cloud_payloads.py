"""CloudExporter and awkward payloads: every span reaches the collector under the rules of
README.md's *Payloads* table (the codec is ``mastra_storage.model.jsonsafe``), and one
awkward span never costs the rest of its batch.

A real bug this guards against: a span whose input held a lone surrogate made the whole
upload fail (the body could not be encoded as UTF-8), losing every span of the batch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import pytest

from mastra_storage.exporters.cloud import CloudExporter
from mastra_storage.model.jsonsafe import DEFAULT_MAX_BYTES
from mastra_storage.model.spans import SpanRecord

from .collector import Collector, Request
from .factories import span, tid
from .pipelines import Pipelines
from .test_cloud_exporter import ended

pytestmark = pytest.mark.usefixtures("clean_cloud_env")

Send = Callable[..., dict[str, dict[str, Any]]]


def strict_json(request: Request) -> Any:
    """The body as a strict JSON parser reads it: bare NaN/Infinity are refused."""

    def refuse(constant: str) -> None:
        raise ValueError(f"non-standard JSON constant {constant} in the body")

    return json.loads(request.body.decode("utf-8"), parse_constant=refuse)


@pytest.fixture
def send(collector: Collector, observe: Pipelines) -> Send:
    """``send(*records)``: export them as ended spans in ONE batch, flush, and return what
    the collector received, by span name; nothing may have been dropped."""

    def run(*records: SpanRecord) -> dict[str, dict[str, Any]]:
        ex = observe.track(CloudExporter(access_token="t", endpoint=collector.url,
                                         max_batch_wait_ms=60_000))
        for record in records:
            ex.export(ended(record))
        assert ex.flush(30)
        assert ex.drops.snapshot() == {}
        (request,) = collector.requests  # one batch, one upload
        spans = strict_json(request)["spans"]
        assert len(spans) == len(records)
        return {s["name"]: s for s in spans}

    return run


def batch_around(awkward: SpanRecord) -> tuple[SpanRecord, SpanRecord, SpanRecord]:
    t = awkward.trace_id
    before = span(t, name="before", input={"q": "fine"})
    after = span(t, name="after", output={"a": "fine"})
    return before, awkward, after


def assert_neighbours_intact(got: dict[str, dict[str, Any]]) -> None:
    assert got["before"]["input"] == {"q": "fine"}
    assert got["after"]["output"] == {"a": "fine"}


def test_a_lone_surrogate_becomes_ufffd_and_the_batch_is_delivered(send: Send) -> None:
    bad = span(tid(), name="bad", input={"text": "a\ud800b", "k\udfff": 1, "list": ["\ud83d"]},
               output="tail \udc00", user_id="u\ud800")
    got = send(*batch_around(bad))
    assert got["bad"]["input"] == {"text": "a\ufffdb", "k\ufffd": 1, "list": ["\ufffd"]}
    assert got["bad"]["output"] == "tail \ufffd"
    assert got["bad"]["userId"] == "u\ufffd"  # a text field, same rule
    assert_neighbours_intact(got)


def test_a_span_name_with_a_lone_surrogate_is_delivered(send: Send) -> None:
    t = tid()
    got = send(span(t, name="ok"), span(t, name="bad \ud800 name"))
    assert set(got) == {"ok", "bad \ufffd name"}


def test_nul_becomes_ufffd(send: Send) -> None:
    bad = span(tid(), name="bad", input={"text": "a\x00b", "k\x00": "\x00"})
    got = send(*batch_around(bad))
    assert got["bad"]["input"] == {"text": "a\ufffdb", "k\ufffd": "\ufffd"}
    assert_neighbours_intact(got)


def test_nan_and_infinities_become_strings(send: Send) -> None:
    bad = span(tid(), name="bad", input={"nan": math.nan, "inf": math.inf,
                                         "ninf": -math.inf, "list": [1.5, math.nan]},
               output=math.nan)
    got = send(*batch_around(bad))  # strict_json: no bare NaN/Infinity in the body
    assert got["bad"]["input"] == {"nan": "NaN", "inf": "Infinity", "ninf": "-Infinity",
                                   "list": [1.5, "NaN"]}
    assert got["bad"]["output"] == "NaN"
    assert_neighbours_intact(got)


def test_a_reference_cycle_is_cut_where_it_closes(send: Send) -> None:
    loop: dict[str, Any] = {"name": "loop"}
    loop["self"] = loop
    ring: list[Any] = [1]
    ring.append(ring)
    bad = span(tid(), name="bad", input=loop, output={"ring": ring})
    got = send(*batch_around(bad))
    assert got["bad"]["input"] == {"name": "loop", "self": "[Circular]"}
    assert got["bad"]["output"] == {"ring": [1, "[Circular]"]}
    assert_neighbours_intact(got)


def test_a_value_over_4_mib_is_replaced_by_the_truncation_marker(send: Send) -> None:
    blob = "x" * (DEFAULT_MAX_BYTES + 1024)
    bad = span(tid(), name="bad", input={"blob": blob}, output={"small": True})
    got = send(*batch_around(bad))
    text = json.dumps({"blob": blob}, separators=(",", ":"))
    assert got["bad"]["input"] == {"truncated": True,
                                   "originalBytes": len(text.encode("utf-8")),
                                   "preview": text[:1000]}
    assert got["bad"]["output"] == {"small": True}  # only the oversized value is replaced
    assert_neighbours_intact(got)


def test_every_awkward_value_in_one_batch(send: Send) -> None:
    """All of them at once: each span is delivered under its rule, none is lost."""
    t = tid()
    loop: dict[str, Any] = {}
    loop["again"] = loop
    records = [
        span(t, name="surrogate", input="\ud800"),
        span(t, name="nan", input=math.nan),
        span(t, name="cycle", input=loop),
        span(t, name="huge", input="y" * (DEFAULT_MAX_BYTES + 1)),
        span(t, name="plain", input={"q": 1}),
    ]
    got = send(*records)
    assert got["surrogate"]["input"] == "\ufffd"
    assert got["nan"]["input"] == "NaN"
    assert got["cycle"]["input"] == {"again": "[Circular]"}
    assert got["huge"]["input"]["truncated"] is True
    assert got["plain"]["input"] == {"q": 1}
