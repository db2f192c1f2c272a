"""CloudExporter configuration: token/project/collector resolution and URL derivation.

The derivation table is checked on the resolved URLs, and the main shapes once more end
to end: the exporter must POST each signal to exactly that path of a real server.
"""

from __future__ import annotations

from typing import Any

import pytest

from mastra_storage.exporters.cloud import CloudExporter
from mastra_storage.exporters.cloud_endpoints import InvalidEndpointError
from mastra_storage.model.time import utc_now
from mastra_storage.tracing.events import LogEvent, MetricEvent

from .collector import Collector, running_collector
from .pipelines import Pipelines
from .test_cloud_exporter import all_signals

pytestmark = pytest.mark.usefixtures("clean_cloud_env")

ORIGIN = "https://collector.example.com"
PATHS = {
    "traces": "/ai/spans/publish", "logs": "/ai/logs/publish",
    "metrics": "/ai/metrics/publish", "scores": "/ai/scores/publish",
    "feedback": "/ai/feedback/publish",
}


def urls(ex: CloudExporter) -> dict[str, str]:
    e = ex.endpoints
    return {"traces": e.traces, "logs": e.logs, "metrics": e.metrics, "scores": e.scores,
            "feedback": e.feedback}


def std(origin: str, project: str | None = None) -> dict[str, str]:
    prefix = f"/projects/{project}" if project else ""
    return {s: origin + prefix + p for s, p in PATHS.items()}


TABLE = [
    pytest.param({}, {}, std("https://observability.mastra.ai"), id="default"),
    pytest.param({"project_id": "proj_1"}, {},
                 std("https://observability.mastra.ai", "proj_1"), id="default+project"),
    pytest.param({"endpoint": ORIGIN}, {}, std(ORIGIN), id="base-origin"),
    pytest.param({"endpoint": ORIGIN + "/"}, {}, std(ORIGIN), id="base-origin-trailing-slash"),
    pytest.param({"endpoint": "http://127.0.0.1:4318"}, {}, std("http://127.0.0.1:4318"),
                 id="base-origin-with-port"),
    pytest.param({"endpoint": ORIGIN, "project_id": "p-9"}, {}, std(ORIGIN, "p-9"),
                 id="base+project"),
    pytest.param({"endpoint": ORIGIN}, {"MASTRA_PROJECT_ID": "env_p"}, std(ORIGIN, "env_p"),
                 id="base+env-project"),
    pytest.param({"endpoint": ORIGIN, "project_id": "cfg"}, {"MASTRA_PROJECT_ID": "env"},
                 std(ORIGIN, "cfg"), id="config-project-beats-env"),
    pytest.param({"endpoint": ORIGIN}, {"MASTRA_PROJECT_ID": ""}, std(ORIGIN),
                 id="empty-env-project"),
    pytest.param({"traces_endpoint": ORIGIN + "/custom/spans/publish"}, {},
                 {s: ORIGIN + "/custom" + p[3:] for s, p in PATHS.items()}, id="full-traces-url"),
    pytest.param({"traces_endpoint": ORIGIN + "/custom/spans/publish", "project_id": "p"}, {},
                 {s: ORIGIN + "/custom" + p[3:] for s, p in PATHS.items()},
                 id="full-traces-url-ignores-project"),
    pytest.param({"traces_endpoint": ORIGIN + "/ai/spans/publish/"}, {}, std(ORIGIN),
                 id="full-traces-url-trailing-slash"),
    pytest.param({"traces_endpoint": ORIGIN, "project_id": "p"}, {}, std(ORIGIN, "p"),
                 id="origin-traces-url+project"),
    pytest.param({"endpoint": "https://fallback.example.com",
                  "traces_endpoint": ORIGIN + "/x/spans/publish"}, {},
                 {s: ORIGIN + "/x" + p[3:] for s, p in PATHS.items()},
                 id="traces-url-beats-endpoint"),
    pytest.param({}, {"MASTRA_CLOUD_TRACES_ENDPOINT": ORIGIN + "/env/spans/publish"},
                 {s: ORIGIN + "/env" + p[3:] for s, p in PATHS.items()}, id="env-full-traces-url"),
    pytest.param({}, {"MASTRA_CLOUD_TRACES_ENDPOINT": ORIGIN, "MASTRA_PROJECT_ID": "pid"},
                 std(ORIGIN, "pid"), id="env-origin+env-project"),
    pytest.param({"endpoint": "https://cfg.example.com"},
                 {"MASTRA_CLOUD_TRACES_ENDPOINT": ORIGIN + "/env/spans/publish"},
                 std("https://cfg.example.com"), id="config-endpoint-beats-env"),
    pytest.param({}, {"MASTRA_PLATFORM_OBSERVABILITY_ENDPOINT": ORIGIN},
                 std(ORIGIN), id="platform-env-name"),
    pytest.param({"traces_endpoint": ORIGIN + "/custom/spans/publish",
                  "logs_endpoint": "https://logs.example.com/l/logs/publish"}, {},
                 {**{s: ORIGIN + "/custom" + p[3:] for s, p in PATHS.items()},
                  "logs": "https://logs.example.com/l/logs/publish"},
                 id="per-signal-full-url-wins"),
    pytest.param({"endpoint": ORIGIN, "project_id": "p",
                  "metrics_endpoint": "https://m.example.com",
                  "scores_endpoint": "https://s.example.com/any/scores/publish",
                  "feedback_endpoint": "http://127.0.0.1:9/feedback/publish"}, {},
                 {**std(ORIGIN, "p"), "metrics": "https://m.example.com/projects/p/ai/metrics/publish",
                  "scores": "https://s.example.com/any/scores/publish",
                  "feedback": "http://127.0.0.1:9/feedback/publish"},
                 id="per-signal-origin-and-full"),
]


