"""The routes Studio calls on every page load, answered with the smallest shapes that keep
it working: this server has no agents, workflows or tools, only observability data.

A wrong shape is worse than a 404 here (``{}`` where Studio expects a list crashes the
whole app), so each answer is the empty value of the exact shape Mastra's server gives.
"""

from __future__ import annotations

from typing import Any

from ..storage.base import OBSERVABILITY_DOMAIN
from ..storage.signal_queries import Feature
from .app import Call, endpoint

_EMPTY_PAGE = {"total": 0, "page": 0, "perPage": 10, "hasMore": False}


def packages(call: Call) -> dict[str, Any]:
    store = call.store.get_store(OBSERVABILITY_DOMAIN)
    features = store.features() if store is not None else frozenset()
    out: dict[str, Any] = {
        "packages": [], "isDev": True, "cmsEnabled": False,
        "liveKitConnectionRouteEnabled": False, "observabilityEnabled": store is not None,
        "storageType": type(call.store).__name__,
    }
    if store is not None:
        out["observabilityStorageType"] = type(store).__name__
        out["observabilityStorageCapabilities"] = {
            "metrics": Feature.METRICS in features, "logs": Feature.LOGS in features,
            "traceQueryDiscovery": Feature.TRACE_QUERY_DISCOVERY in features,
        }
        strategy = store.observability_strategy.preferred.value
        out["observabilityRuntimeStrategy"] = strategy
    return out


def _const(value: Any) -> Any:
    def answer(call: Call) -> Any:
        return value

    return answer


def _named(name: str, value: Any) -> Any:
    handler = _const(value)
    handler.__name__ = name
    return endpoint(handler)


ROUTES: list[tuple[str, tuple[str, ...], Any]] = [
    ("/system/packages", ("GET",), endpoint(packages)),
    ("/auth/capabilities", ("GET",), _named("auth", {"enabled": False, "login": None})),
    ("/auth/me", ("GET",), _named("me", None)),
    *[(path, ("GET",), _named(path.strip("/").replace("/", "_"), {}))
      for path in ("/agents", "/workflows", "/tools", "/processors", "/scores/scorers",
                   "/workflows/run-counts", "/agent-builder")],
    ("/workspaces", ("GET",), _named("workspaces", {"workspaces": []})),
    ("/mcp/v0/servers", ("GET",), _named("mcp", {"servers": [], "total_count": 0,
                                                 "next": None})),
    ("/datasets", ("GET",), _named("datasets", {"datasets": [], "pagination": _EMPTY_PAGE})),
    ("/experiments", ("GET",), _named("experiments", {"experiments": [],
                                                      "pagination": _EMPTY_PAGE})),
    ("/experiments/review-summary", ("GET",), _named("review", {"counts": []})),
    ("/editor/builder/settings", ("GET",), _named("builder", {
        "enabled": False, "modelPolicy": {"active": False}})),
    ("/editor/workflow-builder/settings", ("GET",), _named("wf_builder", {"enabled": False})),
    ("/stored/agents", ("GET",), _named("stored_agents", {
        "agents": [], "total": 0, "page": 0, "perPage": 100, "hasMore": False})),
    ("/memory/status", ("GET",), _named("memory", {"result": False})),
    ("/logs/transports", ("GET",), _named("transports", {"transports": []})),
    ("/background-tasks", ("GET",), _named("tasks", {"tasks": [], "total": 0})),
    ("/schedules", ("GET",), _named("schedules", {"schedules": []})),
]
