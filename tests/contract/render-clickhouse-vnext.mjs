// Renders the v-next span DDL of @mastra/clickhouse from its published dist/index.js:
// the `v-next/ddl.ts` region of the bundle is evaluated as it is and its statements are
// printed in the package's order of creation (tables, views, migrations), with both delta
// cursor strategies, the retention statements for `retention: {tracing: 30}` and the
// legacy-migration marker table of `v-next/migration.ts`.
//
//   node tests/contract/render-clickhouse-vnext.mjs node_modules/@mastra/clickhouse
//
// Used to make clickhouse-vnext.spans.sql (its header says when and from which version).
import { readFileSync } from 'node:fs';

const root = process.argv[2];
const pkg = JSON.parse(readFileSync(`${root}/package.json`, 'utf8'));
const dist = readFileSync(`${root}/dist/index.js`, 'utf8');
const start = dist.indexOf('//#region src/storage/domains/observability/v-next/ddl.ts');
const end = dist.indexOf('//#endregion', start);
if (start < 0 || end < 0) throw new Error('no v-next/ddl.ts region in dist/index.js');
const names = ['SPAN_EVENTS_DDL', 'TRACE_ROOTS_DDL', 'TRACE_BRANCHES_DDL', 'DISCOVERY_VALUES_DDL',
  'DISCOVERY_PAIRS_DDL', 'buildDeltaTableDDL', 'TRACE_ROOTS_MV_DDL', 'TRACE_BRANCHES_MV_DDL',
  'buildDeltaMvDDL', 'DISCOVERY_MV_DDL', 'ALL_MIGRATIONS', 'buildRetentionEntries'];
const d = new Function(`${dist.slice(start, end)}\nreturn {${names.join(', ')}};`)();
const marker = dist.match(/`(CREATE TABLE IF NOT EXISTS \$\{TABLE_LEGACY_MIGRATION_DONE\}[^`]*)`/)[1]
  .replace('${TABLE_LEGACY_MIGRATION_DONE}', 'mastra_legacy_span_migration_done');

const out = [];
const add = (title, statement) => out.push(`-- ${title}\n${statement.trim()};\n`);
for (const n of ['SPAN_EVENTS_DDL', 'TRACE_ROOTS_DDL', 'TRACE_BRANCHES_DDL', 'DISCOVERY_VALUES_DDL',
  'DISCOVERY_PAIRS_DDL']) add(n, d[n]);
for (const s of d.buildDeltaTableDDL()) add('delta table', s);
add('TRACE_ROOTS_MV_DDL', d.TRACE_ROOTS_MV_DDL);
add('TRACE_BRANCHES_MV_DDL', d.TRACE_BRANCHES_MV_DDL);
for (const s of d.buildDeltaMvDDL('serial')) add('delta MV serial', s);
for (const s of d.buildDeltaMvDDL('fallback')) add('delta MV fallback', s);
for (const s of d.DISCOVERY_MV_DDL) add('discovery MV', s);
for (const m of d.ALL_MIGRATIONS) {
  if (m.table === 'mastra_span_events' || m.table === 'mastra_trace_roots') add('migration', m.sql);
}
for (const e of d.buildRetentionEntries({ tracing: 30 })) add('retention tracing=30', e.sql);
add('legacy span migration marker', marker);
process.stdout.write(`-- rendered from ${pkg.name} ${pkg.version}\n\n${out.join('\n')}`);
