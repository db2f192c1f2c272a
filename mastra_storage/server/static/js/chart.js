// A time-series chart: a thin Preact wrapper around uPlot (vendor/uplot, loaded as the
// global `uPlot`), coloured from the theme's CSS variables and redrawn when the system
// theme flips or the box is resized.

import { useEffect, useRef, useState } from "preact/hooks";
import { html } from "./ui.js";

const dark = window.matchMedia("(prefers-color-scheme: dark)");

function useTheme() {
  const [isDark, set] = useState(dark.matches);
  useEffect(() => {
    const on = () => set(dark.matches);
    dark.addEventListener("change", on);
    return () => dark.removeEventListener("change", on);
  }, []);
  return isDark;
}

export const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

/**
 * x: bucket starts (ms since epoch); series: [{label, values, color (CSS var name), bars?}];
 * format: value → text for the axis and the legend.
 */
export function Chart({ title, x, series, format = String, height = 220, testid, empty = "No data in this range." }) {
  const box = useRef(null);
  const theme = useTheme();
  const hasData = series.some((s) => s.values.some((v) => v !== null && v !== undefined && v !== 0));
  useEffect(() => {
    const el = box.current;
    if (!el || !hasData || !window.uPlot) return undefined;
    const axis = { stroke: cssVar("--muted"), grid: { stroke: cssVar("--line"), width: 1 }, ticks: { stroke: cssVar("--line") } };
    const bars = window.uPlot.paths.bars ? window.uPlot.paths.bars({ size: [0.7, 48] }) : undefined;
    const plot = new window.uPlot({
      width: Math.max(el.clientWidth, 200), height,
      scales: { x: { time: true } },
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      axes: [axis, { ...axis, size: 64, values: (u, ticks) => ticks.map((t) => format(t)) }],
      series: [{ value: (u, v) => (v === null ? "–" : new Date(v * 1000).toLocaleString()) },
        ...series.map((s) => ({
          label: s.label, stroke: cssVar(s.color), width: 2,
          fill: s.bars ? cssVar(s.color) + "bb" : cssVar(s.color) + "22",
          paths: s.bars ? bars : undefined, points: { show: s.values.filter((v) => v !== null && v !== undefined).length < 30 },
          spanGaps: false, value: (u, v) => (v === null || v === undefined ? "–" : format(v)),
        }))],
    }, [x.map((t) => t / 1000), ...series.map((s) => s.values)], el);
    const ro = new ResizeObserver(() => plot.setSize({ width: Math.max(el.clientWidth, 200), height }));
    ro.observe(el);
    return () => { ro.disconnect(); plot.destroy(); };
  }, [x, series, theme, hasData]);
  return html`<figure class="chart" data-testid=${testid}>
    <figcaption>${title}</figcaption>
    ${hasData ? html`<div class="chart-box" ref=${box}></div>` : html`<div class="chart-empty muted">${empty}</div>`}
  </figure>`;
}