@pytest.mark.parametrize(("kwargs", "env", "expected"), TABLE)
def test_endpoint_derivation(clean_cloud_env: pytest.MonkeyPatch, observe: Pipelines,
                             kwargs: dict[str, Any], env: dict[str, str],
                             expected: dict[str, str]) -> None:
    for name, value in env.items():
        clean_cloud_env.setenv(name, value)
    ex = observe.track(CloudExporter(access_token="t", **kwargs))
    assert urls(ex) == expected


BAD = [
    pytest.param({"endpoint": ORIGIN + "/ai/spans/publish"}, "endpoint", id="endpoint-with-path"),
    pytest.param({"endpoint": ORIGIN + "/custom"}, "endpoint", id="endpoint-with-segment"),
    pytest.param({"endpoint": ORIGIN + "?region=eu"}, "endpoint", id="endpoint-with-query"),
    pytest.param({"endpoint": ORIGIN + "#frag"}, "endpoint", id="endpoint-with-fragment"),
    pytest.param({"endpoint": "collector.example.com"}, "endpoint", id="endpoint-no-scheme"),
    pytest.param({"endpoint": "ftp://collector.example.com"}, "endpoint", id="endpoint-ftp"),
    pytest.param({"endpoint": "https://user:pw@c.example.com"}, "credentials",
                 id="endpoint-credentials"),
    pytest.param({"traces_endpoint": ORIGIN + "/custom-ingest"}, "traces_endpoint",
                 id="traces-other-path"),
    pytest.param({"traces_endpoint": ORIGIN + "/ai/logs/publish"}, "traces_endpoint",
                 id="traces-wrong-signal"),
    pytest.param({"traces_endpoint": ORIGIN + "/ai/spans/publish?x=1"}, "traces_endpoint",
                 id="traces-query"),
    pytest.param({"logs_endpoint": ORIGIN + "/ai/spans/publish"}, "logs_endpoint",
                 id="logs-override-wrong-suffix"),
    pytest.param({"traces_endpoint": ORIGIN, "endpoint": ORIGIN + "/bad"}, "endpoint",
                 id="bad-endpoint-even-when-unused"),
]


