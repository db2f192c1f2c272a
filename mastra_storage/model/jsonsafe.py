"""The one JSON codec: arbitrary payloads → JSON every backend and the collector accept.

Agent payloads are whatever the app put there: datetimes, sets, dataclasses, exceptions,
circular structures, NaN from a model's log-probs, NUL characters from binary-ish text.
Every store and the CloudExporter encode through :func:`dumps`, so a span reads the same
everywhere. The rules:

* non-finite floats become the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``;
* U+0000 and lone UTF-16 surrogates in strings and keys become U+FFFD (PostgreSQL
  refuses NUL; no driver can encode a lone surrogate as UTF-8);
* non-string keys are named as ``json.dumps`` names them (``true``, ``null``, ``1.5``);
* datetimes/dates → ISO-8601, enums → their value, sets/tuples → lists, bytes → a
  ``"<bytes:N>"`` marker, dataclasses and objects with ``model_dump``/``to_dict`` → dicts,
  exceptions → ``{"name", "message"}``, anything else → ``repr`` (at most 1,000 chars);
* a value whose ``repr``/``str`` raises, or a mapping whose ``items()`` raises, becomes
  ``"<unrepresentable TypeName>"``; an integer too large to print (over 4,000 digits)
  becomes ``"<int:N bits>"``;
* a reference cycle is cut with the string ``"[Circular]"``; nesting deeper than
  :data:`MAX_DEPTH` levels is cut with ``"[MaxDepth]"`` (encoders and several databases
  refuse deeper documents);
* a serialised value larger than ``max_bytes`` is replaced by a marker object
  ``{"truncated": true, "originalBytes": N, "preview": "..."}``, reported to the caller.

Speed: the common case is one C-level encode — ``orjson`` when installed (the ``fast``
extra), else the standard library's C encoder. The two agree byte for byte except that
orjson writes floats below 1e-4 in another notation (``1e-7`` for ``1e-07``: the same
number); a text in which orjson could have written NaN as ``null``, or escaped a NUL, is
re-encoded by the standard library. The rule walk (:func:`to_jsonable`) runs only for
values the C encoders refuse or whose text shows a character to clean.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Collection, Mapping
from datetime import date, datetime
from enum import Enum
from json.encoder import (  # type: ignore[attr-defined]
    c_make_encoder,
    encode_basestring,
)
from typing import Any

from .time import format_iso

try:  # optional speed-up, byte-identical where used (see module docstring)
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised by the no-extra CI leg
    _orjson = None  # type: ignore[assignment]

CIRCULAR = "[Circular]"
MAX_DEPTH_MARKER = "[MaxDepth]"
# Levels of nested arrays/objects kept inside one payload value: orjson's own limit, so
# the rule is the same whichever encoder wrote the text.
MAX_DEPTH = 254
DEFAULT_MAX_BYTES = 4 * 1024 * 1024
_NUL = "\x00"
_REPLACEMENT = "\ufffd"
_REPR_LIMIT = 1000
# Python refuses to print integers over 4300 digits (sys.int_info.str_digits_check_threshold);
# 13,000 bits is ~3,900 digits.
_MAX_INT_BITS = 13_000

# NUL and lone surrogates: what no store can keep as is.
BAD_CHARS = re.compile("[\x00\ud800-\udfff]")


def _stdlib_default(value: Any) -> Any:
    raise TypeError(type(value).__name__)


# The standard library's C encoder with ensure_ascii=False, allow_nan=False and compact
# separators, called directly: json.JSONEncoder.encode adds a Python-level layer per call.
_C_ENCODE: Any = (
    c_make_encoder(None, _stdlib_default, encode_basestring, None, ":", ",", False, False,
                   False)
    if c_make_encoder is not None else None
)
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))

_ORJSON_OPTS = 0
if _orjson is not None:
    _ORJSON_OPTS = (_orjson.OPT_PASSTHROUGH_DATETIME | _orjson.OPT_PASSTHROUGH_DATACLASS
                    | _orjson.OPT_PASSTHROUGH_SUBCLASS)


def _orjson_default(value: Any) -> Any:
    raise TypeError(type(value).__name__)


def _std_encode(value: Any) -> str:
    if _C_ENCODE is not None:
        return "".join(_C_ENCODE(value, 0))
    return _ENCODER.encode(value)  # pragma: no cover - CPython always has the C encoder


def _unrepresentable(value: Any) -> str:
    return f"<unrepresentable {type(value).__name__}>"


def _safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:
        return _unrepresentable(value)
    if not isinstance(text, str):  # pragma: no cover - repr must return str
        return _unrepresentable(value)
    return text if len(text) <= _REPR_LIMIT else text[:_REPR_LIMIT] + "…"


def _default(value: Any) -> Any:
    """What a non-JSON value becomes (before the walk continues into the result)."""
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
        try:
            message = str(value)
        except Exception:
            message = _unrepresentable(value)
        return {"name": type(value).__name__, "message": message}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    for method in ("model_dump", "to_dict", "dict"):
        try:
            fn = getattr(value, method, None)
        except Exception:
            break
        if callable(fn):
            try:
                result = fn()
            except Exception:
                break
            if isinstance(result, Mapping):
                return dict(result)
    return _safe_repr(value)


def _clean_str(value: str) -> str:
    if value.isascii():  # O(1) in CPython: no surrogate possible, only NUL to look for
        return value.replace(_NUL, _REPLACEMENT) if _NUL in value else value
    return BAD_CHARS.sub(_REPLACEMENT, value) if BAD_CHARS.search(value) else value


def _int(value: int) -> int | str:
    if value.bit_length() > _MAX_INT_BITS:
        return f"<int:{value.bit_length()} bits>"
    return int(value)  # an int subclass (not bool) becomes a plain int


def _key(key: object, seen: set[int], depth: int) -> str:
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
    value = to_jsonable(key, seen, depth)
    if isinstance(value, str):
        return _clean_str(value)
    return _clean_str(_std_encode(value))


def to_jsonable(value: Any, _seen: set[int] | None = None, _depth: int = 0) -> Any:
    """A copy of ``value`` made only of dict/list/str/int/float(finite)/bool/None."""
    if value is None or value is True or value is False:
        return value
    if isinstance(value, str):
        return _clean_str(value)
    if isinstance(value, int):
        return _int(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    seen = _seen if _seen is not None else set()
    if isinstance(value, (Mapping, list)):
        if _depth >= MAX_DEPTH:
            return MAX_DEPTH_MARKER
        ident = id(value)
        if ident in seen:
            return CIRCULAR
        seen.add(ident)
        try:
            if isinstance(value, Mapping):
                try:
                    items = list(value.items())
                except Exception:
                    return _unrepresentable(value)
                return {_key(k, seen, _depth + 1): to_jsonable(v, seen, _depth + 1)
                        for k, v in items}
            return [to_jsonable(v, seen, _depth + 1) for v in list(value)]
        finally:
            seen.discard(ident)
    converted = _default(value)
    if converted is value:  # pragma: no cover - _default always converts
        return _safe_repr(value)
    ident = id(value)
    if ident in seen:
        return CIRCULAR
    seen.add(ident)
    try:
        return to_jsonable(converted, seen, _depth)
    finally:
        seen.discard(ident)


def _deeper_than(value: Any, limit: int) -> bool:
    """True if arrays/objects nest more than ``limit`` levels (iterative, early exit)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _may_be_too_deep(text: str | bytes) -> bool:
    if isinstance(text, bytes):
        return text.count(b"[") + text.count(b"{") > MAX_DEPTH
    return text.count("[") + text.count("{") > MAX_DEPTH


