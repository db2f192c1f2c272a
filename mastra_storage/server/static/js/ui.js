// Shared pieces of the viewer: the template tag, URL state, formatting, and the small
// components every page uses (status badge, JSON viewer, chat view, copy button, time
// range picker, infinite-scroll sentinel).
//
// Everything is rendered through Preact (htm templates): text is always set as text,
// never parsed as HTML, so span names, payloads and error messages can't inject markup.
// Nothing here uses innerHTML.

import { h } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import htm from "htm";
import JSONFormatter from "json-formatter";

export const html = htm.bind(h);

// ---------------------------------------------------------------- URL state (the hash)
// Routes are "#/<page>[/<id>]?<params>": the filters of every page live in the URL, so a
// link is shareable and a reload restores the view.

export function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/traces";
  const at = raw.indexOf("?");
  const path = at < 0 ? raw : raw.slice(0, at);
  const params = new URLSearchParams(at < 0 ? "" : raw.slice(at + 1));
  return { path, parts: path.split("/").filter(Boolean).map(decodeURIComponent), params };
}

export function hashOf(path, params) {
  const qs = params ? params.toString() : "";
  return "#" + path + (qs ? "?" + qs : "");
}

export function go(path, params, { replace = false } = {}) {
  const target = hashOf(path, params);
  if (target === location.hash) return;
  if (replace) history.replaceState(null, "", target);
  else history.pushState(null, "", target);
  window.dispatchEvent(new Event("viewer:route"));
}

/** A copy of ``params`` with ``patch`` applied (null/""/false removes a key; arrays repeat). */
export function withParams(params, patch) {
  const next = new URLSearchParams(params);
  for (const [key, value] of Object.entries(patch)) {
    next.delete(key);
    if (Array.isArray(value)) value.filter((v) => v !== "").forEach((v) => next.append(key, v));
    else if (value !== null && value !== undefined && value !== "" && value !== false)
      next.set(key, String(value));
  }
  return next;
}

// ---------------------------------------------------------------- time ranges

export const RANGES = [
  ["15m", "Last 15 minutes", 15 * 60e3], ["1h", "Last hour", 3600e3],
  ["6h", "Last 6 hours", 6 * 3600e3], ["24h", "Last 24 hours", 24 * 3600e3],
  ["7d", "Last 7 days", 7 * 86400e3], ["30d", "Last 30 days", 30 * 86400e3],
];

/** {start, end} (Date or null) of the range named in the URL: ``range=24h`` or
 *  ``from``/``to`` (ISO); none means all time (or ``fallback``). */
export function timeWindow(params, fallback = null) {
  const from = params.get("from"), to = params.get("to");
  if (from || to) return { start: from ? new Date(from) : null, end: to ? new Date(to) : null };
  const name = params.get("range") || fallback;
  const found = RANGES.find((r) => r[0] === name);
  return found ? { start: new Date(Date.now() - found[2]), end: null } : { start: null, end: null };
}

export function TimeRange({ params, onChange, allowAll = true, fallback = "" }) {
  const custom = params.get("from") || params.get("to");
  const value = custom ? "custom" : params.get("range") || fallback;
  const [open, setOpen] = useState(custom);
  const pick = (e) => {
    const v = e.target.value;
    if (v === "custom") { setOpen(true); return; }
    setOpen(false);
    onChange({ range: v, from: null, to: null });
  };
  const local = (iso) => (iso ? toLocalInput(new Date(iso)) : "");
  const set = (key) => (e) => onChange({ range: null, [key]: e.target.value ? new Date(e.target.value).toISOString() : null });
  return html`<span class="range">
    <select aria-label="Time range" name="range" value=${value} onChange=${pick}>
      ${allowAll && html`<option value="">All time</option>`}
      ${RANGES.map(([key, label]) => html`<option value=${key}>${label}</option>`)}
      <option value="custom">Custom…</option>
    </select>
    ${(open || custom) && html`
      <input type="datetime-local" aria-label="From" value=${local(params.get("from"))} onChange=${set("from")} />
      <input type="datetime-local" aria-label="To" value=${local(params.get("to"))} onChange=${set("to")} />`}
  </span>`;
}

