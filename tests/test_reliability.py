"""Nothing lost: what the app emitted is in the store afterwards, or counted with its reason.

Each test reproduces a way spans used to be lost and checks they are now stored — on
real backends: SQLite files, a PostgreSQL server stopped and restarted for real, real
child processes. Faults that a real store won't produce on demand are injected by
wrapping a real store.
"""

from __future__ import annotations

import logging
import multiprocessing
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mastra_storage import DefaultExporter, SpanType
from mastra_storage.model.spans import COLUMNS
from mastra_storage.storage import TracesFilter, create_store

from . import mp_work
from .backends import skip_unless_required


def count(store: Any, service: str | None = None) -> int:
    page = store.list_traces(TracesFilter(service_name=service) if service else None, 0, 1)
    return int(page.total)


# ---------------------------------------------------------------------------- the door

class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    __str__ = __repr__


class BadMapping(dict):  # type: ignore[type-arg]
    def items(self) -> Any:
        raise RuntimeError("no items")


def deep(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels):
        value = [value]
    return value


POISON: dict[str, dict[str, Any]] = {
    "int name": {"name": 42},
    "bytes name": {"name": b"\x00\xff"},
    "object name": {"name": Unprintable()},
    "None name": {"name": None},
    "int user id": {"user_id": 12345},
    "10,000 levels": {"input": deep(10_000)},
    "unprintable value": {"input": {"x": Unprintable()}},
    "unprintable key": {"metadata": {Unprintable(): 1}},
    "mapping without items": {"attributes": BadMapping(a=1)},
    "5,000-digit int": {"output": {"n": 10**5000}},
}


@pytest.mark.parametrize("case", list(POISON))
def test_awkward_values_are_stored_not_dropped(backend, store, observe, case):
    if backend.name not in ("sqlite", "postgres", "memory"):
        pytest.skip("the door is the same for every backend: checked on three")
    fields = dict(POISON[case])
    name = fields.pop("name", "poison")
    obs = observe(DefaultExporter(), storage=store, service_name=f"door-{case}")
    tracer = obs.get_default_instance()
    with tracer.start_span("root", new_trace=True) as root:
        for i in range(5):
            root.child(f"good-{i}").end()
        root.child(name, **fields).end()
    assert obs.flush(30)
    exporter = obs.exporters[0]
    assert exporter.drops.total == 0, exporter.drops.snapshot()
    trace = store.get_trace(root.trace_id)
    assert trace is not None and len(trace.spans) == 7


def refuse_poison(backend: Any, store: Any) -> None:
    """Make the real database refuse any span named ``poison``, as a constraint does."""
    table = store.table
    with store.engine.begin() as conn:
        if backend.name == "postgres":
            target = f'"{table.schema}"."{table.name}"' if table.schema else f'"{table.name}"'
            conn.exec_driver_sql(f"ALTER TABLE {target} ADD CONSTRAINT no_poison "
                                 "CHECK (name <> 'poison')")
        else:
            conn.exec_driver_sql(
                f'CREATE TRIGGER no_poison BEFORE INSERT ON "{table.name}" '
                "WHEN NEW.name = 'poison' BEGIN SELECT RAISE(ABORT, 'poison refused'); END")


def count_writes(store: Any) -> list[int]:
    """The store's write attempts as the driver sees them: one entry per transaction that
    sent an INSERT or COPY, holding how many it sent (SQLite writes a batch's rows in
    statements of up to 1,000 rows, so one attempt can be several statements)."""
    sent: list[int] = []
    writing = [False]

    @sa.event.listens_for(store.engine, "begin")
    def _begun(conn: Any) -> None:
        writing[0] = False

    @sa.event.listens_for(store.engine, "before_cursor_execute")
    def _seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(("INSERT", "COPY")):
            if not writing[0]:
                sent.append(0)
                writing[0] = True
            sent[-1] += 1

    return sent


def test_one_refused_span_among_999_good_ones_is_isolated(backend, store, observe, caplog):
    if backend.name not in ("sqlite", "postgres"):
        pytest.skip("a database that refuses a row: a trigger (SQLite), a CHECK (PostgreSQL)")
    refuse_poison(backend, store)
    writes = count_writes(store)
    drops: list[tuple[str, int]] = []
    exporter = DefaultExporter(strategy="insert-only", max_batch_wait_ms=60_000,
                               on_drop=lambda reason, n: drops.append((reason, n)))
    delays: list[float] = []
    exporter.sleep = delays.append
    obs = observe(exporter, storage=store)
    tracer = obs.get_default_instance()
    caplog.set_level(logging.WARNING, logger="mastra_storage.exporters")
    spans = []
    for i in range(1000):
        with tracer.start_span("poison" if i == 500 else f"good-{i}", new_trace=True) as s:
            spans.append(s)
    assert obs.flush(30)
    assert count(store) == 999  # all the good ones, on that same flush
    assert exporter.drops.snapshot() == {"invalid": 1} and drops == [("invalid", 1)]
    assert delays == []  # a refused batch is split, not retried
    bad = spans[500]
    message = next(r.getMessage() for r in caplog.records if "refused" in r.getMessage())
    assert bad.trace_id in message and bad.span_id in message and "poison" in message
    assert len(writes) <= 2 * 10 + 2  # a binary search, not one write per span


