"""Turning arbitrary payloads into JSON every backend accepts, with a defined outcome.

Agent payloads are whatever the app put there: datetimes, sets, dataclasses, exceptions,
circular structures, NaN from a model's log-probs, NUL characters from binary-ish text.
The rules (identical for every store, so a trace reads the same everywhere):

* non-finite floats become the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``;
* U+0000 and lone UTF-16 surrogates in strings and keys become U+FFFD (PostgreSQL
  refuses NUL; no driver can encode a lone surrogate as UTF-8);
* non-string keys are named as ``json.dumps`` names them (``true``, ``null``, ``1.5``);
* datetimes/dates → ISO-8601, enums → their value, sets/tuples → lists, bytes → a
  ``"<bytes:N>"`` marker, dataclasses and objects with ``model_dump``/``to_dict`` → dicts,
  exceptions → ``{"name", "message"}``, anything else → ``repr`` (at most 1,000 chars);
* a reference cycle is cut with the string ``"[Circular]"``;
* a serialised value larger than ``max_bytes`` is replaced by a marker object
  ``{"truncated": true, "originalBytes": N, "preview": "..."}``, reported to the caller.

The fast path is one C-accelerated ``json.dumps``; the walk runs only when it fails or
when the text contains an escaped NUL.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any

from .records import format_iso

CIRCULAR = "[Circular]"
_NUL = "\x00"
_REPLACEMENT = "\ufffd"
_REPR_LIMIT = 1000
DEFAULT_MAX_BYTES = 4 * 1024 * 1024

_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<bytes:{len(value)}>"
    if isinstance(value, BaseException):
        return {"name": type(value).__name__, "message": str(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    for method in ("model_dump", "to_dict", "dict"):
        fn = getattr(value, method, None)
        if callable(fn):
            try:
                result = fn()
            except Exception:
                break
            if isinstance(result, Mapping):
                return dict(result)
    text = repr(value)
    return text if len(text) <= _REPR_LIMIT else text[:_REPR_LIMIT] + "…"


# NUL and lone surrogates: what no store can keep as is (public: the ClickHouse fast path
# checks its own JSON text against the same set).
BAD_CHARS = re.compile("[\x00\ud800-\udfff]")
_BAD_CHARS = BAD_CHARS


def _clean_str(value: str) -> str:
    if value.isascii():  # O(1) in CPython: no surrogate possible, only NUL to look for
        return value.replace(_NUL, _REPLACEMENT) if _NUL in value else value
    return _BAD_CHARS.sub(_REPLACEMENT, value) if _BAD_CHARS.search(value) else value


def _key(key: object, seen: set[int]) -> str:
    """A dict key as JSON names it (the C encoder's rules), then cleaned."""
    if isinstance(key, str):
        return _clean_str(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, (int, float)):
        value = to_jsonable(key)
        return value if isinstance(value, str) else repr(value)
    return _clean_str(str(to_jsonable(key, seen)))


def to_jsonable(value: Any, _seen: set[int] | None = None) -> Any:
    """A copy of ``value`` made only of dict/list/str/int/float(finite)/bool/None."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, str):
        return _clean_str(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    seen = _seen if _seen is not None else set()
    if isinstance(value, (Mapping, list)):
        ident = id(value)
        if ident in seen:
            return CIRCULAR
        seen.add(ident)
        try:
            if isinstance(value, Mapping):
                return {_key(k, seen): to_jsonable(v, seen) for k, v in list(value.items())}
            return [to_jsonable(v, seen) for v in list(value)]
        finally:
            seen.discard(ident)
    converted = _default(value)
    if converted is value:  # pragma: no cover - _default always converts
        return repr(value)
    ident = id(value)
    if ident in seen:
        return CIRCULAR
    seen.add(ident)
    try:
        return to_jsonable(converted, seen)
    finally:
        seen.discard(ident)


class Truncated(Exception):
    """Raised internally when a value was replaced by the truncation marker."""


def dumps(value: Any, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[str | None, bool]:
    """Serialise ``value`` for a JSON column: ``(text or None, truncated?)``."""
    if value is None:
        return None, False
    try:
        text = _encoder.encode(value)
        # The encoder escapes NUL as \u0000; surrogates stay raw (ensure_ascii=False),
        # and an ASCII-only text cannot hold one.
        if "\\u0000" in text or (not text.isascii() and _BAD_CHARS.search(text)):
            text = _encoder.encode(to_jsonable(value))
    except (ValueError, TypeError, RecursionError):
        text = _encoder.encode(to_jsonable(value))
    if len(text) > max_bytes // 4 and len(text.encode("utf-8")) > max_bytes:
        marker = {
            "truncated": True,
            "originalBytes": len(text.encode("utf-8")),
            "preview": text[:1000],
        }
        return _encoder.encode(marker), True
    return text, False


def loads(value: Any) -> Any:
    """Read a JSON column value back (text, bytes, or an already-decoded driver value)."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("utf-8")
    if isinstance(value, str):
        return json.loads(value)
    return value


def clean_text(value: str | None) -> str | None:
    """Text columns get the same NUL/surrogate rule as JSON strings."""
    return _clean_str(value) if value is not None else None
