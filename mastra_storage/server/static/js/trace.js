// The Trace page: a collapsible span tree beside a waterfall timeline, the selected span's
// payloads, and the trace's logs, scores, feedback and thread in tabs.
//
// * Structure: GET /traces/:id/light (every span, no payloads), polled while running.
// * A span's payloads: GET /traces/:id/spans/:spanId when it is selected.
// * Tokens and cost per span: POST /metrics/breakdown grouped by spanId.
// * Tabs: GET /logs, /scores, /feedback with traceId; the thread: GET /traces/light?threadId.
// * Keyboard: j/k move through spans, h/l fold and unfold, Esc back to the list.

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import * as api from "./api.js";
import {
  html, go, withParams, parseHash, Status, Notice, Payload, CopyButton, JsonView, usePoll, useTicker, typing,
  fmtDuration, fmtTime, fmtInt, fmtCost, ms, spanFamily, shortType, FAMILIES,
} from "./ui.js";
import { LogTable } from "./logs.js";
import { ScoreTable, FeedbackTable } from "./scores.js";

const POLL_MS = 1500;

// ---------------------------------------------------------------- tree and timeline

function buildTree(spans) {
  const nodes = new Map(spans.map((s) => [s.spanId, { span: s, children: [] }]));
  const roots = [];
  for (const node of nodes.values()) {
    const parent = node.span.parentSpanId && nodes.get(node.span.parentSpanId);
    (parent && parent !== node ? parent.children : roots).push(node);
  }
  const order = (a, b) => (a.span.startedAt < b.span.startedAt ? -1 : a.span.startedAt > b.span.startedAt ? 1 : 0);
  const sort = (list) => { list.sort(order); list.forEach((n) => sort(n.children)); };
  sort(roots);
  return roots;
}

/** Depth-first rows of the tree, skipping the children of folded spans. */
function visibleRows(roots, folded) {
  const out = [];
  const walk = (node, depth) => {
    out.push({ span: node.span, depth, children: node.children.length });
    if (!folded.has(node.span.spanId)) node.children.forEach((c) => walk(c, depth + 1));
  };
  roots.forEach((r) => walk(r, 0));
  return out;
}

function bounds(spans) {
  let start = Infinity, end = -Infinity;
  for (const s of spans) {
    const a = Date.parse(s.startedAt);
    const b = s.endedAt ? Date.parse(s.endedAt) : s.isEvent ? a : Date.now();
    start = Math.min(start, a);
    end = Math.max(end, b);
  }
  return { start, total: Math.max(end - start, 1) };
}

function Axis({ total }) {
  return html`<div class="wf-row wf-axis" aria-hidden="true">
    <div class="wf-label"><span class="muted">Span</span></div>
    <div class="wf-track">${[0, 0.25, 0.5, 0.75, 1].map((f) => html`<span class="tick" style=${{ left: f * 100 + "%" }}>${fmtDuration(total * f)}</span>`)}</div>
  </div>`;
}

function Waterfall({ rows, frame, selected, onSelect, onToggle, folded, costs }) {
  return html`<div class="waterfall" role="tree" aria-label="Spans">
    <${Axis} total=${frame.total} />
    ${rows.map(({ span, depth, children }) => {
      const started = Date.parse(span.startedAt);
      const duration = span.isEvent ? 0 : ms(span.startedAt, span.endedAt);
      const left = ((started - frame.start) / frame.total) * 100;
      const width = (duration / frame.total) * 100;
      const fam = spanFamily(span.spanType);
      const cost = costs[span.spanId];
      const cls = ["wf-bar", "fam-" + fam, span.error ? "is-error" : "", span.status === "running" ? "is-running" : "", span.isEvent ? "is-event" : ""].join(" ");
      return html`<div class=${"wf-row" + (span.spanId === selected ? " selected" : "")} role="treeitem"
        aria-level=${depth + 1} aria-selected=${span.spanId === selected} aria-expanded=${children ? !folded.has(span.spanId) : undefined}
        data-span-id=${span.spanId} onClick=${() => onSelect(span.spanId)}>
        <div class="wf-label" style=${{ paddingLeft: 6 + depth * 14 + "px" }}>
          ${children ? html`<button type="button" class="twisty" aria-label=${folded.has(span.spanId) ? "Unfold" : "Fold"}
              onClick=${(e) => { e.stopPropagation(); onToggle(span.spanId); }}>${folded.has(span.spanId) ? "▸" : "▾"}</button>`
            : html`<span class="twisty-space"></span>`}
          <span class=${"chip fam-" + fam} title=${span.spanType}>${shortType(span.spanType)}</span>
          <span class="wf-name" title=${span.name}>${span.name}</span>
          ${span.error && html`<span class="status status-error small">error</span>`}
          <span class="wf-meta">${cost && cost.tokens ? fmtInt(cost.tokens) + " tok · " : ""}${span.isEvent ? "event" : fmtDuration(duration)}</span>
        </div>
        <div class="wf-track"><div class=${cls} data-duration-ms=${duration} data-span-type=${span.spanType}
          style=${{ left: left + "%", width: span.isEvent ? undefined : width + "%" }}
          title=${`${span.name} · ${span.isEvent ? "event" : fmtDuration(duration)}`}></div></div>
      </div>`;
    })}
  </div>`;
}