def unique_text(n: int, seed: int) -> str:
    """``n`` characters that don't compress (a btree entry can hold compressed text)."""
    rng = random.Random(seed)
    return "".join(chr(rng.randrange(0x4E00, 0x9FFF)) for _ in range(n))


@pytest.mark.parametrize("column", ["name", "user_id", "entity_name", "organization_id"])
def test_indexed_text_beyond_an_index_entry_is_stored_and_kept_whole(backend, store, observe,
                                                                     column):
    """A few thousand characters in an indexed column fit no PostgreSQL btree entry:
    the column holds a bounded prefix, the span's attributes the whole value."""
    if backend.name not in ("postgres", "sqlite", "memory"):
        pytest.skip("the bound is PostgreSQL's; SQLite and memory show nothing changes")
    long = unique_text(3000, hash(column) & 0xFFFF)
    obs = observe(DefaultExporter(), storage=store)
    tracer = obs.get_default_instance()
    fields = {"entity_type": "agent"} if column == "entity_name" else {}
    with tracer.start_span("root", new_trace=True) as root:
        if column == "name":
            root.child(long).end()
        else:
            root.child("long", **{column: long}, **fields).end()
    assert obs.flush(30)
    assert obs.exporters[0].drops.total == 0
    trace = store.get_trace(root.trace_id)
    assert trace is not None and len(trace.spans) == 2
    child = next(s for s in trace.spans if s.parent_span_id is not None)
    stored = getattr(child, column)
    if backend.name == "postgres":
        assert len(stored.encode("utf-8")) <= 1000 and stored.endswith("…")
        assert long.startswith(stored[:-1])
        column_name = next(c.name for c in COLUMNS if c.attr == column)
        assert child.attributes["fullValues"] == {column_name: long}
    else:
        assert stored == long


# ---------------------------------------------------------------------------- outages

def test_a_postgres_outage_loses_nothing(observe):
    """500 spans/s with default settings while the server is stopped for 10 s."""
    pytest.importorskip("psycopg")
    from .backends.postgres import start_local_server

    try:
        server = start_local_server()
    except Exception as exc:
        skip_unless_required(f"no local PostgreSQL: {exc}", "postgres")
        return
    try:
        store = create_store(server.url, auto_migrate=True)
        exporter = DefaultExporter()
        obs = observe(exporter, storage=store, service_name="outage")
        tracer = obs.get_default_instance()
        emitted = 0
        start = time.monotonic()
        paused = resumed = False
        while time.monotonic() - start < 14.0:
            elapsed = time.monotonic() - start
            if not paused and elapsed >= 2.0:
                server.pause()
                paused = True
            if paused and not resumed and elapsed >= 12.0:
                server.resume()
                resumed = True
            # 50 spans every 100 ms: 500 spans/s
            for _ in range(50):
                with tracer.start_span("work", new_trace=True):
                    pass
                emitted += 1
            time.sleep(max(0.0, start + emitted / 500 - time.monotonic()))
        assert obs.flush(60)
        assert exporter.drops.total == 0, exporter.drops.snapshot()
        assert count(store, "outage") == emitted
        assert exporter._worker.outages >= 1
        store.close()
    finally:
        server.stop()


def test_a_store_that_stays_unreachable_drops_only_at_the_bound(tmp_path, observe):
    from .helpers import FaultyStore

    real = create_store(f"sqlite:///{tmp_path / 'down.db'}")
    faulty = FaultyStore(real)
    faulty.fail_forever(outage=True)
    exporter = DefaultExporter(strategy="insert-only", max_batch_size=10, max_buffer_size=50,
                               max_batch_wait_ms=0)
    delays: list[float] = []
    exporter.sleep = delays.append
    obs = observe(exporter, storage=faulty)
    tracer = obs.get_default_instance()
    for i in range(200):
        tracer.start_span(f"s{i}", new_trace=True).end()
    assert not obs.flush(0.5)  # it holds on; the flush can't complete while it's down
    assert set(exporter.drops.snapshot()) == {"buffer-full"}
    assert exporter.drops.snapshot()["buffer-full"] == 200 - exporter.buffered
    assert exporter.buffered <= 50 and len(delays) > 4 and delays[4:] == [5.0] * len(
        delays[4:])
    faulty.fail_forever(False)
    assert obs.flush(30)  # back: the backlog is written, oldest first
    assert count(real) == 200 - exporter.drops.snapshot()["buffer-full"]


