"""Reading request parameters the way Mastra's server does, and failing the way it does.

Query strings: objects and arrays arrive as JSON text (``startedAt={"start": "…"}``,
``tags=["a"]``) or, for lists, as repeated keys (``tags=a&tags=b``); numbers are coerced;
dates are ISO-8601 strings (date-only too) or epoch milliseconds; ``orderBy`` is flat
(``field``, ``direction``); unknown parameters are ignored. A bad value raises
:class:`BadRequest`, which the app turns into Mastra's 400 body
``{"error": "Invalid query parameters", "issues": [{"field", "message"}]}``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from ..model.entities import EntityType
from ..model.jsonsafe import clean_text
from ..model.signals import LOG_LEVELS
from ..model.time import parse_iso
from ..storage.queries import MAX_PER_PAGE, TracesFilter, TracesOrderBy
from ..storage.signal_queries import (
    FeedbackFilter,
    LogsFilter,
    MetricsFilter,
    ScoresFilter,
    SignalOrder,
    TimeRange,
)
from ..tracing.span_types import SpanType

MAX_SEARCH = 256
# JSON nesting allowed in a body or a JSON query value (a valid trace query nests about
# 30 levels; Python's parser gives up near 1000).
MAX_BODY_DEPTH = 64
_CONTEXT_LABEL = {"query": "Invalid query parameters", "body": "Invalid request body",
                  "path": "Invalid path parameters"}


class TooDeep(ValueError):
    """A JSON value nested deeper than ``MAX_BODY_DEPTH``."""


def clean(value: Any, depth: int = 1) -> Any:
    """A parsed JSON value with every string (keys too) under the stores' text rule:
    NUL and lone surrogates become U+FFFD, as in everything a store holds, so a value
    sent matches what was stored and no driver sees a character it refuses. Deeper
    than ``MAX_BODY_DEPTH`` raises :class:`TooDeep`."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, (dict, list)) and depth > MAX_BODY_DEPTH:
        raise TooDeep
    if isinstance(value, dict):
        return {clean_text(k): clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v, depth + 1) for v in value]
    return value


class BadRequest(Exception):
    """A request parameter Mastra's schema would refuse (HTTP 400)."""

    def __init__(self, field: str, message: str, where: str = "query") -> None:
        super().__init__(f"{field}: {message}")
        self.issues = [{"field": field, "message": message}]
        self.where = where

    def body(self) -> dict[str, Any]:
        return {"error": _CONTEXT_LABEL[self.where], "issues": self.issues}


