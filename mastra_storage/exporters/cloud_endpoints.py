"""Where the CloudExporter sends each signal: resolving the five publish URLs.

The collector serves one publish route per signal::

    {origin}/ai/{spans|logs|metrics|scores|feedback}/publish                  (token-scoped)
    {origin}/projects/{project_id}/ai/{spans|logs|...}/publish                 (project-scoped)

Configuration comes in three shapes, the most specific winning:

1. a per-signal URL (``logs_endpoint=`` ...): a bare origin gets that signal's standard
   path (project-scoped when a project is set); a full URL must end in the signal's
   ``/<segment>/publish`` suffix and is used as is;
2. a traces URL (``traces_endpoint=``, else ``MASTRA_CLOUD_TRACES_ENDPOINT`` when no
   ``endpoint=`` is given): a bare origin behaves like ``endpoint=``; a full URL must end
   in ``/spans/publish``, is used as is, and the other signals replace that suffix
   (``https://c.example/custom/spans/publish`` → ``.../custom/logs/publish``);
3. a base origin (``endpoint=``, default ``https://observability.mastra.ai``): no path,
   query or fragment allowed.

Anything else raises :class:`InvalidEndpointError` at construction, naming the setting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

DEFAULT_ENDPOINT = "https://observability.mastra.ai"

Signal = Literal["traces", "logs", "metrics", "scores", "feedback"]
SIGNALS: tuple[Signal, ...] = ("traces", "logs", "metrics", "scores", "feedback")

# URL path segment and JSON body key of each signal.
SEGMENTS: dict[Signal, str] = {
    "traces": "spans",
    "logs": "logs",
    "metrics": "metrics",
    "scores": "scores",
    "feedback": "feedback",
}

PROJECT_ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")


class InvalidEndpointError(ValueError):
    """A collector URL or project id that cannot be used; raised at construction."""


@dataclass(frozen=True)
class Endpoints:
    traces: str
    logs: str
    metrics: str
    scores: str
    feedback: str

    def for_signal(self, signal: Signal) -> str:
        url: str = getattr(self, signal)
        return url


def suffix(signal: Signal) -> str:
    return f"/{SEGMENTS[signal]}/publish"


def signal_path(signal: Signal, project_id: str | None) -> str:
    tail = f"/ai/{SEGMENTS[signal]}/publish"
    return f"/projects/{project_id}{tail}" if project_id else tail


def validate_project_id(value: str, source: str) -> str:
    if not isinstance(value, str) or not PROJECT_ID_RE.fullmatch(value):
        raise InvalidEndpointError(
            f"{source} must only contain letters, numbers, hyphens and underscores "
            f"(^[A-Za-z0-9_-]+$), got {value!r}")
    return value


def _split(url: str, setting: str, expected: str) -> tuple[str, str, bool]:
    """(origin, path without trailing slashes, has query or fragment)."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidEndpointError(f"CloudExporter {setting} is empty; expected {expected}")
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise InvalidEndpointError(
            f"CloudExporter {setting} {url!r} is not a valid URL ({exc}); expected {expected}"
        ) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidEndpointError(
            f"CloudExporter {setting} {url!r} must be an http(s) URL with a host; "
            f"expected {expected}")
    if parts.username is not None or parts.password is not None:
        raise InvalidEndpointError(
            f"CloudExporter {setting} must not carry credentials in the URL; pass "
            "access_token= or set MASTRA_CLOUD_ACCESS_TOKEN")
    host = parts.hostname
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    origin = f"{parts.scheme.lower()}://{host}" + (f":{port}" if port is not None else "")
    path = parts.path.rstrip("/")
    extra = bool(parts.query or parts.fragment or text.endswith(("?", "#")))
    return origin, path, extra


def resolve_base(url: str, setting: str = "endpoint") -> str:
    """A base origin (``https://host[:port]``) with no path, query or fragment."""
    expected = 'a base origin like "https://collector.example.com" with no path, query or fragment'
    origin, path, extra = _split(url, setting, expected)
    if path or extra:
        raise InvalidEndpointError(f"CloudExporter {setting} {url!r} must be {expected}")
    return origin


def resolve_signal_url(signal: Signal, url: str, project_id: str | None, setting: str) -> str:
    """A per-signal setting: a bare origin (standard path) or a full publish URL."""
    expected = (f'a base origin like "https://collector.example.com" or a full {signal} '
                f'publish URL ending in "{suffix(signal)}"')
    origin, path, extra = _split(url, setting, expected)
    if extra:
        raise InvalidEndpointError(
            f"CloudExporter {setting} {url!r} must have no query or fragment; expected {expected}")
    if not path:
        return origin + signal_path(signal, project_id)
    if path.endswith(suffix(signal)):
        return origin + path
    raise InvalidEndpointError(f"CloudExporter {setting} {url!r} must be {expected}")


def sibling_of_traces(signal: Signal, traces_url: str) -> str:
    """Replace the ``/spans/publish`` suffix of a full traces URL by ``signal``'s."""
    if signal == "traces":
        return traces_url
    tail = suffix("traces")
    if not traces_url.endswith(tail):  # pragma: no cover - guaranteed by resolve_signal_url
        raise InvalidEndpointError(f"traces URL {traces_url!r} does not end in {tail}")
    return traces_url[: -len(tail)] + suffix(signal)


def resolve_endpoints(
    *,
    endpoint: str | None = None,
    traces_endpoint: str | None = None,
    logs_endpoint: str | None = None,
    metrics_endpoint: str | None = None,
    scores_endpoint: str | None = None,
    feedback_endpoint: str | None = None,
    project_id: str | None = None,
    env_traces_endpoint: str | None = None,
    env_traces_source: str = "MASTRA_CLOUD_TRACES_ENDPOINT",
) -> Endpoints:
    """The five publish URLs (see the module docstring for the rules).

    Explicit configuration beats the environment: ``env_traces_endpoint`` is used only
    when neither ``endpoint`` nor ``traces_endpoint`` is given.
    """
    traces_setting = "traces_endpoint"
    traces_override = traces_endpoint or None
    if traces_override is None and endpoint is None and env_traces_endpoint:
        traces_override, traces_setting = env_traces_endpoint, env_traces_source

    base: str | None = None
    if endpoint is not None:
        resolve_base(endpoint)  # a bad value is an error even when traces_endpoint wins
    if traces_override is not None:
        traces = resolve_signal_url("traces", traces_override, project_id, traces_setting)
        # A bare-origin traces URL is a base origin in disguise: derive like one.
        if not _split(traces_override, traces_setting, "")[1]:
            base = traces[: -len(signal_path("traces", project_id))]
    else:
        base = resolve_base(endpoint if endpoint is not None else DEFAULT_ENDPOINT)
        traces = base + signal_path("traces", project_id)

    overrides: dict[Signal, str | None] = {
        "logs": logs_endpoint, "metrics": metrics_endpoint, "scores": scores_endpoint,
        "feedback": feedback_endpoint,
    }
    urls: dict[Signal, str] = {"traces": traces}
    for signal, override in overrides.items():
        if override:
            urls[signal] = resolve_signal_url(signal, override, project_id, f"{signal}_endpoint")
        elif base is not None:
            urls[signal] = base + signal_path(signal, project_id)
        else:
            urls[signal] = sibling_of_traces(signal, traces)
    return Endpoints(**urls)


__all__ = [
    "DEFAULT_ENDPOINT", "SEGMENTS", "SIGNALS", "Endpoints", "InvalidEndpointError", "Signal",
    "resolve_endpoints", "signal_path", "validate_project_id",
]
