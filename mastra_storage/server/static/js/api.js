// Every HTTP call the viewer makes. The viewer reads through the same routes as Mastra
// Studio and `mastra api` (prefix from <meta name="mastra-api-prefix">, "/api" by
// default), plus one route of its own: the text search of viewer_api.py.
//
// URLs are relative to the page, so the app also works when mounted under a sub-path.

const meta = document.querySelector('meta[name="mastra-api-prefix"]');
const PREFIX = (meta ? meta.content : "/api").replace(/^\/+|\/+$/g, "");
const OBS = (PREFIX ? PREFIX + "/" : "") + "observability";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(method, path, { query, body } = {}) {
  const url = new URL(path, document.baseURI);
  if (query) for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) v.forEach((item) => url.searchParams.append(k, item));
    else url.searchParams.set(k, typeof v === "object" ? JSON.stringify(v) : String(v));
  }
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try { response = await fetch(url, init); }
  catch (e) { throw new ApiError(0, "the server is not reachable"); }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!response.ok) {
    const message = (data && (data.error || data.message)) || `HTTP ${response.status}`;
    const issues = data && Array.isArray(data.issues) ? ": " + data.issues.map((i) => i.message).join("; ") : "";
    throw new ApiError(response.status, message + issues);
  }
  return data;
}

const get = (path, query) => call("GET", path, { query });
const post = (path, body) => call("POST", path, { body });

// ---------------------------------------------------------------- capabilities

let packages = null;
/** What the store can answer: {metrics, logs, traceQueryDiscovery} (cached). */
export async function capabilities() {
  if (!packages) packages = get((PREFIX ? PREFIX + "/" : "") + "system/packages").catch(() => ({}));
  const p = await packages;
  return { storage: p.observabilityStorageType || p.storageType || "", ...(p.observabilityStorageCapabilities || {}) };
}

// ---------------------------------------------------------------- traces

/** Trace filters of the viewer's URL → the query parameters of the trace list routes
 *  (Mastra's names; objects and arrays as JSON text). */
export function traceQuery(filters) {
  const q = {};
  for (const key of ["status", "spanType", "entityType", "entityName", "serviceName", "environment",
    "userId", "sessionId", "threadId", "runId", "resourceId"]) if (filters[key]) q[key] = filters[key];
  if (filters.tags && filters.tags.length) q.tags = JSON.stringify(filters.tags); // one JSON array
  if (filters.metadata && Object.keys(filters.metadata).length) q.metadata = filters.metadata;
  if (filters.hasChildError) q.hasChildError = "true";
  if (filters.start || filters.end) {
    q.startedAt = {};
    if (filters.start) q.startedAt.start = filters.start.toISOString();
    if (filters.end) q.startedAt.end = filters.end.toISOString();
  }
  return q;
}

/** One page of root spans (light: no payloads, with status and input preview). */
export const listTraces = (filters, { page = 0, perPage = 50 } = {}) =>
  get(`${OBS}/traces/light`, { ...traceQuery(filters), page, perPage, field: "startedAt", direction: "DESC" });

/** Text search over root inputs/outputs (viewer_api.py): {spans, next, scanned, total}. */
export const searchTraces = (filters, text, { cursor, perPage = 50 } = {}) =>
  get("viewer/api/search", { ...traceQuery(filters), q: text, cursor, perPage });

export const traceStructure = (traceId) => get(`${OBS}/traces/${encodeURIComponent(traceId)}/light`);
export const getSpan = (traceId, spanId) =>
  get(`${OBS}/traces/${encodeURIComponent(traceId)}/spans/${encodeURIComponent(spanId)}`);
export const threadTraces = (threadId) =>
  get(`${OBS}/traces/light`, { threadId, perPage: 100, field: "startedAt", direction: "ASC" });

const TOKEN_METRICS = ["mastra_model_total_input_tokens", "mastra_model_total_output_tokens"];

/** Tokens and estimated cost grouped by ``key`` ("traceId" or "spanId") for the given
 *  traces: {id: {tokens, cost, unit}}. */
export async function tokensBy(key, traceIds) {
  if (!traceIds.length) return {};
  const res = await post(`${OBS}/metrics/breakdown`, {
    name: TOKEN_METRICS, groupBy: [key], aggregation: "sum",
    filters: { traceIds }, limit: 1000,
  });
  const out = {};
  for (const g of res.groups || []) {
    out[g.dimensions[key]] = { tokens: g.value, cost: g.estimatedCost, unit: g.costUnit };
  }
  return out;
}

// ---------------------------------------------------------------- signals

export const listLogs = (query) => get(`${OBS}/logs`, query);
export const listScores = (query) => get(`${OBS}/scores`, query);
export const listFeedback = (query) => get(`${OBS}/feedback`, query);

export const metricAggregate = (body) => post(`${OBS}/metrics/aggregate`, body);
export const metricBreakdown = (body) => post(`${OBS}/metrics/breakdown`, body);
export const metricTimeseries = (body) => post(`${OBS}/metrics/timeseries`, body);
export const metricPercentiles = (body) => post(`${OBS}/metrics/percentiles`, body);

// ---------------------------------------------------------------- discovery (dropdowns)

const discovered = new Map(); // key → [promise, time asked]
/** Values for a filter dropdown (kept for a minute); [] when the store can't say (the
 *  field stays free text). */
export function discover(kind, entityType) {
  const key = kind + "|" + (entityType || "");
  const known = discovered.get(key);
  if (!known || Date.now() - known[1] > 60e3) {
    const field = { "entity-types": "entityTypes", "entity-names": "names", "service-names": "serviceNames",
      environments: "environments", tags: "tags", "metric-names": "names" }[kind];
    discovered.set(key, [get(`${OBS}/discovery/${kind}`, { entityType })
      .then((r) => (r && r[field]) || []).catch(() => []), Date.now()]);
  }
  return discovered.get(key)[0];
}