def encode(value: Any) -> str:
    """JSON text of ``value`` under the rules above (no size limit)."""
    depth_checked = False
    if _orjson is not None:
        try:
            raw = _orjson.dumps(value, default=_orjson_default, option=_ORJSON_OPTS)
        except Exception:  # orjson refuses: odd types, surrogates, big ints, too deep
            raw = None
        if raw is not None:
            # orjson writes NaN/Infinity as null (the rule says strings) and escapes NUL;
            # either sends the value to the standard library, which follows the rules.
            if b"null" not in raw and b"\\u0000" not in raw:
                return raw.decode("utf-8")
            depth_checked = True  # orjson accepted it: within MAX_DEPTH
    try:
        text = _std_encode(value)
    except Exception:  # refused (NaN, odd types, cycles, depth) or app code raised
        return _std_encode(to_jsonable(value))
    # The encoder escapes NUL as \u0000; surrogates stay raw (ensure_ascii=False), and an
    # ASCII-only text cannot hold one.
    if "\\u0000" in text or (not text.isascii() and BAD_CHARS.search(text)) or (
            not depth_checked and _may_be_too_deep(text) and _deeper_than(value, MAX_DEPTH)):
        return _std_encode(to_jsonable(value))
    return text


def truncation_marker(text: str) -> dict[str, Any]:
    """What stands in for a value whose JSON text is over the size limit."""
    return {"truncated": True, "originalBytes": len(text.encode("utf-8")),
            "preview": text[:1000]}


