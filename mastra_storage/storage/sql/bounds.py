"""Indexed text columns bounded so no value can exceed a database's index-entry limit.

A PostgreSQL btree entry holds at most 2,704 bytes: a span whose ``name`` (or type,
entity name, user id…) is a few thousand characters long makes the whole INSERT fail.
Such a span is still worth storing, so its indexed text is cut to a bound that keeps
every index of the table under the limit (``(entityType, entityName)`` holds two
columns), and the full values are kept in the span's ``attributes`` under
:data:`FULL_VALUES_KEY`, where JSON has no such limit. Ids are never cut: two different
ids must not become one; a span with an id over the limit is refused by the database,
dropped alone and counted ``invalid``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain
from operator import attrgetter
from typing import Any

from ...model.spans import COLUMNS, SpanRecord

FULL_VALUES_KEY = "fullValues"
ELLIPSIS = "…"
# Ids are left alone (see the module docstring).
_IDS = frozenset({"traceId", "spanId", "parentSpanId"})
BOUNDED: tuple[tuple[str, str], ...] = tuple(
    (c.attr, c.name) for c in COLUMNS if c.indexed and c.kind == "text" and c.name not in _IDS)


def cut_utf8(value: str, max_bytes: int) -> str | None:
    """``value`` cut to at most ``max_bytes`` UTF-8 bytes (ending in an ellipsis), or
    None when it fits already."""
    if len(value) * 4 <= max_bytes:  # fast path: can't exceed, whatever the characters
        return None
    raw = value.encode("utf-8", "surrogatepass")
    if len(raw) <= max_bytes:
        return None
    keep = raw[:max_bytes - len(ELLIPSIS.encode("utf-8"))]
    return keep.decode("utf-8", "ignore") + ELLIPSIS


_BOUNDED_VALUES = attrgetter(*(attr for attr, _ in BOUNDED))


def bound_records(records: Sequence[SpanRecord], max_bytes: int) -> Sequence[SpanRecord]:
    """:func:`bound_record` of a batch: ``records`` itself, without looking at a record on
    its own, when no bounded value of the batch could exceed ``max_bytes`` (one C-level
    pass over their lengths; a character is at most 4 bytes)."""
    try:
        longest = max(map(len, filter(None, chain.from_iterable(map(_BOUNDED_VALUES,
                                                                     records)))), default=0)
    except TypeError:  # a value that is not text: let bound_record look at each
        longest = max_bytes
    if longest * 4 <= max_bytes:
        return records
    return [bound_record(r, max_bytes) for r in records]


def bound_record(record: SpanRecord, max_bytes: int,
                 columns: Iterable[tuple[str, str]] = BOUNDED) -> SpanRecord:
    """``record`` itself when every bounded column fits, else a copy with the long
    values cut and their full text in ``attributes[FULL_VALUES_KEY]``."""
    cuts: dict[str, Any] = {}
    full: dict[str, str] = {}
    for attr, name in columns:
        value = getattr(record, attr)
        if isinstance(value, str):
            cut = cut_utf8(value, max_bytes)
            if cut is not None:
                cuts[attr] = cut
                full[name] = value
    if not cuts:
        return record
    attributes = dict(record.attributes) if isinstance(record.attributes, dict) else (
        {} if record.attributes is None else {"value": record.attributes})
    attributes[FULL_VALUES_KEY] = {**attributes.get(FULL_VALUES_KEY, {}), **full} if (
        isinstance(attributes.get(FULL_VALUES_KEY), dict)) else full
    return record.copy(attributes=attributes, **cuts)
