"""The trace filters of ``traces list``, ``tail`` and ``export``: every ``TracesFilter``
field as an option, plus ``--search`` (text in the root span) and ``--limit``.

The options are declared once and added to each command's signature by
:func:`with_trace_filters`, which hands the command a ready :class:`TraceSelection`.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Annotated, Any

import typer

from ..model.spans import SpanRecord
from ..storage.queries import MAX_PER_PAGE, TracesFilter, TracesOrderBy
from .render import EXIT_USAGE, CLIError, error_message

SEARCH_SCAN_LIMIT = 10_000  # root spans a --search looks through (newest first)


class Status(str, Enum):
    success = "success"
    error = "error"
    running = "running"


_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(value: str) -> timedelta | None:
    """``15m``, ``2h``, ``7d``, ``1w``, ``30s`` → a timedelta (None if not an age)."""
    match = _RELATIVE.match(value.strip().lower())
    if not match:
        return None
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def parse_when(value: str, option: str = "--since") -> datetime:
    """An ISO-8601 timestamp (naive = UTC) or a relative age such as ``15m``, ``2h``, ``7d``."""
    from ..model.time import parse_iso

    age = parse_age(value)
    if age is not None:
        return datetime.now(timezone.utc) - age
    try:
        parsed = parse_iso(value.strip())
    except ValueError:
        raise CLIError(f"{option}: {value!r} is neither an ISO-8601 timestamp "
                       "(2026-11-22T02:09:00Z) nor a relative age (15m, 2h, 7d)",
                       EXIT_USAGE) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


# Backwards-compatible name.
parse_since = parse_when


def parse_pairs(values: list[str] | None, option: str) -> dict[str, Any] | None:
    """``key=value`` options → a dict; the value is JSON when it parses (numbers, true,
    null, objects), else the text itself (``'n="5"'`` for the string "5")."""
    if not values:
        return None
    out: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise CLIError(f"{option} takes key=value, got {item!r}", EXIT_USAGE)
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        out[key.strip()] = value
    return out


@dataclass
class TraceSelection:
    """What the filter options select: the store filter and the client-side text search."""

    filters: TracesFilter
    search: str | None = None
    limit: int | None = None
    described: list[str] = field(default_factory=list)

    def matches(self, span: SpanRecord) -> bool:
        if not self.search:
            return True
        return self.search.lower() in searchable_text(span)


def searchable_text(span: SpanRecord) -> str:
    """The text ``--search`` looks in: the root span's name, ids, entity, tags, input,
    output, error and metadata (lower-cased)."""
    parts: list[str] = [span.name, span.trace_id, span.span_type, span.entity_name or "",
                        span.entity_id or "", span.user_id or "", span.service_name or "",
                        span.thread_id or "", span.session_id or "", span.run_id or ""]
    for value in (span.tags, span.input, span.output, span.metadata):
        if value is not None:
            parts.append(value if isinstance(value, str)
                         else json.dumps(value, default=str, ensure_ascii=False))
    if span.error is not None:
        parts.append(error_message(span.error))
    return "\n".join(parts).lower()


def iter_roots(store: Any, selection: TraceSelection, order_by: TracesOrderBy,
               scan_limit: int | None = None) -> Iterator[SpanRecord]:
    """Root spans matching the selection, in order, paging through the store."""
    page, scanned = 0, 0
    while True:
        result = store.list_traces(selection.filters, page=page, per_page=MAX_PER_PAGE,
                                   order_by=order_by)
        for span in result.spans:
            scanned += 1
            if selection.matches(span):
                yield span
            if scan_limit is not None and scanned >= scan_limit:
                return
        if not result.has_more or not result.spans:
            return
        page += 1


# ---------------------------------------------------------------------------- options

def _opt(*decls: str, help: str, metavar: str | None = None) -> Any:
    return typer.Option(*decls, help=help, metavar=metavar, show_default=False,
                        rich_help_panel="Filters")


FILTER_OPTIONS: list[tuple[str, Any, Any]] = [
    ("status", Status | None, _opt("--status", help="Trace status (the root span's).")),
    ("has_child_error", bool | None, _opt(
        "--has-child-error/--no-child-error",
        help="Some span of the trace failed (the root included) / none did.")),
    ("since", str | None, _opt("--since", metavar="WHEN", help=(
        "Started at or after: ISO-8601 (UTC if no offset) or an age: 15m, 2h, 7d."))),
    ("until", str | None, _opt("--until", metavar="WHEN", help="Started at or before.")),
    ("ended_since", str | None, _opt("--ended-since", metavar="WHEN",
                                     help="Ended at or after.")),
    ("ended_until", str | None, _opt("--ended-until", metavar="WHEN",
                                     help="Ended at or before.")),
    ("service", str | None, _opt("--service", help="Service name.")),
    ("environment", str | None, _opt("--environment", "--env", help="Environment.")),
    ("source", str | None, _opt("--source", help="Execution source.")),
    ("span_type", str | None, _opt("--span-type", help="The root span's type, e.g. agent_run.")),
    ("entity", str | None, _opt("--entity", metavar="[TYPE:]NAME",
                                help="Entity name, or type:name (agent:support-agent).")),
    ("entity_type", str | None, _opt("--entity-type", help="Entity type (agent, tool, …).")),
    ("entity_id", str | None, _opt("--entity-id", help="Entity id.")),
    ("entity_name", str | None, _opt("--entity-name", help="Entity name.")),
    ("user", str | None, _opt("--user", help="User id.")),
    ("organization", str | None, _opt("--organization", "--org", help="Organization id.")),
    ("resource", str | None, _opt("--resource", help="Resource id.")),
    ("run", str | None, _opt("--run", help="Run id.")),
    ("session", str | None, _opt("--session", help="Session id.")),
    ("thread", str | None, _opt("--thread", help="Thread id.")),
    ("request", str | None, _opt("--request", help="Request id.")),
    ("tag", list[str] | None, _opt("--tag", metavar="TAG",
                                   help="A tag the trace has (repeatable: all).")),
    ("metadata", list[str] | None, _opt(
        "--metadata", metavar="KEY=VALUE",
        help="Root metadata key equal to value (repeatable; value read as JSON if it is).")),
    ("scope", list[str] | None, _opt("--scope", metavar="KEY=VALUE",
                                     help="Scope key equal to value (repeatable).")),
    ("search", str | None, _opt("--search", "-s", metavar="TEXT", help=(
        "Text in the root span: name, ids, tags, input, output, error, metadata "
        f"(case-insensitive; looks through the newest {SEARCH_SCAN_LIMIT:,} traces)."))),
]
FILTER_NAMES = tuple(name for name, _, _ in FILTER_OPTIONS)


def build_selection(values: dict[str, Any]) -> TraceSelection:
    entity_type, entity_name = values["entity_type"], values["entity_name"]
    if values["entity"]:
        head, sep, tail = values["entity"].partition(":")
        if sep:
            entity_type, entity_name = entity_type or head, tail
        else:
            entity_name = head
    status: Status | None = values["status"]
    try:
        filters = TracesFilter(
            status=status.value if status else None,
            has_child_error=values["has_child_error"],
            started_from=parse_when(values["since"], "--since") if values["since"] else None,
            started_to=parse_when(values["until"], "--until") if values["until"] else None,
            ended_from=(parse_when(values["ended_since"], "--ended-since")
                        if values["ended_since"] else None),
            ended_to=(parse_when(values["ended_until"], "--ended-until")
                      if values["ended_until"] else None),
            service_name=values["service"], environment=values["environment"],
            source=values["source"], span_type=values["span_type"],
            entity_type=entity_type, entity_id=values["entity_id"], entity_name=entity_name,
            user_id=values["user"], organization_id=values["organization"],
            resource_id=values["resource"], run_id=values["run"],
            session_id=values["session"], thread_id=values["thread"],
            request_id=values["request"],
            tags=list(values["tag"]) if values["tag"] else None,
            metadata=parse_pairs(values["metadata"], "--metadata"),
            scope=parse_pairs(values["scope"], "--scope"),
        )
    except (TypeError, ValueError) as exc:
        raise CLIError(str(exc), EXIT_USAGE) from None
    search = (values["search"] or "").strip() or None
    return TraceSelection(filters, search)


def with_trace_filters(func: Callable[..., Any]) -> Callable[..., Any]:
    """Add the filter options to a command; it receives ``selection: TraceSelection``."""
    signature = inspect.signature(func, eval_str=True)
    own = [p for name, p in signature.parameters.items() if name != "selection"]
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                               annotation=Annotated[kind, option])
             for name, kind, option in FILTER_OPTIONS]

    @functools.wraps(func)
    def command(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name, None) for name in FILTER_NAMES}
        return func(*args, selection=_Deferred(values), **kwargs)

    command.__signature__ = signature.replace(parameters=[  # type: ignore[attr-defined]
        *[p.replace(kind=inspect.Parameter.KEYWORD_ONLY) if p.kind is
          inspect.Parameter.VAR_KEYWORD else p for p in own], *added])
    command.__annotations__ = {p.name: p.annotation for p in [*own, *added]}
    return command


class _Deferred:
    """The filter option values, turned into a selection inside the command's error
    handling (so a bad value is reported like any other error)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def build(self) -> TraceSelection:
        return build_selection(self.values)
