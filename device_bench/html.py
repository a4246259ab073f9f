"""Self-contained report.html: tables plus matplotlib plots embedded as base64 PNGs."""
from __future__ import annotations

import base64
import html
import io

import matplotlib

matplotlib.use("Agg")  # headless: no display on CI or over ssh
import matplotlib.pyplot as plt  # noqa: E402

from device_bench import report as rp  # noqa: E402


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def tag(report: dict, model: str) -> str:
    """Short label: the quantization tag, unless two models share it."""
    q = report["models"][model]["quantization"]
    same = [n for n, m in report["models"].items() if m["quantization"] == q]
    return q if len(same) == 1 else model


def plot_latency(report: dict) -> str | None:
    """Sentence-latency distribution per (device, model, mode)."""
    units = [u for u in report["units"] if rp.latencies(u)]
    if not units:
        return None
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(units)), 4))
    ax.boxplot([rp.latencies(u) for u in units], showfliers=True)
    ax.set_xticks(range(1, len(units) + 1))
    ax.set_xticklabels([f"{tag(report, u['model'])} {u['mode']}\n{rp.device_label(report, u['device'])}"
                        for u in units], fontsize=7)
    ax.set_ylabel("sentence latency (ms)")
    ax.set_title("Latency distribution per model (all reps, warm-up excluded)")
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def _set_point(report: dict, unit: dict, set_name: str) -> tuple[float | None, float | None]:
    """(p50 latency, guarded exact match) of a unit on one eval set; latency over that set's
    sentences when recorded, else over all requests."""
    acc = rp.by_set(report, unit).get(set_name) or {}
    em = (acc.get("guarded") or {}).get("exact_match")
    return acc.get("latency_p50_ms") or rp.med(unit, "latency_p50_ms"), em


