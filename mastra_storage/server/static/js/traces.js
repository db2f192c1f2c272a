// The Traces page: newest first, live, filterable, infinitely scrolled.
//
// * List: GET /observability/traces/light (root spans, no payloads) with the URL's
//   filters; further pages by time (keyset: startedAt <= the last row's), so page 1,000
//   costs what page 1 does. With a search text, rows come from viewer/api/search instead.
// * Live: every 1.5 s the first page is fetched again and merged: new traces slide in at
//   the top, known ones (running → finished) update in place; running traces further down
//   are refreshed through their structure.
// * Tokens and cost: POST /metrics/breakdown grouped by traceId for the rows on screen.
// * Keyboard: j/k select, Enter opens (/ and Esc are app.js's).

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import * as api from "./api.js";
import {
  html, go, withParams, timeWindow, TimeRange, Status, Notice, Sentinel, usePoll, useTicker,
  DebouncedInput, typing, fmtDuration, fmtTime, fmtInt, fmtCost, ms, spanFamily,
} from "./ui.js";

const PAGE = 50;
const POLL_MS = 1500;
const SPAN_TYPES = ["agent_run", "workflow_run", "tool_call", "mcp_tool_call", "model_generation",
  "scorer_run", "processor_run", "rag_ingestion", "generic"];
const TEXT_FILTERS = [["userId", "User id"], ["sessionId", "Session id"], ["threadId", "Thread id"],
  ["runId", "Run id"], ["resourceId", "Resource id"]];

/** The URL's parameters → the filters of the list (see api.traceQuery). */
export function filtersOf(params) {
  const { start, end } = timeWindow(params);
  const metadata = {};
  for (const pair of params.getAll("meta")) {
    const at = pair.indexOf("=");
    if (at > 0) metadata[pair.slice(0, at).trim()] = pair.slice(at + 1);
  }
  const f = { start, end, metadata, tags: params.getAll("tag"), hasChildError: params.get("hasChildError") === "true" };
  for (const key of ["status", "spanType", "entityType", "entityName", "serviceName", "environment",
    ...TEXT_FILTERS.map((t) => t[0])]) f[key] = params.get(key) || "";
  return f;
}

// ---------------------------------------------------------------- the list's data

function byNewest(a, b) {
  return a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : 0;
}

/** Merge a fresh first page into the loaded rows: add new ones, update known ones in place,
 *  and drop rows the fresh page proves no longer match (e.g. a finished trace under
 *  status=running). */
function mergeHead(rows, fresh, complete) {
  const freshIds = new Map(fresh.map((r) => [r.traceId, r]));
  const oldest = fresh.length ? fresh[fresh.length - 1].startedAt : null;
  const known = new Set(rows.map((r) => r.traceId));
  const out = [];
  let changed = false;
  for (const row of rows) {
    const update = freshIds.get(row.traceId);
    if (update) {
      const same = update.updatedAt === row.updatedAt && update.status === row.status && update.endedAt === row.endedAt;
      out.push(same ? row : { ...row, ...update, inputPreview: update.inputPreview ?? row.inputPreview });
      changed ||= !same;
    } else if (complete === "all" || (complete && oldest !== null && row.startedAt > oldest)) {
      changed = true; // the fresh page proves it no longer matches
    } else out.push(row);
  }
  const added = fresh.filter((r) => !known.has(r.traceId)).map((r) => ({ ...r, fresh: true }));
  if (added.length) return [...added, ...out].sort(byNewest);
  return changed ? out : rows; // the same array: nothing re-renders
}

