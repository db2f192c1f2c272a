// The Metrics page: token usage and cost over time, latency p50/p95 and error rate per
// agent, workflow, tool or model, from the metrics Mastra derives from spans
// (POST /observability/metrics/aggregate|timeseries|percentiles|breakdown).

import { useEffect, useMemo, useState } from "preact/hooks";
import * as api from "./api.js";
import { html, go, withParams, timeWindow, TimeRange, Notice, fmtInt, fmtCost, fmtDuration } from "./ui.js";
import { Chart } from "./chart.js";

const IN = "mastra_model_total_input_tokens";
const OUT = "mastra_model_total_output_tokens";
const KINDS = [["agent", "Agents", "mastra_agent_duration_ms"], ["workflow", "Workflows", "mastra_workflow_duration_ms"],
  ["tool", "Tools", "mastra_tool_duration_ms"], ["model", "Models", "mastra_model_duration_ms"]];
const STEPS = [["1m", 60e3], ["5m", 300e3], ["15m", 900e3], ["1h", 3600e3], ["1d", 86400e3]];

/** The bucket size that gives at most ~150 points over the window. */
function interval(start, end) {
  const span = end - start;
  return STEPS.find(([, step]) => span / step <= 150) || STEPS[STEPS.length - 1];
}

/** Bucket starts covering the window (aligned like the store's: on multiples of the step). */
function grid(start, end, step) {
  const out = [];
  for (let t = Math.floor(start / step) * step; t <= end; t += step) out.push(t);
  return out;
}

function onGrid(xs, points, pick = (p) => p.value, fill = 0) {
  const at = new Map(points.map((p) => [Date.parse(p.timestamp), pick(p)]));
  return xs.map((t) => (at.has(t) ? at.get(t) : fill));
}

async function settle(promises) {
  const out = await Promise.allSettled(promises);
  return out.map((r) => (r.status === "fulfilled" ? r.value : r.reason));
}

function useMetrics(params, kind, entity) {
  const key = params.toString() + "|" + kind + "|" + entity;
  const [data, setData] = useState(null);
  useEffect(() => {
    let live = true;
    const { start: s, end: e } = timeWindow(params, "24h");
    const end = e ? e.getTime() : Date.now();
    const start = s ? s.getTime() : end - 86400e3;
    const [name, step] = interval(start, end);
    const xs = grid(start, end, step);
    const timestamp = { start: new Date(start).toISOString(), end: new Date(end).toISOString() };
    const metric = KINDS.find((k) => k[0] === kind)[2];
    const scoped = entity ? { timestamp, entityName: entity } : { timestamp };
    setData(null);
    settle([
      api.metricAggregate({ name: [IN, OUT], aggregation: "sum", filters: { timestamp } }),
      api.metricAggregate({ name: ["mastra_agent_duration_ms", "mastra_workflow_duration_ms"], aggregation: "count", filters: { timestamp } }),
      api.metricAggregate({ name: ["mastra_agent_duration_ms", "mastra_workflow_duration_ms"], aggregation: "count", filters: { timestamp, labels: { status: "error" } } }),
      api.metricTimeseries({ name: [IN], interval: name, aggregation: "sum", filters: { timestamp } }),
      api.metricTimeseries({ name: [OUT], interval: name, aggregation: "sum", filters: { timestamp } }),
      api.metricPercentiles({ name: metric, percentiles: [0.5, 0.95], interval: name, filters: scoped }),
      api.metricTimeseries({ name: [metric], interval: name, aggregation: "count", groupBy: ["status"], filters: scoped }),
      api.metricBreakdown({ name: [metric], groupBy: ["entityName", "status"], aggregation: "count", filters: { timestamp }, limit: 1000 }),
      api.metricBreakdown({ name: [metric], groupBy: ["entityName"], aggregation: "avg", filters: { timestamp }, limit: 1000 }),
      api.metricBreakdown({ name: [metric], groupBy: ["entityName"], aggregation: "max", filters: { timestamp }, limit: 1000 }),
      api.metricBreakdown({ name: [IN, OUT], groupBy: ["model"], aggregation: "sum", filters: { timestamp }, limit: 20 }),
    ]).then((r) => live && setData({ xs, step: name, r }));
    return () => { live = false; };
  }, [key]);
  return data;
}

