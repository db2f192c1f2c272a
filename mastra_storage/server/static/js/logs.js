// The Logs page (GET /observability/logs): filter by level, trace and text, newest first,
// live, infinitely scrolled. LogTable is also the trace page's Logs tab.

import { useEffect, useRef, useState } from "preact/hooks";
import * as api from "./api.js";
import {
  html, go, withParams, timeWindow, TimeRange, Notice, Sentinel, usePoll, DebouncedInput,
  JsonView, fmtTime,
} from "./ui.js";

const LEVELS = ["debug", "info", "warn", "error", "fatal"];
const PAGE = 100;

function spanName(spans, spanId) {
  const s = spans && spanId && spans.find((x) => x.spanId === spanId);
  return s ? s.name : null;
}

export function LogTable({ rows, spans }) {
  const [open, setOpen] = useState(() => new Set());
  const flip = (id) => setOpen((o) => { const n = new Set(o); n.has(id) ? n.delete(id) : n.add(id); return n; });
  return html`<div class="table-wrap"><table class="grid logs">
    <thead><tr><th>Time</th><th>Level</th><th>Message</th><th class="c-entity">Source</th>${!spans && html`<th>Trace</th>`}</tr></thead>
    <tbody>${rows.map((log) => html`
      <tr key=${log.logId} data-log-id=${log.logId} data-level=${log.level} class=${log.fresh ? "fresh" : ""}
        onClick=${() => log.data !== null && log.data !== undefined && flip(log.logId)}>
        <td title=${log.timestamp}>${fmtTime(log.timestamp)}</td>
        <td><span class=${"level level-" + log.level}>${log.level}</span></td>
        <td class="c-message">${log.message}${log.data !== null && log.data !== undefined ? html` <span class="muted">{…}</span>` : ""}
          ${open.has(log.logId) && html`<div onClick=${(e) => e.stopPropagation()}><${JsonView} value=${log.data} /></div>`}</td>
        <td class="c-entity">${[log.entityType, log.entityName].filter(Boolean).join(" · ") || spanName(spans, log.spanId) || "–"}</td>
        ${!spans && html`<td>${log.traceId ? html`<a href=${`#/trace/${encodeURIComponent(log.traceId)}` + (log.spanId ? `?span=${encodeURIComponent(log.spanId)}` : "")}
          onClick=${(e) => e.stopPropagation()}><code>${log.traceId.slice(0, 8)}</code></a>` : "–"}</td>`}
      </tr>`)}</tbody>
  </table></div>`;
}

function queryOf(params) {
  const { start, end } = timeWindow(params);
  const q = { perPage: PAGE, field: "timestamp", direction: "DESC" };
  const levels = params.getAll("level");
  if (levels.length) q.level = levels;
  if (params.get("traceId")) q.traceId = params.get("traceId");
  if (params.get("q")) q.search = params.get("q");
  if (start || end) q.timestamp = { ...(start && { start: start.toISOString() }), ...(end && { end: end.toISOString() }) };
  return q;
}

export function LogsPage({ params, caps }) {
  const key = params.toString();
  const [state, setState] = useState({ rows: [], total: null, page: 0, done: false, loading: true, error: null });
  const ref = useRef(state);
  ref.current = state;
  const gen = useRef(0);
  const set = (patch) => go("/logs", withParams(params, patch), { replace: true });

  useEffect(() => {
    const mine = ++gen.current;
    setState({ rows: [], total: null, page: 0, done: false, loading: true, error: null });
    api.listLogs({ ...queryOf(params), page: 0 }).then(
      (r) => mine === gen.current && setState({ rows: r.logs, total: r.pagination.total, page: 0, done: !r.pagination.hasMore, loading: false, error: null }),
      (error) => mine === gen.current && setState((s) => ({ ...s, loading: false, error, done: true })));
  }, [key]);

  const loadMore = async () => {
    const s = ref.current;
    if (s.loading || s.done || s.more) return;
    const mine = gen.current;
    setState((x) => ({ ...x, more: true }));
    try {
      const r = await api.listLogs({ ...queryOf(params), page: s.page + 1 });
      if (mine !== gen.current) return;
      const seen = new Set(ref.current.rows.map((l) => l.logId));
      setState((x) => ({ ...x, rows: [...x.rows, ...r.logs.filter((l) => !seen.has(l.logId))], page: x.page + 1, done: !r.pagination.hasMore, more: false }));
    } catch (error) { if (mine === gen.current) setState((x) => ({ ...x, error, more: false })); }
  };

  usePoll(async () => {
    const s = ref.current;
    if (s.loading || s.error) return;
    const mine = gen.current;
    const r = await api.listLogs({ ...queryOf(params), page: 0 });
    if (mine !== gen.current) return;
    const seen = new Set(ref.current.rows.map((l) => l.logId));
    const added = r.logs.filter((l) => !seen.has(l.logId)).map((l) => ({ ...l, fresh: true }));
    if (added.length || r.pagination.total !== s.total)
      setState((x) => ({ ...x, rows: [...added, ...x.rows], total: r.pagination.total }));
  }, 1500, [key]);

  const levels = params.getAll("level");
  return html`<section class="page logs-page">
    <header class="page-head"><h1>Logs</h1><span class="count" data-testid="log-count">${state.total === null ? "" : `${state.total.toLocaleString("en-US")} log${state.total === 1 ? "" : "s"}`}</span></header>
    ${caps.logs === false && html`<${Notice}>This store doesn't report logs support (${caps.storage}); showing what it answers.</${Notice}>`}
    <form class="filters" onSubmit=${(e) => e.preventDefault()}><div class="filter-row">
      <${DebouncedInput} id="search" class="search" type="search" name="q" value=${params.get("q") || ""}
        placeholder="Search messages…  ( / )" aria-label="Search log messages" onCommit=${(v) => set({ q: v.trim() })} />
      <${TimeRange} params=${params} onChange=${set} />
      <span class="levels" role="group" aria-label="Levels">${LEVELS.map((l) => html`<label class=${"check level-pick level-" + l}>
        <input type="checkbox" name="level" value=${l} checked=${levels.includes(l)}
          onChange=${(e) => set({ level: e.target.checked ? [...levels, l] : levels.filter((x) => x !== l) })} /> ${l}</label>`)}</span>
      <label class="field"><span>Trace id</span><${DebouncedInput} name="traceId" value=${params.get("traceId") || ""} placeholder="any"
        onCommit=${(v) => set({ traceId: v.trim() })} /></label>
    </div></form>
    ${state.error && html`<${Notice} error=${state.error} />`}
    ${!state.error && html`<${LogTable} rows=${state.rows} />`}
    ${!state.loading && !state.error && !state.rows.length && html`<${Notice}>No logs match.</${Notice}>`}
    <${Sentinel} active=${!state.done && !state.loading} busy=${!!state.more} onVisible=${loadMore}>
      ${state.loading || state.more ? html`<span class="muted">Loading…</span>` : ""}</${Sentinel}>
  </section>`;
}
