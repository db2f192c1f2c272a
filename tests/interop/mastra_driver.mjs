// Drives Mastra's own observability stores (@mastra/libsql, @mastra/pg, @mastra/mongodb)
// for tests/test_interop_mastra.py, so the Python store and a real Mastra store can be
// pointed at the same database and compared.
//
//   node mastra_driver.mjs JOB.json     -> one JSON document on stdout: {"results": [...]}
//
// JOB = {"store": {"kind": "libsql", "url": "file:/x.db"}
//                | {"kind": "pg", "connectionString": "...", "schemaName": "..."}
//                | {"kind": "pg-vnext", "connectionString": "...", "schemaName": "...",
//                   "appSchemaName": "..."}   (PostgresStoreVNext: observability in
//                                              schemaName, the rest in appSchemaName)
//                | {"kind": "mongodb", "uri": "...", "dbName": "..."},
//        "ops": [{"op": NAME, ...}, ...]}
//
// Ops run in order; each gives {"ok": true, "value": ...} or {"ok": false, "error": {...}}
// (a failing op does not stop the job). NAME is one of
//   init                       store.init() (creates or adopts the tables)
//   info                       installed versions, SpanType/EntityType values and
//                              getEntityTypeForSpan for every span type
//   export {events}            what Mastra's exporter does in batch-with-updates: each
//                              {"kind": "start"|"event", "span": ExportedSpan} becomes
//                              batchCreateSpans(buildCreateSpanRecord(span)), each
//                              {"kind": "update"|"end", ...} batchUpdateSpans with
//                              buildUpdateSpanRecord(span); consecutive events of one
//                              kind go in one call. With "strategy": "event-sourced",
//                              what Mastra's exporter does then: "start", "end" and
//                              "event" each become batchCreateSpans(buildCreateSpanRecord
//                              (span)), "update" is dropped
//   prune {args}               store.prune(args)
//   any other NAME {args}      the observability domain's method: obs[NAME](args)
//                              (getSpan, getRootSpan, getTrace, getTraceLight, listTraces,
//                              batchCreateSpans, batchUpdateSpans, batchDeleteTraces, ...)
//
// Dates travel as {"$date": "<ISO-8601>"} both ways, so timestamps compare exactly.

import fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

function revive(_key, value) {
  if (value && typeof value === 'object' && !Array.isArray(value) && typeof value.$date === 'string'
      && Object.keys(value).length === 1) {
    return new Date(value.$date);
  }
  return value;
}

function tagDates(value) {
  if (value instanceof Date) {
    return { $date: Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString() };
  }
  if (Array.isArray(value)) return value.map(tagDates);
  if (value && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      if (v !== undefined) out[k] = tagDates(v);
    }
    return out;
  }
  return value;
}

function describe(error) {
  const issues = error?.issues ?? error?.cause?.issues;
  return {
    name: error?.constructor?.name ?? 'Error',
    id: error?.id ?? null,
    message: String(error?.message ?? error),
    cause: error?.cause ? String(error.cause.message ?? error.cause) : null,
    issues: issues ? issues.map(i => ({ path: i.path, message: i.message })) : null,
  };
}

async function makeStore(spec) {
  const common = { id: 'mastra-storage-interop', ...(spec.options ?? {}) };
  switch (spec.kind) {
    case 'libsql': {
      const { LibSQLStore } = await import('@mastra/libsql');
      return new LibSQLStore({ ...common, url: spec.url });
    }
    case 'pg': {
      const { PostgresStore } = await import('@mastra/pg');
      return new PostgresStore({ ...common, connectionString: spec.connectionString,
                                 schemaName: spec.schemaName });
    }
    case 'pg-vnext': {
      const { PostgresStoreVNext } = await import('@mastra/pg');
      return new PostgresStoreVNext({ ...common, connectionString: spec.connectionString,
                                      schemaName: spec.appSchemaName,
                                      observability: { connectionString: spec.connectionString,
                                                       schemaName: spec.schemaName } });
    }
    case 'mongodb': {
      const { MongoDBStore } = await import('@mastra/mongodb');
      return new MongoDBStore({ ...common, uri: spec.uri, dbName: spec.dbName });
    }
    default:
      throw new Error(`unknown store kind ${spec.kind}`);
  }
}

function version(pkg) {
  return require(`${pkg}/package.json`).version;
}

async function info() {
  const o11y = await import('@mastra/core/observability');
  const spanTypes = Object.values(o11y.SpanType);
  return {
    node: process.version,
    versions: Object.fromEntries(['@mastra/core', '@mastra/libsql', '@mastra/pg', '@mastra/mongodb']
      .map(p => [p, version(p)])),
    spanTypes,
    entityTypes: Object.values(o11y.EntityType),
    entityForSpanType: Object.fromEntries(
      spanTypes.map(t => [t, o11y.getEntityTypeForSpan({ spanType: t }) ?? null])),
  };
}

async function exportEvents(obs, events, strategy) {
  const { buildCreateSpanRecord, buildUpdateSpanRecord } = await import('@mastra/core/storage');
  if (strategy === 'event-sourced') events = events.filter(e => e.kind !== 'update');
  const isCreate = strategy === 'event-sourced' ? () => true
    : kind => kind === 'start' || kind === 'event';
  let calls = 0;
  for (let i = 0; i < events.length;) {
    const create = isCreate(events[i].kind);
    const group = [];
    while (i < events.length && isCreate(events[i].kind) === create) group.push(events[i++].span);
    if (create) {
      await obs.batchCreateSpans({ records: group.map(buildCreateSpanRecord) });
    } else {
      await obs.batchUpdateSpans({ records: group.map(span => ({
        traceId: span.traceId, spanId: span.id, updates: buildUpdateSpanRecord(span) })) });
    }
    calls += 1;
  }
  return { calls };
}

async function main() {
  const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'), revive);
  const store = await makeStore(job.store);
  const results = [];
  const timing = {};
  const tStart = performance.now();
  try {
    const obs = await store.getStore('observability');
    for (const op of job.ops) {
      const t0 = performance.now();
      try {
        let value;
        switch (op.op) {
          case 'init': await store.init(); value = null; break;
          case 'info': value = await info(); break;
          case 'export': value = await exportEvents(obs, op.events, op.strategy); break;
          case 'prune': value = await store.prune(op.args ?? {}); break;
          default:
            if (typeof obs[op.op] !== 'function') throw new Error(`no such method: ${op.op}`);
            value = await obs[op.op](op.args ?? {});
        }
        results.push({ ok: true, value: tagDates(value ?? null) });
        if (process.env.MASTRA_DRIVER_TIMING) timing[op.op] = (timing[op.op] ?? 0) + (performance.now() - t0);
      } catch (error) {
        results.push({ ok: false, error: describe(error) });
      }
    }
  } finally {
    await store.close?.();
  }
  if (process.env.MASTRA_DRIVER_TIMING) {
    process.stderr.write(JSON.stringify({ timing, total: performance.now() - tStart }) + '\n');
  }
  process.stdout.write(JSON.stringify({ results }));
}

main().catch(error => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
});
