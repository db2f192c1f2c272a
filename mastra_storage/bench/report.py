"""Plain-text rendering of a bench report (``--json`` prints the dict itself)."""

from __future__ import annotations

from typing import Any


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "met" if value else "MISSED"
    if isinstance(value, float):
        text = f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    else:
        text = f"{value:,}" if isinstance(value, int) else str(value)
    return f"{text}{unit}"


def _lat(summary: dict[str, Any]) -> str:
    return (f"median {_fmt(summary.get('median_us'), ' µs')}, "
            f"p99 {_fmt(summary.get('p99_us'), ' µs')} (n={_fmt(summary.get('n'))})")


def _phase(name: str, phase: dict[str, Any] | None) -> list[str]:
    if not phase:
        return [f"{name:<15} skipped"]
    if phase.get("available") is False:
        return [f"{name:<15} unavailable: {phase.get('reason')}"]
    line = (f"{name:<15} {_fmt(phase.get('spans_per_s'), ' spans/s'):>18}  "
            f"{_fmt(phase.get('seconds'), ' s'):>9}  "
            f"cpu {_fmt(phase.get('cpu_us_per_span'), ' µs/span')}")
    if "rows_verified" in phase:
        line += f"  rows {_fmt(phase['rows_verified'])}"
    return [line]


def render_text(report: dict[str, Any]) -> str:
    if report.get("mode") == "memory-check":
        return _render_memory(report)
    e2e = report["end_to_end"]
    wl = e2e["workload"]
    lines = [
        f"store {report['store']} ({report.get('provider')}), strategy {report.get('strategy')}",
        f"workload: {wl['traces']:,} traces, {wl['spans']:,} spans, {e2e['events']:,} events, "
        f"{report['workload']['payload_bytes']} B payloads, {wl['failed_spans']} failed spans",
        "",
        *_phase("end-to-end", e2e),
        *_phase("workload-only", report.get("workload_only")),
        *_phase("pipeline", report.get("pipeline")),
        *_phase("baseline", report.get("baseline")),
        *_phase("otel peer", report.get("otel_peer")),
    ]
    base = report.get("baseline") or {}
    if base.get("available"):
        lines.append(f"{'':<15} baseline = {base.get('method')}")
    peer = report.get("otel_peer") or {}
    if peer.get("available"):
        lines.append(f"{'':<15} otel peer = BatchSpanProcessor + executemany exporter "
                     f"({peer.get('columns')} columns), dropped {_fmt(peer.get('dropped'))}")
    ratios = report.get("ratios", {})
    for key, label in (("end_to_end_vs_baseline", "end-to-end / baseline"),
                       ("pipeline_vs_baseline", "pipeline / baseline"),
                       ("end_to_end_vs_otel_peer", "end-to-end / otel peer")):
        r = ratios.get(key)
        if r is None or (key == "end_to_end_vs_otel_peer" and r.get("throughput") is None):
            continue
        line = f"ratio {label}: throughput {_fmt(r.get('throughput'))}"
        if r.get("throughput_range"):
            low, high = r["throughput_range"]
            line += f" (median of {report.get('rounds')} rounds, {_fmt(low)}–{_fmt(high)})"
        lines.append(f"{line}, cpu {_fmt(r.get('cpu'))}")
    ex = e2e["exporter"]
    lines += [
        "",
        f"rows verified {e2e['rows_verified']:,} of {wl['spans']:,} "
        f"(complete {_fmt(e2e['rows_complete'])}); drops {ex['drops'] or 'none'}",
        f"store calls {ex['write_calls']} (created {ex['rows_created']:,}, "
        f"updated {ex['rows_updated']:,}, batches {ex['batches']})",
    ]
    if e2e.get("statements"):
        s = e2e["statements"]
        lines.append(f"SQL: {s['executemany']} executemany ({s['executemany_rows']:,} rows), "
                     f"{s['execute']} execute, {s['commits']} commits")
        if s.get("note"):
            lines.append(f"  ({s['note']})")
    rss = e2e["rss"]
    lines.append(f"RSS peak {rss['peak_mib']} MiB (+{rss['peak_growth_mib']} MiB over "
                 f"{rss['before_mib']} MiB)")
    hot = report["hot_path"]
    lines += ["", f"hot path api    {_lat(hot['api_us'])}"]
    for call, summary in hot["api_by_call_us"].items():
        lines.append(f"  {call:<13} {_lat(summary)}")
    lines.append(f"hot path export {_lat(hot['export_us'])}; timer overhead "
                 f"{hot['timer_overhead_us']} µs")
    otel = report.get("otel_reference") or {}
    if otel.get("available"):
        lines.append(f"otel on_end     {_lat(otel['on_end_us'])}")
        lines.append(f"otel start/end  {_lat(otel['start_us'])} / {_lat(otel['end_us'])}")
    else:
        lines.append(f"otel reference unavailable: {otel.get('reason')}")
    t = report.get("targets", {})
    lines += ["", f"targets: ratio >= {_fmt(t.get('ratio_target'))} end-to-end "
                  f"{_fmt(t.get('end_to_end_met'))}, pipeline {_fmt(t.get('pipeline_met'))}; "
                  f"hot path <= {t.get('hot_path_target_us')} µs api "
                  f"{_fmt(t.get('api_median_met'))}, export {_fmt(t.get('export_median_met'))}",
              f"load average {report['machine'].get('loadavg_start')} → "
              f"{report['machine'].get('loadavg_end')} on {report['machine'].get('nproc')} CPUs"]
    return "\n".join(lines)


def _render_memory(r: dict[str, Any]) -> str:
    rss = r["rss"]
    return "\n".join([
        f"memory check: store {r['store']} made unavailable, strategy {r['strategy']}",
        f"spans emitted {r['spans_emitted']:,}; events offered {r['events_offered']:,}, "
        f"persisted {_fmt(r['events_persisted'])}, dropped {r['drops_total']:,} {r['drops']}",
        f"accounting exact: {r['accounting_exact']}",
        f"RSS {rss['start_mib']} → peak {rss['peak_mib']} MiB (growth {rss['growth_mib']} MiB, "
        f"bound {rss['bound_mib']} MiB; unbounded would be ~{rss['unbounded_estimate_mib']} "
        f"MiB): bounded {r['rss_bounded']}",
        f"{r['seconds']} s, {r['write_attempts']} write attempts, {r['retries']} retries",
    ])