function toLocalInput(d) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

// ---------------------------------------------------------------- formatting

export function ms(a, b) {
  if (!a) return null;
  const end = b ? Date.parse(b) : Date.now();
  return Math.max(0, end - Date.parse(a));
}

export function fmtDuration(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (value < 1000) return `${Math.round(value)} ms`;
  if (value < 60e3) return `${(value / 1000).toFixed(value < 10e3 ? 2 : 1)} s`;
  const m = Math.floor(value / 60e3), s = Math.round((value % 60e3) / 1000);
  return m < 60 ? `${m}m ${String(s).padStart(2, "0")}s` : `${Math.floor(m / 60)}h ${m % 60}m`;
}

export function fmtTime(iso, withDate = null) {
  if (!iso) return "–";
  const d = new Date(iso);
  const today = new Date().toDateString() === d.toDateString();
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  if (withDate === false || (withDate === null && today)) return time;
  return d.toLocaleDateString([], { month: "short", day: "numeric" }) + " " + time;
}

export const fmtInt = (n) => (n === null || n === undefined ? "–" : Math.round(n).toLocaleString("en-US"));

export function fmtCost(value, unit) {
  if (value === null || value === undefined) return "–";
  const text = value === 0 ? "0" : value >= 1 ? value.toFixed(2) : value >= 1e-4 ? value.toFixed(4) : "<0.0001";
  return !unit || unit === "USD" ? (text[0] === "<" ? "<$" + text.slice(1) : "$" + text) : `${text} ${unit}`;
}

export function fmtNumber(v, digits = 3) {
  if (v === null || v === undefined) return "–";
  return Number.isInteger(v) ? v.toLocaleString("en-US") : Number(v.toPrecision(digits)).toString();
}

// ---------------------------------------------------------------- small components

export function Status({ status }) {
  return html`<span class="status status-${status || "unknown"}" data-status=${status}>${status || "?"}</span>`;
}

export function Notice({ error, children }) {
  if (error) {
    const text = error.status === 501 ? `Not available with this store: ${error.message}`
      : error.status === 401 ? "Unauthorized: open the viewer with ?token=… (the server's token)"
      : `Couldn't load: ${error.message}`;
    return html`<div class="notice ${error.status === 501 ? "" : "notice-error"}" role="status">${text}</div>`;
  }
  return html`<div class="notice" role="status">${children}</div>`;
}

export function CopyButton({ value, label = "Copy" }) {
  const [done, setDone] = useState(false);
  const copy = async (e) => {
    e.stopPropagation();
    const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
    try { await navigator.clipboard.writeText(text); }
    catch { fallbackCopy(text); }
    setDone(true);
    setTimeout(() => setDone(false), 1200);
  };
  return html`<button type="button" class="btn small copy" onClick=${copy} title="Copy to the clipboard">${done ? "Copied" : label}</button>`;
}

function fallbackCopy(text) {
  const area = document.createElement("textarea");
  area.value = text;
  document.body.appendChild(area);
  area.select();
  document.execCommand("copy");
  area.remove();
}

/** Pretty, foldable JSON (json-formatter-js renders with text nodes only). Plain strings
 *  show as preformatted text. */
export function JsonView({ value, open = 3 }) {
  const ref = useRef(null);
  useEffect(() => {
    const el = ref.current;
    el.replaceChildren();
    if (value !== null && typeof value === "object") {
      const formatter = new JSONFormatter(value, open, { animateOpen: false, animateClose: false, maxArrayItems: 100 });
      el.appendChild(formatter.render());
    } else {
      const pre = document.createElement("pre");
      pre.className = "plain";
      pre.textContent = typeof value === "string" ? value : JSON.stringify(value);
      el.appendChild(pre);
    }
  }, [value, open]);
  return html`<div class="json" ref=${ref}></div>`;
}

