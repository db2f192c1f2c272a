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

_CONTEXT_LABEL = {"query": "Invalid query parameters", "body": "Invalid request body",
                  "path": "Invalid path parameters"}


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
        return cls({k: multi.getlist(k) for k in multi}, "query")

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
            return json.loads(value)
        except ValueError:
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
                    parsed = json.loads(single)
                except ValueError:
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

    def forbid_delta(self) -> None:
        """Delta polling is not offered (the stores don't declare it): say so clearly."""
        if self.string("mode") == "delta":
            raise Unsupported("Delta polling is not supported by the configured "
                              "observability store")
        for name in ("after", "limit"):
            if self.has(name):
                raise self.fail(name, f"`{name}` is only allowed when `mode=delta`")


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

# Query parameter → filter attribute, for the plain string filters.
_TRACE_TEXT = {
    "spanType": "span_type", "entityType": "entity_type", "entityId": "entity_id",
    "entityName": "entity_name", "userId": "user_id", "organizationId": "organization_id",
    "resourceId": "resource_id", "runId": "run_id", "sessionId": "session_id",
    "threadId": "thread_id", "requestId": "request_id", "environment": "environment",
    "source": "source", "serviceName": "service_name",
}
_SIGNAL_TEXT = {
    "traceId": "trace_id", "spanId": "span_id", "entityType": "entity_type",
    "entityName": "entity_name", "entityVersionId": "entity_version_id",
    "parentEntityVersionId": "parent_entity_version_id",
    "rootEntityVersionId": "root_entity_version_id", "userId": "user_id",
    "organizationId": "organization_id", "experimentId": "experiment_id",
    "serviceName": "service_name", "environment": "environment",
    "parentEntityType": "parent_entity_type", "parentEntityName": "parent_entity_name",
    "rootEntityType": "root_entity_type", "rootEntityName": "root_entity_name",
    "resourceId": "resource_id", "runId": "run_id", "sessionId": "session_id",
    "threadId": "thread_id", "requestId": "request_id", "executionSource": "source",
}


def traces_filter(p: Params) -> TracesFilter:
    values: dict[str, Any] = {}
    for param, attr in _TRACE_TEXT.items():
        value = p.string(param)
        if value is not None:
            values[attr] = value
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
        values["level"] = levels
    search = p.string("search") or p.string("message")
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
