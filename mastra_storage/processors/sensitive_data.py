"""Redact secrets from span payloads before any exporter can persist them.

Traces end up in databases that are read by far more people than the application's own
secrets store, so credentials that travel in tool arguments, HTTP headers or model
configuration must be masked before anything is written. The filter runs on an exporter's
worker thread, once per span snapshot (see ``base.py``), which shapes the implementation:

* matching is by dict *key*, never by scanning string values: cheap and predictable, and
  free text is not a place where we can reliably tell a secret from prose;
* keys are compared after normalisation (lower-case, alphanumerics only) so the same
  secret is caught whatever the naming convention (``api_key``, ``API-Key``, ``apiKey``),
  but only on an exact match, so that ``promptTokens`` or ``keyword`` survive;
* the walk is iterative: payloads can be arbitrarily deep or even cyclic and a
  ``RecursionError`` must never take an exporter's worker down;
* any failure replaces the whole field with a marker (fail closed): dropping some
  telemetry is acceptable, leaking a credential is not.

Tuples are copied as tuples (a tuple subclass such as a named tuple becomes a plain
tuple); dict and list subclasses become plain dicts and lists. Other objects, including
sets, are passed through untouched and are shared with the original span.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from ..model.spans import SpanRecord

__all__ = ["DEFAULT_SENSITIVE_FIELDS", "SensitiveDataFilter"]

_log = logging.getLogger(__name__)

RedactionStyle = Literal["full", "partial"]

DEFAULT_SENSITIVE_FIELDS: tuple[str, ...] = (
    "password", "token", "secret", "key", "apikey", "auth", "authorization", "bearer",
    "bearertoken", "jwt", "credential", "clientsecret", "privatekey", "refresh", "ssn",
    "accesstoken", "authtoken", "refreshtoken", "sessiontoken", "cookie", "setcookie",
)

# The payload attributes that carry user data. Identifiers, names and timestamps are
# left alone: they are needed to query traces and are not where secrets travel.
_PAYLOAD_ATTRS: tuple[str, ...] = ("attributes", "metadata", "input", "output", "error")

CIRCULAR = "[Circular]"

# ``\W`` is "not a word character" (Unicode aware); the underscore is a word character
# but a separator for our purpose, so it is removed as well.
_NON_ALNUM = re.compile(r"[\W_]+")

# Key verdicts are memoised because the same few keys ("role", "content", "type"...)
# appear in nearly every span; the bound keeps payloads with unique keys (ids used as
# keys) from growing the cache without limit.
_CACHE_LIMIT = 4096

# Below this length a partial mask would reveal most of the secret, so it is hidden whole.
_PARTIAL_MIN_LEN = 7
_PARTIAL_KEEP = 3


def normalize_key(key: str) -> str:
    """The form in which keys and configured fields are compared."""
    return _NON_ALNUM.sub("", key.lower())


_CONTAINERS = (dict, list, tuple)

# Marks a frame whose copy is appended to its parent (a list) rather than stored under a
# key: ``None`` can't serve, it is a valid dict key.
_APPEND = object()

# One container being copied, kept on an explicit stack instead of the interpreter's so
# that depth is bounded by memory, not by the recursion limit:
# (is_dict, is_tuple, iterator over the source, copy built so far, id(source), slot)
# where ``slot`` is the key under which the finished copy goes in the parent's copy, or
# ``_APPEND``. Plain tuples rather than a class: the walk is on the application's hot path
# and a class instance per container measurably slows it down.
_Frame = tuple[bool, bool, Iterator[Any], Any, int, Any]


def _open(source: Any, slot: Any) -> _Frame:
    if isinstance(source, dict):
        # ``.items()`` on purpose (not ``dict.items``): a subclass that overrides it
        # decides what it exposes, and if it fails we want to know (fail closed).
        return (True, False, iter(source.items()), {}, id(source), slot)
    return (False, isinstance(source, tuple), iter(source), [], id(source), slot)


class SensitiveDataFilter:
    """Span output processor that masks the values of sensitive keys in span payloads.

    ``sensitive_fields`` replaces the default list (it does not extend it) so that an
    application can also *narrow* what is redacted; pass
    ``[*DEFAULT_SENSITIVE_FIELDS, "extra"]`` to extend. Fields that normalise to an empty
    string are ignored, since they would otherwise match punctuation-only keys.

    ``style="partial"`` keeps the first and last three characters of string secrets longer
    than six characters, enough to tell two keys apart in a trace without being usable.
    """

    name = "sensitive-data-filter"

    def __init__(
        self,
        sensitive_fields: Iterable[str] | None = None,
        redaction_token: str = "[REDACTED]",
        style: RedactionStyle = "full",
    ) -> None:
        if style not in ("full", "partial"):
            raise ValueError(
                f"SensitiveDataFilter style must be 'full' or 'partial', not {style!r}"
            )
        if not isinstance(redaction_token, str):
            raise TypeError(
                f"redaction_token must be a string, not {type(redaction_token).__name__}"
            )
        if sensitive_fields is None:
            sensitive_fields = DEFAULT_SENSITIVE_FIELDS
        elif isinstance(sensitive_fields, str):
            # A bare string is iterable and would silently become one field per letter.
            raise TypeError("sensitive_fields must be an iterable of strings, not a string")
        normalized: set[str] = set()
        for field_name in sensitive_fields:
            if not isinstance(field_name, str):
                raise TypeError(f"sensitive field names must be strings, got {field_name!r}")
            form = normalize_key(field_name)
            if form:
                normalized.add(form)
        self._fields: frozenset[str] = frozenset(normalized)
        self._token = redaction_token
        self._style: RedactionStyle = style
        self._verdicts: dict[str, bool] = {}

    @property
    def sensitive_fields(self) -> frozenset[str]:
        """The configured fields, in normalised form."""
        return self._fields

    @property
    def redaction_token(self) -> str:
        return self._token

    @property
    def style(self) -> RedactionStyle:
        return self._style

    # ------------------------------------------------------------------ protocol

    def process(self, span: SpanRecord) -> SpanRecord:
        changes = {attr: self._filter_field(getattr(span, attr)) for attr in _PAYLOAD_ATTRS}
        return span.copy(**changes)

    def shutdown(self) -> None:
        """Nothing to release: the filter holds no resources."""

    # ------------------------------------------------------------------ internals

    def _filter_field(self, value: Any) -> Any:
        try:
            return self.redact(value)
        except Exception as exc:
            # Only the exception type is logged: its message may quote the payload.
            _log.warning(
                "%s: could not filter a span field (%s); the field was replaced",
                self.name, type(exc).__name__,
            )
            return {"error": {"processor": self.name}}

    def is_sensitive(self, key: Any) -> bool:
        """Whether a dict key names a secret (non-string keys are compared as ``str(key)``)."""
        text = key if isinstance(key, str) else str(key)
        verdict = self._verdicts.get(text)
        if verdict is None:
            verdict = normalize_key(text) in self._fields
            if len(self._verdicts) >= _CACHE_LIMIT:
                self._verdicts.clear()
            self._verdicts[text] = verdict
        return verdict

    def mask(self, value: Any) -> str:
        """The replacement for the value of a sensitive key, whatever its type."""
        if (
            self._style == "partial"
            and isinstance(value, str)
            and len(value) >= _PARTIAL_MIN_LEN
        ):
            return value[:_PARTIAL_KEEP] + self._token + value[-_PARTIAL_KEEP:]
        return self._token

    def redact(self, value: Any) -> Any:
        """A redacted copy of ``value``; ``value`` and everything it reaches is left as is.

        Raises whatever the payload raises; ``process`` turns that into the error marker.
        """
        if not isinstance(value, _CONTAINERS):
            return value
        verdicts = self._verdicts
        is_sensitive = self.is_sensitive
        mask = self.mask
        stack = [_open(value, _APPEND)]
        on_path = {id(value)}
        while True:
            is_dict, is_tuple, items, out, source_id, slot = stack[-1]
            child: Any = None
            child_slot: Any = _APPEND
            if is_dict:
                for key, item in items:
                    # Inlined cache probe: calling ``is_sensitive`` per key was the
                    # dominant cost. Only exact ``str`` keys may probe directly; any other
                    # key is judged by ``str(key)``, which an object that merely compares
                    # equal to a cached string need not share.
                    hit = verdicts.get(key) if type(key) is str else None
                    if hit is None:
                        hit = is_sensitive(key)
                    if hit:
                        out[key] = mask(item)
                    elif isinstance(item, _CONTAINERS):
                        if id(item) in on_path:
                            out[key] = CIRCULAR
                        else:
                            child, child_slot = item, key
                            break
                    else:
                        out[key] = item
            else:
                append = out.append
                for item in items:
                    if isinstance(item, _CONTAINERS):
                        if id(item) in on_path:
                            append(CIRCULAR)
                        else:
                            child = item
                            break
                    else:
                        append(item)
            if child is not None:
                # Descend; this frame's loop resumes from its iterator once the child is
                # finished. Keys are written in source order because the parent adds
                # nothing else until then.
                stack.append(_open(child, child_slot))
                on_path.add(id(child))
                continue
            stack.pop()
            on_path.discard(source_id)
            done = tuple(out) if is_tuple else out
            if not stack:
                return done
            parent_out = stack[-1][3]
            if slot is _APPEND:
                parent_out.append(done)
            else:
                parent_out[slot] = done
