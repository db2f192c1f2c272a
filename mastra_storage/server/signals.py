"""Routes for logs, metrics, scores, feedback and discovery."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..errors import UnsupportedOperation
from ..model.signals import FeedbackRecord, ScoreRecord, new_signal_id
from ..model.time import utc_now
from ..storage.signal_queries import (
    MetricAggregateRequest,
    MetricBreakdownRequest,
    MetricPercentilesRequest,
    MetricTimeseriesRequest,
)
from .app import Call, NotFound, endpoint
from .params import (
    BadRequest,
    Params,
    Unsupported,
    body_filters,
    feedback_filter,
    logs_filter,
    metrics_filter,
    scores_filter,
    signal_order,
)
from .serialize import (
    aggregate_json,
    breakdown_json,
    pagination_json,
    percentiles_json,
    signal_json,
    timeseries_json,
)

P = "/observability"


def _page(call: Call, items: list[Any], total: int, page: int, per_page: int,
          key: str) -> dict[str, Any]:
    return {"pagination": pagination_json(total, page, per_page),
            key: [signal_json(r) for r in items]}


def list_logs(call: Call) -> dict[str, Any]:
    q = call.query
    q.forbid_delta("logs")
    page, per_page = q.page()
    result = call.store.list_logs(logs_filter(q), page, per_page, signal_order(q))
    return _page(call, result.items, result.total, page, per_page, "logs")


def list_metrics(call: Call) -> dict[str, Any]:
    q = call.query
    q.forbid_delta("metrics")
    page, per_page = q.page()
    result = call.store.list_metrics(metrics_filter(q), page, per_page, signal_order(q))
    return _page(call, result.items, result.total, page, per_page, "metrics")


def list_scores(call: Call) -> dict[str, Any]:
    q = call.query
    q.forbid_delta("scores")
    page, per_page = q.page()
    result = call.store.list_scores(scores_filter(q), page, per_page,
                                    signal_order(q, ("timestamp", "score")))
    return _page(call, result.items, result.total, page, per_page, "scores")


def get_score(call: Call) -> dict[str, Any]:
    score = call.store.get_score(call.path["scoreId"])
    return {"score": signal_json(score) if score is not None else None}


def list_feedback(call: Call) -> dict[str, Any]:
    q = call.query
    q.forbid_delta("feedback")
    page, per_page = q.page()
    result = call.store.list_feedback(feedback_filter(q), page, per_page, signal_order(q))
    return _page(call, result.items, result.total, page, per_page, "feedback")


_CONTEXT_BODY = {
    "traceId": "trace_id", "spanId": "span_id", "entityType": "entity_type",
    "entityId": "entity_id", "entityName": "entity_name", "userId": "user_id",
    "organizationId": "organization_id", "resourceId": "resource_id", "runId": "run_id",
    "sessionId": "session_id", "threadId": "thread_id", "requestId": "request_id",
    "environment": "environment", "serviceName": "service_name",
    "executionSource": "source", "experimentId": "experiment_id",
}


def _context(body: Params) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, attr in _CONTEXT_BODY.items():
        value = body.string(name)
        if value is not None:
            out[attr] = value
    tags = body.strings("tags")
    if tags is not None:
        out["tags"] = list(tags)
    metadata = body.mapping("metadata")
    if metadata is not None:
        out["metadata"] = metadata
    return out


def _object(call: Call, key: str) -> Params:
    value = call.body_params().raw(key)
    if not isinstance(value, dict):
        raise BadRequest(key, "Invalid input: expected object, received undefined", "body")
    return Params(value, "body")


def create_score(call: Call) -> dict[str, Any]:
    call.require_writes()
    body = _object(call, "score")
    scorer_id = body.string("scorerId")
    score = body.raw("score")
    if not scorer_id:
        raise BadRequest("score.scorerId", "Invalid input: expected string, received "
                         "undefined", "body")
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        raise BadRequest("score.score", "Invalid input: expected number", "body")
    context = _context(body)
    name = body.string("scorerName")
    if name is not None:
        context["metadata"] = {**context.get("metadata", {}), "scorerName": name}
    record = ScoreRecord(
        timestamp=utc_now(), scorer_id=scorer_id, score=float(score),
        reason=body.string("reason"), scorer_version=body.string("scorerVersion"),
        score_source=body.string("scoreSource") or body.string("source"),
        score_trace_id=body.string("scoreTraceId"),
        score_id=body.string("scoreId") or new_signal_id(), **context)
    call.store.batch_create_scores([record])
    return {"success": True}


def create_feedback(call: Call) -> dict[str, Any]:
    call.require_writes()
    body = _object(call, "feedback")
    kind = body.string("feedbackType")
    value = body.raw("value")
    if not kind:
        raise BadRequest("feedback.feedbackType", "Invalid input: expected string, received "
                         "undefined", "body")
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadRequest("feedback.value", "Invalid input: expected number or string", "body")
    status = body.choice("reviewStatus", ("needs-review", "reviewed"), "needs-review")
    record = FeedbackRecord(
        timestamp=utc_now(), feedback_type=kind,
        feedback_source=body.string("feedbackSource") or body.string("source") or "",
        value_number=float(value) if not isinstance(value, str) else None,
        value_string=value if isinstance(value, str) else None,
        comment=body.string("comment"), feedback_user_id=body.string("feedbackUserId"),
        source_id=body.string("sourceId"), review_status=status or "needs-review",
        feedback_id=body.string("feedbackId") or new_signal_id(), **_context(body))
    call.store.batch_create_feedback([record])
    return {"success": True}


def review_feedback(call: Call) -> dict[str, Any]:
    call.require_writes()
    status = call.body_params().choice("reviewStatus", ("needs-review", "reviewed"), None)
    if status is None:
        raise BadRequest("reviewStatus", "Invalid option: expected one of "
                         '"needs-review"|"reviewed"', "body")
    updated = call.store.update_feedback_review_status(call.path["feedbackId"], status)
    if updated is None:
        raise NotFound("Feedback record not found")
    return signal_json(updated)


def _not_offered(what: str, write: bool = False) -> Callable[[Call], Any]:
    """A Mastra route no store API backs yet: 501 (after the read-only check of a
    write, so a read-only server answers 403 for every write alike)."""

    def handler(call: Call) -> Any:
        if write:
            call.require_writes()
        raise Unsupported(f"{what} is not supported by this server yet")

    handler.__name__ = "unsupported_" + re.sub(r"\W+", "_", what.lower())
    return handler


# ---------------------------------------------------------------------------- metrics

def _build(make: Callable[..., Any], **kwargs: Any) -> Any:
    """A metric request, its ValueErrors as Mastra's 400s naming the field."""
    try:
        return make(**kwargs)
    except (ValueError, TypeError) as exc:
        message = str(exc)
        field = next((camel for snake, camel in (
            ("distinct_column", "distinctColumn"), ("compare_period", "comparePeriod"),
            ("order_direction", "orderDirection"), ("group_by", "groupBy"),
            ("aggregation", "aggregation"), ("interval", "interval"),
            ("percentile", "percentiles"), ("limit", "limit"), ("metric name", "name"))
            if snake in message), "root")
        raise BadRequest(field, message, "body") from None


