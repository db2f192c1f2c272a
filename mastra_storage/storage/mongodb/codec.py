"""Span records <-> MongoDB documents, with BSON's limits handled on purpose.

Document shape (Mastra's ``@mastra/mongodb``): one document per span in
``mastra_ai_spans``, field names = the camelCase column names of :data:`COLUMNS`,
timestamps as BSON dates (millisecond precision, UTC), ``isEvent`` a boolean, JSON
columns as native BSON documents/arrays. Every column is written (``null`` when unset).
Timestamps are read whether stored as dates or as the ISO-8601 strings earlier versions
of this library wrote.

Payload rules, in order (the outcome is defined; nothing is dropped without a trace):

1. the shared JSON rules of :mod:`..jsonsafe` (``dumps`` then ``json.loads``): NaN and
   infinities become strings, NUL and lone UTF-16 surrogates (which no store can
   encode) become U+FFFD, unserialisable values get their
   marker or ``repr``, cycles are cut, a field over ``max_json_bytes`` becomes the
   truncation marker — exactly what the SQL stores keep, so a trace reads the same;
2. BSON limits that JSON does not have: an integer outside int64 is stored as its
   decimal text; a value nested deeper than :data:`MAX_NESTING` levels inside a payload is
   stored as its JSON text (MongoDB refuses documents nested more than 100 levels);
3. the 16 MB document limit: when the encoded document would exceed the server's
   ``maxBsonObjectSize`` (minus a margin), the largest payload fields are replaced by the
   same truncation marker ``{"truncated": true, "originalBytes": N, "preview": ...}``
   (and, should that not suffice, oversized non-key text fields are cut) until it fits.

Keys containing ``.`` or starting with ``$`` inside payloads are stored as they are
(MongoDB >= 5.0 accepts them, and it is what Mastra writes). A server that refuses such a
document gets it again with those keys escaped (see :func:`escape_keys`); the store
counts it. Every adjustment is counted in :class:`CodecStats`.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from enum import Enum
from typing import Any

import bson
from bson.codec_options import CodecOptions
from bson.decimal128 import Decimal128
from bson.objectid import ObjectId
from bson.raw_bson import RawBSONDocument

from ...model.jsonsafe import DEFAULT_MAX_BYTES, clean_text, dumps, to_jsonable
from ...model.spans import COLUMNS, KEY_ATTRS, SpanRecord
from ...model.time import format_iso, parse_iso, truncate_ms

# Levels of nesting kept as BSON inside one payload field. The span document adds one
# level and MongoDB's documented limit is 100, so 90 leaves room.
MAX_NESTING = 90
# MongoDB's maxBsonObjectSize; the margin covers the write command's own envelope.
DEFAULT_MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
DOCUMENT_MARGIN = 16 * 1024
PREVIEW_CHARS = 1000
# A JSON text of n characters encodes to at most ~6n BSON bytes (arrays of one-digit
# numbers are the worst case): below this the exact size check is skipped.
_BSON_PER_JSON_CHAR = 6
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_LONG_DIGITS = re.compile(r"\d{19}")
_ESCAPED_DOLLAR = "\uff04"  # FULLWIDTH DOLLAR SIGN
_ESCAPED_DOT = "\uff0e"  # FULLWIDTH FULL STOP

_JSON_NAMES = frozenset(c.name for c in COLUMNS if c.kind == "json")
_KEY_NAMES = frozenset(c.name for c in COLUMNS if c.attr in KEY_ATTRS)
_encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))

# Reads: timezone-aware datetimes for documents written by other tools with BSON dates.
# Invalid UTF-8 from another writer reads as U+FFFD instead of failing the whole read.
DECODE_OPTIONS: CodecOptions[dict[str, Any]] = CodecOptions(
    tz_aware=True, tzinfo=timezone.utc, unicode_decode_error_handler="replace")
RAW_OPTIONS: CodecOptions[RawBSONDocument] = CodecOptions(
    document_class=RawBSONDocument, tz_aware=True, tzinfo=timezone.utc,
    unicode_decode_error_handler="replace")


@dataclass
class CodecStats:
    """What had to be changed to make spans storable (all counters only grow)."""

    truncated_fields: int = 0  # payload fields replaced by the truncation marker
    truncated_text_fields: int = 0  # non-key text fields cut to fit the 16 MB limit
    deep_values: int = 0  # sub-values nested deeper than MAX_NESTING, kept as JSON text
    big_ints: int = 0  # integers outside int64, kept as decimal text
    escaped_documents: int = 0  # documents re-sent with '$'/'.' keys escaped

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def truncation_marker(text: str) -> dict[str, Any]:
    """The marker :func:`..jsonsafe.dumps` puts in place of an oversized value."""
    return {
        "truncated": True,
        "originalBytes": len(text.encode("utf-8")),
        "preview": text[:PREVIEW_CHARS],
    }


def escape_key(key: str) -> str:
    if key.startswith("$"):
        key = _ESCAPED_DOLLAR + key[1:]
    return key.replace(".", _ESCAPED_DOT) if "." in key else key


def escape_keys(value: Any) -> Any:
    """``value`` with every ``$``-leading key and every ``.`` in keys replaced by their
    full-width look-alikes (U+FF04, U+FF0E). One-way: read back as stored."""
    if isinstance(value, dict):
        return {escape_key(k): escape_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [escape_keys(v) for v in value]
    return value


class SpanCodec:
    """Encodes records to documents and decodes documents (ours or Mastra's) to records."""

    def __init__(
        self,
        max_json_bytes: int = DEFAULT_MAX_BYTES,
        max_document_bytes: int = DEFAULT_MAX_DOCUMENT_BYTES,
    ) -> None:
        if max_json_bytes < 1 or max_document_bytes < 64 * 1024:
            raise ValueError("max_json_bytes must be >= 1 and max_document_bytes >= 64 KiB")
        self.max_json_bytes = max_json_bytes
        self.max_document_bytes = max_document_bytes
        self.stats = CodecStats()
        self._lock = threading.Lock()

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + n)

    # ------------------------------------------------------------------ encode
    @property
    def document_limit(self) -> int:
        return self.max_document_bytes - DOCUMENT_MARGIN

    def encode(self, record: SpanRecord, now: datetime) -> dict[str, Any]:
        """The document for ``record``; ``createdAt``/``updatedAt`` default to ``now``."""
        doc: dict[str, Any] = {}
        texts: dict[str, str] = {}
        for spec in COLUMNS:
            value = getattr(record, spec.attr)
            kind = spec.kind
            if kind == "json":
                doc[spec.name] = self._payload(value, spec.name, texts)
            elif kind == "text":
                doc[spec.name] = _text(value)
            elif kind == "timestamp":
                if value is None and spec.name in ("createdAt", "updatedAt"):
                    value = now
                doc[spec.name] = truncate_ms(value) if value is not None else None
            else:
                doc[spec.name] = bool(value)
        self._fit(doc, texts)
        return doc

    def payload(self, value: Any) -> Any:
        """A filter value prepared exactly as a stored payload value is."""
        return self._payload(value, None, None)

    def _payload(self, value: Any, name: str | None, texts: dict[str, str] | None) -> Any:
        if value is None:
            return None
        text, truncated = dumps(value, self.max_json_bytes)
        assert text is not None  # NUL and lone surrogates are already U+FFFD (jsonsafe)
        if truncated and name is not None:
            self._count("truncated_fields")
        if texts is not None and name is not None:
            texts[name] = text
        out = json.loads(text)
        if _LONG_DIGITS.search(text) or text.count("{") + text.count("[") > MAX_NESTING:
            out = self._bson_safe(out, 0, counting=name is not None)
        return out

    def _bson_safe(self, value: Any, depth: int, counting: bool) -> Any:
        if isinstance(value, (dict, list)):
            if depth >= MAX_NESTING:
                if counting:
                    self._count("deep_values")
                return _encoder.encode(value)
            if isinstance(value, dict):
                return {k: self._bson_safe(v, depth + 1, counting) for k, v in value.items()}
            return [self._bson_safe(v, depth + 1, counting) for v in value]
        if type(value) is int and not _INT64_MIN <= value <= _INT64_MAX:
            if counting:
                self._count("big_ints")
            return str(value)
        return value

    def _fit(self, doc: dict[str, Any], texts: dict[str, str]) -> None:
        """Shrink ``doc`` below the document limit (rule 3 of the module docstring)."""
        limit = self.document_limit
        rough = sum(len(t) for t in texts.values()) + sum(
            len(v) for k, v in doc.items() if isinstance(v, str) and k not in _JSON_NAMES
        )
        if rough * _BSON_PER_JSON_CHAR < limit:
            return
        size = len(bson.encode(doc))
        if size <= limit:
            return
        # Largest first: payloads become markers, then non-key text fields are cut.
        candidates = sorted(
            [(len(t), name) for name, t in texts.items()]
            + [(len(v), k) for k, v in doc.items()
               if isinstance(v, str) and k not in _JSON_NAMES and k not in _KEY_NAMES],
            reverse=True,
        )
        for _, name in candidates:
            if name in _JSON_NAMES:
                doc[name] = truncation_marker(texts[name])
                self._count("truncated_fields")
            else:
                text = doc[name]
                if len(text) <= PREVIEW_CHARS:
                    continue
                doc[name] = text[:PREVIEW_CHARS] + f"…[truncated {len(text)} chars]"
                self._count("truncated_text_fields")
            size = len(bson.encode(doc))
            if size <= limit:
                return
        raise ValueError(
            f"span {doc.get('traceId')}/{doc.get('spanId')} cannot be made smaller than "
            f"{limit} bytes: its key fields alone are too large")

    def escaped(self, doc: dict[str, Any]) -> dict[str, Any]:
        """``doc`` with payload keys escaped, for a server that refused them."""
        self._count("escaped_documents")
        return {k: escape_keys(v) if k in _JSON_NAMES else v for k, v in doc.items()}

    # ------------------------------------------------------------------ decode
    def decode(self, raw: RawBSONDocument | Mapping[str, Any]) -> SpanRecord:
        """A record from a stored document (ours or Mastra's; missing fields are None)."""
        if isinstance(raw, RawBSONDocument):
            data = raw.raw
            # pymongo turns {"$ref", "$id"} sub-documents into DBRef objects; a payload that
            # happens to hold such keys is rebuilt from the raw bytes instead.
            decoded: dict[str, Any] = (
                _from_raw(raw) if b"$ref\x00" in data else bson.decode(data, DECODE_OPTIONS)
            )
            doc: Mapping[str, Any] = decoded
        else:
            doc = raw
        values: dict[str, Any] = {}
        for spec in COLUMNS:
            value = doc.get(spec.name)
            if spec.kind == "json":
                value = _plain(value)
            elif spec.kind == "timestamp":
                value = parse_iso(value) if value is not None else None
            elif spec.kind == "bool":
                value = bool(value)
            elif value is not None and not isinstance(value, str):
                value = str(value)
            values[spec.attr] = value
        return SpanRecord(**values)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Enum):
        value = value.value
    return clean_text(value if isinstance(value, str) else str(value))


def _from_raw(raw: Any) -> Any:
    if isinstance(raw, RawBSONDocument):
        return {k: _from_raw(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return [_from_raw(v) for v in raw]
    return raw


def _plain(value: Any) -> Any:
    """A stored payload as JSON-like Python (BSON-only types from other writers mapped)."""
    if value is None or isinstance(value, (str, bool, float)):
        return value
    if isinstance(value, int):
        return int(value)  # Int64 -> int
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return format_iso(value)
    if isinstance(value, (ObjectId, Decimal128)):
        return str(value)
    return to_jsonable(value)
