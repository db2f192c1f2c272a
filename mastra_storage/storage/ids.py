"""Ids passed to a store's lookups are strings, checked before any backend sees them.

An id that is not a string (an int from a URL parser, None, bytes, a dict such as
``{"$ne": ""}``) used to reach the drivers: SQLite and PostgreSQL raised their own
errors, MongoDB read a dict as a query operator. Every store now answers one clear
``TypeError``. :func:`guard_lookups` applies the checks to a store class's own
implementations, so a new backend gets them without remembering to.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


def check_id(value: Any, what: str) -> str:
    """An id used to look something up: a string, else ``TypeError`` (never passed on)."""
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, got {type(value).__name__}")
    return value


def check_ids(values: Any, what: str) -> list[str]:
    """A sequence of ids; a single string is refused (it would iterate as characters)."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{what} must be a sequence of strings, got {type(values).__name__}")
    return [check_id(v, what[:-1] if what.endswith("s") else what) for v in values]


def _trace_and_span(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def checked(self: Any, trace_id: Any, span_id: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(self, check_id(trace_id, "trace_id"), check_id(span_id, "span_id"),
                  *args, **kwargs)
    return checked


def _trace(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def checked(self: Any, trace_id: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(self, check_id(trace_id, "trace_id"), *args, **kwargs)
    return checked


def _trace_and_spans(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def checked(self: Any, trace_id: Any, span_ids: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(self, check_id(trace_id, "trace_id"), check_ids(span_ids, "span_ids"),
                  *args, **kwargs)
    return checked


def _traces(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def checked(self: Any, trace_ids: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(self, check_ids(trace_ids, "trace_ids"), *args, **kwargs)
    return checked


_GUARDS: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "get_span": _trace_and_span,
    "get_branch": _trace_and_span,
    "get_root_span": _trace,
    "get_trace": _trace,
    "get_trace_light": _trace,
    "get_structure": _trace,
    "get_spans": _trace_and_spans,
    "batch_delete_traces": _traces,
}


def guard_lookups(cls: type) -> None:
    """Wrap the lookups ``cls`` defines itself (inherited ones are wrapped already)."""
    for name, guard in _GUARDS.items():
        fn = cls.__dict__.get(name)
        if callable(fn) and not getattr(fn, "__ids_checked__", False):
            wrapped = guard(fn)
            wrapped.__ids_checked__ = True  # type: ignore[attr-defined]
            setattr(cls, name, wrapped)