# ---------------------------------------------------------------------------- bursts

def test_blocking_mode_absorbs_a_burst_larger_than_the_buffer(tmp_path, observe):
    store = create_store(f"sqlite:///{tmp_path / 'burst.db'}")
    exporter = DefaultExporter(strategy="insert-only", on_buffer_full="block")
    obs = observe(exporter, storage=store)
    tracer = obs.get_default_instance()
    for i in range(20_000):
        with tracer.start_span(f"s{i}", new_trace=True):
            pass
    assert obs.flush(60)
    assert exporter.drops.total == 0 and count(store) == 20_000


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="on_buffer_full"):
        DefaultExporter(on_buffer_full="wait")
    with pytest.raises(ValueError, match="block_timeout_ms"):
        DefaultExporter(block_timeout_ms=-1)


# ---------------------------------------------------------------------------- processes

def _url(tmp_path: Path, name: str) -> str:
    return f"sqlite:///{tmp_path / name}"


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_pool_workers_store_everything(tmp_path, observe, method):
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    url = _url(tmp_path, f"pool-{method}.db")
    store = create_store(url)
    obs = observe(DefaultExporter(), storage=store, service_name="mp")
    mp_work.install(obs)
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(4) as pool:
        assert sorted(pool.map(mp_work.task, [(url, i) for i in range(600)])) == list(
            range(600))
        pool.close()
        pool.join()
    assert obs.flush(30)
    assert count(store, "mp") == 600


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_process_stores_everything(tmp_path, observe, method):
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    url = _url(tmp_path, f"proc-{method}.db")
    store = create_store(url)
    obs = observe(DefaultExporter(), storage=store, service_name="mp")
    mp_work.install(obs)
    child = multiprocessing.get_context(method).Process(target=mp_work.tasks, args=(url, 100))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert count(store, "mp") == 100


TERMINATED_POOL = """
import multiprocessing, sys
from tests import mp_work
from mastra_storage import DefaultExporter, Observability, ObservabilityConfig
from mastra_storage.storage import TracesFilter, create_store
url = sys.argv[1]
store = create_store(url)
obs = Observability(storage=store, configs={"default": ObservabilityConfig(
    service_name="mp", exporters=[DefaultExporter()])})
mp_work.install(obs)
with multiprocessing.get_context("fork").Pool(2) as pool:  # __exit__ terminates the workers
    pool.map(mp_work.task, [(url, i) for i in range(100)])
print(store.list_traces(TracesFilter(service_name="mp"), 0, 1).total)
"""


