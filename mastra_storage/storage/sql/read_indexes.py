"""The read indexes of migration 0003: all this library adds to Mastra's spans table.

Mastra's own stores create a few indexes on ``mastra_ai_spans`` (SQLite: the roots by
``startedAt`` and the spans by trace; PostgreSQL: eleven). With a filter, a trace list
then visited every root span to count the matches (160 to 230 ms on SQLite at
1,000,000 spans, linear in the table; docs/bench.md). These indexes answer each single-filter trace
list from an index. They are plain indexes the database keeps itself: a Mastra app
writing the same table keeps them current without knowing them, and Mastra's stores
read and write the table as before (no column is added or changed). Every statement is
``IF NOT EXISTS``: an index created beforehand by hand (PostgreSQL: ``CONCURRENTLY``, see
docs/sql-servers.md) is kept, and the migration only records its version.

SQLite (partial on the roots, ``WHERE "parentSpanId" IS NULL``, except the last):

* ``mastra_storage_roots_status_idx``: the trace status as one expression (the store
  filters with the same expression, ``SqlDialect.trace_status``), then the list order;
* ``mastra_storage_roots_filter_idx``: the list order, then every equality filter's
  column, the end time and ``parentSpanId`` (NULL in every entry: there so that SQLite's
  planner, which knows no better, sees the index *covering* a filtered count);
* ``mastra_storage_roots_json_idx``: the list order, then ``metadata``, ``tags`` and
  ``scope``, the JSON filters' columns (their size is this index's size);
* ``mastra_storage_errors_idx``: the trace of every span with an error
  (``has_child_error``).

All but the last are led by ``startedAt`` (or the status, then ``startedAt``): spans
arrive in time order, so entries are appended (the cheapest place to insert); indexes
led by an id insert all over the index instead: migration 0004's seven, one per context
id, cost 12 % of SQLite's span-write throughput (measured in docs/bench.md).

PostgreSQL (its planner has statistics and costs heap visits, so it is given seekable
indexes instead):

* ``…roots_error_idx`` / ``…roots_running_idx`` / ``…roots_success_idx``: the roots of
  each status (partial: the store's status conditions are their predicates), by
  ``startedAt``: a count is an index-only scan;
* ``…roots_<context id>_idx`` for userId, organizationId, resourceId, runId, sessionId,
  threadId and requestId: the id's first :data:`CONTEXT_PREFIX` characters, then
  ``startedAt`` (ids are never cut on write and a btree entry holds at most 2,704 bytes,
  so the whole value could make a write fail; ``PostgresDialect.equals`` filters so);
* ``…errors_idx`` as on SQLite.

Names take the ``<schema>_`` prefix outside ``public``, as Mastra's do. SQL Server: none
yet. The statements are frozen as migration 0003 was written: a change is a new revision.

Migration 0004 (:func:`spans_context_indexes`, SQLite only) adds what 0003 left out
there: ``mastra_storage_roots_<context id>_idx``, the roots by each context id, then the
list order and ``parentSpanId`` (covering, as above). Through the filter index a context
id's list still visited every root: its count, or a page the id does not fill (a thread
of 5 traces), read all 100,000 roots' entries at 1,000,000 spans (20 to 25 ms, the
limit a filtered list may take; docs/bench.md). Led by the id, each is a seek to that
id's entries. Their insertion points are spread over the index rather than appended,
which costs a root more to write, not a child span (they are partial); measured in
docs/bench.md.
"""

from __future__ import annotations

import sqlalchemy as sa

from ...model.spans import TABLE_SPANS

# The equality filters of the trace list (TracesFilter), as the roots filter index
# carries them.
FILTER_COLUMNS = ("entityType", "entityId", "entityName", "userId", "organizationId",
                  "resourceId", "runId", "sessionId", "threadId", "requestId",
                  "environment", "serviceName", "source", "spanType")
# The context ids (PostgreSQL: one index each).
CONTEXT_COLUMNS = ("userId", "organizationId", "resourceId", "runId", "sessionId", "threadId",
                   "requestId")
# PostgreSQL indexes a context id by its first characters: ids are never cut on write (see
# bounds.py) and a btree entry holds at most 2,704 bytes (200 characters: at most 800).
CONTEXT_PREFIX = 200
# PostgreSQL: a partial index per trace status, its predicate the store's conditions.
STATUS_PREDICATES = (("error", '"error" IS NOT NULL'),
                     ("running", '"error" IS NULL AND "endedAt" IS NULL'),
                     ("success", '"error" IS NULL AND "endedAt" IS NOT NULL'))
STATUS_SQL = ("CASE WHEN \"error\" IS NOT NULL THEN 'error' WHEN \"endedAt\" IS NULL "
              "THEN 'running' ELSE 'success' END")
ROOTS = 'WHERE "parentSpanId" IS NULL'
PREFIX = "mastra_storage"


