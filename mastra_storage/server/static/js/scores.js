// The Scores & feedback page (GET /observability/scores and /feedback), newest first,
// infinitely scrolled; ScoreTable and FeedbackTable are also the trace page's tabs.

import { useEffect, useRef, useState } from "preact/hooks";
import * as api from "./api.js";
import {
  html, go, withParams, timeWindow, TimeRange, Notice, Sentinel, usePoll, DebouncedInput, fmtTime, fmtNumber,
} from "./ui.js";

const PAGE = 100;

function spanLink(row, spans) {
  const s = spans && row.spanId && spans.find((x) => x.spanId === row.spanId);
  if (spans) return s ? s.name : row.spanId ? "–" : "trace";
  if (!row.traceId) return "–";
  const href = `#/trace/${encodeURIComponent(row.traceId)}` + (row.spanId ? `?span=${encodeURIComponent(row.spanId)}` : "");
  return html`<a href=${href}><code>${row.traceId.slice(0, 8)}</code></a>`;
}

export function ScoreTable({ rows, spans, compact = false }) {
  return html`<div class="table-wrap"><table class="grid scores">
    <thead><tr>${!compact && html`<th>Time</th>`}<th>Scorer</th><th class="num">Score</th><th>Reason</th>
      ${!compact && html`<th>Source</th><th>${spans ? "Span" : "Trace"}</th>`}</tr></thead>
    <tbody>${rows.map((s) => html`<tr key=${s.scoreId} data-score-id=${s.scoreId}>
      ${!compact && html`<td title=${s.timestamp}>${fmtTime(s.timestamp)}</td>`}
      <td>${s.scorerName || s.scorerId}</td>
      <td class="num"><span class="score-bar" style=${{ "--v": Math.max(0, Math.min(1, s.score)) }}></span><span class="score-num">${Number.isInteger(s.score) ? s.score : fmtNumber(s.score, 3)}</span></td>
      <td class="c-reason">${s.reason || ""}</td>
      ${!compact && html`<td>${s.scoreSource || s.source || "–"}</td><td>${spanLink(s, spans)}</td>`}
    </tr>`)}</tbody></table></div>`;
}

export function FeedbackTable({ rows, spans }) {
  return html`<div class="table-wrap"><table class="grid feedback">
    <thead><tr><th>Time</th><th>Type</th><th>Value</th><th>Comment</th><th>Source</th><th>User</th><th>Review</th>
      <th>${spans ? "Span" : "Trace"}</th></tr></thead>
    <tbody>${rows.map((f) => html`<tr key=${f.feedbackId} data-feedback-id=${f.feedbackId}>
      <td title=${f.timestamp}>${fmtTime(f.timestamp)}</td><td>${f.feedbackType}</td>
      <td>${typeof f.value === "number" ? fmtNumber(f.value) : f.value ?? "–"}</td>
      <td class="c-reason">${f.comment || ""}</td><td>${f.feedbackSource || "–"}</td><td>${f.feedbackUserId || "–"}</td>
      <td>${f.reviewStatus || "–"}</td><td>${spanLink(f, spans)}</td>
    </tr>`)}</tbody></table></div>`;
}

function queryOf(params) {
  const { start, end } = timeWindow(params);
  const q = { perPage: PAGE, field: "timestamp", direction: "DESC" };
  if (params.get("traceId")) q.traceId = params.get("traceId");
  if (params.get("scorerId")) q.scorerId = params.get("scorerId");
  if (params.get("feedbackType")) q.feedbackType = params.get("feedbackType");
  if (start || end) q.timestamp = { ...(start && { start: start.toISOString() }), ...(end && { end: end.toISOString() }) };
  return q;
}

