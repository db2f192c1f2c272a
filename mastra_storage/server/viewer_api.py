"""The one route the viewer needs beyond Mastra's API: a text search over trace inputs and
outputs (``GET /viewer/api/search``).

No store has a full-text filter, so the search scans root spans newest first through the
ordinary ``list_traces`` (every other filter of the trace list applies, as bound
parameters in the store) and matches the needle in Python against the strings inside the
root's name, input, output and error. Nothing of the needle reaches a query, so there is
nothing to inject. One request scans at most ``SCAN_LIMIT`` roots or ``SCAN_SECONDS`` of
work, then answers with what it found and a cursor to continue from: a search stays
responsive on a store of any size, and the viewer keeps scrolling through the rest.

Answer: ``{"spans": [Light], "next": cursor | null, "scanned": n, "total": roots}``; the
cursor pins the upper time bound of the first request, so traces arriving meanwhile don't
shift the scan.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from ..model.preview import input_preview
from ..model.time import format_iso, parse_iso, utc_now
from ..storage.queries import MAX_PER_PAGE, LightSpan, TracesOrderBy
from .app import Call, endpoint
from .params import traces_filter
from .serialize import light_json

SCAN_LIMIT = 5000  # roots one request may look at
SCAN_SECONDS = 1.0  # wall time one request may spend scanning
MAX_DEPTH = 64  # how deep the string collector walks a payload
MAX_NEEDLE = 256


def strings(value: Any, depth: int = 0) -> Iterator[str]:
    """Every string inside a JSON value (keys too), numbers as text, depth-bounded."""
    if depth > MAX_DEPTH:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from strings(item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from strings(item, depth + 1)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield str(value)


def matches(span: Any, needle: str) -> bool:
    """Whether ``needle`` (already case-folded) occurs in the span's name, input, output
    or error."""
    for part in (span.name, span.input, span.output, span.error):
        for text in strings(part):
            if needle in text.casefold():
                return True
    return False


def _decode_cursor(call: Call, raw: str | None) -> tuple[datetime | None, int]:
    if not raw:
        return None, 0
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode() + b"=" * (-len(raw) % 4)))
        if not isinstance(data["to"], str):
            raise TypeError("to must be a timestamp")
        upper = parse_iso(data["to"])
        skip = int(data["skip"])
        if skip < 0:
            raise ValueError("negative skip")
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise call.query.fail("cursor", "Invalid cursor") from None
    return upper, skip


def _encode_cursor(upper: datetime, skip: int) -> str:
    text = json.dumps({"to": format_iso(upper), "skip": skip})
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def search(call: Call) -> dict[str, Any]:
    q = call.query
    needle = (q.string("q") or "").strip()
    if not needle:
        raise q.fail("q", "Invalid input: expected a non-empty search text")
    if len(needle) > MAX_NEEDLE:
        raise q.fail("q", f"Too big: expected at most {MAX_NEEDLE} characters")
    folded = needle.casefold()
    limit = q.integer("perPage", 50, 1, MAX_PER_PAGE) or 50
    # The scan walks back in time: ``upper`` is the start time it has reached (inclusive)
    # and ``skip`` how many roots starting exactly then it has already looked at, so every
    # query is a first page (no deep offsets, whatever the store's size).
    upper, skip = _decode_cursor(call, q.string("cursor"))
    filters = traces_filter(q)
    if upper is None:
        upper = utc_now()
        if filters.started_to is not None and filters.started_to < upper:
            upper = filters.started_to
    order = TracesOrderBy("startedAt", "DESC")

    found: list[Any] = []
    scanned, total, exhausted = 0, None, False
    deadline = time.monotonic() + SCAN_SECONDS
    while len(found) < limit and scanned < SCAN_LIMIT and time.monotonic() < deadline:
        page = call.store.list_traces(replace(filters, started_to=upper), skip // MAX_PER_PAGE,
                                      MAX_PER_PAGE, order)
        if total is None:
            total = page.total
        rows = page.spans[skip % MAX_PER_PAGE:]
        for span in rows:
            scanned += 1
            if span.started_at == upper:
                skip += 1
            else:
                upper, skip = span.started_at, 1
            if matches(span, folded):
                found.append(span)
                if len(found) >= limit:
                    break
        else:  # the whole page was looked at
            if not page.has_more:
                exhausted = True
                break
    return {
        "spans": [light_json(LightSpan.of(s, input_preview(s.input))) for s in found],
        "next": None if exhausted else _encode_cursor(upper, skip),
        "scanned": scanned, "total": total,
    }


def routes() -> list[tuple[str, tuple[str, ...], Any]]:
    return [("/viewer/api/search", ("GET",), endpoint(search))]