/** The messages of a chat payload (an array of {role, content}, or {messages: [...]}),
 *  or a model output's text as one assistant message; null when it isn't one. */
export function asMessages(value, output = false) {
  const list = Array.isArray(value) ? value : value && Array.isArray(value.messages) ? value.messages : null;
  if (list && list.length && list.every((m) => m && typeof m === "object" && typeof m.role === "string")) return list;
  if (output && value && typeof value === "object" && typeof value.text === "string")
    return [{ role: "assistant", content: value.text, toolCalls: value.toolCalls }];
  return null;
}

function Part({ part }) {
  if (typeof part === "string") return html`<div class="msg-text">${part}</div>`;
  if (part && part.type === "text" && typeof part.text === "string") return html`<div class="msg-text">${part.text}</div>`;
  if (part && /tool-call|tool_call/.test(part.type || ""))
    return html`<div class="msg-tool"><span class="chip">tool call</span> <b>${String(part.toolName || part.name || "")}</b><${JsonView} value=${part.args ?? part.input ?? part} open=${1} /></div>`;
  if (part && /tool-result|tool_result/.test(part.type || ""))
    return html`<div class="msg-tool"><span class="chip">tool result</span> <b>${String(part.toolName || "")}</b><${JsonView} value=${part.result ?? part.output ?? part} open=${1} /></div>`;
  if (part && (part.type === "image" || part.type === "file"))
    return html`<div class="msg-text muted">[${part.type}${part.mimeType ? " " + part.mimeType : ""}]</div>`;
  return html`<${JsonView} value=${part} open=${1} />`;
}

export function Chat({ messages }) {
  return html`<div class="chat">
    ${messages.map((m) => html`<div class="msg role-${String(m.role).replace(/[^a-z_-]/gi, "")}">
      <div class="msg-role">${m.role}</div>
      ${Array.isArray(m.content) ? m.content.map((p) => html`<${Part} part=${p} />`)
        : typeof m.content === "string" ? html`<div class="msg-text">${m.content}</div>`
        : m.content !== undefined && m.content !== null ? html`<${JsonView} value=${m.content} open=${1} />` : null}
      ${Array.isArray(m.toolCalls) && m.toolCalls.map((p) => html`<${Part} part=${{ type: "tool-call", ...p }} />`)}
    </div>`)}
  </div>`;
}

/** The keys of a chat payload besides its messages ({messages, context} → {context}). */
function chatRest(value, output) {
  if (!value || typeof value !== "object" || Array.isArray(value)) return null;
  const rest = { ...value };
  delete rest[Array.isArray(value.messages) ? "messages" : output ? "text" : ""];
  if (output && !Array.isArray(value.messages)) delete rest.toolCalls;
  return Object.keys(rest).length ? rest : null;
}

/** A titled payload block: chat view when it is a message list, JSON otherwise, with a
 *  copy button and a fold. */
export function Payload({ title, value, output = false, open = true, id }) {
  const messages = asMessages(value, output);
  const [mode, setMode] = useState("auto");
  if (value === null || value === undefined) return null;
  const chat = messages && mode !== "json";
  const rest = chat ? chatRest(value, output) : null;
  return html`<details class="payload" open=${open} data-section=${id || title.toLowerCase()}>
    <summary><span class="payload-title">${title}</span>
      <span class="payload-tools">
        ${messages && html`<button type="button" class="btn small" onClick=${(e) => { e.preventDefault(); setMode(chat ? "json" : "auto"); }}>${chat ? "JSON" : "Chat"}</button>`}
        <${CopyButton} value=${value} />
      </span>
    </summary>
    ${chat ? html`<${Chat} messages=${messages} />` : html`<${JsonView} value=${value} />`}
    ${rest && html`<div class="chat-rest"><${JsonView} value=${rest} open=${1} /></div>`}
  </details>`;
}

