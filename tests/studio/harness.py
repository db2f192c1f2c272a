"""What the tests of Mastra's own clients share: the tools, the data, the processes.

* :func:`need` — node, npm, Debian's chromium and Python Playwright, or skip (fail when
  ``MASTRA_TEST_REQUIRE`` is set: a CI run must not skip past a missing tool);
* :func:`node_bin` — the pinned npm packages of ``package.json`` (``npm ci`` on first use);
* :func:`seed_demo` / :func:`run_demo_cli` — the demo's workload in a store;
* :func:`demo_server` — the demo's data served to Mastra's clients (see ``STUDIO_STORE``);
* :class:`ServerThread` — ``create_app(store)`` under uvicorn in this process;
  :func:`serve_cli` — ``mastra-storage studio URL`` as a subprocess;
* :func:`start_studio` — ``mastra studio`` (the real Studio) pointed at our server;
* :func:`browser` — headless Debian chromium driven by Playwright (never downloads one).
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.backends import skip_unless_required
from tests.test_signal_suite import IMPLEMENTED

NODE_DIR = Path(__file__).resolve().parent
REPO = NODE_DIR.parent.parent
NPM_TIMEOUT_S = 600
START_TIMEOUT_S = 60
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# Studio only talks to localhost; these keep it (and Node) from phoning home.
QUIET_ENV = {"MASTRA_TELEMETRY_DISABLED": "1", "NO_UPDATE_NOTIFIER": "1",
             "npm_config_update_notifier": "false", "DO_NOT_TRACK": "1"}


def need(*tools: str) -> dict[str, str]:
    """Paths of ``tools`` (``node``, ``npm``, ``chromium``; ``playwright`` = the Python
    package); skip the test without them, or fail it in a required run."""
    found: dict[str, str] = {}
    for tool in tools:
        if tool == "playwright":
            try:
                import playwright.sync_api  # noqa: F401
            except ImportError:
                skip_unless_required("Python Playwright is not installed (pip install "
                                     "playwright; no browser download needed)")
            found[tool] = "playwright"
            continue
        path = shutil.which(tool)
        if path is None:
            hint = {"chromium": "apt-get install chromium",
                    "node": "install Node.js >= 20", "npm": "install npm"}.get(tool, "")
            skip_unless_required(f"{tool} is not on PATH ({hint})")
        found[tool] = str(path)
    return found


_install_lock = threading.Lock()


def node_bin(name: str) -> str:
    """``node_modules/.bin/<name>`` of the pinned packages, installed first if missing."""
    need("node", "npm")
    with _install_lock:
        marker = NODE_DIR / "node_modules" / "mastra" / "dist" / "studio" / "index.html"
        if not marker.is_file():
            env = {**os.environ, **QUIET_ENV}
            done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                                  cwd=NODE_DIR, env=env, capture_output=True, text=True,
                                  timeout=NPM_TIMEOUT_S)
            if done.returncode != 0 or not marker.is_file():
                skip_unless_required(f"npm ci in {NODE_DIR} failed: "
                                     f"{(done.stderr or done.stdout)[-1500:]}")
    path = NODE_DIR / "node_modules" / ".bin" / name
    if not path.exists():
        skip_unless_required(f"{path} is missing after npm ci")
    return str(path)


# ---------------------------------------------------------------------------- the data

# The store Mastra's clients read in tests/test_studio_*.py: the demo's SQLite file served
# by the real `mastra-storage studio` once SQLite answers the signal reads (logs, metrics,
# the trace query), else the in-memory store with the same workload, served in process.
# (MASTRA_TEST_STUDIO_STORE=memory|sqlite overrides, to compare the two.)
STUDIO_STORE = "sqlite" if "sqlite" in IMPLEMENTED else "memory"

SERVICE_NAME = "support-demo"


@dataclass
class Demo:
    """What the demo put in a store (read back from it, never assumed)."""

    traces: list[Any] = field(default_factory=list)  # root spans, newest first
    failed: list[Any] = field(default_factory=list)

    @property
    def failed_trace(self) -> Any:
        return self.failed[0]


def seed_demo(store: Any, traces: int = 20) -> Demo:
    """The demo's workload (``mastra-storage demo``'s ``run_workload``) traced into
    ``store`` through Observability and the DefaultExporter, so the derived metrics
    (tokens, durations, cost) are there as the demo writes them."""
    from mastra_storage import DefaultExporter, Observability, ObservabilityConfig
    from mastra_storage.workload import run_workload

    obs = Observability(storage=store, configs={"default": ObservabilityConfig(
        service_name=SERVICE_NAME, exporters=[DefaultExporter()])})
    extra: dict[str, Any] = {}
    if "signals" in inspect.signature(run_workload).parameters:
        extra["signals"] = True  # logs, scores and feedback, as `mastra-storage demo` writes
    try:
        run_workload(obs.get_default_instance(), traces, spans_per_trace=10,
                     error_rate=0.1, seed=7, latency_ms=1.0, **extra)
    finally:
        obs.shutdown()
    complete_signals(store)
    return read_demo(store)


def run_demo_cli(db: Path, traces: int = 20) -> None:
    """``mastra-storage demo --db FILE``, the real command."""
    done = subprocess.run([sys.executable, "-m", "mastra_storage.cli.main", "demo",
                           "--db", str(db), "--traces", str(traces), "--error-rate", "0.1",
                           "--latency-ms", "1"], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def complete_signals(store: Any) -> None:
    """Logs and scores for the demo's traces when the workload wrote none (a workload
    of spans only): each agent run gets an info log, failed runs an error log with the
    failure, and each run a ``helpfulness`` score, correlated like a span's own signals.
    """
    from mastra_storage.model.signals import CONTEXT_ATTRS, LogRecord, ScoreRecord
    from mastra_storage.model.spans import CORRELATION_ATTRS
    from mastra_storage.storage.signal_queries import Feature

    if not {Feature.LOGS, Feature.SCORES} <= store.features():
        return  # a store of spans only
    if store.list_logs().total and store.list_scores().total:
        return
    logs, scores = [], []
    for n, root in enumerate(_roots(store)):
        ctx = {a: getattr(root, a) for a in CORRELATION_ATTRS if a in CONTEXT_ATTRS}
        ctx.update(trace_id=root.trace_id, span_id=root.span_id)
        at = root.ended_at or root.started_at
        question = _question(root)
        logs.append(LogRecord(timestamp=at, level="info",
                              message=f"support-agent answered: {question}",
                              data={"run": n}, **ctx))
        if root.error is not None:
            logs.append(LogRecord(timestamp=at, level="error",
                                  message=f"support-agent failed: {root.error.get('message')}",
                                  data={"error": root.error}, **ctx))
        scores.append(ScoreRecord(timestamp=at, scorer_id="helpfulness",
                                  score=0.0 if root.error else round(0.5 + (n % 5) / 10, 2),
                                  reason="escalation failed" if root.error else "answered",
                                  score_source="live", metadata={"scorerName": "Helpfulness"},
                                  **ctx))
    if not store.list_logs().total:
        store.batch_create_logs(logs)
    if not store.list_scores().total:
        store.batch_create_scores(scores)


def _question(root: Any) -> str:
    messages = (root.input or {}).get("messages") or [{}]
    return str(messages[0].get("content", ""))


def _roots(store: Any) -> list[Any]:
    from mastra_storage.storage import TracesFilter

    out, page = [], 0
    while True:
        got = store.list_traces(TracesFilter(service_name=SERVICE_NAME), page, 100)
        out += got.spans
        if not got.has_more:
            return out
        page += 1


def read_demo(store: Any) -> Demo:
    roots = _roots(store)
    return Demo(roots, [r for r in roots if r.status == "error"])


@contextlib.contextmanager
def demo_server(workdir: Path) -> Iterator[tuple[int, Demo, Any]]:
    """(API port, the demo as the store holds it, the store), served until the block
    ends, from the store ``STUDIO_STORE`` names."""
    kind = os.environ.get("MASTRA_TEST_STUDIO_STORE", STUDIO_STORE)
    if kind == "sqlite":
        from mastra_storage import create_store

        db = workdir / "mastra.db"
        run_demo_cli(db)
        url = f"sqlite:///{db}"
        store = create_store(url)
        try:
            complete_signals(store)
            demo = read_demo(store)
            with serve_cli(url) as server:
                yield server.port, demo, store
        finally:
            store.close()
        return
    from mastra_storage.server import create_app
    from mastra_storage.storage.memory import InMemoryStore

    memory = InMemoryStore()
    demo = seed_demo(memory)
    with ServerThread(create_app(memory)) as thread:
        yield thread.port, demo, memory


# ---------------------------------------------------------------------------- servers

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = START_TIMEOUT_S,
              proc: subprocess.Popen[str] | None = None) -> None:
    """Until ``url`` answers at all (any status), or fail with what the process said."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            pass
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process serving {url} exited: {_output(proc)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing answered at {url} after {timeout} s")
        time.sleep(0.1)


class ServerThread:
    """``app`` under uvicorn on a loopback port of its own, in a daemon thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True, name=f"uvicorn-{self.port}")

    def __enter__(self) -> ServerThread:
        self.thread.start()
        wait_http(self.url + "/")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()


@dataclass
class Process:
    proc: subprocess.Popen[str]
    url: str
    port: int
    printed: str = ""  # what it printed, once stopped


def _output(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        return "(still running)"
    out, err = proc.communicate(timeout=10)
    return (out or "") + (err or "")


def stop(proc: subprocess.Popen[str]) -> str:
    """Stop a process this module started (by its pid) and return what it printed."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    out, err = proc.communicate(timeout=10)
    return (out or "") + (err or "")


@contextlib.contextmanager
def serve_cli(url: str, *args: str, env: dict[str, str] | None = None,
              ready_path: str = "/", command: str = "studio") -> Iterator[Process]:
    """``mastra-storage studio URL --port P ARGS`` until the block ends."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mastra_storage.cli.main", command, url, "--port", str(port),
         *args], cwd=REPO, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200", **(env or {})})
    served = Process(proc, f"http://127.0.0.1:{port}", port)
    try:
        wait_http(served.url + ready_path, proc=proc)
        yield served
    finally:
        served.printed = stop(proc)


@contextlib.contextmanager
def start_studio(api_port: int, *, prefix: str = "/api") -> Iterator[str]:
    """``mastra studio -p P -s API_PORT`` (telemetry off); yields Studio's URL."""
    mastra = node_bin("mastra")
    port = free_port()
    args = [mastra, "studio", "-p", str(port), "-s", str(api_port), "-h", "localhost"]
    if prefix != "/api":
        args += ["--server-api-prefix", prefix]
    proc = subprocess.Popen(args, cwd=NODE_DIR, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, **QUIET_ENV})
    url = f"http://localhost:{port}"
    try:
        wait_http(url + "/", proc=proc)
        yield url
    finally:
        stop(proc)


@contextlib.contextmanager
def browser(width: int = 1440, height: int = 900) -> Iterator[Any]:
    """A Playwright browser context on Debian's chromium, headless, fresh profile."""
    paths = need("chromium", "playwright")
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="mastra-chromium-")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile, executable_path=paths["chromium"], headless=True, args=CHROMIUM_ARGS,
                viewport={"width": width, "height": height})
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def run_node(script: str, *args: str, stdin: Any = None, timeout: float = 120) -> Any:
    """``node tests/studio/SCRIPT ARGS`` with JSON on stdin; its JSON stdout."""
    node_bin("mastra")  # the packages the script imports
    done = subprocess.run(["node", str(NODE_DIR / script), *args], cwd=NODE_DIR, text=True,
                          input=json.dumps(stdin) if stdin is not None else None,
                          capture_output=True, timeout=timeout,
                          env={**os.environ, **QUIET_ENV})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)