function Kpi({ id, label, value, hint }) {
  return html`<div class="kpi" data-kpi=${id}><div class="kpi-label">${label}</div>
    <div class="kpi-value" data-testid=${"kpi-" + id}>${value}</div>${hint && html`<div class="kpi-hint muted">${hint}</div>`}</div>`;
}

function entityTable(counts, avgs, maxes) {
  const rows = new Map();
  const row = (name) => {
    if (!rows.has(name)) rows.set(name, { name, ok: 0, error: 0, avg: null, max: null });
    return rows.get(name);
  };
  for (const g of counts.groups || []) {
    const r = row(g.dimensions.entityName || "(none)");
    if (g.dimensions.status === "error") r.error += g.value; else r.ok += g.value;
  }
  for (const g of avgs.groups || []) row(g.dimensions.entityName || "(none)").avg = g.value;
  for (const g of maxes.groups || []) row(g.dimensions.entityName || "(none)").max = g.value;
  return [...rows.values()].sort((a, b) => b.ok + b.error - (a.ok + a.error));
}

export function MetricsPage({ params, caps }) {
  const kind = KINDS.some((k) => k[0] === params.get("kind")) ? params.get("kind") : "agent";
  const entity = params.get("entity") || "";
  const data = useMetrics(params, kind, entity);
  const set = (patch) => go("/metrics", withParams(params, patch), { replace: true });

  const view = useMemo(() => {
    if (!data) return null;
    const [tokens, runs, failed, inSeries, outSeries, pct, status, counts, avgs, maxes, models] = data.r;
    const errors = data.r.filter((x) => x instanceof Error);
    const xs = data.xs;
    const ok = (v) => !(v instanceof Error);
    const byName = (res, n) => (ok(res) && res.series.find((s) => n === undefined || s.name === n)) || { points: [] };
    const inS = byName(inSeries), outS = byName(outSeries);
    const unit = inS.costUnit || outS.costUnit || (ok(tokens) && tokens.costUnit) || "USD";
    const costIn = onGrid(xs, inS.points, (p) => p.estimatedCost ?? 0), costOut = onGrid(xs, outS.points, (p) => p.estimatedCost ?? 0);
    const p = (q) => (ok(pct) && pct.series.find((s) => Math.abs(s.percentile - q) < 1e-9)) || { points: [] };
    const okS = byName(status, "ok"), errS = byName(status, "error");
    const okV = onGrid(xs, okS.points), errV = onGrid(xs, errS.points);
    return {
      errors, xs, unit,
      tokens: ok(tokens) ? tokens : null, runs: ok(runs) ? runs.value : null, failed: ok(failed) ? failed.value : null,
      inV: onGrid(xs, inS.points), outV: onGrid(xs, outS.points), cost: costIn.map((c, i) => c + costOut[i]),
      p50: onGrid(xs, p(0.5).points, (x) => x.value, null), p95: onGrid(xs, p(0.95).points, (x) => x.value, null),
      rate: okV.map((o, i) => (o + errV[i] ? (100 * errV[i]) / (o + errV[i]) : null)),
      entities: ok(counts) && ok(avgs) && ok(maxes) ? entityTable(counts, avgs, maxes) : [],
      models: ok(models) ? models.groups : [],
    };
  }, [data]);

  const kindLabel = KINDS.find((k) => k[0] === kind)[1].toLowerCase();
  return html`<section class="page metrics-page">
    <header class="page-head"><h1>Metrics</h1><${TimeRange} params=${params} onChange=${set} allowAll=${false} fallback="24h" /></header>
    ${caps.metrics === false && html`<${Notice}>This store doesn't report metrics support (${caps.storage}).</${Notice}>`}
    ${!view && html`<div class="muted">Loading…</div>`}
    ${view && view.errors.length > 0 && html`<${Notice} error=${view.errors[0]} />`}
    ${view && html`
      <div class="kpis">
        <${Kpi} id="tokens" label="Tokens" value=${view.tokens ? fmtInt(view.tokens.value) : "–"} hint="input + output" />
        <${Kpi} id="cost" label="Estimated cost" value=${view.tokens ? fmtCost(view.tokens.estimatedCost, view.tokens.costUnit) : "–"} />
        <${Kpi} id="runs" label="Agent & workflow runs" value=${fmtInt(view.runs)} />
        <${Kpi} id="errors" label="Error rate" value=${view.runs ? ((100 * (view.failed || 0)) / view.runs).toFixed(1) + " %" : "–"}
          hint=${view.runs ? `${fmtInt(view.failed || 0)} failed` : ""} />
      </div>
      <div class="charts">
        <${Chart} testid="chart-tokens" title="Token usage" x=${view.xs} format=${fmtInt}
          series=${[{ label: "input", values: view.inV, color: "--chart-1", bars: true }, { label: "output", values: view.outV, color: "--chart-2", bars: true }]} />
        <${Chart} testid="chart-cost" title=${`Estimated cost (${view.unit})`} x=${view.xs} format=${(v) => fmtCost(v, view.unit)}
          series=${[{ label: "cost", values: view.cost, color: "--chart-3" }]} />
      </div>
      <h2 class="section">Latency and errors</h2>
      <div class="filter-row">
        <nav class="tabs" role="tablist">${KINDS.map(([k, label]) => html`<button type="button" role="tab" data-tab=${k}
          aria-selected=${kind === k} class=${"tab" + (kind === k ? " active" : "")} onClick=${() => set({ kind: k === "agent" ? null : k, entity: null })}>${label}</button>`)}</nav>
        <label class="field"><span>${KINDS.find((k) => k[0] === kind)[1].slice(0, -1)}</span>
          <select name="entity" value=${entity} onChange=${(e) => set({ entity: e.target.value })}>
            <option value="">All ${kindLabel}</option>
            ${view.entities.map((r) => html`<option value=${r.name}>${r.name}</option>`)}
          </select></label>
      </div>
      <div class="charts">
        <${Chart} testid="chart-latency" title=${`Latency${entity ? " of " + entity : ""} (p50, p95)`} x=${view.xs} format=${fmtDuration}
          series=${[{ label: "p50", values: view.p50, color: "--chart-1" }, { label: "p95", values: view.p95, color: "--chart-4" }]} />
        <${Chart} testid="chart-errors" title=${`Error rate${entity ? " of " + entity : ""}`} x=${view.xs} format=${(v) => v.toFixed(0) + " %"}
          series=${[{ label: "errors", values: view.rate, color: "--chart-5" }]} empty="No runs in this range." />
      </div>
      <div class="table-wrap"><table class="grid entities" data-testid="entity-table">
        <thead><tr><th>${KINDS.find((k) => k[0] === kind)[1].slice(0, -1)}</th><th class="num">Calls</th><th class="num">Errors</th>
          <th class="num">Error rate</th><th class="num">Avg</th><th class="num">Max</th></tr></thead>
        <tbody>${view.entities.map((r) => html`<tr data-entity=${r.name}>
          <td><a href=${"#/metrics?" + withParams(params, { entity: r.name }).toString()}>${r.name}</a></td>
          <td class="num">${fmtInt(r.ok + r.error)}</td><td class="num">${fmtInt(r.error)}</td>
          <td class="num">${r.ok + r.error ? ((100 * r.error) / (r.ok + r.error)).toFixed(1) + " %" : "–"}</td>
          <td class="num">${fmtDuration(r.avg)}</td><td class="num">${fmtDuration(r.max)}</td></tr>`)}</tbody>
      </table></div>
      ${view.models.length > 0 && html`<h2 class="section">Tokens by model</h2>
        <div class="table-wrap"><table class="grid models"><thead><tr><th>Model</th><th class="num">Tokens</th><th class="num">Estimated cost</th></tr></thead>
        <tbody>${view.models.map((g) => html`<tr><td>${g.dimensions.model || "(unknown)"}</td><td class="num">${fmtInt(g.value)}</td>
          <td class="num">${fmtCost(g.estimatedCost, g.costUnit)}</td></tr>`)}</tbody></table></div>`}
    `}
  </section>`;
}