def _names(body: Params) -> tuple[str, ...]:
    value = body.raw("name")
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise BadRequest("name", "Invalid input: expected a non-empty array of metric names",
                         "body")
    return tuple(value)


def metric_aggregate(call: Call) -> dict[str, Any]:
    body = call.body_params()
    request = _build(MetricAggregateRequest, name=_names(body),
                     aggregation=body.string("aggregation") or "sum",
                     filters=body_filters(body, metrics_filter),
                     distinct_column=body.string("distinctColumn"),
                     compare_period=body.string("comparePeriod"))
    return aggregate_json(call.store.metric_aggregate(request))


def metric_breakdown(call: Call) -> dict[str, Any]:
    body = call.body_params()
    group_by = body.raw("groupBy")
    if isinstance(group_by, str):
        raise BadRequest("groupBy", "Invalid input: expected array, received string", "body")
    request = _build(MetricBreakdownRequest, name=_names(body), group_by=group_by,
                     aggregation=body.string("aggregation") or "sum",
                     filters=body_filters(body, metrics_filter),
                     distinct_column=body.string("distinctColumn"),
                     limit=body.integer("limit", None, 1, 1000),
                     order_direction=body.string("orderDirection") or "DESC")
    return breakdown_json(call.store.metric_breakdown(request))


def metric_timeseries(call: Call) -> dict[str, Any]:
    body = call.body_params()
    request = _build(MetricTimeseriesRequest, name=_names(body),
                     interval=body.string("interval") or "1h",
                     aggregation=body.string("aggregation") or "sum",
                     filters=body_filters(body, metrics_filter),
                     distinct_column=body.string("distinctColumn"),
                     group_by=body.raw("groupBy"))
    return timeseries_json(call.store.metric_timeseries(request))