function Legend() {
  return html`<div class="legend" aria-hidden="true">
    ${FAMILIES.map((f) => html`<span><i class=${"swatch fam-" + f}></i>${f}</span>`)}
    <span><i class="swatch is-error"></i>error</span>
  </div>`;
}

// ---------------------------------------------------------------- span details

function usage(attributes) {
  const u = (attributes && (attributes.usage || attributes.tokenUsage)) || null;
  if (!u || typeof u !== "object") return null;
  const input = u.inputTokens ?? u.promptTokens ?? null;
  const output = u.outputTokens ?? u.completionTokens ?? null;
  const total = u.totalTokens ?? (input !== null || output !== null ? (input || 0) + (output || 0) : null);
  return { input, output, total };
}

function ModelBox({ span, cost }) {
  const a = span.attributes || {};
  const u = usage(a);
  if (!a.model && !u && !span.spanType.startsWith("model_")) return null;
  return html`<dl class="facts model-facts" data-testid="model-facts">
    <div><dt>Model</dt><dd>${a.model ? String(a.model) : "–"}${a.provider ? html` <span class="muted">(${String(a.provider)})</span>` : ""}</dd></div>
    <div><dt>Tokens in / out</dt><dd>${u ? `${fmtInt(u.input)} / ${fmtInt(u.output)}` : "–"}</dd></div>
    <div><dt>Total tokens</dt><dd>${u ? fmtInt(u.total) : cost ? fmtInt(cost.tokens) : "–"}</dd></div>
    <div><dt>Cost</dt><dd>${cost ? fmtCost(cost.cost, cost.unit) : "–"}</dd></div>
  </dl>`;
}

function ErrorBlock({ error }) {
  if (!error) return null;
  const e = typeof error === "object" ? error : { message: String(error) };
  const stack = e.stack || (e.details && e.details.stack);
  return html`<details class="payload error-block" open data-section="error">
    <summary><span class="payload-title">Error</span><span class="payload-tools"><${CopyButton} value=${error} /></span></summary>
    <div class="error-message">${e.name ? html`<b>${String(e.name)}</b>: ` : ""}${String(e.message ?? "")}</div>
    ${stack && html`<pre class="stack">${String(stack)}</pre>`}
    <${JsonView} value=${error} open=${1} />
  </details>`;
}