function useTraceList(params) {
  const filterKey = useMemo(() => {
    const p = new URLSearchParams(params);
    p.delete("sel");
    return p.toString();
  }, [params]);
  const text = (params.get("q") || "").trim();
  const [state, setState] = useState({ rows: [], total: null, loading: true, done: false, error: null, cursor: null, scanned: 0 });
  const ref = useRef(state);
  ref.current = state;
  const gen = useRef(0);
  const busy = useRef(false);

  const filters = () => filtersOf(new URLSearchParams(filterKey));

  async function fetchPage(cursorRows, cursor) {
    const f = filters();
    if (text) {
      const res = await api.searchTraces(f, text, { cursor, perPage: PAGE });
      return { spans: res.spans, total: null, done: !res.next, cursor: res.next, scanned: res.scanned, roots: res.total };
    }
    if (!cursorRows || !cursorRows.length) {
      const res = await api.listTraces(f, { perPage: PAGE });
      return { spans: res.spans, total: res.pagination.total, done: !res.pagination.hasMore };
    }
    // Keyset by time: everything started at or before the last row (rows sharing its
    // millisecond are asked for again and skipped).
    const last = cursorRows[cursorRows.length - 1].startedAt;
    const tie = cursorRows.filter((r) => r.startedAt === last).length;
    const seen = new Set(cursorRows.map((r) => r.traceId));
    if (tie + PAGE <= 100) {
      const end = new Date(last);
      const res = await api.listTraces({ ...f, end: f.end && f.end < end ? f.end : end }, { perPage: tie + PAGE });
      return { spans: res.spans.filter((r) => !seen.has(r.traceId)), done: res.spans.length < tie + PAGE };
    }
    const res = await api.listTraces(f, { page: Math.floor(cursorRows.length / PAGE), perPage: PAGE });
    return { spans: res.spans.filter((r) => !seen.has(r.traceId)), done: !res.pagination.hasMore };
  }

  // First page whenever the filters change.
  useEffect(() => {
    const mine = ++gen.current;
    busy.current = true;
    setState({ rows: [], total: null, loading: true, done: false, error: null, cursor: null, scanned: 0 });
    fetchPage(null, null).then((r) => {
      if (mine !== gen.current) return;
      setState({ rows: r.spans, total: r.total, loading: false, done: r.done, error: null, cursor: r.cursor, scanned: r.scanned || 0, roots: r.roots });
    }, (error) => mine === gen.current && setState((s) => ({ ...s, loading: false, error, done: true })))
      .finally(() => { if (mine === gen.current) busy.current = false; });
  }, [filterKey]);

  async function loadMore() {
    const s = ref.current;
    if (busy.current || s.done || s.loading || s.error) return;
    const mine = gen.current;
    busy.current = true;
    setState((x) => ({ ...x, more: true }));
    try {
      const r = await fetchPage(s.rows, s.cursor);
      if (mine !== gen.current) return;
      setState((x) => ({ ...x, rows: [...x.rows, ...r.spans], done: r.done, cursor: r.cursor ?? null,
        scanned: x.scanned + (r.scanned || 0), roots: x.roots ?? r.roots, more: false }));
    } catch (error) {
      if (mine === gen.current) setState((x) => ({ ...x, error, more: false }));
    } finally {
      if (mine === gen.current) busy.current = false;
    }
  }

  // Live: the first page again, merged; running rows below it refreshed one by one.
  usePoll(async () => {
    const s = ref.current;
    if (s.loading || s.error || busy.current) return;
    const mine = gen.current;
    const head = await fetchPage(null, null);
    if (mine !== gen.current) return;
    const complete = text ? false : head.done ? "all" : true;
    let rows = mergeHead(ref.current.rows, head.spans, complete);
    const inHead = new Set(head.spans.map((r) => r.traceId));
    const running = rows.filter((r) => r.status === "running" && !inHead.has(r.traceId)).slice(0, 10);
    const updates = await Promise.all(running.map((r) => api.traceStructure(r.traceId).catch(() => null)));
    if (mine !== gen.current) return;
    const roots = new Map();
    for (const u of updates) {
      const root = u && u.spans.find((sp) => !sp.parentSpanId);
      if (root) roots.set(root.traceId, root);
    }
    if (roots.size) rows = rows.map((r) => (roots.has(r.traceId) ? { ...r, ...roots.get(r.traceId), inputPreview: r.inputPreview } : r));
    if (rows !== ref.current.rows || (head.total ?? ref.current.total) !== ref.current.total)
      setState((x) => ({ ...x, rows, total: head.total ?? x.total }));
  }, POLL_MS, [filterKey]);

  return { ...state, loadMore, searching: !!text };
}

/** Tokens and cost of the rows on screen (finished traces once, running ones each poll). */
function useCosts(rows, enabled) {
  const [costs, setCosts] = useState({});
  const asked = useRef(new Set());
  useEffect(() => {
    if (!enabled) return;
    const want = rows.filter((r) => !asked.current.has(r.traceId) || r.status === "running").map((r) => r.traceId).slice(0, 500);
    if (!want.length) return;
    rows.forEach((r) => r.status !== "running" && want.includes(r.traceId) && asked.current.add(r.traceId));
    api.tokensBy("traceId", want).then((found) => setCosts((c) => {
      const next = { ...c };
      for (const id of want) next[id] = found[id] || { tokens: 0, cost: null };
      return next;
    }), () => {});
  }, [rows, enabled]);
  return costs;
}

// ---------------------------------------------------------------- filters

function useDiscovery(kind, entityType) {
  const [values, setValues] = useState([]);
  useEffect(() => { api.discover(kind, entityType).then(setValues); }, [kind, entityType]);
  return values;
}

