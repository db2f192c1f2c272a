"""Reading SQLite's JSONB blobs in Python, so the library never needs a second SQLite.

Mastra's libSQL store writes JSON columns as JSONB (SQLite >= 3.45's binary JSON). The
SQLite that ships with Python may be older (Debian 12: 3.40) and cannot read them; using
a bundled newer SQLite instead would put two SQLite libraries in one process, and two
libraries holding POSIX locks on one file corrupt it (sqlite.org/howtocorrupt.html,
section 2.2). So the store keeps to the process's own ``sqlite3`` and decodes JSONB here.

The format (sqlite.org/jsonb.html): each element starts with a header byte whose low
nibble is the element type and whose high nibble is the payload size (0 to 11), or says
that the size follows in 1, 2, 4 or 8 big-endian bytes (12 to 15). Scalars carry their JSON
text (numbers possibly in JSON5 spellings, strings with or without escapes); arrays and
objects carry their elements back to back (objects alternate label and value).
"""

from __future__ import annotations

import json
import math
from typing import Any

NULL, TRUE, FALSE, INT, INT5, FLOAT, FLOAT5 = range(7)
TEXT, TEXTJ, TEXT5, TEXTRAW, ARRAY, OBJECT = range(7, 13)


class JsonbError(ValueError):
    """A blob that is not valid JSONB."""


def _header(blob: bytes, pos: int) -> tuple[int, int, int]:
    """(element type, payload start, payload end) of the element at ``pos``."""
    if pos >= len(blob):
        raise JsonbError("truncated JSONB element")
    first = blob[pos]
    kind, size = first & 0x0F, first >> 4
    start = pos + 1
    if size >= 12:
        width = 1 << (size - 12)  # 12 → 1 byte, 13 → 2, 14 → 4, 15 → 8
        size = int.from_bytes(blob[start:start + width], "big")
        start += width
    end = start + size
    if end > len(blob):
        raise JsonbError("JSONB element overruns the blob")
    return kind, start, end


def _json5_int(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    return sign * int(body, 16 if body[:2].lower() == "0x" else 10)


def _json5_float(text: str) -> float:
    body = text.strip()
    lowered = body.lower().lstrip("+")
    if lowered in ("infinity", "inf"):
        return math.inf
    if lowered in ("-infinity", "-inf"):
        return -math.inf
    if lowered == "nan":
        return math.nan
    if body.startswith("."):
        body = "0" + body
    if body.startswith("-."):
        body = "-0" + body[1:]
    return float(body.rstrip(".") if body.endswith(".") else body)


def _string(kind: int, raw: bytes) -> str:
    text = raw.decode("utf-8", "replace")
    if kind in (TEXT, TEXTRAW):
        return text
    # TEXTJ: JSON escapes; TEXT5: JSON5 escapes, of which JSON's are a subset we decode
    # the same way (JSON5-only escapes such as \x41 are rare; they are kept as written).
    try:
        value = json.loads(f'"{text}"')
        return value if isinstance(value, str) else text
    except ValueError:
        return text.encode("utf-8").decode("unicode_escape", "replace")


def _decode(blob: bytes, pos: int) -> tuple[Any, int]:
    kind, start, end = _header(blob, pos)
    raw = blob[start:end]
    if kind == NULL:
        return None, end
    if kind == TRUE:
        return True, end
    if kind == FALSE:
        return False, end
    if kind == INT:
        return int(raw), end
    if kind == INT5:
        return _json5_int(raw.decode("ascii")), end
    if kind == FLOAT:
        return float(raw), end
    if kind == FLOAT5:
        return _json5_float(raw.decode("ascii")), end
    if kind in (TEXT, TEXTJ, TEXT5, TEXTRAW):
        return _string(kind, raw), end
    if kind == ARRAY:
        items = []
        at = start
        while at < end:
            item, at = _decode(blob, at)
            items.append(item)
        return items, end
    if kind == OBJECT:
        obj: dict[str, Any] = {}
        at = start
        while at < end:
            label, at = _decode(blob, at)
            value, at = _decode(blob, at)
            obj[str(label)] = value
        return obj, end
    raise JsonbError(f"unknown JSONB element type {kind}")


def decode(blob: bytes | bytearray | memoryview) -> Any:
    """The JSON value a JSONB blob holds."""
    data = bytes(blob)
    if not data:
        raise JsonbError("an empty blob is not JSONB")
    value, end = _decode(data, 0)
    if end != len(data):
        raise JsonbError("trailing bytes after the JSONB value")
    return value


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _sqlite_text(value: Any) -> str:
    """JSON text with infinities as ``9e999`` and NaN as ``null``, as SQLite's json()
    writes them: an older SQLite's JSON parser rejects ``Infinity`` (a JSON5 spelling)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "null" if math.isnan(value) else ("9e999" if value > 0 else "-9e999")
    if isinstance(value, list):
        return "[" + ",".join(_sqlite_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_dump(k)}:{_sqlite_text(v)}" for k, v in value.items()) + "}"
    return _dump(value)


def to_text(value: Any) -> Any:
    """A JSON column value as JSON text: a JSONB blob decoded and re-encoded, text as it
    is, a blob that is not JSONB as NULL (a filter then simply doesn't match it).
    Registered as the SQL function ``mastra_json`` on every SQLite connection, so SQL
    filters see text JSON whichever way a row was written, on any SQLite version."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        try:
            decoded = decode(value)
            try:
                return _dump(decoded)
            except ValueError:  # an infinity or NaN somewhere (rare): the slow, exact path
                return _sqlite_text(decoded)
        except (ValueError, RecursionError):  # not JSONB (JsonbError), or nested too deep
            return None
    return value


__all__ = ["JsonbError", "decode", "to_text"]