function SpanDetail({ traceId, span, cost, scores }) {
  const [detail, setDetail] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let live = true;
    setError(null);
    api.getSpan(traceId, span.spanId).then((r) => live && setDetail(r.span), (e) => live && setError(e));
    return () => { live = false; };
  }, [traceId, span.spanId, span.updatedAt, span.endedAt]);
  const full = detail && detail.spanId === span.spanId ? detail : null;
  const duration = span.isEvent ? 0 : ms(span.startedAt, span.endedAt);
  const context = full && Object.fromEntries(Object.entries({
    entityType: full.entityType, entityId: full.entityId, entityName: full.entityName, userId: full.userId,
    sessionId: full.sessionId, threadId: full.threadId, resourceId: full.resourceId, runId: full.runId,
    requestId: full.requestId, environment: full.environment, serviceName: full.serviceName,
    source: full.source, tags: full.tags, scope: full.scope, requestContext: full.requestContext,
  }).filter(([, v]) => v !== null && v !== undefined));
  const mine = scores.filter((s) => s.spanId === span.spanId);
  return html`<aside class="span-detail" aria-label="Span details" data-span-id=${span.spanId}>
    <header>
      <h2 title=${span.name}>${span.name}</h2>
      <div class="chips"><span class=${"chip fam-" + spanFamily(span.spanType)}>${span.spanType}</span>
        <${Status} status=${span.status} /> <span>${span.isEvent ? "event" : fmtDuration(duration)}</span>
        <span class="muted" title=${span.startedAt}>${fmtTime(span.startedAt, true)}</span></div>
      <div class="ids muted">span <code>${span.spanId}</code> <${CopyButton} value=${span.spanId} label="Copy id" /></div>
    </header>
    ${error && html`<${Notice} error=${error} />`}
    ${!full && !error && html`<div class="muted">Loading…</div>`}
    ${full && html`
      <${ModelBox} span=${full} cost=${cost} />
      <${ErrorBlock} error=${full.error} />
      <${Payload} title="Input" value=${full.input} />
      <${Payload} title="Output" value=${full.output} output=${true} />
      <${Payload} title="Attributes" value=${full.attributes} open=${!full.input && !full.output} />
      <${Payload} title="Metadata" value=${full.metadata} />
      <${Payload} title="Context" value=${context} open=${false} />
      ${full.links && html`<${Payload} title="Links" value=${full.links} open=${false} />`}`}
    ${mine.length > 0 && html`<h3>Scores</h3><${ScoreTable} rows=${mine} compact=${true} />`}
  </aside>`;
}

// ---------------------------------------------------------------- tabs' data

function useSignals(traceId) {
  const [data, setData] = useState({ logs: null, scores: null, feedback: null });
  const load = () => Promise.all([
    api.listLogs({ traceId, perPage: 100, field: "timestamp", direction: "ASC" }).then((r) => r.logs, (e) => e),
    api.listScores({ traceId, perPage: 100 }).then((r) => r.scores, (e) => e),
    api.listFeedback({ traceId, perPage: 100 }).then((r) => r.feedback, (e) => e),
  ]).then(([logs, scores, feedback]) => setData({ logs, scores, feedback }));
  useEffect(() => { setData({ logs: null, scores: null, feedback: null }); load(); }, [traceId]);
  return [data, load];
}

function TabBody({ value, render, empty }) {
  if (value === null) return html`<div class="muted">Loading…</div>`;
  if (value instanceof Error) return html`<${Notice} error=${value} />`;
  if (!value.length) return html`<${Notice}>${empty}</${Notice}>`;
  return render(value);
}

function ThreadList({ threadId, traceId }) {
  const [rows, setRows] = useState(null);
  useEffect(() => { api.threadTraces(threadId).then((r) => setRows(r.spans), (e) => setRows(e)); }, [threadId]);
  return html`<${TabBody} value=${rows} empty="No other traces in this thread." render=${(list) => html`
    <table class="grid thread"><thead><tr><th>Name</th><th>Status</th><th>Start</th><th class="num">Duration</th><th>Input</th></tr></thead>
    <tbody>${list.map((r) => html`<tr class=${r.traceId === traceId ? "current" : ""} data-trace-id=${r.traceId}>
      <td><a href=${"#/trace/" + encodeURIComponent(r.traceId)}>${r.name}</a>${r.traceId === traceId ? html` <span class="muted">(this trace)</span>` : ""}</td>
      <td><${Status} status=${r.status} /></td><td title=${r.startedAt}>${fmtTime(r.startedAt)}</td>
      <td class="num">${fmtDuration(ms(r.startedAt, r.endedAt))}</td><td class="c-preview">${r.inputPreview || ""}</td></tr>`)}</tbody></table>`} />`;
}

// ---------------------------------------------------------------- the page