def test_a_terminated_pool_flushes_or_says_what_it_lost(tmp_path):
    """``with Pool() as pool`` kills its workers with SIGTERM: each flushes what it holds
    (for at most 2 s) and, if that was not enough, logs what it could not deliver."""
    import subprocess
    import sys

    url = _url(tmp_path, "terminated.db")
    done = subprocess.run([sys.executable, "-c", TERMINATED_POOL, url], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    stored = int(done.stdout.strip().splitlines()[-1])
    lost = sum(int(line.split(" terminated with ")[1].split()[0])
               for line in done.stderr.splitlines() if "not delivered" in line)
    assert stored + lost == 100, (stored, done.stderr)


def test_a_span_started_before_fork_and_ended_in_the_child_is_stored_ended(
        tmp_path, observe):
    store = create_store(_url(tmp_path, "forkspan.db"))
    obs = observe(DefaultExporter(), storage=store, service_name="fork")
    tracer = obs.get_default_instance()
    span = tracer.start_span("crosses-fork", type=SpanType.AGENT_RUN, new_trace=True)
    assert obs.flush(10)  # the parent wrote its start
    child = multiprocessing.get_context("fork").Process(target=mp_work.end_span, args=(span,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    row = store.get_span(span.trace_id, span.span_id)
    assert row is not None and row.ended_at is not None
    assert row.output == {"ended": "in the child"}


# ---------------------------------------------------------------------------- one SQLite

SHARED_FILE_RUNS = 20


def _app_uses_the_file(path: Path, stop: Any, committed: list[int],
                       errors: list[BaseException]) -> None:
    """What an app, a script or a Mastra-style shared ``mastra.db`` does in the store's own
    process: open the file with the stdlib ``sqlite3``, commit a row of its own, read the
    spans, close; again until told to stop. Each close is where a second SQLite library
    in the process would release the store's POSIX locks."""
    import sqlite3

    n = 0
    try:
        while not stop.is_set():
            conn = sqlite3.connect(path, timeout=60)
            try:
                with conn:
                    conn.execute("INSERT INTO app_notes (n) VALUES (?)", (n,))
                committed.append(n)
                conn.execute("SELECT count(*) FROM mastra_ai_spans").fetchone()
            finally:
                conn.close()
            n += 1
    except BaseException as exc:  # reported by the run, which checks the file anyway
        errors.append(exc)


def _one_shared_file_run(path: Path, seed: int) -> str | None:
    """The store writes a workload while the app uses the same file (see above); None when
    the file is intact and holds every committed row, else what went wrong."""
    import sqlite3
    import threading

    from mastra_storage import Observability, ObservabilityConfig
    from mastra_storage.workload import run_workload

    store = create_store(f"sqlite:///{path}")
    setup = sqlite3.connect(path)
    with setup:
        setup.execute("CREATE TABLE app_notes (n INTEGER)")
    setup.close()
    exporter = DefaultExporter(max_batch_size=20)
    obs = Observability(storage=store, configs={"default": ObservabilityConfig(
        service_name="shared", exporters=[exporter])})
    stop = threading.Event()
    committed: list[int] = []
    errors: list[BaseException] = []
    app = threading.Thread(target=_app_uses_the_file, args=(path, stop, committed, errors))
    app.start()
    try:
        emitted = run_workload(obs.get_default_instance(), 150, spans_per_trace=4,
                               payload_bytes=64, seed=seed).spans
        obs.shutdown()
    finally:
        stop.set()
        app.join()
        store.close()
    problems = [f"the app failed: {e!r}" for e in errors[:1]]
    if exporter.drops.total:
        problems.append(f"the exporter dropped {exporter.drops.snapshot()}")
    try:
        check = sqlite3.connect(path)
        try:
            integrity = check.execute("PRAGMA integrity_check").fetchone()[0]
            spans = check.execute("SELECT count(*) FROM mastra_ai_spans").fetchone()[0]
            notes = check.execute("SELECT count(*) FROM app_notes").fetchone()[0]
        finally:
            check.close()
    except sqlite3.DatabaseError as exc:
        return "; ".join([*problems, f"reading the file back: {exc}"])
    if integrity != "ok":
        problems.append("integrity_check: " + " / ".join(integrity.splitlines()[:2]))
    if spans != emitted:
        problems.append(f"{emitted - spans} of {emitted} committed spans lost")
    if notes != len(committed):
        problems.append(f"{len(committed) - notes} of {len(committed)} app rows lost")
    return "; ".join(problems) or None


def test_the_app_s_own_sqlite3_on_the_store_s_file_corrupts_nothing(tmp_path):
    """The store once wrote through a bundled SQLite (``sqlean.py``) while the app
    used the stdlib one on the same file: two SQLite libraries in one process don't see
    each other's POSIX locks (sqlite.org/howtocorrupt.html §2.2), and most runs ended
    with "database disk image is malformed" or lost committed rows, the exporter reporting
    no drops. The store now uses the process's one ``sqlite3``: every run must be intact."""
    failures = {}
    for run in range(SHARED_FILE_RUNS):
        problem = _one_shared_file_run(tmp_path / f"shared-{run}.db", seed=run)
        if problem is not None:
            failures[run] = problem
    assert not failures, (f"{len(failures)} of {SHARED_FILE_RUNS} runs broken: "
                          + " | ".join(f"run {r}: {p}" for r, p in failures.items()))


NO_SECOND_SQLITE = """
import sys
from mastra_storage.storage import TracesFilter, create_store
for url in sys.argv[1:]:
    store = create_store(url)
    store.list_traces(TracesFilter(metadata={"k": "v"}, tags=["t"]))
    store.close()
print(sorted(m for m in ("sqlean", "libsql", "libsql_experimental") if m in sys.modules))
"""


def test_the_store_loads_no_sqlite_library_but_the_stdlib_one(tmp_path):
    """The guarantee by design: whatever the URL (``sqlite:``, libSQL's ``file:``), the only
    SQLite library the store puts in the process is the one behind ``sqlite3``."""
    import subprocess
    import sys

    urls = [f"sqlite:///{tmp_path / 'a.db'}", f"file:{tmp_path / 'b.db'}",
            f"libsql://{tmp_path / 'c.db'}"]
    done = subprocess.run([sys.executable, "-c", NO_SECOND_SQLITE, *urls], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]"]


# ---------------------------------------------------------------------------- the caller

class CannotRender(Exception):
    def __str__(self) -> str:
        raise RuntimeError("cannot render")


def test_an_exception_that_cannot_render_reaches_the_app_unchanged(observe):
    from mastra_storage.storage import InMemoryStore

    store = InMemoryStore()
    obs = observe(DefaultExporter(), storage=store)
    tracer = obs.get_default_instance()
    with pytest.raises(CannotRender):
        with tracer.start_span("fails", new_trace=True) as span:
            raise CannotRender()
    other = tracer.start_span("recorded", new_trace=True)
    other.error(CannotRender())
    assert obs.flush(10)
    for s in (span, other):
        row = store.get_span(s.trace_id, s.span_id)
        assert row is not None and row.ended_at is not None
        assert row.error["name"] == "CannotRender"
        assert row.error["message"] == "<unrepresentable CannotRender>"


# ---------------------------------------------------------------------------- what holds

KILLED_WRITER = """
import sys
from mastra_storage import DefaultExporter, Observability, ObservabilityConfig
from mastra_storage.storage import create_store
obs = Observability(storage=create_store(sys.argv[1]), configs={"default": ObservabilityConfig(
    service_name="killed", exporters=[DefaultExporter(max_batch_size=50)])})
tracer = obs.get_default_instance()
batch = 0
while True:
    for i in range(100):
        with tracer.start_span(f"s{batch}-{i}", new_trace=True, input={"x": "y" * 500}):
            pass
    obs.flush(60)
    batch += 1
    print(batch, flush=True)
"""


def test_kill_9_at_random_moments_never_corrupts_the_file(tmp_path):
    """A writer killed with SIGKILL mid-write (WAL mode): the file stays intact, every
    flushed span is there, and the next process writes on."""
    import signal
    import subprocess
    import sys

    path = tmp_path / "killed.db"
    rng = random.Random(9)
    flushed = 0
    for round_ in range(5):
        proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, f"sqlite:///{path}"],
                                stdout=subprocess.PIPE, text=True,
                                cwd=Path(__file__).resolve().parents[1])
        assert proc.stdout is not None
        lines = rng.randint(1, 4)  # kill after a random number of flushed batches
        for _ in range(lines):
            assert proc.stdout.readline().strip(), f"the writer died in round {round_}"
        proc.send_signal(signal.SIGKILL)  # it is writing the next batch by now
        proc.wait(60)
        flushed += lines * 100
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            stored = conn.execute("SELECT count(*) FROM mastra_ai_spans").fetchone()[0]
        finally:
            conn.close()
        assert stored >= flushed  # nothing flushed was lost
        flushed = stored
    store = create_store(f"sqlite:///{path}")
    try:
        assert count(store) == flushed  # and the file takes new writes and reads
    finally:
        store.close()


def test_a_failed_migration_leaves_the_file_as_it_was(tmp_path):
    """Migrations are one transaction: when one fails halfway, nothing of it remains."""
    from mastra_storage.model.signals import SIGNAL_TABLES

    path = tmp_path / "half.db"
    conn = sqlite3.connect(path)
    last = list(SIGNAL_TABLES.values())[-1].table
    conn.execute(f'CREATE VIEW "{last}" AS SELECT 1 AS x')  # in the way of migration 0002
    conn.commit()
    before = conn.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall()
    conn.close()
    with pytest.raises(Exception):  # noqa: B017 - whichever error the database gives
        create_store(f"sqlite:///{path}")
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT name FROM sqlite_master ORDER BY name").fetchall() == before
    finally:
        conn.close()


def _migrate_and_write(args: tuple[str, int]) -> str:
    url, i = args
    store = create_store(url)
    try:
        from mastra_storage.model.spans import SpanRecord
        from mastra_storage.model.time import utc_now

        now = utc_now()
        store.batch_create_spans([SpanRecord(trace_id=f"{i + 1:032x}", span_id=f"{i + 1:016x}",
                                             name=f"p{i}", span_type="generic",
                                             started_at=now, ended_at=now)])
        return "ok"
    finally:
        store.close()


def test_four_processes_migrating_and_writing_one_new_file_at_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'four.db'}"
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        assert pool.map(_migrate_and_write, [(url, i) for i in range(4)]) == ["ok"] * 4
    store = create_store(url)
    try:
        assert count(store) == 4
    finally:
        store.close()