def dumps(value: Any, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[str | None, bool]:
    """Serialise ``value`` for a JSON column: ``(text or None, truncated?)``."""
    if value is None:
        return None, False
    text = encode(value)
    if len(text) > max_bytes // 4 and len(text.encode("utf-8")) > max_bytes:
        return _std_encode(truncation_marker(text)), True
    return text, False


def encode_object(obj: Mapping[str, Any], limited: Collection[str] = (),
                  max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[str, int]:
    """A JSON object's text where each value under a ``limited`` key obeys the size rule
    (as a store's JSON column would); returns the text and how many values were cut."""
    plain = {k: v for k, v in obj.items() if k not in limited}
    parts = []
    cut = 0
    for key in limited:
        if key in obj:
            text, truncated = dumps(obj[key], max_bytes)
            cut += truncated
            parts.append(f"{_std_encode(key)}:{text if text is not None else 'null'}")
    head = encode(plain)
    if not parts:
        return head, cut
    return (head[:-1] + ("," if plain else "") + ",".join(parts) + "}"), cut


def loads(value: Any) -> Any:
    """Read a JSON column value back (text, bytes, or an already-decoded driver value)."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("utf-8")
    if isinstance(value, str):
        if _orjson is not None:
            return _orjson.loads(value)
        return json.loads(value)
    return value


def as_text(value: Any) -> str | None:
    """A value for a text column (a name, an id, an entity or context field): text as it
    is, ``None`` as NULL, booleans as ``true``/``false``, numbers and enums as they print,
    bytes as ``<bytes:N>``, anything else as ``str()`` (``repr`` if that fails, a marker
    if both do). Cheap when given text, which is what it nearly always is."""
    if value is None or type(value) is str:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return as_text(value.value)
    if isinstance(value, int):
        converted = _int(value)
        return converted if isinstance(converted, str) else str(converted)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<bytes:{len(value)}>"
    try:
        text = str(value)
        if isinstance(text, str):
            return text
    except Exception:
        pass
    return _safe_repr(value)


def clean_text(value: str | None) -> str | None:
    """Text columns get the same NUL/surrogate rule as JSON strings."""
    return _clean_str(value) if value is not None else None


def has_orjson() -> bool:
    return _orjson is not None


__all__ = [
    "BAD_CHARS", "CIRCULAR", "DEFAULT_MAX_BYTES", "MAX_DEPTH", "MAX_DEPTH_MARKER",
    "as_text", "clean_text", "dumps", "encode", "encode_object", "has_orjson", "loads",
    "to_jsonable", "truncation_marker",
]