@pytest.mark.parametrize(("kwargs", "needle"), BAD)
def test_invalid_endpoints_raise_clear_errors(kwargs, needle):
    with pytest.raises(InvalidEndpointError) as info:
        CloudExporter(access_token="secret-token", **kwargs)
    message = str(info.value)
    assert needle in message
    assert "secret-token" not in message
    assert isinstance(info.value, ValueError)


def test_invalid_env_traces_endpoint_names_the_variable(clean_cloud_env):
    clean_cloud_env.setenv("MASTRA_CLOUD_TRACES_ENDPOINT", ORIGIN + "/somewhere")
    with pytest.raises(InvalidEndpointError, match="MASTRA_CLOUD_TRACES_ENDPOINT"):
        CloudExporter(access_token="t")


@pytest.mark.parametrize("bad", ["", "has space", "a/b", "p.1", "ü", "x\n"])
def test_invalid_project_id_raises(bad):
    with pytest.raises(InvalidEndpointError, match="letters, numbers, hyphens and underscores"):
        CloudExporter(access_token="t", project_id=bad)


def test_invalid_env_project_id_raises_naming_the_variable(clean_cloud_env):
    clean_cloud_env.setenv("MASTRA_PROJECT_ID", "has spaces")
    with pytest.raises(InvalidEndpointError, match="MASTRA_PROJECT_ID"):
        CloudExporter(access_token="t")


def test_token_from_env_and_config_precedence(clean_cloud_env: pytest.MonkeyPatch,
                                              collector: Collector,
                                              observe: Pipelines) -> None:
    clean_cloud_env.setenv("MASTRA_CLOUD_ACCESS_TOKEN", "env-token")
    ex = observe.track(CloudExporter(endpoint=collector.url, max_batch_wait_ms=60_000))
    ex.export(LogEvent(utc_now(), "info", "from env"))
    assert ex.flush(10)
    ex2 = observe.track(CloudExporter(access_token="config-token", endpoint=collector.url))
    ex2.export(LogEvent(utc_now(), "info", "from config"))
    assert ex2.flush(10)
    auth = [r.headers["authorization"] for r in collector.wait_for(2)]
    assert auth == ["Bearer env-token", "Bearer config-token"]


# ------------------------------------------------------------------ end to end on a server

def _send_everything(ex: CloudExporter) -> None:
    for event in all_signals():
        ex.export(event)
    assert ex.flush(10)
    ex.shutdown()


def test_base_origin_with_project_posts_to_project_routes(collector: Collector,
                                                          observe: Pipelines) -> None:
    ex = observe.track(CloudExporter(access_token="t", endpoint=collector.url,
                                     project_id="proj-7"))
    _send_everything(ex)
    paths = sorted(r.path for r in collector.requests)
    assert paths == sorted(f"/projects/proj-7{p}" for p in PATHS.values())


def test_full_traces_url_posts_siblings_on_the_same_prefix(collector: Collector,
                                                           observe: Pipelines) -> None:
    ex = observe.track(CloudExporter(
        access_token="t", traces_endpoint=collector.url + "/region/eu/spans/publish"))
    _send_everything(ex)
    paths = sorted(r.path for r in collector.requests)
    assert paths == sorted(f"/region/eu/{s}/publish" for s in
                           ("spans", "logs", "metrics", "scores", "feedback"))


def test_per_signal_override_goes_to_another_server(collector: Collector,
                                                    observe: Pipelines) -> None:
    with running_collector() as metrics_server:
        ex = observe.track(CloudExporter(
            access_token="t", endpoint=collector.url,
            metrics_endpoint=metrics_server.url + "/m/metrics/publish"))
        ex.export(MetricEvent(utc_now(), "tokens", 3.0))
        ex.export(LogEvent(utc_now(), "info", "hi"))
        assert ex.flush(10)
        ex.shutdown()
        assert [r.path for r in metrics_server.requests] == ["/m/metrics/publish"]
        assert [r.path for r in collector.requests] == ["/ai/logs/publish"]
