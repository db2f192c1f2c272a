"""Building ClickHouse query text whose every value is a bound, typed query parameter.

ClickHouse's server-side parameters (``{name:Type}``) are parsed as values of the
declared type, never as SQL, so a filter value or a JSON key can hold anything.
:class:`Params` hands out the placeholders; nothing but column names chosen by this
package and those placeholders ever reaches the query text.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ...model.entities import entity_type_values
from ...model.jsonsafe import dumps, to_jsonable
from ...model.time import truncate_ms
from .ddl import IS_ROOT, quote_ident

if TYPE_CHECKING:
    from ..queries import TracesFilter

# A JSON value's "has an error": Mastra's older writers stored NULL as '' (and JSON null
# reads as no error too).
HAS_ERROR = "NOT (`error` IS NULL OR `error` IN ('', 'null'))"
NO_ERROR = "(`error` IS NULL OR `error` IN ('', 'null'))"
ROOT = IS_ROOT
TS_TYPE = "DateTime64(3, 'UTC')"


def ts_text(value: datetime) -> str:
    """A UTC timestamp parameter as text; its placeholder type fixes the zone to UTC."""
    value = truncate_ms(value).astimezone(timezone.utc)
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"


class Params:
    """Named, typed query parameters: ``p.add(value, "String")`` → ``{p0:String}``."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def add(self, value: Any, type_: str) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return "{" + name + ":" + type_ + "}"

    def ts(self, value: datetime) -> str:
        return self.add(ts_text(value), TS_TYPE)


_SURROGATES = re.compile("[\ud800-\udfff]")


def _sendable(value: str) -> str:
    return _SURROGATES.sub("\ufffd", value) if _SURROGATES.search(value) else value


def clean_params(params: dict[str, Any] | None) -> dict[str, Any] | None:
    """Parameters as they can be sent: a lone UTF-16 surrogate can't be encoded as UTF-8,
    so it becomes U+FFFD — the character stored text has in its place. (NUL is sent as it
    is: like in every other store, a filter holding NUL matches nothing stored.)"""
    if not params:
        return None
    out: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, str):
            value = _sendable(value)
        elif isinstance(value, list):
            value = [_sendable(v) if isinstance(v, str) else v for v in value]
        out[name] = value
    return out


def json_text(col: str) -> str:
    """The JSON functions want a String; NULL becomes '' (which has no keys)."""
    return f"ifNull(`{col}`, '')"


def json_key_equals(col: str, key: str, value: Any, p: Params) -> str:
    """Top-level ``key`` of JSON object ``col`` is present and JSON-equal to ``value``.

    Types are compared as JSON compares them: ``true`` is not ``1``, ``1`` equals ``1.0``,
    ``null`` only matches a present key holding null. Objects and arrays compare by their
    compact text (the form this library and Mastra write: key order matters).
    """
    doc = json_text(col)
    k = p.add(key, "String")
    has = f"JSONHas({doc}, {k})"
    kind = f"JSONType({doc}, {k})"
    v = to_jsonable(value)
    if v is None:
        return f"({has} AND {kind} = 'Null')"
    if isinstance(v, bool):
        return f"({has} AND {kind} = 'Bool' AND JSONExtractBool({doc}, {k}) = {p.add(v, 'Bool')})"
    if isinstance(v, int):
        exact = (f"({kind} IN ('Int64', 'UInt64') AND JSONExtractRaw({doc}, {k}) = "
                 f"{p.add(str(v), 'String')})")
        if abs(v) <= 2**53:
            approx = (f"({kind} = 'Double' AND JSONExtractFloat({doc}, {k}) = "
                      f"{p.add(float(v), 'Float64')})")
            return f"({has} AND ({exact} OR {approx}))"
        return f"({has} AND {exact})"
    if isinstance(v, float):
        assert math.isfinite(v)  # to_jsonable turned the others into strings
        return (f"({has} AND {kind} IN ('Int64', 'UInt64', 'Double') AND "
                f"JSONExtractFloat({doc}, {k}) = {p.add(v, 'Float64')})")
    if isinstance(v, str):
        # The JSON text is parsed only where it can hold the string (see may_hold); the
        # type check (which implies the key is there) only where the value is equal.
        return (f"({may_hold(doc, v, p)} AND JSONExtractString({doc}, {k}) = "
                f"{p.add(v, 'String')} AND {kind} = 'String')")
    text, _ = dumps(v)
    return (f"({has} AND {kind} IN ('Object', 'Array') AND JSONExtractRaw({doc}, {k}) = "
            f"{p.add(text, 'String')})")


def may_hold(doc: str, string: str, p: Params) -> str:
    """A cheap necessary condition for the JSON text ``doc`` to hold ``string`` (a key or
    a string value): JSON without a backslash has no escapes, so the string's own JSON
    text is in it; a row with a backslash anywhere is left to the exact test."""
    needle = p.add(json.dumps(string, ensure_ascii=False), "String")
    return f"(position({doc}, {needle}) > 0 OR position({doc}, {p.add(chr(92), 'String')}) > 0)"


def json_array_has(col: str, item: str, p: Params) -> str:
    """JSON array ``col`` has the string element ``item``."""
    return (f"has(JSONExtract(ifNull(`{col}`, '[]'), 'Array(Nullable(String))'), "
            f"{p.add(item, 'String')})")


RUNNING = f"{NO_ERROR} AND `endedAt` IS NULL"
SUCCESS = f"{NO_ERROR} AND `endedAt` IS NOT NULL"


def span_filters(f: TracesFilter, p: Params, column_of: Mapping[str, str],
                 running: str = RUNNING, success: str = SUCCESS) -> list[str]:
    """The column filters of ``f`` on one span row, every layout alike: the equalities
    (an entity type also matches its legacy name), the time bounds and the status
    (``running``/``success``: their conditions, for a layout that stores no running
    span). ``column_of`` maps a filter attribute to the layout's column name."""
    conds = []
    for attr, value in f.equalities():
        if attr == "entity_type":  # "workflow_run" also matches legacy "workflow" rows
            values = list(entity_type_values(value))
            conds.append(f"`entityType` IN {p.add(values, 'Array(String)')}")
        else:
            conds.append(f"{quote_ident(column_of[attr])} = {p.add(value, 'String')}")
    for bound, column, op in ((f.started_from, "startedAt", ">="),
                              (f.started_to, "startedAt", "<="),
                              (f.ended_from, "endedAt", ">="),
                              (f.ended_to, "endedAt", "<=")):
        if bound is not None:
            conds.append(f"`{column}` {op} {p.ts(bound)}")
    if f.status == "error":
        conds.append(HAS_ERROR)
    elif f.status == "running":
        conds.append(running)
    elif f.status == "success":
        conds.append(success)
    return conds