def plot_tradeoff(report: dict, set_name: str | None = None) -> str | None:
    """Accuracy on one eval set (default: the main one) vs latency; colour = model
    (quantization), marker = decoding mode, marker area ~ .pte size, one point per device;
    host baselines as horizontal lines."""
    set_name = set_name or rp.main_set(report)
    emulated = report.get("emulated_devices", {})  # never compared with real devices
    pts = [u for u in report["units"] if None not in _set_point(report, u, set_name)
           and u["device"] not in emulated]
    if not pts:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    names = sorted({u["model"] for u in pts})
    biggest = max(report["models"][n]["size_bytes"] for n in names)
    seen = set()
    for u in pts:
        m = report["models"][u["model"]]
        key = (u["model"], u["mode"])
        label = None if key in seen else f"{m['quantization']} {u['mode']} ({m['size_bytes'] / 1e6:.1f} MB)"
        seen.add(key)
        lat, em = _set_point(report, u, set_name)
        ax.scatter([lat], [em or 0],
                   s=40 + 400 * m["size_bytes"] / biggest, alpha=0.6, color=f"C{names.index(u['model'])}",
                   marker="o" if u["mode"] == "plain" else "s", label=label, edgecolors="k")
    for i, (name, b) in enumerate(report["baselines"].items()):
        v = ((rp.by_set(report, b).get(set_name) or {}).get("guarded") or {}).get("exact_match")
        if v is not None:
            ax.axhline(v, ls="--", lw=1, color=f"C{len(names) + i}", label=f"{name} (host baseline)")
    ax.set_xlabel(f"p50 sentence latency on {set_name} (ms), one point per device")
    ax.set_ylabel(f"exact match on {set_name} (guarded)")
    ax.set_title(f"Accuracy on {set_name} vs latency vs size (marker area = .pte size)", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
    return _png(fig)


def plot_devices(report: dict) -> str | None:
    """Per-device comparison: p50 latency per model and mode, one bar group per device."""
    units = [u for u in report["units"] if rp.med(u, "latency_p50_ms")
             and u["device"] not in report.get("emulated_devices", {})]  # emulated: not comparable
    devices = sorted({u["device"] for u in units})
    keys = sorted({(u["model"], u["mode"]) for u in units}, key=lambda k: (k[0], k[1] != "plain"))
    if not units:
        return None
    fig, ax = plt.subplots(figsize=(max(6, 2 * len(devices) + 2), 4))
    width = 0.8 / len(keys)
    for j, key in enumerate(keys):
        vals = [next((rp.med(u, "latency_p50_ms") for u in units if (u["device"], u["model"], u["mode"])
                      == (d, *key)), 0) for d in devices]
        ax.bar([i + j * width for i in range(len(devices))], vals, width,
               label=f"{tag(report, key[0])} {key[1]}")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(devices))])
    ax.set_xticklabels(devices, fontsize=8)
    ax.set_ylabel("p50 sentence latency (ms)")
    ax.set_title("Per-device comparison")
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def plot_modes(report: dict) -> str | None:
    """Plain vs copy-speculative decoding: mean latency and forwards per output token."""
    rows = [r for r in report["mode_comparison"] if r["plain_latency_mean_ms"] and r["copy_latency_mean_ms"]]
    if not rows:
        return None
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    labels = [f"{tag(report, r['model'])}\n{rp.device_label(report, r['device'])}" for r in rows]
    xs = range(len(rows))
    for ax, key, title in ((a, "latency_mean_ms", "mean sentence latency (ms)"),
                           (b, "forwards_per_token", "forwards per output token")):
        ax.bar([x - 0.2 for x in xs], [r[f"plain_{key}"] or 0 for r in rows], 0.4, label="plain")
        ax.bar([x + 0.2 for x in xs], [r[f"copy_{key}"] or 0 for r in rows], 0.4, label="copy")
        ax.set_xticks(list(xs))
        ax.set_xticklabels(labels, fontsize=7, rotation=30, ha="right")
        ax.set_title(title)
        ax.legend(fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def _html_table(headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(rp._fmt(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


CSS = ("body{font-family:sans-serif;margin:2em;max-width:1300px}table{border-collapse:collapse;"
       "margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}"
       "td:first-child,th:first-child{text-align:left}.err{color:#a00}img{max-width:100%}"
       ".note{background:#fff6d5;border-left:4px solid #e0b000;padding:.5em 1em}")


def render_html(report: dict) -> str:
    plots = [("Latency distribution", plot_latency(report)),
             ("Accuracy vs size vs latency", plot_tradeoff(report)),
             ("Per-device comparison", plot_devices(report)),
             ("Plain vs copy-speculative", plot_modes(report))]
    plots[2:2] = [(f"Real typos ({name}): accuracy vs size vs latency", plot_tradeoff(report, name))
                  for name in rp.set_names(report)[1:]]
    errs = "".join(f"<li class=err>{html.escape(e)}</li>" for e in report["errors"])
    parts = [f"<!doctype html><html><head><meta charset=utf-8>"
             f"<title>bench {html.escape(report['run'])}</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>Device bench <code>{html.escape(report['run'])}</code> ({report['status']})</h1>",
             f"<p class=note><b>Note:</b> {html.escape(report['note'])}</p>" if report.get("note") else "",
             f"<p>Eval <code>{html.escape(report['eval']['path'])}</code>: {report['eval']['n']} sentences, "
             f"{report['config']['reps']} repetitions (median shown), "
             f"warm-up {report['config']['warmup']}.</p>",
             "".join(f"<p>{html.escape(line)}</p>" for line in rp.set_lines(report)),
             f"<h2>Errors</h2><ul>{errs}</ul>" if errs else "",
             "".join(f"<p class=err>{html.escape(s)} is emulated ({html.escape(how)}): its timings are the "
                     "emulator's, not a phone's, and are left out of the cross-device plots.</p>"
                     for s, how in report.get("emulated_devices", {}).items()),
             "<h2>Devices</h2>", _html_table(rp.DEVICE_HEADERS, rp.device_rows(report)),
             "<h2>Speed and memory</h2>", _html_table(rp.PERF_HEADERS, rp.perf_rows(report)),
             "<h2>Plain vs copy-speculative decoding</h2>",
             _html_table(rp.MODE_HEADERS, rp.mode_rows(report)),
             *(["<h2>End to end on the device (text in, guarded text out)</h2>",
                _html_table(rp.E2E_HEADERS, rp.e2e_rows(report)),
                "<h2>On-device guard vs the host guard</h2><ul>"
                + "".join(f"<li>{html.escape(line)}</li>" for line in rp.guard_lines(report)) + "</ul>"]
               if any(u.get("text_mode") for u in report["units"]) else []),
             f"<h2>Accuracy per eval set ({html.escape(rp.accuracy_scope(report))})</h2>",
             _html_table(rp.ACC_HEADERS, rp.accuracy_rows(report))]
    for title, png in plots:
        if png:
            parts.append(f"<h2>{title}</h2><img alt='{title}' src='data:image/png;base64,{png}'>")
    parts.append("<h2>Definitions</h2><ul>" + "".join(
        f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in report["definitions"].items())
        + "</ul>")
    return "\n".join(parts) + "</body></html>\n"
