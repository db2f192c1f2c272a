"""Copy the classic ``mastra_ai_spans`` into Mastra's v-next span tables.

Moving a ClickHouse database from the classic layout to ``layout="vnext"`` leaves the
spans written so far in ``mastra_ai_spans``, which the v-next store does not read.
:func:`backfill_vnext` copies them into ``mastra_span_events`` (the views fill
``mastra_trace_roots`` and ``mastra_trace_branches`` on the way), server-side, one day at
a time as Mastra's own ``migrateSpans`` does (the day of ``coalesce(endedAt,
startedAt)``), taking the newest version of each span (``FINAL``: the classic table is a
``ReplacingMergeTree(updatedAt)``).

* **Resumable.** Each copied day is recorded in ``mastra_storage_vnext_backfill`` with the
  number of spans and the newest ``updatedAt`` it had. A later run skips the days whose
  source is unchanged and copies again the others (a run that stopped half-way, or a day
  that got new or updated spans since — the classic store may still be written to).
* **Idempotent.** A span copied twice is the same row with the same sort key: the merges
  and every read's ``FINAL`` keep one. A span updated in between is copied with its newer
  ``endedAt``, and the v-next reads show the latest ``endedAt``.
* **Checked.** The report ends with a count check: the spans of ``mastra_ai_spans`` that
  have no row in ``mastra_span_events``. When none is missing, Mastra's marker table
  ``mastra_legacy_span_migration_done`` gets its row, so a Mastra app does not offer to
  migrate the same spans again.
* ``dry_run=True`` reads only: what would be copied, day by day, and the same check.

The mapping is the v-next store's (:mod:`.vnext`), written in SQL: ``dedupeKey``, the end
of an event or of a span that never ended is its start, ``metadataRaw`` and the string
values of ``metadataSearch``, ``executionSource``, tags trimmed and de-duplicated;
``''`` parents and ``''``/``'null'`` JSON payloads (older writers' nulls) become NULL.
Columns an older Mastra table lacks are copied as NULL. With a retention configured
(``ttl_days``), spans older than it are not kept by the v-next tables: the count check
then reports them as missing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from ...model.spans import TABLE_SPANS
from . import vnext_ddl
from .ddl import HISTORY_ZOOKEEPER_PATH, LOCAL_SUFFIX, SchemaOptions, quote_ident, quote_str
from .expressions import ts_text
from .signals import _utc
from .store import ClickHouseStore
from .vnext import PROMOTED_METADATA_KEYS

log = logging.getLogger(__name__)

PROGRESS_TABLE = "mastra_storage_vnext_backfill"
_DAY = "toDate(coalesce(`endedAt`, `startedAt`))"
_JSON = ("attributes", "scope", "links", "input", "output", "error", "requestContext")
_WS = r"' \t\n\r\x0B\x0C'"  # the whitespace a tag loses at both ends
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class DayPlan:
    """One day of ``mastra_ai_spans``: its spans, their newest version, and whether the
    run copies it (``"copy"``) or found it copied and unchanged (``"skip"``)."""

    day: date
    spans: int
    newest: datetime | None
    action: str


@dataclass(frozen=True)
class BackfillProgress:
    """Passed to the progress callback after each day."""

    day: date
    spans: int  # spans of this day
    action: str  # "copied" or "skipped"
    days_done: int
    days_total: int
    copied_spans: int  # so far, this run


@dataclass
class BackfillReport:
    """What a run did (or, with ``dry_run``, would do) and the final count check."""

    dry_run: bool
    days: list[DayPlan] = field(default_factory=list)
    copied_spans: int = 0  # spans copied by this run (dry run: that would be copied)
    source_spans: int = 0  # spans in mastra_ai_spans (one per traceId, spanId)
    missing_spans: int = 0  # of those, spans without a row in mastra_span_events
    marker_written: bool = False  # Mastra's "legacy spans migrated" marker

    @property
    def complete(self) -> bool:
        """Every span of ``mastra_ai_spans`` has a row in ``mastra_span_events``."""
        return self.missing_spans == 0

    @property
    def days_to_copy(self) -> int:
        return sum(d.action == "copy" for d in self.days)

    def __str__(self) -> str:
        verb = "would copy" if self.dry_run else "copied"
        check = ("every span is in mastra_span_events" if self.complete
                 else f"{self.missing_spans:,} span(s) missing from mastra_span_events")
        return (f"backfill: {verb} {self.copied_spans:,} span(s) from "
                f"{self.days_to_copy} of {len(self.days)} day(s); "
                f"{self.source_spans:,} span(s) in mastra_ai_spans, {check}")


def backfill_vnext(
    source: Any,
    *,
    database: str | None = None,
    dry_run: bool = False,
    progress: Callable[[BackfillProgress], None] | None = None,
    cluster: str | None = None,
) -> BackfillReport:
    """Copy ``mastra_ai_spans`` into the v-next span tables of the same database.

    ``source`` is a :class:`~.store.ClickHouseStore` of either layout (its database,
    client and cluster are used) or a clickhouse-connect client (then ``database``, and
    ``cluster`` for a cluster, say where). The v-next tables are created first when
    missing (the v-next migrations; not in a dry run). ``progress`` is called after each
    day. Returns a :class:`BackfillReport`; ``report.complete`` is the final count check.
    """
    store = _vnext_store(source, database, cluster)
    try:
        return _Backfill(store, dry_run, progress).run()
    finally:
        store.close()


def _vnext_store(source: Any, database: str | None, cluster: str | None) -> ClickHouseStore:
    if isinstance(source, ClickHouseStore):
        opts = source.schema
        return ClickHouseStore(client=source.client, database=database or source.database,
                               layout="vnext", cluster=opts.cluster, ttl_days=opts.ttl_days,
                               signal_ttl_days=opts.signal_ttl_days,
                               zookeeper_path=opts.zookeeper_path,
                               replica_name=opts.replica_name, auto_migrate=False)
    if source is None or not hasattr(source, "query"):
        raise TypeError(f"backfill_vnext() takes a ClickHouseStore or a clickhouse-connect "
                        f"client, got {source!r}")
    return ClickHouseStore(client=source, database=database or "default", layout="vnext",
                           cluster=cluster, auto_migrate=False)


class _Backfill:
    def __init__(self, store: ClickHouseStore, dry_run: bool,
                 progress: Callable[[BackfillProgress], None] | None) -> None:
        self.store = store
        self.opts: SchemaOptions = store.schema
        self.dry_run = dry_run
        self.progress = progress
        self.classic = vnext_ddl.table(vnext_ddl.LEGACY_SPANS, self.opts)
        self.events = vnext_ddl.table(vnext_ddl.SPAN_EVENTS, self.opts)
        self.progress_table = vnext_ddl.table(PROGRESS_TABLE, self.opts)

    def _exists(self, name: str) -> bool:
        rows = self.store.query_rows(
            "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {t:String}",
            {"db": self.store.database, "t": name})
        return bool(rows and rows[0][0])

    def run(self) -> BackfillReport:
        report = BackfillReport(self.dry_run)
        if not self._exists(vnext_ddl.LEGACY_SPANS):
            return report
        has_vnext = self._exists(vnext_ddl.SPAN_EVENTS)
        if not self.dry_run:
            if not has_vnext:
                self.store.migrate()
                has_vnext = True
            self.store.command(self._progress_ddl())
        columns = self._source_columns()
        version = next((f"`{c}`" for c in ("updatedAt", "createdAt") if c in columns),
                       "toDateTime64(0, 3, 'UTC')")
        done = self._done() if self._exists(PROGRESS_TABLE) else {}
        days = self.store.query_rows(
            f"SELECT {_DAY} AS day, count(), max({version}) FROM {self.classic} FINAL "
            "GROUP BY day ORDER BY day")
        for day, spans, newest in days:
            newest_at = _utc(newest)
            unchanged = done.get(day) == (int(spans), newest_at)
            report.days.append(DayPlan(day, int(spans), newest_at,
                                       "skip" if unchanged else "copy"))
        select = self._select(columns, version)
        for i, plan in enumerate(report.days):
            if plan.action == "copy":
                if not self.dry_run:
                    self._copy_day(plan, select)
                report.copied_spans += plan.spans
            if self.progress is not None:
                self.progress(BackfillProgress(
                    plan.day, plan.spans, "copied" if plan.action == "copy" else "skipped",
                    i + 1, len(report.days), report.copied_spans))
        report.source_spans = int(self.store.query_rows(
            f"SELECT count() FROM {self.classic} FINAL")[0][0])
        report.missing_spans = self._missing() if has_vnext else report.source_spans
        if report.complete and not self.dry_run and report.source_spans:
            report.marker_written = self._write_marker()
        return report

    # ------------------------------------------------------------------ progress
    def _progress_ddl(self) -> str:
        """Our record of the days copied (one replica set in cluster mode, like the
        migration history: every node must see the same progress)."""
        if self.opts.clustered:
            engine = (f"ReplicatedReplacingMergeTree({quote_str(HISTORY_ZOOKEEPER_PATH)}, "
                      f"{quote_str(self.opts.replica_name)}, `copiedAt`)")
        else:
            engine = "ReplacingMergeTree(`copiedAt`)"
        return (f"CREATE TABLE IF NOT EXISTS {self.progress_table}{self.opts.on_cluster}\n"
                "(\n"
                "    `day` Date,\n"
                "    `spans` UInt64,\n"
                "    `newest` DateTime64(3, 'UTC'),\n"
                "    `copiedAt` DateTime64(3, 'UTC')\n"
                ")\n"
                f"ENGINE = {engine}\n"
                "ORDER BY `day`")

    def _done(self) -> dict[date, tuple[int, datetime | None]]:
        rows = self.store.query_rows(
            f"SELECT `day`, `spans`, `newest` FROM {self.progress_table} FINAL")
        return {day: (int(spans), _utc(newest)) for day, spans, newest in rows}

    # ------------------------------------------------------------------ copy
    def _source_columns(self) -> dict[str, str]:
        rows = self.store.query_rows(
            "SELECT name, type FROM system.columns WHERE database = {db:String} AND "
            "table = {t:String}",
            {"db": self.store.database,
             "t": TABLE_SPANS + LOCAL_SUFFIX if self.opts.clustered else TABLE_SPANS})
        return {str(n): str(t) for n, t in rows}

    def _select(self, columns: dict[str, str], version: str) -> str:
        """``INSERT … SELECT`` of one day: every v-next column from the classic row."""

        def col(name: str) -> str:
            return f"`{name}`" if name in columns else "NULL"

        def payload(name: str) -> str:
            return (f"nullIf(nullIf({col(name)}, ''), 'null')" if name in columns
                    else "NULL")

        if "tags" not in columns:
            tags = "[]"
        else:
            raw = ("`tags`" if columns["tags"].startswith("Array")
                   else "arrayMap(x -> JSONExtractString(x), arrayFilter(x -> JSONType(x) = "
                        "'String', JSONExtractArrayRaw(ifNull(`tags`, '[]'))))")
            tags = (f"arrayFilter((x, i) -> x != '' AND indexOf(_tags, x) = i, "
                    f"(arrayMap(x -> trim(BOTH {_WS} FROM x), {raw}) AS _tags), "
                    "arrayEnumerate(_tags))")
        if "metadata" in columns:
            promoted = ", ".join(quote_str(k) for k in sorted(PROMOTED_METADATA_KEYS))
            search = ("CAST(arrayFilter(kv -> kv.2 != '', arrayMap(k -> (k, "
                      f"trim(BOTH {_WS} FROM JSONExtractString(_m, k))), "
                      "arrayFilter(k -> JSONType(_m, k) = 'String' AND "
                      f"k NOT IN ({promoted}), JSONExtractKeys((ifNull(`metadata`, '') "
                      "AS _m))))), 'Map(String, String)')")
        else:
            search = "map()"
        exprs: dict[str, str] = {
            "dedupeKey": "concat(`traceId`, ':', `spanId`)",
            "parentSpanId": "nullIf(`parentSpanId`, '')" if "parentSpanId" in columns
            else "NULL",
            "executionSource": col("source"),
            "endedAt": "if(`isEvent`, `startedAt`, coalesce(`endedAt`, `startedAt`))",
            "tags": tags,
            "metadataSearch": search,
            "metadataRaw": payload("metadata"),
            **{name: payload(name) for name in _JSON},
        }
        names = [n for n, _ in vnext_ddl.span_columns()]
        select = ", ".join(f"{exprs.get(n, col(n))} AS {quote_ident(n)}" for n in names)
        return (f"INSERT INTO {self.events} ({', '.join(quote_ident(n) for n in names)}) "
                f"SELECT {select} FROM {self.classic} FINAL "
                f"WHERE {_DAY} = {{day:Date}} AND `startedAt` < {{next:Date}} "
                f"ORDER BY `traceId`, `spanId`, {version} DESC LIMIT 1 BY `traceId`, `spanId`")

    def _copy_day(self, plan: DayPlan, select: str) -> None:
        self.store.command(select, {"day": plan.day, "next": plan.day + timedelta(days=1)},
                           settings=self.store.insert_settings)
        self.store.command(
            f"INSERT INTO {self.progress_table} (`day`, `spans`, `newest`, `copiedAt`) "
            "VALUES ({day:Date}, {spans:UInt64}, {newest:DateTime64(3, 'UTC')}, "
            "now64(3, 'UTC'))",
            {"day": plan.day, "spans": plan.spans,
             "newest": ts_text(plan.newest or _EPOCH)})
        log.info("backfill: copied %s (%d spans)", plan.day, plan.spans)

    # ------------------------------------------------------------------ check
    def _missing(self) -> int:
        rows = self.store.query_rows(
            f"SELECT count() FROM (SELECT concat(`traceId`, ':', `spanId`) AS k "
            f"FROM {self.classic} FINAL) WHERE k NOT IN "
            f"(SELECT `dedupeKey` FROM {self.events})")
        return int(rows[0][0])

    def _write_marker(self) -> bool:
        """Mastra's marker that the legacy spans are migrated (once)."""
        marker = vnext_ddl.table(vnext_ddl.LEGACY_MARKER, self.opts)
        self.store.command(vnext_ddl.legacy_marker(self.opts))
        if int(self.store.query_rows(f"SELECT count() FROM {marker}")[0][0]):
            return False
        self.store.command(f"INSERT INTO {marker} VALUES (now64(3))")
        return True


__all__ = ["PROGRESS_TABLE", "BackfillProgress", "BackfillReport", "DayPlan", "backfill_vnext"]