/** Calls ``onVisible`` when scrolled into view, and again after each load while it stays
 *  visible (an IntersectionObserver alone fires only on changes). */
export function Sentinel({ onVisible, active, busy, children }) {
  const ref = useRef(null);
  const cb = useRef(onVisible);
  cb.current = onVisible;
  useEffect(() => {
    if (!active || busy) return undefined;
    const el = ref.current;
    const check = () => {
      const box = el.getBoundingClientRect();
      if (box.top < window.innerHeight + 200 && box.bottom > -200) cb.current();
    };
    const io = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && cb.current(),
      { rootMargin: "200px" });
    io.observe(el);
    const t = setTimeout(check, 50);
    return () => { io.disconnect(); clearTimeout(t); };
  }, [active, busy]);
  return html`<div class="sentinel" ref=${ref}>${children}</div>`;
}

/** Run ``fn`` every ``interval`` ms while the page is visible (and once now). */
export function usePoll(fn, interval, deps) {
  const cb = useRef(fn);
  cb.current = fn;
  useEffect(() => {
    let stopped = false, timer = null;
    const tick = async () => {
      if (stopped) return;
      if (document.visibilityState !== "hidden") {
        try { await cb.current(); } catch (e) { /* shown by the page's own state */ }
      }
      if (!stopped) timer = setTimeout(tick, interval);
    };
    timer = setTimeout(tick, interval);
    return () => { stopped = true; clearTimeout(timer); };
  }, deps);
}

/** Re-render on a timer (for running durations). */
export function useTicker(interval, active) {
  const [, set] = useState(0);
  useEffect(() => {
    if (!active) return undefined;
    const t = setInterval(() => set((n) => n + 1), interval);
    return () => clearInterval(t);
  }, [active, interval]);
}

/** Text input that reports its value after a pause in typing (and on Enter/blur). */
export function DebouncedInput({ value, onCommit, delay = 400, ...rest }) {
  const [text, setText] = useState(value || "");
  const timer = useRef(null);
  useEffect(() => setText(value || ""), [value]);
  const commit = (v) => { clearTimeout(timer.current); if ((v || "") !== (value || "")) onCommit(v); };
  return html`<input ...${rest} value=${text}
    onInput=${(e) => { const v = e.target.value; setText(v); clearTimeout(timer.current); timer.current = setTimeout(() => commit(v), delay); }}
    onKeyDown=${(e) => e.key === "Enter" && commit(e.target.value)}
    onBlur=${(e) => commit(e.target.value)} />`;
}

/** Whether a key event should be left to the focused form field. */
export function typing(e) {
  const t = e.target;
  return t && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
}

// Span types → the colour family of the waterfall and the chips.
export function spanFamily(type) {
  const t = type || "";
  if (t === "agent_run" || t === "agent_signal") return "agent";
  if (t.startsWith("model_")) return "model";
  if (t.startsWith("mcp_")) return "mcp";
  if (t.endsWith("tool_call")) return "tool";
  if (t.startsWith("workflow_")) return "workflow";
  if (t.startsWith("rag_") || t === "memory_operation" || t === "graph_action") return "memory";
  if (t.startsWith("scorer_") || t === "classifier_evaluation") return "scorer";
  return "other";
}

const SHORT = { agent_run: "agent", model_generation: "model", model_step: "model step", model_inference: "inference",
  model_chunk: "chunk", tool_call: "tool", mcp_tool_call: "mcp tool", client_tool_call: "client tool",
  provider_tool_call: "provider tool", workflow_run: "workflow", workflow_step: "step", processor_run: "processor",
  scorer_run: "scorer", memory_operation: "memory", mcp_server_request: "mcp request" };

/** A short label of a span type for the tree ("model_generation" → "model"). */
export const shortType = (type) => SHORT[type] || String(type || "").replace(/^workflow_/, "").replace(/_/g, " ");

export const FAMILIES = ["agent", "model", "tool", "mcp", "workflow", "memory", "scorer", "other"];