export function TracePage({ traceId, params, caps }) {
  const [spans, setSpans] = useState(null);
  const [error, setError] = useState(null);
  const [root, setRoot] = useState(null);
  const [costs, setCosts] = useState({});
  const [folded, setFolded] = useState(() => new Set());
  const [signals, reloadSignals] = useSignals(traceId);
  const tab = params.get("tab") || "timeline";

  const load = async () => {
    try {
      const r = await api.traceStructure(traceId);
      setSpans(r.spans);
      setError(null);
      return r.spans;
    } catch (e) { setError(e); return null; }
  };
  useEffect(() => { setSpans(null); setRoot(null); setCosts({}); setFolded(new Set()); load(); }, [traceId]);

  const running = !!spans && spans.some((s) => s.status === "running");
  const wasRunning = useRef(false);
  usePoll(async () => {
    if (!running && !wasRunning.current) return;
    wasRunning.current = running;
    await load();
    reloadSignals();
  }, POLL_MS, [traceId, running]);
  useTicker(500, running);

  const rootSpan = useMemo(() => spans && (spans.find((s) => !s.parentSpanId) || spans[0]), [spans]);
  useEffect(() => {
    if (!rootSpan) return;
    api.getSpan(traceId, rootSpan.spanId).then((r) => setRoot(r.span), () => {});
  }, [traceId, rootSpan && rootSpan.spanId, rootSpan && rootSpan.endedAt]);
  useEffect(() => {
    if (!caps.metrics || !spans) return;
    api.tokensBy("spanId", [traceId]).then(setCosts, () => {});
  }, [traceId, caps.metrics, spans && spans.filter((s) => s.endedAt).length]);

  const tree = useMemo(() => (spans ? buildTree(spans) : []), [spans]);
  const rows = useMemo(() => visibleRows(tree, folded), [tree, folded]);
  const frame = useMemo(() => (spans && spans.length ? bounds(spans) : { start: 0, total: 1 }), [spans, running && Date.now()]);
  const selectedId = params.get("span") || (rootSpan && rootSpan.spanId);
  const selected = spans && (spans.find((s) => s.spanId === selectedId) || rootSpan);

  // From the current URL (not the render's params): key handlers may run between renders.
  const setParam = (patch, replace = true) =>
    go(`/trace/${encodeURIComponent(traceId)}`, withParams(parseHash().params, patch), { replace });
  const select = (spanId) => setParam({ span: spanId });
  const toggle = (spanId) => setFolded((f) => { const n = new Set(f); n.has(spanId) ? n.delete(spanId) : n.add(spanId); return n; });

  // Keyboard: j/k through the visible spans, h/l fold/unfold (latest state via a ref).
  const keys = useRef(null);
  keys.current = { rows, selectedId, folded, tab };
  useEffect(() => {
    const onKey = (e) => {
      const { rows: list, selectedId: current, folded: closed, tab: shown } = keys.current;
      if (typing(e) || e.metaKey || e.ctrlKey || e.altKey || !list.length || shown !== "timeline") return;
      const at = list.findIndex((r) => r.span.spanId === current);
      const move = (to) => { keys.current.selectedId = list[to].span.spanId; select(list[to].span.spanId); };
      if (e.key === "j" || e.key === "ArrowDown") { e.preventDefault(); move(Math.min(list.length - 1, at + 1)); }
      else if (e.key === "k" || e.key === "ArrowUp") { e.preventDefault(); move(Math.max(0, at - 1)); }
      else if ((e.key === "h" || e.key === "ArrowLeft") && at >= 0 && list[at].children && !closed.has(current)) toggle(current);
      else if ((e.key === "l" || e.key === "ArrowRight") && at >= 0 && closed.has(current)) toggle(current);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [traceId]);

  useEffect(() => {
    const el = selectedId && document.querySelector(`.wf-row[data-span-id="${CSS.escape(selectedId)}"]`);
    if (el) el.scrollIntoView({ block: "nearest" });
  }, [selectedId]);

  if (error && !spans) return html`<section class="page"><${Back} /><${Notice} error=${error} /></section>`;
  if (!spans) return html`<section class="page"><${Back} /><div class="muted">Loading trace…</div></section>`;

  const total = Object.values(costs).reduce((acc, c) => ({ tokens: acc.tokens + (c.tokens || 0), cost: c.cost === null || c.cost === undefined ? acc.cost : (acc.cost || 0) + c.cost, unit: c.unit || acc.unit }), { tokens: 0, cost: null, unit: null });
  const errors = spans.filter((s) => s.error).length;
  const count = (v) => (Array.isArray(v) ? ` (${v.length})` : "");
  const threadId = root && root.threadId;
  const tabs = [["timeline", "Timeline"], ["logs", "Logs" + count(signals.logs)], ["scores", "Scores" + count(signals.scores)],
    ["feedback", "Feedback" + count(signals.feedback)], ...(threadId ? [["thread", "Thread"]] : [])];

  return html`<section class="page trace-page" data-trace-id=${traceId}>
    <${Back} />
    <header class="trace-head">
      <h1 title=${rootSpan.name}>${rootSpan.name}</h1>
      <${Status} status=${rootSpan.status} />
      <dl class="facts">
        <div><dt>Started</dt><dd title=${rootSpan.startedAt}>${fmtTime(rootSpan.startedAt, true)}</dd></div>
        <div><dt>Duration</dt><dd>${fmtDuration(ms(rootSpan.startedAt, rootSpan.endedAt))}</dd></div>
        <div><dt>Spans</dt><dd data-testid="span-count">${spans.length}${errors ? html` <span class="err">(${errors} failed)</span>` : ""}</dd></div>
        <div><dt>Tokens</dt><dd data-testid="trace-tokens">${total.tokens ? fmtInt(total.tokens) : "–"}</dd></div>
        <div><dt>Cost</dt><dd>${fmtCost(total.cost, total.unit)}</dd></div>
        ${rootSpan.entityType && html`<div><dt>Entity</dt><dd>${rootSpan.entityType} · ${rootSpan.entityName || rootSpan.entityId || ""}</dd></div>`}
      </dl>
      <div class="ids muted">trace <code>${traceId}</code> <${CopyButton} value=${traceId} label="Copy id" />
        ${threadId && html` · thread <code>${threadId}</code>${" "}<button type="button" class="btn small" data-testid="open-thread" onClick=${() => setParam({ tab: "thread" }, false)}>Open thread</button>`}
        ${root && root.sessionId && html` · session <code>${root.sessionId}</code>`}
        ${root && root.userId && html` · user <code>${root.userId}</code>`}
      </div>
    </header>
    <nav class="tabs" role="tablist">
      ${tabs.map(([key, label]) => html`<button type="button" role="tab" aria-selected=${tab === key} data-tab=${key}
        class=${"tab" + (tab === key ? " active" : "")} onClick=${() => setParam({ tab: key === "timeline" ? null : key })}>${label}</button>`)}
    </nav>
    ${tab === "timeline" && html`<div class="trace-body">
      <div class="timeline-pane"><${Legend} />
        <${Waterfall} rows=${rows} frame=${frame} selected=${selected && selected.spanId} onSelect=${select}
          onToggle=${toggle} folded=${folded} costs=${costs} /></div>
      ${selected && html`<${SpanDetail} traceId=${traceId} span=${selected} cost=${costs[selected.spanId]}
        scores=${Array.isArray(signals.scores) ? signals.scores : []} />`}
    </div>`}
    ${tab === "logs" && html`<${TabBody} value=${signals.logs} empty="No logs for this trace."
      render=${(logs) => html`<${LogTable} rows=${logs} spans=${spans} />`} />`}
    ${tab === "scores" && html`<${TabBody} value=${signals.scores} empty="No scores for this trace."
      render=${(scores) => html`<${ScoreTable} rows=${scores} spans=${spans} />`} />`}
    ${tab === "feedback" && html`<${TabBody} value=${signals.feedback} empty="No feedback for this trace."
      render=${(items) => html`<${FeedbackTable} rows=${items} spans=${spans} />`} />`}
    ${tab === "thread" && threadId && html`<${ThreadList} threadId=${threadId} traceId=${traceId} />`}
  </section>`;
}

function Back() {
  return html`<a class="back" href="#/traces" onClick=${(e) => { e.preventDefault(); window.dispatchEvent(new Event("viewer:back")); }}>← Traces <span class="muted">(Esc)</span></a>`;
}
