"""Copy the classic ``mastra_ai_spans`` of a PostgreSQL schema into its v-next
``mastra_span_events``, so that the history stays visible after moving to
``layout="vnext"``.

The v-next store reads only ``mastra_span_events``. :func:`backfill_vnext` copies every
classic span there as the row the v-next store would have written for it (the same code:
:meth:`~.pg_vnext.PostgresVNextStore._encode`): an ended span as its end row, a running
one as a start row, an event span at its start. It has the shape of the ClickHouse
``backfill_vnext`` (``mastra_storage.storage.clickhouse``).

* **In batches.** Spans are read in primary-key order (``traceId``, ``spanId``), a batch
  of ``batch_size`` at a time, each batch written in its own transaction, so neither side
  is locked for long and memory stays bounded.
* **Resumable.** After each batch the last key copied is recorded in
  ``mastra_storage_vnext_backfill`` (a one-row table in the same schema); a run that
  stopped half-way is continued from there. A run that finished records when it started:
  the next run reads only the spans updated since then (less a ten-minute margin for
  transactions that were still open), so re-running after more classic writes is cheap.
* **Idempotent.** Rows go in with the v-next store's own conflict rule, so a span copied
  twice is one row, a span that has ended since gets its end row (reads show the end),
  and the report counts only rows that were new (``copied_spans``).
* **Checked.** The report ends with a count check: the spans of ``mastra_ai_spans`` that
  have no row in ``mastra_span_events`` (``report.complete`` when there are none).
* ``dry_run=True`` reads only: how many spans would be read, and the same check.

The day partitions the copied rows need (their days may be long past) are created as
the rows are written. A classic table created by an older Mastra release, lacking some
columns, is read with those columns as NULL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ...model.spans import COLUMNS, TABLE_SPANS, SpanRecord
from .dialects.postgres import TZ_TWINS, PostgresDialect
from .partitions import qualified
from .pg_vnext import PostgresVNextStore
from .pg_vnext_ddl import SPAN_EVENTS, ensure, missing_tables

log = logging.getLogger(__name__)

PROGRESS_TABLE = "mastra_storage_vnext_backfill"
DEFAULT_BATCH_SIZE = 2000
# How far before a finished run's start the next run looks for updated spans: a span
# written by a transaction that was open when the run started carries that
# transaction's start time (NOW()), and must not be missed.
MARGIN = timedelta(minutes=10)
_TWIN = {plain: twin for plain, twin, _ in TZ_TWINS}


@dataclass(frozen=True)
class BackfillProgress:
    """Passed to the progress callback after each batch."""

    spans_done: int  # spans read so far, this run
    spans_total: int  # spans this run reads (counted when it started)
    copied_spans: int  # rows written so far, this run (new or changed)
    batches: int


@dataclass
class BackfillReport:
    """What a run did (or, with ``dry_run``, would do) and the final count check."""

    dry_run: bool
    to_copy: int = 0  # spans this run reads (dry run: would read)
    copied_spans: int = 0  # rows written (new or changed); dry run: spans it would read
    batches: int = 0
    resumed: bool = False  # continued a run that had stopped half-way
    since: datetime | None = None  # only spans updated at/after this were read
    source_spans: int = 0  # spans in mastra_ai_spans
    missing_spans: int = 0  # of those, spans without a row in mastra_span_events

    @property
    def complete(self) -> bool:
        """Every span of ``mastra_ai_spans`` has a row in ``mastra_span_events``."""
        return self.missing_spans == 0

    def __str__(self) -> str:
        if self.dry_run:
            did = f"would read {self.to_copy:,} span(s)"
        else:
            did = (f"copied {self.copied_spans:,} span(s) ({self.to_copy:,} read in "
                   f"{self.batches} batch(es){', resumed' if self.resumed else ''})")
        if self.since is not None:
            did += f", those updated since {self.since:%Y-%m-%d %H:%M:%S}Z"
        check = ("every span is in mastra_span_events" if self.complete
                 else f"{self.missing_spans:,} span(s) missing from mastra_span_events")
        return (f"backfill: {did}; {self.source_spans:,} span(s) in mastra_ai_spans, "
                f"{check}")


def backfill_vnext(
    source: Any,
    *,
    schema: str | None = None,
    dry_run: bool = False,
    progress: Callable[[BackfillProgress], None] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> BackfillReport:
    """Copy ``mastra_ai_spans`` into the v-next span table of the same schema.

    ``source`` is a :class:`~.postgres.PostgresStore` of either layout (its engine and
    schema are used), a SQLAlchemy engine or a PostgreSQL URL (then ``schema`` says
    where). The v-next tables are created first when missing (not in a dry run).
    ``progress`` is called after each batch. Returns a :class:`BackfillReport`;
    ``report.complete`` is the final count check.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    store, owned = _vnext_store(source, schema)
    try:
        return _Backfill(store, dry_run, progress, batch_size).run()
    finally:
        if owned:
            store.close()