def metric_percentiles(call: Call) -> dict[str, Any]:
    body = call.body_params()
    name = body.raw("name")
    if isinstance(name, list) and len(name) == 1:
        name = name[0]  # accept a one-name list too
    percentiles = body.raw("percentiles")
    if not isinstance(percentiles, list):
        raise BadRequest("percentiles", "Invalid input: expected array", "body")
    request = _build(MetricPercentilesRequest, name=name, percentiles=tuple(percentiles),
                     interval=body.string("interval") or "1h",
                     filters=body_filters(body, metrics_filter))
    return percentiles_json(call.store.metric_percentiles(request))


# ---------------------------------------------------------------------------- discovery

def entity_types(call: Call) -> dict[str, Any]:
    return {"entityTypes": call.store.discover_entity_types()}


def entity_names(call: Call) -> dict[str, Any]:
    return {"names": call.store.discover_entity_names(call.query.entity_type("entityType"))}


def service_names(call: Call) -> dict[str, Any]:
    return {"serviceNames": call.store.discover_service_names()}


def environments(call: Call) -> dict[str, Any]:
    return {"environments": call.store.discover_environments()}


def tags(call: Call) -> dict[str, Any]:
    entity_type = call.query.entity_type("entityType")
    try:
        return {"tags": call.store.discover_tags(entity_type)}
    except UnsupportedOperation:  # Mastra answers no tags rather than an error here
        return {"tags": []}


def metric_names(call: Call) -> dict[str, Any]:
    q = call.query
    return {"names": call.store.discover_metric_names(q.search("prefix"),
                                                      q.integer("limit", None, 1))}


def _required(q: Params, name: str) -> str:
    value = q.string(name)
    if not value:
        raise q.fail(name, "Invalid input: expected string, received undefined")
    return value


def metric_label_keys(call: Call) -> dict[str, Any]:
    return {"keys": call.store.discover_metric_label_keys(_required(call.query, "metricName"))}


def metric_label_values(call: Call) -> dict[str, Any]:
    q = call.query
    return {"values": call.store.discover_metric_label_values(
        _required(q, "metricName"), _required(q, "labelKey"), q.search("prefix"),
        q.integer("limit", None, 1))}


ROUTES: list[tuple[str, tuple[str, ...], Any]] = [
    (f"{P}/logs", ("GET",), endpoint(list_logs)),
    (f"{P}/metrics", ("GET",), endpoint(list_metrics)),
    (f"{P}/metrics/aggregate", ("POST",), endpoint(metric_aggregate, body=True)),
    (f"{P}/metrics/breakdown", ("POST",), endpoint(metric_breakdown, body=True)),
    (f"{P}/metrics/timeseries", ("POST",), endpoint(metric_timeseries, body=True)),
    (f"{P}/metrics/percentiles", ("POST",), endpoint(metric_percentiles, body=True)),
    (f"{P}/scores", ("GET",), endpoint(list_scores)),
    (f"{P}/scores", ("POST",), endpoint(create_score, body=True)),
    (f"{P}/scores", ("DELETE",), endpoint(_not_offered("Deleting scores", write=True),
                                          body=True)),
    *[(f"{P}/scores/{kind}", ("POST",), endpoint(_not_offered(f"Score {kind}"), body=True))
      for kind in ("aggregate", "breakdown", "timeseries", "percentiles")],
    (f"{P}/scores/{{scoreId}}", ("GET",), endpoint(get_score)),
    (f"{P}/feedback", ("GET",), endpoint(list_feedback)),
    (f"{P}/feedback", ("POST",), endpoint(create_feedback, body=True)),
    (f"{P}/feedback", ("DELETE",), endpoint(_not_offered("Deleting feedback", write=True),
                                            body=True)),
    *[(f"{P}/feedback/{kind}", ("POST",),
       endpoint(_not_offered(f"Feedback {kind}"), body=True))
      for kind in ("aggregate", "breakdown", "timeseries", "percentiles")],
    (f"{P}/feedback/{{feedbackId}}/review-status", ("PATCH",),
     endpoint(review_feedback, body=True)),
    (f"{P}/discovery/entity-types", ("GET",), endpoint(entity_types)),
    (f"{P}/discovery/entity-names", ("GET",), endpoint(entity_names)),
    (f"{P}/discovery/service-names", ("GET",), endpoint(service_names)),
    (f"{P}/discovery/environments", ("GET",), endpoint(environments)),
    (f"{P}/discovery/tags", ("GET",), endpoint(tags)),
    (f"{P}/discovery/metric-names", ("GET",), endpoint(metric_names)),
    (f"{P}/discovery/metric-label-keys", ("GET",), endpoint(metric_label_keys)),
    (f"{P}/discovery/metric-label-values", ("GET",), endpoint(metric_label_values)),
]