function usePaged(fetcher, key, idKey, params) {
  const [state, setState] = useState({ rows: [], total: null, page: 0, done: false, loading: true, error: null });
  const ref = useRef(state);
  ref.current = state;
  const gen = useRef(0);
  useEffect(() => {
    const mine = ++gen.current;
    setState({ rows: [], total: null, page: 0, done: false, loading: true, error: null });
    fetcher({ ...queryOf(params), page: 0 }).then(
      (r) => mine === gen.current && setState({ rows: r.rows, total: r.total, page: 0, done: !r.more, loading: false, error: null }),
      (error) => mine === gen.current && setState((s) => ({ ...s, loading: false, error, done: true })));
  }, [key]);
  const loadMore = async () => {
    const s = ref.current;
    if (s.loading || s.done || s.more) return;
    const mine = gen.current;
    setState((x) => ({ ...x, more: true }));
    try {
      const r = await fetcher({ ...queryOf(params), page: s.page + 1 });
      if (mine !== gen.current) return;
      const seen = new Set(ref.current.rows.map((x) => x[idKey]));
      setState((x) => ({ ...x, rows: [...x.rows, ...r.rows.filter((y) => !seen.has(y[idKey]))], page: x.page + 1, done: !r.more, more: false }));
    } catch (error) { if (mine === gen.current) setState((x) => ({ ...x, error, more: false })); }
  };
  usePoll(async () => {
    const s = ref.current;
    if (s.loading || s.error) return;
    const mine = gen.current;
    const r = await fetcher({ ...queryOf(params), page: 0 });
    if (mine !== gen.current) return;
    const seen = new Set(ref.current.rows.map((x) => x[idKey]));
    const added = r.rows.filter((y) => !seen.has(y[idKey]));
    if (added.length || r.total !== s.total) setState((x) => ({ ...x, rows: [...added, ...x.rows], total: r.total }));
  }, 3000, [key]);
  return { ...state, loadMore };
}

const fetchScores = (q) => api.listScores(q).then((r) => ({ rows: r.scores, total: r.pagination.total, more: r.pagination.hasMore }));
const fetchFeedback = (q) => api.listFeedback(q).then((r) => ({ rows: r.feedback, total: r.pagination.total, more: r.pagination.hasMore }));

export function ScoresPage({ params }) {
  const view = params.get("view") === "feedback" ? "feedback" : "scores";
  const key = params.toString();
  const list = usePaged(view === "scores" ? fetchScores : fetchFeedback, key, view === "scores" ? "scoreId" : "feedbackId", params);
  const set = (patch) => go("/scores", withParams(params, patch), { replace: true });
  return html`<section class="page scores-page">
    <header class="page-head"><h1>Scores & feedback</h1>
      <span class="count" data-testid="score-count">${list.total === null ? "" : `${list.total.toLocaleString("en-US")} ${view === "scores" ? "score" : "feedback item"}${list.total === 1 ? "" : "s"}`}</span></header>
    <nav class="tabs" role="tablist">
      <button type="button" role="tab" data-tab="scores" aria-selected=${view === "scores"} class=${"tab" + (view === "scores" ? " active" : "")}
        onClick=${() => set({ view: null, feedbackType: null })}>Scores</button>
      <button type="button" role="tab" data-tab="feedback" aria-selected=${view === "feedback"} class=${"tab" + (view === "feedback" ? " active" : "")}
        onClick=${() => set({ view: "feedback", scorerId: null })}>Feedback</button>
    </nav>
    <form class="filters" onSubmit=${(e) => e.preventDefault()}><div class="filter-row">
      <${TimeRange} params=${params} onChange=${set} />
      ${view === "scores"
        ? html`<label class="field"><span>Scorer</span><${DebouncedInput} name="scorerId" value=${params.get("scorerId") || ""} placeholder="any" onCommit=${(v) => set({ scorerId: v.trim() })} /></label>`
        : html`<label class="field"><span>Feedback type</span><${DebouncedInput} name="feedbackType" value=${params.get("feedbackType") || ""} placeholder="any" onCommit=${(v) => set({ feedbackType: v.trim() })} /></label>`}
      <label class="field"><span>Trace id</span><${DebouncedInput} name="traceId" value=${params.get("traceId") || ""} placeholder="any" onCommit=${(v) => set({ traceId: v.trim() })} /></label>
    </div></form>
    ${list.error && html`<${Notice} error=${list.error} />`}
    ${!list.error && (view === "scores" ? html`<${ScoreTable} rows=${list.rows} />` : html`<${FeedbackTable} rows=${list.rows} />`)}
    ${!list.loading && !list.error && !list.rows.length && html`<${Notice}>Nothing recorded${params.toString() ? " that matches" : ""} yet.</${Notice}>`}
    <${Sentinel} active=${!list.done && !list.loading} busy=${!!list.more} onVisible=${list.loadMore}>
      ${list.loading || list.more ? html`<span class="muted">Loading…</span>` : ""}</${Sentinel}>
  </section>`;
}