def _q(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def spans_read_indexes(dialect: str, schema: str | None = None) -> list[tuple[str, str]]:
    """(index name, CREATE statement) of migration 0003 for ``dialect`` (``sqlite``,
    ``postgresql``; none for other dialects)."""
    order = '"startedAt" DESC, "traceId" DESC'
    if dialect == "sqlite":
        t = TABLE_SPANS
        specs = [
            ("roots_status_idx", f'(({STATUS_SQL}), {order}, "spanId", "parentSpanId") '
                                 f"{ROOTS}"),
            ("roots_filter_idx", f'({order}, "spanId", {_q(FILTER_COLUMNS)}, "endedAt", '
                                 f'"parentSpanId") {ROOTS}'),
            ("roots_json_idx", f'({order}, "spanId", "metadata", "tags", "scope", '
                               f'"parentSpanId") {ROOTS}'),
            ("errors_idx", '("traceId") WHERE "error" IS NOT NULL'),
        ]
        return [(f"{PREFIX}_{n}", f'CREATE INDEX IF NOT EXISTS "{PREFIX}_{n}" ON "{t}" {body}')
                for n, body in specs]
    if dialect == "postgresql":
        from .dialects.postgres import pg_name  # (the dialect reads this module's names)

        prefix = "" if schema in (None, "public") else f"{schema}_"
        t = f'"{schema}".{TABLE_SPANS}' if schema else TABLE_SPANS
        specs = [(f"roots_{status}_idx", f"({order}) {ROOTS} AND {cond}")
                 for status, cond in STATUS_PREDICATES]
        specs += [(f"roots_{column.lower()}_idx",
                   f'(left("{column}", {CONTEXT_PREFIX}), "startedAt" DESC) {ROOTS}')
                  for column in CONTEXT_COLUMNS]
        specs.append(("errors_idx", '("traceId") WHERE "error" IS NOT NULL'))
        out = []
        # Names apart from the table's own key and indexes (one namespace per schema).
        from .dialects.postgres import PostgresDialect

        table = PostgresDialect().build_table(sa.MetaData(), schema)
        taken = {PostgresDialect.pk_name(schema), *(str(ix.name) for ix in table.indexes)}
        for n, body in specs:
            name = pg_name(f"{prefix}{PREFIX}_{n}", taken)
            out.append((name, f'CREATE INDEX IF NOT EXISTS "{name}" ON {t} {body}'))
        return out
    return []


def drop_statements(dialect: str, schema: str | None = None) -> list[str]:
    """The statements removing migration 0003's indexes again (its downgrade)."""
    where = f'"{schema}".' if schema and dialect == "postgresql" else ""
    return [f'DROP INDEX IF EXISTS {where}"{name}"'
            for name, _ in spans_read_indexes(dialect, schema)]


def spans_context_indexes(dialect: str, schema: str | None = None) -> list[tuple[str, str]]:
    """(index name, CREATE statement) of migration 0004: SQLite's roots by each context
    id (none for other dialects; PostgreSQL has its own since 0003)."""
    if dialect != "sqlite":
        return []
    return [(f"{PREFIX}_roots_{column.lower()}_idx",
             f'CREATE INDEX IF NOT EXISTS "{PREFIX}_roots_{column.lower()}_idx" ON '
             f'"{TABLE_SPANS}" ("{column}", "startedAt" DESC, "traceId" DESC, "spanId", '
             f'"parentSpanId") {ROOTS}')
            for column in CONTEXT_COLUMNS]


def all_read_indexes(dialect: str, schema: str | None = None) -> list[tuple[str, str]]:
    """Every read index this library adds to the spans table (migrations 0003 to 0005)."""
    return (spans_read_indexes(dialect, schema) + spans_context_indexes(dialect, schema)
            + spans_metadata_indexes(dialect))


def drop_context_statements(dialect: str, schema: str | None = None) -> list[str]:
    """The statements removing migration 0004's indexes again (its downgrade)."""
    return [f'DROP INDEX IF EXISTS "{name}"'
            for name, _ in spans_context_indexes(dialect, schema)]


# Migration 0005 (SQLite; see SQLiteDialect.root_metadata_has):
# * the roots' metadata (and parentSpanId, NULL, for the planner to see it covering, as
#   in migration 0003's), so that a metadata filter's count reads entries a third the
#   size of the JSON index's;
# * the roots whose metadata a substring can't be looked for in: a JSONB blob (what
#   @mastra/libsql writes) or text with an escape. This partial index holds only those,
#   keyed by the same expression, so that a query naming both (opaque_roots_exist) is a
#   seek in it even without statistics. Literals, not bound values: SQLite matches an
#   indexed expression only to the same expression as written.
OPAQUE_METADATA = "(typeof(\"metadata\") = 'blob' OR instr(\"metadata\", '\\') > 0)"
METADATA_INDEX = f"{PREFIX}_roots_metadata_idx"
OPAQUE_METADATA_INDEX = f"{PREFIX}_roots_opaque_metadata_idx"


def spans_metadata_indexes(dialect: str) -> list[tuple[str, str]]:
    """(index name, CREATE statement) of migration 0005 for ``dialect`` (SQLite only)."""
    if dialect != "sqlite":
        return []
    return [(name, f'CREATE INDEX IF NOT EXISTS "{name}" ON "{TABLE_SPANS}" {body}')
            for name, body in (
                (METADATA_INDEX, f'("metadata", "parentSpanId") {ROOTS}'),
                (OPAQUE_METADATA_INDEX, f"({OPAQUE_METADATA}) {ROOTS} AND {OPAQUE_METADATA}"))]


def opaque_roots_exist(table: str) -> str:
    """SQL: whether any root of ``table`` has metadata :data:`OPAQUE_METADATA` holds
    for (one seek in migration 0005's index; a scan of the roots without it)."""
    return (f'EXISTS (SELECT 1 FROM "{table}" {ROOTS} AND {OPAQUE_METADATA} '
            f"AND {OPAQUE_METADATA} = 1)")