class Params:
    """One request's parameters (a query string's multi-dict, or a JSON body)."""

    def __init__(self, values: Mapping[str, list[str]] | Mapping[str, Any],
                 where: str = "query") -> None:
        self.values = values
        self.where = where

    @classmethod
    def from_query(cls, multi: Any) -> Params:
        """A query string's values, under the stores' text rule (NUL and lone
        surrogates become U+FFFD: nothing stored has them, nothing sent may)."""
        return cls({clean_text(k) or "": [clean_text(v) or "" for v in multi.getlist(k)]
                    for k in multi}, "query")

    @classmethod
    def from_body(cls, body: Any) -> Params:
        if body is None:
            body = {}
        if not isinstance(body, Mapping):
            raise BadRequest("root", "Invalid input: expected object", "body")
        return cls(body, "body")

    def fail(self, field: str, message: str) -> BadRequest:
        return BadRequest(field, message, self.where)

    def has(self, name: str) -> bool:
        return name in self.values

    def raw(self, name: str) -> Any:
        """A query value as received (the last one when repeated), or a body value."""
        value = self.values.get(name)
        if self.where == "query" and isinstance(value, list):
            if len(value) > 1:
                raise self.fail(name, "Invalid input: expected a single value")
            return value[0] if value else None
        return value

    def string(self, name: str) -> str | None:
        value = self.raw(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.fail(name, f"Invalid input: expected string, received {_kind(value)}")
        return value

    def search(self, name: str) -> str | None:
        """A search text or prefix, at most ``MAX_SEARCH`` characters (Mastra's bound on
        trace-query searches; a store may turn it into a pattern)."""
        value = self.string(name)
        if value is not None and len(value) > MAX_SEARCH:
            raise self.fail(name, f"Too big: expected string to have <={MAX_SEARCH} characters")
        return value

    def integer(self, name: str, default: int | None, low: int = 0,
                high: int | None = None) -> int | None:
        value = self.raw(name)
        if value is None or value == "":
            return default
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise self.fail(name, "Invalid input: expected number, received NaN") from None
        if not math.isfinite(number) or not number.is_integer():
            raise self.fail(name, "Invalid input: expected int, received number")
        n = int(number)
        if n < low:
            raise self.fail(name, f"Too small: expected number to be >={low}")
        if high is not None and n > high:
            raise self.fail(name, f"Too big: expected number to be <={high}")
        return n

    def boolean(self, name: str) -> bool | None:
        value = self.raw(name)
        if value is None:
            return None
        if value in (True, "true"):
            return True
        if value in (False, "false"):
            return False
        raise self.fail(name, "Invalid input: expected boolean, received string")

    def structured(self, name: str) -> Any:
        """An object or array: JSON text in a query string, a value in a body."""
        value = self.raw(name)
        if value is None or self.where != "query":
            return value
        try:
            return clean(json.loads(value))
        except (ValueError, RecursionError):
            raise self.fail(name, "Invalid input") from None

    def strings(self, name: str, json_text: bool = True) -> tuple[str, ...] | None:
        """A list of strings: repeated keys, or one JSON array (``json_text``), or one
        plain value when the schema is a string-or-list union (Mastra parses those as
        they come, without JSON)."""
        value = self.values.get(name)
        if value is None:
            return None
        if self.where == "query":
            assert isinstance(value, list)
            if len(value) > 1:
                return tuple(value)
            single = value[0] if value else ""
            if json_text:
                try:
                    parsed = clean(json.loads(single))
                except (ValueError, RecursionError):
                    raise self.fail(name, "Invalid input") from None
                value = parsed
            else:
                return (single,)
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(name, "Invalid input: expected array of strings")
        return tuple(value)

    def mapping(self, name: str) -> dict[str, Any] | None:
        value = self.structured(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.fail(name, f"Invalid input: expected record, received {_kind(value)}")
        return value

    def date_range(self, name: str) -> TimeRange | None:
        value = self.structured(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.fail(name, f"Invalid input: expected object, received {_kind(value)}")
        try:
            return TimeRange(_date(value.get("start")), _date(value.get("end")),
                             bool(value.get("startExclusive", False)),
                             bool(value.get("endExclusive", False)))
        except (TypeError, ValueError):
            raise self.fail(name, "Invalid input: expected date") from None

    def date(self, name: str) -> datetime | None:
        value = self.raw(name)
        try:
            return _date(value)
        except (TypeError, ValueError):
            raise self.fail(name, "Invalid input: expected date") from None

    def page(self) -> tuple[int, int]:
        page = self.integer("page", 0, 0)
        per_page = self.integer("perPage", 10, 1, MAX_PER_PAGE)
        assert page is not None and per_page is not None
        return page, per_page

    def choice(self, name: str, valid: Sequence[str], default: str | None) -> str | None:
        value = self.string(name)
        if value is None:
            return default
        if value not in valid:
            options = "|".join(f'"{v}"' for v in valid)
            raise self.fail(name, f"Invalid option: expected one of {options}")
        return value

    def forbid_delta(self, endpoint: str) -> None:
        """Delta polling is not offered (no store declares it): say so as Mastra does."""
        if self.choice("mode", ("page", "delta"), "page") == "delta":
            raise Unsupported("Delta polling is not supported by the configured "
                              f"observability store for {endpoint}")
        for name in ("after", "limit"):
            if self.has(name):
                raise self.fail(name, f"`{name}` is only allowed when `mode=delta`")

    def entity_type(self, name: str) -> str | None:
        """An ``EntityType`` value (``workflow`` is read as ``workflow_run``)."""
        if self.string(name) == "workflow":
            return EntityType.WORKFLOW_RUN.value
        return self.choice(name, ENTITY_TYPES, None)


class Unsupported(Exception):
    """A request the store can't answer (HTTP 501)."""


def _kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "number" if isinstance(value, (int, float)) else "unknown")


def _date(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("a boolean is not a date")
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000, timezone.utc)
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 10:  # date only
            text += "T00:00:00Z"
        return parse_iso(text)
    raise TypeError("not a date")


# ---------------------------------------------------------------------------- filters

ENTITY_TYPES = tuple(e.value for e in EntityType)
SPAN_TYPES = tuple(s.value for s in SpanType)
# Query parameter → filter attribute, for the plain string filters.
_TRACE_TEXT = {
    "entityId": "entity_id",
    "entityName": "entity_name", "userId": "user_id", "organizationId": "organization_id",
    "resourceId": "resource_id", "runId": "run_id", "sessionId": "session_id",
    "threadId": "thread_id", "requestId": "request_id", "environment": "environment",
    "source": "source", "serviceName": "service_name",
}
# Filters of Mastra's trace lists that no store API takes yet: refused (501), never
# silently ignored (that would answer with traces the filter excludes).
_TRACE_UNSUPPORTED = ("parentEntityType", "parentEntityId", "parentEntityName",
                      "rootEntityType", "rootEntityId", "rootEntityName", "entityVersionId",
                      "parentEntityVersionId", "rootEntityVersionId", "experimentId")
_SIGNAL_TEXT = {
    "traceId": "trace_id", "spanId": "span_id",
    "entityName": "entity_name", "entityVersionId": "entity_version_id",
    "parentEntityVersionId": "parent_entity_version_id",
    "rootEntityVersionId": "root_entity_version_id", "userId": "user_id",
    "organizationId": "organization_id", "experimentId": "experiment_id",
    "serviceName": "service_name", "environment": "environment",
    "parentEntityName": "parent_entity_name", "rootEntityName": "root_entity_name",
    "resourceId": "resource_id", "runId": "run_id", "sessionId": "session_id",
    "threadId": "thread_id", "requestId": "request_id", "executionSource": "source",
}
_SIGNAL_ENTITY_TYPES = {"entityType": "entity_type", "parentEntityType": "parent_entity_type",
                        "rootEntityType": "root_entity_type"}


def traces_filter(p: Params) -> TracesFilter:
    """The filters of ``GET /traces``, ``/traces/light`` and ``/branches`` (the
    ``traceId`` filter is applied by the route: no store's list takes it)."""
    values: dict[str, Any] = {}
    for param in _TRACE_UNSUPPORTED:
        if p.has(param):
            raise Unsupported(f"Filtering traces by {param} is not supported by this server")
    for param, attr in _TRACE_TEXT.items():
        value = p.string(param)
        if value is not None:
            values[attr] = value
    span_type = p.choice("spanType", SPAN_TYPES, None)
    if span_type is not None:
        values["span_type"] = span_type
    entity_type = p.entity_type("entityType")
    if entity_type is not None:
        values["entity_type"] = entity_type
    started = p.date_range("startedAt") or p.date_range("dateRange")
    if started is not None:
        values["started_from"], values["started_to"] = started.start, started.end
    ended = p.date_range("endedAt")
    if ended is not None:
        values["ended_from"], values["ended_to"] = ended.start, ended.end
    status = p.choice("status", ("success", "error", "running"), None)
    if status is not None:
        values["status"] = status
    has_child_error = p.boolean("hasChildError")
    if has_child_error is not None:
        values["has_child_error"] = has_child_error
    tags = p.strings("tags")
    if tags is not None:
        values["tags"] = tags
    for key in ("metadata", "scope"):
        mapping = p.mapping(key)
        if mapping is not None:
            values[key] = mapping
    legacy = p.string("name")  # "agent run: 'x'" / "workflow run: 'x'", Studio's older form
    if legacy is not None:
        for prefix, entity in (("agent run: ", "agent"), ("workflow run: ", "workflow_run")):
            if legacy.startswith(prefix):
                values.setdefault("entity_type", entity)
                values.setdefault("entity_id", legacy[len(prefix):].strip("'\""))
    return TracesFilter(**values)


def traces_order(p: Params) -> TracesOrderBy:
    field = p.choice("field", ("startedAt", "endedAt"), "startedAt")
    direction = p.choice("direction", ("ASC", "DESC"), "DESC")
    return TracesOrderBy(field, direction)  # type: ignore[arg-type]


def _signal_common(p: Params) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for param, attr in _SIGNAL_TEXT.items():
        value = p.string(param)
        if value is not None:
            values[attr] = value
    for param, attr in _SIGNAL_ENTITY_TYPES.items():
        value = p.entity_type(param)
        if value is not None:
            values[attr] = value
    if values.get("source") is None and p.string("source") is not None:
        values["source"] = p.string("source")  # deprecated name of executionSource
    window = p.date_range("timestamp")
    if window is not None:
        values["timestamp"] = window
    tags = p.strings("tags")
    if tags is not None:
        values["tags"] = tags
    return values


def logs_filter(p: Params) -> LogsFilter:
    values = _signal_common(p)
    levels = p.strings("level", json_text=False)
    if levels is not None:
        wrong = [v for v in levels if v not in LOG_LEVELS]
        if wrong:
            raise p.fail("level", "Invalid option: expected one of "
                         + "|".join(f'"{v}"' for v in LOG_LEVELS))
        values["level"] = levels
    search = p.search("search") or p.search("message")
    if search:
        values["search"] = search
    return LogsFilter(**values)


def scores_filter(p: Params) -> ScoresFilter:
    values = _signal_common(p)
    scorer = p.strings("scorerId", json_text=False)
    if scorer is not None:
        values["scorer_id"] = scorer
    source = p.string("scoreSource")
    if source is not None:
        values["score_source"] = source
    metadata = p.mapping("metadata")
    if metadata is not None:
        values["metadata"] = metadata
    return ScoresFilter(**values)


def feedback_filter(p: Params) -> FeedbackFilter:
    values = _signal_common(p)
    kinds = p.strings("feedbackType", json_text=False)
    if kinds is not None:
        values["feedback_type"] = kinds
    for param, attr in (("feedbackSource", "feedback_source"),
                        ("feedbackUserId", "feedback_user_id")):
        value = p.string(param)
        if value is not None:
            values[attr] = value
    status = p.choice("reviewStatus", ("needs-review", "reviewed"), None)
    if status is not None:
        values["review_status"] = status
    return FeedbackFilter(**values)


def metrics_filter(p: Params) -> MetricsFilter:
    values = _signal_common(p)
    for param, attr in (("name", "name"), ("traceIds", "trace_ids")):
        listed = p.strings(param)
        if listed is not None:
            values[attr] = listed
    for param, attr in (("provider", "provider"), ("model", "model"),
                        ("costUnit", "cost_unit")):
        value = p.string(param)
        if value is not None:
            values[attr] = value
    labels = p.mapping("labels")
    if labels is not None:
        values["labels"] = {str(k): str(v) for k, v in labels.items()}
    return MetricsFilter(**values)


def signal_order(p: Params, fields: Sequence[str] = ("timestamp",)) -> SignalOrder:
    field = p.choice("field", fields, "timestamp")
    direction = p.choice("direction", ("ASC", "DESC"), "DESC")
    return SignalOrder(field or "timestamp", direction)  # type: ignore[arg-type]


def body_filters(p: Params, make: Any) -> Any:
    """A ``filters`` object of a JSON body, read like a query string's filters."""
    raw = p.raw("filters")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise BadRequest("filters", "Invalid input: expected object", "body")
    try:
        return make(Params(raw, "body"))
    except BadRequest as exc:
        exc.issues = [{"field": f"filters.{i['field']}", "message": i["message"]}
                      for i in exc.issues]
        raise
