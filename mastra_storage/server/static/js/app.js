// The viewer's shell: navigation, the hash router, global keys (Esc, /, ?), and the
// store's capabilities. Pages: traces.js (list), trace.js (one trace), logs.js,
// scores.js, metrics.js; every HTTP call is in api.js.

import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import * as api from "./api.js";
import { html, parseHash, go, typing } from "./ui.js";
import { TracesPage } from "./traces.js";
import { TracePage } from "./trace.js";
import { LogsPage } from "./logs.js";
import { ScoresPage } from "./scores.js";
import { MetricsPage } from "./metrics.js";

const NAV = [["traces", "Traces"], ["logs", "Logs"], ["scores", "Scores"], ["metrics", "Metrics"]];
let lastList = "#/traces"; // where Esc returns to from a trace

function Help({ onClose }) {
  const keys = [["j / k", "next / previous trace or span"], ["Enter", "open the selected trace"],
    ["Esc", "back to the trace list"], ["h / l", "fold / unfold the selected span"],
    ["/", "focus the search"], ["?", "this help"]];
  return html`<div class="overlay" role="dialog" aria-label="Keyboard shortcuts" onClick=${onClose}>
    <div class="help" onClick=${(e) => e.stopPropagation()}>
      <h2>Keyboard</h2>
      <dl>${keys.map(([k, v]) => html`<div><dt><kbd>${k}</kbd></dt><dd>${v}</dd></div>`)}</dl>
      <button type="button" class="btn" onClick=${onClose}>Close</button>
    </div></div>`;
}

function App() {
  const [route, setRoute] = useState(parseHash);
  const [caps, setCaps] = useState({});
  const [help, setHelp] = useState(false);

  useEffect(() => {
    const update = () => setRoute(parseHash());
    window.addEventListener("hashchange", update);
    window.addEventListener("popstate", update);
    window.addEventListener("viewer:route", update);
    api.capabilities().then(setCaps);
    return () => ["hashchange", "popstate", "viewer:route"].forEach((n) => window.removeEventListener(n, update));
  }, []);

  const page = route.parts[0] || "traces";
  if (page === "traces") lastList = location.hash || "#/traces";

  useEffect(() => {
    const back = () => {
      const [path, qs] = lastList.replace(/^#/, "").split("?");
      go(path, new URLSearchParams(qs || ""));
    };
    const onKey = (e) => {
      if (e.key === "Escape") {
        if (help) { setHelp(false); return; }
        if (typing(e)) { e.target.blur(); return; }
        if (page === "trace") back();
        return;
      }
      if (typing(e) || e.metaKey || e.ctrlKey || e.altKey) return;
      if (e.key === "/") {
        const box = document.getElementById("search");
        if (box) { e.preventDefault(); box.focus(); }
      } else if (e.key === "?") setHelp((v) => !v);
    };
    window.addEventListener("keydown", onKey);
    window.addEventListener("viewer:back", back);
    return () => { window.removeEventListener("keydown", onKey); window.removeEventListener("viewer:back", back); };
  }, [page, help]);

  useEffect(() => {
    const names = { traces: "Traces", trace: "Trace", logs: "Logs", scores: "Scores", metrics: "Metrics" };
    document.title = `${names[page] || "Viewer"} · mastra-storage`;
  }, [page]);

  let body;
  if (page === "trace" && route.parts[1]) body = html`<${TracePage} key=${route.parts[1]} traceId=${route.parts[1]} params=${route.params} caps=${caps} />`;
  else if (page === "logs") body = html`<${LogsPage} params=${route.params} caps=${caps} />`;
  else if (page === "scores") body = html`<${ScoresPage} params=${route.params} caps=${caps} />`;
  else if (page === "metrics") body = html`<${MetricsPage} params=${route.params} caps=${caps} />`;
  else body = html`<${TracesPage} params=${route.params} caps=${caps} />`;

  const current = page === "trace" ? "traces" : page;
  return html`<div class="shell">
    <header class="topbar">
      <a class="brand" href="#/traces" title="mastra-storage viewer"><span class="logo" aria-hidden="true">◆</span> mastra-storage</a>
      <nav class="nav">${NAV.map(([key, label]) => html`<a href=${key === "traces" && current === "traces" ? lastList : "#/" + key}
        class=${current === key ? "active" : ""} aria-current=${current === key ? "page" : undefined}>${label}</a>`)}</nav>
      <span class="store muted" title="Observability store">${caps.storage || ""}</span>
      <button type="button" class="btn small" aria-label="Keyboard shortcuts" onClick=${() => setHelp(true)}>?</button>
    </header>
    <main>${body}</main>
    ${help && html`<${Help} onClose=${() => setHelp(false)} />`}
  </div>`;
}

const mount = document.getElementById("app");
mount.replaceChildren(); // drop the "Loading…" placeholder
render(html`<${App} />`, mount);