function Choice({ label, name, value, options, onChange, listId }) {
  // A free-text field with suggestions: works whether or not the store can list values.
  return html`<label class="field"><span>${label}</span>
    <${DebouncedInput} name=${name} list=${listId} value=${value} placeholder="any" onCommit=${(v) => onChange({ [name]: v.trim() })} />
    <datalist id=${listId}>${options.map((o) => html`<option value=${o} />`)}</datalist>
  </label>`;
}

function Filters({ params, set }) {
  const f = filtersOf(params);
  const [more, setMore] = useState(() => ["spanType", "serviceName", "environment", "userId", "sessionId", "threadId",
    "runId", "resourceId", "tag", "meta", "hasChildError", "from", "to"].some((k) => params.has(k)));
  const entityTypes = useDiscovery("entity-types");
  const entityNames = useDiscovery("entity-names", f.entityType || undefined);
  const services = useDiscovery("service-names");
  const environments = useDiscovery("environments");
  const tags = useDiscovery("tags");
  const metaText = params.getAll("meta").join(", ");
  const active = [...params.keys()].filter((k) => !["sel"].includes(k)).length;

  return html`<form class="filters" onSubmit=${(e) => e.preventDefault()} role="search">
    <div class="filter-row">
      <${DebouncedInput} id="search" class="search" type="search" name="q" value=${params.get("q") || ""}
        placeholder="Search inputs and outputs…  ( / )" aria-label="Search inputs and outputs"
        onCommit=${(v) => set({ q: v.trim() })} />
      <${TimeRange} params=${params} onChange=${set} />
      <select name="status" aria-label="Status" value=${f.status} onChange=${(e) => set({ status: e.target.value })}>
        <option value="">Any status</option>
        <option value="success">Success</option><option value="error">Error</option><option value="running">Running</option>
      </select>
      <${Choice} label="Entity type" name="entityType" value=${f.entityType} options=${entityTypes} onChange=${set} listId="dl-entity-types" />
      <${Choice} label="Entity name" name="entityName" value=${f.entityName} options=${entityNames} onChange=${set} listId="dl-entity-names" />
      <button type="button" class="btn" aria-expanded=${more} onClick=${() => setMore(!more)}>${more ? "Fewer filters" : "More filters"}</button>
      ${active > 0 && html`<button type="button" class="btn link" onClick=${() => go("/traces", new URLSearchParams())}>Clear all</button>`}
    </div>
    ${more && html`<div class="filter-grid">
      <label class="field"><span>Span type</span>
        <select name="spanType" value=${f.spanType} onChange=${(e) => set({ spanType: e.target.value })}>
          <option value="">Any</option>${SPAN_TYPES.map((t) => html`<option value=${t}>${t}</option>`)}
        </select></label>
      <${Choice} label="Service" name="serviceName" value=${f.serviceName} options=${services} onChange=${set} listId="dl-services" />
      <${Choice} label="Environment" name="environment" value=${f.environment} options=${environments} onChange=${set} listId="dl-envs" />
      ${TEXT_FILTERS.map(([key, label]) => html`<label class="field"><span>${label}</span>
        <${DebouncedInput} name=${key} value=${f[key]} placeholder="any" onCommit=${(v) => set({ [key]: v.trim() })} /></label>`)}
      <label class="field"><span>Tags (comma separated)</span>
        <${DebouncedInput} name="tags" list="dl-tags" value=${f.tags.join(", ")} placeholder="e.g. support, eu"
          onCommit=${(v) => set({ tag: v.split(",").map((t) => t.trim()).filter(Boolean) })} />
        <datalist id="dl-tags">${tags.map((t) => html`<option value=${t} />`)}</datalist></label>
      <label class="field wide"><span>Metadata (key=value, comma separated)</span>
        <${DebouncedInput} name="metadata" value=${metaText} placeholder="e.g. tier=pro"
          onCommit=${(v) => set({ meta: v.split(",").map((t) => t.trim()).filter((t) => t.indexOf("=") > 0) })} /></label>
      <label class="check"><input type="checkbox" name="hasChildError" checked=${f.hasChildError}
        onChange=${(e) => set({ hasChildError: e.target.checked })} /> Has a failed span</label>
    </div>`}
  </form>`;
}

// ---------------------------------------------------------------- the page