def _vnext_store(source: Any, schema: str | None) -> tuple[PostgresVNextStore, bool]:
    """A v-next store on the source's database (and whether it is ours to close)."""
    from .postgres import PostgresStore

    if isinstance(source, PostgresVNextStore):
        return source, False
    if isinstance(source, PostgresStore):
        return PostgresVNextStore(engine=source.engine, schema=schema or source.schema), False
    if isinstance(source, sa.Engine):
        return PostgresVNextStore(engine=source, schema=schema), False
    if isinstance(source, str):
        return PostgresVNextStore(source, schema=schema), True
    raise TypeError(f"backfill_vnext() takes a PostgresStore, a SQLAlchemy engine or a "
                    f"PostgreSQL URL, got {source!r}")


class _Backfill:
    def __init__(self, store: PostgresVNextStore, dry_run: bool,
                 progress: Callable[[BackfillProgress], None] | None,
                 batch_size: int) -> None:
        self.store = store
        self.engine = store.engine
        self.schema = store.schema
        self.dry_run = dry_run
        self.progress = progress
        self.batch_size = batch_size
        self.dialect = PostgresDialect()

    def run(self) -> BackfillReport:
        report = BackfillReport(self.dry_run)
        absent = missing_tables(self.engine, self.schema, [TABLE_SPANS, SPAN_EVENTS,
                                                           PROGRESS_TABLE])
        if TABLE_SPANS in absent:
            return report  # nothing to copy
        has_vnext = SPAN_EVENTS not in absent
        if not self.dry_run:
            if not has_vnext or PROGRESS_TABLE in absent:
                ensure(self.engine, self.schema,
                       [c.table for c in self.store.signals.values()])
                self._create_progress_table()
            has_vnext = True
        classic = self._classic_table()
        state = self._state() if PROGRESS_TABLE not in absent else None
        after: tuple[str, str] | None = None
        if state is not None and state["finishedAt"] is None:  # a run stopped half-way
            report.resumed = True
            report.since = state["since"]
            started = state["startedAt"]
            if state["lastTraceId"] is not None:
                after = (state["lastTraceId"], state["lastSpanId"])
        else:
            report.since = (state["startedAt"] - MARGIN) if state is not None else None
            started = self._now()
            if not self.dry_run:
                self._save(report.since, started, None, finished=False)
        pending = self._pending(classic, report.since, after)
        with self.engine.connect() as conn:
            report.to_copy = int(conn.execute(
                sa.select(sa.func.count()).select_from(classic).where(*pending)).scalar_one())
        if self.dry_run:
            report.copied_spans = report.to_copy
        else:
            self._copy(classic, report, after, started)
            self._save(report.since, started, None, finished=True)
        report.source_spans, report.missing_spans = self._check(classic, has_vnext)
        return report

    # ------------------------------------------------------------------ source
    def _classic_table(self) -> sa.TableClause:
        """``mastra_ai_spans`` with the columns this database's copy has."""
        with self.engine.connect() as conn:
            names = [r[0] for r in conn.execute(sa.text(
                "SELECT column_name FROM information_schema.columns WHERE table_name = :t "
                "AND table_schema = " + ("CAST(:s AS name)" if self.schema
                                         else "current_schema()")),
                {"t": TABLE_SPANS, **({"s": self.schema} if self.schema else {})})]
        return sa.table(TABLE_SPANS, *(sa.column(n) for n in names), schema=self.schema)

    def _select_list(self, classic: sa.TableClause) -> list[Any]:
        """Every record column the table has (timestamps from their ``…AtZ`` twin when
        there is one, as the classic store reads them)."""
        out: list[Any] = []
        for spec in COLUMNS:
            if spec.name not in classic.c:
                continue
            col: sa.ColumnElement[Any] = classic.c[spec.name]
            twin = _TWIN.get(spec.name)
            if twin is not None and twin in classic.c:
                as_utc = sa.func.timezone(sa.literal_column("'UTC'"), col)
                col = sa.case((col.is_(None), sa.null()),
                              else_=sa.func.coalesce(classic.c[twin], as_utc))
            out.append(col.label(spec.name))
        return out

    def _updated(self, classic: sa.TableClause) -> Any:
        """When a classic row was last written (its ``updatedAt``, else None)."""
        cols = [c for c in ("updatedAtZ", "updatedAt", "createdAtZ", "createdAt")
                if c in classic.c]
        if not cols:
            return None
        parts = [classic.c[c] if c.endswith("Z") else
                 sa.func.timezone(sa.literal_column("'UTC'"), classic.c[c]) for c in cols]
        return sa.func.coalesce(*parts)

    def _pending(self, classic: sa.TableClause, since: datetime | None,
                 after: tuple[str, str] | None) -> list[Any]:
        conds: list[Any] = []
        updated = self._updated(classic)
        if since is not None and updated is not None:
            conds.append(updated >= since)
        if after is not None:
            conds.append(sa.tuple_(classic.c.traceId, classic.c.spanId) > sa.tuple_(*after))
        return conds

    # ------------------------------------------------------------------ copy
    def _copy(self, classic: sa.TableClause, report: BackfillReport,
              after: tuple[str, str] | None, started: datetime) -> None:
        select = self._select_list(classic)
        store = self.store
        insert = store._insert.returning(store.events.c.cursorId)
        done = 0
        while True:
            stmt = (sa.select(*select).where(*self._pending(classic, report.since, after))
                    .order_by(classic.c.traceId, classic.c.spanId).limit(self.batch_size))
            with self.engine.connect() as conn:
                rows = conn.execute(stmt).mappings().all()
            if not rows:
                return
            records = [self._record(r) for r in rows]
            encoded = [store._encode(r) for r in records]
            store.dialect.before_signal_write(self.engine, store.events,
                                              [e["endedAt"] for e in encoded])
            last = (records[-1].trace_id, records[-1].span_id)
            with self.engine.begin() as conn:  # the batch and its progress, together
                report.copied_spans += len(conn.execute(insert, encoded).all())
                self._save(report.since, started, last, finished=False, conn=conn)
            after = last
            done += len(records)
            report.batches += 1
            log.info("backfill: batch %d, %d span(s) read", report.batches, done)
            if self.progress is not None:
                self.progress(BackfillProgress(done, report.to_copy, report.copied_spans,
                                               report.batches))

    def _record(self, row: Any) -> SpanRecord:
        values = dict(row)
        if values.get("parentSpanId") == "":  # older writers' "no parent"
            values["parentSpanId"] = None
        for spec in COLUMNS:  # nulls an older table can't give
            if spec.name not in values:
                values[spec.name] = False if spec.kind == "bool" else None
        if values.get("name") is None:
            values["name"] = ""
        if values.get("spanType") is None:
            values["spanType"] = ""
        return self.dialect.decode(values)

    # ------------------------------------------------------------------ progress record
    def _progress(self) -> str:
        return qualified(self.schema, PROGRESS_TABLE)

    def _create_progress_table(self) -> None:
        with self.engine.begin() as conn:
            conn.exec_driver_sql(
                f"CREATE TABLE IF NOT EXISTS {self._progress()} (\n"
                '  "id" text PRIMARY KEY,\n'
                '  "since" timestamptz,\n'
                '  "startedAt" timestamptz NOT NULL,\n'
                '  "lastTraceId" text,\n'
                '  "lastSpanId" text,\n'
                '  "finishedAt" timestamptz\n'
                ")")

    def _state(self) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.text(
                f'SELECT "since", "startedAt", "lastTraceId", "lastSpanId", "finishedAt" '
                f"FROM {self._progress()} WHERE \"id\" = 'spans'")).mappings().first()
        return dict(row) if row is not None else None

    def _now(self) -> datetime:
        with self.engine.connect() as conn:
            value: datetime = conn.execute(sa.text("SELECT now()")).scalar_one()
        return value

    def _save(self, since: datetime | None, started: datetime, last: tuple[str, str] | None,
              *, finished: bool, conn: sa.Connection | None = None) -> None:
        """Record the run: its window (``since``), its start, the last key copied, and
        whether it finished (which clears the key)."""
        ts = postgresql.TIMESTAMP(timezone=True)
        sql = sa.text(
            f"INSERT INTO {self._progress()} "
            '("id", "since", "startedAt", "lastTraceId", "lastSpanId", "finishedAt") '
            "VALUES ('spans', :since, :started, :tid, :sid, "
            f"{'now()' if finished else 'NULL'}) "
            'ON CONFLICT ("id") DO UPDATE SET "since" = EXCLUDED."since", '
            '"startedAt" = EXCLUDED."startedAt", "lastTraceId" = EXCLUDED."lastTraceId", '
            '"lastSpanId" = EXCLUDED."lastSpanId", "finishedAt" = EXCLUDED."finishedAt"'
        ).bindparams(sa.bindparam("since", type_=ts), sa.bindparam("started", type_=ts))
        params = {"since": since, "started": started,
                  "tid": last[0] if last else None, "sid": last[1] if last else None}
        if conn is not None:
            conn.execute(sql, params)
            return
        with self.engine.begin() as own:
            own.execute(sql, params)

    # ------------------------------------------------------------------ check
    def _check(self, classic: sa.TableClause, has_vnext: bool) -> tuple[int, int]:
        """(spans in mastra_ai_spans, those without a row in mastra_span_events)."""
        with self.engine.connect() as conn:
            total = int(conn.execute(sa.select(sa.func.count()).select_from(classic))
                        .scalar_one())
            if not has_vnext:
                return total, total
            e = self.store.events
            missing = int(conn.execute(sa.select(sa.func.count()).select_from(classic).where(
                ~sa.exists().where(e.c.traceId == classic.c.traceId,
                                   e.c.spanId == classic.c.spanId))).scalar_one())
        return total, missing


__all__ = ["DEFAULT_BATCH_SIZE", "PROGRESS_TABLE", "BackfillProgress", "BackfillReport",
           "backfill_vnext"]