export function TracesPage({ params, caps }) {
  const list = useTraceList(params);
  const costs = useCosts(list.rows, !!caps.metrics);
  const [selected, setSelected] = useState(null);
  const tableRef = useRef(null);
  useTicker(1000, list.rows.some((r) => r.status === "running"));

  const set = (patch) => go("/traces", withParams(params, patch), { replace: true });
  const open = (row) => go(`/trace/${encodeURIComponent(row.traceId)}`, new URLSearchParams());

  // Keyboard: j/k move, Enter opens. The handler is registered once and reads the latest
  // rows and selection from a ref, so fast key repeats never act on a stale list.
  const keys = useRef(null);
  keys.current = { rows: list.rows, selected, loadMore: list.loadMore };
  useEffect(() => {
    const onKey = (e) => {
      if (typing(e) || e.metaKey || e.ctrlKey || e.altKey) return;
      const { rows, selected: current, loadMore } = keys.current;
      if (!rows.length) return;
      const at = rows.findIndex((r) => r.traceId === current);
      if (e.key === "j" || e.key === "ArrowDown" || e.key === "k" || e.key === "ArrowUp") {
        e.preventDefault();
        const down = e.key === "j" || e.key === "ArrowDown";
        const next = at < 0 ? 0 : Math.max(0, Math.min(rows.length - 1, at + (down ? 1 : -1)));
        keys.current.selected = rows[next].traceId;
        setSelected(rows[next].traceId);
        if (down && next >= rows.length - 5) loadMore();
      } else if (e.key === "Enter" && at >= 0) {
        e.preventDefault();
        open(rows[at]);
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  useEffect(() => {
    const el = tableRef.current && selected && tableRef.current.querySelector(`tr[data-trace-id="${CSS.escape(selected)}"]`);
    if (el) el.scrollIntoView({ block: "nearest" });
  }, [selected]);

  const count = list.searching
    ? `${list.rows.length} match${list.rows.length === 1 ? "" : "es"} · searched ${fmtInt(list.scanned)}${list.roots ? " of " + fmtInt(list.roots) : ""} traces`
    : list.total === null ? "" : `${fmtInt(list.total)} trace${list.total === 1 ? "" : "s"}`;

  return html`<section class="page traces-page">
    <header class="page-head"><h1>Traces</h1><span class="count" data-testid="trace-count">${count}</span>
      <span class="live" title="The list refreshes itself every 1.5 s">live</span></header>
    <${Filters} params=${params} set=${set} />
    ${list.error && html`<${Notice} error=${list.error} />`}
    <div class="table-wrap">
      <table class="grid traces" ref=${tableRef}>
        <thead><tr>
          <th>Name</th><th class="c-entity">Entity</th><th>Status</th><th>Start</th>
          <th class="num">Duration</th><th class="num c-tokens">Tokens</th><th class="num c-cost">Cost</th><th class="c-preview">Input</th>
        </tr></thead>
        <tbody>
          ${list.rows.map((r) => {
            const c = costs[r.traceId];
            return html`<tr key=${r.traceId} data-trace-id=${r.traceId} data-status=${r.status}
              class=${(r.traceId === selected ? "selected " : "") + (r.fresh ? "fresh" : "")}
              onClick=${(e) => { if (!e.metaKey && !e.ctrlKey) { e.preventDefault(); open(r); } }}>
              <td class="c-name"><span class="dot fam-${spanFamily(r.spanType)}"></span>
                <a href=${"#/trace/" + encodeURIComponent(r.traceId)}>${r.name}</a></td>
              <td class="c-entity">${r.entityType ? html`<span class="muted">${r.entityType}</span> ${r.entityName || ""}` : "–"}</td>
              <td><${Status} status=${r.status} /></td>
              <td title=${r.startedAt}>${fmtTime(r.startedAt)}</td>
              <td class="num">${fmtDuration(ms(r.startedAt, r.endedAt))}</td>
              <td class="num c-tokens">${c && c.tokens ? fmtInt(c.tokens) : "–"}</td>
              <td class="num c-cost">${c ? fmtCost(c.cost, c.unit) : "–"}</td>
              <td class="c-preview" title=${r.inputPreview || ""}>${r.inputPreview || ""}</td>
            </tr>`;
          })}
        </tbody>
      </table>
      ${!list.loading && !list.error && !list.rows.length && html`<${Notice}>No traces match${list.searching && !list.done ? " yet (still searching)" : ""}.</${Notice}>`}
      <${Sentinel} active=${!list.done && !list.loading} busy=${!!list.more} onVisible=${list.loadMore}>
        ${list.loading || list.more ? html`<span class="muted">Loading…</span>` : list.done && list.rows.length ? html`<span class="muted">End of list</span>` : ""}
      </${Sentinel}>
    </div>
  </section>`;
}
