"""The report: reports/<run>/report.json (primary, raw samples), benchmark_results.json
(ExecuTorch Android benchmark app layout), report.md and a self-contained report.html.
reports/latest points at the newest run."""
from __future__ import annotations

import time
from pathlib import Path

from core.runs import atomic_write_json, atomic_write_text, env_info, point_latest
from device_bench.measure import STAGES, all_e2e, all_latencies

SCHEMA = 1
ACCURACY_KEYS = ("exact_match", "f0_5", "word_accuracy", "correction_rate", "over_correction_rate",
                 "cer_after")


def emulated_devices(devices: dict) -> dict[str, str]:
    """serial -> what emulates it, for devices whose facts say emulated (ro.kernel.qemu=1): their
    timings measure an emulator on the host, never a phone, and are not compared with real ones."""
    return {s: f"qemu -cpu {(d.get('facts') or {}).get('emulated_cpu') or 'unknown'}"
            for s, d in devices.items() if (d.get("facts") or {}).get("emulated")}


def device_label(report: dict, serial: str) -> str:
    return f"{serial} (emulated)" if serial in report.get("emulated_devices", {}) else serial


def med(unit: dict, key: str):
    return (unit.get("metrics") or {}).get(key, {}).get("median")


def compare_modes(units: list[dict]) -> list[dict]:
    """Plain vs copy-speculative decoding side by side per device and model."""
    by = {(u["device"], u["model"], u["mode"]): u for u in units}
    out = []
    for (dev, model, mode), plain in by.items():
        copy = by.get((dev, model, "copy"))
        if mode != "plain" or copy is None:
            continue
        statuses = {plain["status"], copy["status"]}
        row = {"device": dev, "model": model,
               "status": "failed" if statuses - {"ok", "truncated"}
               else "truncated" if "truncated" in statuses else "ok"}
        for key in ("latency_p50_ms", "latency_mean_ms", "forwards_per_token", "acceptance_rate"):
            row[f"plain_{key}"], row[f"copy_{key}"] = med(plain, key), med(copy, key)
        p, c = row["plain_latency_mean_ms"], row["copy_latency_mean_ms"]
        row["speedup_mean_latency"] = p / c if p and c else None  # same run, same device
        a, b = plain.get("output_ids"), copy.get("output_ids")
        row["outputs_identical"] = (a == b) if a is not None and b is not None else None
        out.append(row)
    return out


def guard_agreement(units: list[dict]) -> dict | None:
    """Text mode: the device's guarded text vs the host guard's over every unit's requests,
    {"identical", "total", "units_with_differences"}; None when no unit ran in text mode."""
    checks = [u for u in units if u.get("guard_check")]
    if not checks:
        return None
    return {"identical": sum(u["guard_check"]["identical"] for u in checks),
            "total": sum(u["guard_check"]["total"] for u in checks),
            "units_with_differences": [unit_name(u) for u in checks if u["guard_check"]["differences"]]}


def unit_name(u: dict) -> str:
    return f"{u['device']} / {u['model']} / {u['mode']}"


def build_report(run: str, cfg_dict: dict, models: list, samples: list[dict], eval_info: dict,
                 units: list[dict], devices: dict, baselines: dict) -> dict:
    failed = [u for u in units if u["status"] not in ("ok", "truncated")]
    cut = [u for u in units if u["status"] == "truncated"]
    differ = [u for u in units if (u.get("guard_check") or {}).get("differences")]
    return {
        "schema": SCHEMA, "run": run, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "status": "partial" if failed else "truncated" if cut else "complete",
        "errors": [f"{u['device']} / {u['model']} / {u['mode']}: {u['error']}" for u in failed]
        + [f"{s}: {d['error']}" for s, d in devices.items() if d.get("error")],
        "emulated_devices": emulated_devices(devices),
        "warnings": [f"{u['device']} / {u['model']} / {u['mode']}: truncated: "
                     f"{u['truncation']['hit_cap']} of {u['truncation']['capped_requests']} capped requests "
                     "ran into max_new_tokens cut to fit the model's max_seq_len (raise max_seq_len at "
                     "export, or shorten the sentences)" for u in cut]
        + [f"{s}: emulated ({how}): its timings are the emulator's, not a phone's; they are marked "
           "'(emulated)' and left out of the cross-device plots (tokens and accuracy are real)"
           for s, how in emulated_devices(devices).items()]
        + [f"{unit_name(u)}: the device's guarded text differs from the host guard's on "
           f"{len(u['guard_check']['differences'])} of {u['guard_check']['total']} requests "
           "(listed under 'On-device guard vs the host guard')" for u in differ],
        "text_mode": bool(cfg_dict.get("text_mode")),
        "guard_agreement": guard_agreement(units),
        "note": cfg_dict.get("note") or None,
        "config": cfg_dict, "env": env_info(None), "eval": eval_info,
        "definitions": {
            "sentence latency": "runner total_ms per request (prefill + decode: the model's part), "
                                "warm-up excluded",
            "end-to-end latency": "text mode: runner end_to_end_ms per request, text in to guarded text out "
                                  "on the device (tokenize + prefill + decode + guard), warm-up excluded",
            "stages": "text mode, per request on the device: tokenize = the prompt ids from the text; "
                      "prefill = the first forward call; decode = first generated token to the last; "
                      "guard = decoding the answer and guarding it (median and mean per sentence); "
                      "dictionary (--dictionary) = the pass after the guard, inside end-to-end; "
                      "dictionary needed = share of requests with words for it to review",
            "guard check": "text mode: the device's guarded text compared with evaluation.guard.guard(input, "
                           "the device's raw text) on every request; accuracy is scored from the device's "
                           "guarded text",
            "prefill tok/s": "prompt tokens / prefill time", "decode tok/s": "new tokens / decode time",
            "forwards per token": "forward calls / new tokens",
            "acceptance rate": "accepted / drafted tokens (copy mode)",
            "spread": "median, min and max over repetitions (separate runner processes)",
        },
        "models": {m.name: m.describe() for m in models},
        "devices": devices, "units": units, "mode_comparison": compare_modes(units),
        "baselines": baselines, "samples": samples,
    }


def _device_info(facts: dict) -> dict:
    os_name = f"Android {facts['android_version']}" if facts.get("android_version") else facts.get("os")
    return {"device": facts.get("model"), "arch": facts.get("abi"), "os": os_name,
            "totalMem": facts.get("ram_total_kb"), "availMem": facts.get("ram_available_kb"),
            "soc": facts.get("soc"), "serial": facts.get("serial"), "emulated": bool(facts.get("emulated"))}


def benchmark_results(report: dict) -> list[dict]:
    """One record per metric, as ExecuTorch's Android benchmark app writes them."""
    rows = []
    for u in report["units"]:
        m = report["models"][u["model"]]
        name = u["model"] if u["mode"] == "plain" else f"{u['model']}+copy"
        head = {"benchmarkModel": {"name": name, "backend": m["backend"], "quantization": m["quantization"]},
                "deviceInfo": _device_info(report["devices"].get(u["device"], {}).get("facts", {}))}
        values = {"load_status": 0 if u["status"] in ("ok", "truncated") else 1,
                  "model_load_time(ms)": med(u, "model_load_ms"), "ttft(ms)": med(u, "ttft_mean_ms"),
                  "prefill_token_per_sec": med(u, "prefill_tok_s"), "token_per_sec": med(u, "decode_tok_s"),
                  "avg_inference_latency(ms)": med(u, "latency_mean_ms"),
                  "p50_sentence_latency(ms)": med(u, "latency_p50_ms"),
                  "p90_sentence_latency(ms)": med(u, "latency_p90_ms"),
                  "p99_sentence_latency(ms)": med(u, "latency_p99_ms"),
                  "peak_rss(kb)": med(u, "peak_rss_kb"), "model_size(bytes)": m["size_bytes"],
                  "forwards_per_token": med(u, "forwards_per_token"),
                  "p50_end_to_end_latency(ms)": med(u, "e2e_p50_ms"),
                  "avg_end_to_end_latency(ms)": med(u, "e2e_mean_ms"),
                  **{f"avg_{s}(ms)": med(u, f"{s}_mean_ms") for s in STAGES}}
        values.update({f"{k}(guarded)": (u.get("accuracy") or {}).get("guarded", {}).get(k)
                       for k in ("exact_match", "f0_5")})
        for metric, value in values.items():
            if value is not None:
                rows.append({**head, "metric": metric, "actualValue": value, "targetValue": 0})
    return rows


def _fmt(v, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def _table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_fmt(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _range(unit: dict, key: str) -> str:
    s = (unit.get("metrics") or {}).get(key, {})
    return f"{s['min']:.1f}-{s['max']:.1f}" if s.get("min") is not None else "-"


def perf_rows(report: dict) -> list[list]:
    rows = []
    for u in report["units"]:
        m = report["models"][u["model"]]
        rows.append([device_label(report, u["device"]), u["model"], m["quantization"], u["mode"], u["status"],
                     med(u, "threads"), med(u, "model_load_ms"), med(u, "ttft_mean_ms"),
                     med(u, "prefill_tok_s"), med(u, "decode_tok_s"), med(u, "latency_p50_ms"),
                     _range(u, "latency_p50_ms"), med(u, "latency_p90_ms"),
                     med(u, "latency_p99_ms"), med(u, "peak_rss_kb"), m["size_bytes"] / 1e6])
    return rows


PERF_HEADERS = ["device", "model", "quant", "mode", "status", "threads", "load ms", "TTFT ms",
                "prefill tok/s", "decode tok/s", "p50 ms", "p50 min-max (reps)", "p90 ms", "p99 ms",
                "peak RSS kB", "size MB"]


def main_set(report: dict) -> str:
    return (report.get("eval") or {}).get("main_set") or "eval"


def set_names(report: dict) -> list[str]:
    """The eval sets of the report, main (synthetic) set first."""
    sets = (report.get("eval") or {}).get("sets") or {}
    main = main_set(report)
    return [main] + [n for n in sets if n != main]


def by_set(report: dict, holder: dict) -> dict:
    """set -> {"guarded", "raw", ...} of a unit or baseline (older records: the main set only)."""
    found = holder.get("accuracy_by_set")
    if found:
        return found
    return {main_set(report): holder.get("accuracy") if "accuracy" in holder else holder}


def accuracy_rows(report: dict) -> list[list]:
    """One row per unit and per baseline for each eval set, set by set (main set first)."""
    rows = []
    named = [(f"{u['model']} ({u['mode']}) on {u['device']}", u) for u in report["units"]]
    named += [(f"baseline: {name} (host)", b) for name, b in report["baselines"].items()]
    for set_name in set_names(report):
        for label, holder in named:
            acc = by_set(report, holder).get(set_name) or {}
            g = acc.get("guarded") or {}
            classes = g.get("classes") or {}
            rows.append([label, set_name, g.get("n")] + [g.get(k) for k in ACCURACY_KEYS]
                        + [(acc.get("raw") or {}).get("exact_match")]
                        + [(classes.get(c) or {}).get(k) for c in CLASSES for k in CLASS_RATES])
    return rows


# per class (evaluation.metrics.class_counts), guarded; a spelling-only set's headline is on spelling
CLASSES = ("spelling", "case", "punctuation")
CLASS_RATES = ("correction_rate", "over_correction_rate")
ACC_HEADERS = (["corrector", "set", "n"] + list(ACCURACY_KEYS) + ["exact_match (raw)"]
               + [f"{c} {'correction' if k == 'correction_rate' else 'over'}" for c in CLASSES
                  for k in CLASS_RATES])


def set_lines(report: dict) -> list[str]:
    """One line per real typo slice, beside the main set (plain text, for md and html)."""
    out = []
    for name, info in ((report.get("eval") or {}).get("sets") or {}).items():
        if info.get("main"):
            continue
        left = f", {info['left_out']} left out (answer would not fit a model's max_seq_len)" \
            if info.get("left_out") else ""
        case = ", scored case-insensitively" if info.get("case_insensitive") else ""
        out.append(f"Real typo slice: {name} from {info.get('path')}, {info.get('n')} sentences{case}{left}; "
                   "scored beside the eval set in the same runner calls (latency figures cover both sets).")
    return out
E2E_HEADERS = (["device", "model", "mode", "status", "end-to-end p50 ms", "p50 min-max (reps)",
                "end-to-end p90 ms", "end-to-end mean ms"] + [f"{s} mean ms" for s in STAGES]
               + [f"{s} p50 ms" for s in STAGES]
               + ["dictionary mean ms", "dictionary p50 ms", "dictionary needed", "guarded = host guard"])


def e2e_rows(report: dict) -> list[list]:
    """Text mode: end-to-end latency on the device and its stages, per unit (medians over reps)."""
    rows = []
    for u in report["units"]:
        if not u.get("text_mode"):
            continue
        check = u.get("guard_check")
        rows.append([device_label(report, u["device"]), u["model"], u["mode"], u["status"],
                     med(u, "e2e_p50_ms"), _range(u, "e2e_p50_ms"), med(u, "e2e_p90_ms"),
                     med(u, "e2e_mean_ms")]
                    + [med(u, f"{s}_mean_ms") for s in STAGES] + [med(u, f"{s}_p50_ms") for s in STAGES]
                    + [med(u, "dict_mean_ms"), med(u, "dict_p50_ms"), med(u, "dict_needed_share")]
                    + [f"{check['identical']}/{check['total']}" if check else "-"])
    return rows


def guard_lines(report: dict, limit: int = 20) -> list[str]:
    """Plain-text lines on the device guard vs the host guard (md and html)."""
    agree = report.get("guard_agreement")
    if not agree:
        return []
    out = [f"The device's guarded text equals the host guard's (evaluation.guard.guard(input, the device's "
           f"raw text)) on {agree['identical']} of {agree['total']} requests; accuracy is scored from the "
           "device's guarded text."]
    for u in report["units"]:
        diffs = (u.get("guard_check") or {}).get("differences") or []
        out += [f"{unit_name(u)}: {d['id']}: input {d['input']!r}, raw {d['raw_text']!r}: device "
                f"{d['device_guarded']!r}, host {d['host_guarded']!r}" for d in diffs[:limit]]
        if len(diffs) > limit:
            out.append(f"{unit_name(u)}: {len(diffs) - limit} more in report.json")
    return out


MODE_HEADERS = ["device", "model", "plain p50 ms", "copy p50 ms", "speedup (mean)", "plain fwd/tok",
                "copy fwd/tok", "acceptance", "identical outputs"]


def mode_rows(report: dict) -> list[list]:
    return [[device_label(report, r["device"]), r["model"], r["plain_latency_p50_ms"],
             r["copy_latency_p50_ms"],
             r["speedup_mean_latency"], r["plain_forwards_per_token"], r["copy_forwards_per_token"],
             r["copy_acceptance_rate"], r["outputs_identical"]] for r in report["mode_comparison"]]


def device_rows(report: dict) -> list[list]:
    rows = []
    for serial, d in report["devices"].items():
        f = d.get("facts") or {}
        thermal = list((f.get("thermal_c") or {}).items())[:3]
        rows.append([serial, f.get("model"), f.get("soc"), f.get("android_version") or f.get("os"),
                     f"{f.get('abi')} (emulated, qemu -cpu {f.get('emulated_cpu')})" if f.get("emulated")
                     else f.get("abi"), (f.get("ram_total_kb") or 0) / 1e6 or None,
                     ", ".join(f"{k} {v:.0f}C" for k, v in thermal) or "-"])
    return rows


DEVICE_HEADERS = ["serial", "model", "SoC", "Android/OS", "ABI", "RAM GB", "thermal"]


def markdown(report: dict) -> str:
    parts = [f"# Device bench `{report['run']}` ({report['status']})", ""]
    if report.get("note"):
        parts += [f"> **Note:** {report['note']}", ""]
    parts += [f"Eval: `{report['eval']['path']}`, {report['eval']['n']} sentences; "
              f"{report['config']['reps']} repetitions (median shown), "
              f"warm-up {report['config']['warmup']}.", ""]
    parts += [line for text in set_lines(report) for line in (text, "")]
    if report["errors"]:
        parts += ["## Errors", ""] + [f"- {e}" for e in report["errors"]] + [""]
    if report.get("warnings"):
        parts += ["## Warnings", ""] + [f"- {w}" for w in report["warnings"]] + [""]
    parts += ["## Devices", "", _table(DEVICE_HEADERS, device_rows(report)), "",
              "## Speed and memory", "", _table(PERF_HEADERS, perf_rows(report)), "",
              "## Plain vs copy-speculative decoding", "", _table(MODE_HEADERS, mode_rows(report)), ""]
    if any(u.get("text_mode") for u in report["units"]):
        parts += ["## End to end on the device (text in, guarded text out)", "",
                  _table(E2E_HEADERS, e2e_rows(report)), "", "## On-device guard vs the host guard", ""]
        parts += [f"- {line}" for line in guard_lines(report)] + [""]
    parts += [f"## Accuracy per eval set ({accuracy_scope(report)}; raw exact match last)", "",
              _table(ACC_HEADERS, accuracy_rows(report)), "",
              "## Definitions", ""] + [f"- **{k}**: {v}" for k, v in report["definitions"].items()]
    return "\n".join(parts) + "\n"


def accuracy_scope(report: dict) -> str:
    if (report.get("config") or {}).get("dictionary"):
        return ("guard on: the device's dictionary pass output (guarded again on the device) for the "
                "models, the host guard for the baselines")
    return ("guard on: the device's guarded text for the models, the host guard for the baselines"
            if report.get("text_mode") else "guard on")


def write_report(run_dir: Path, report: dict, html: bool = True) -> Path:
    atomic_write_json(run_dir / "report.json", report)
    atomic_write_json(run_dir / "benchmark_results.json", benchmark_results(report))
    atomic_write_text(run_dir / "report.md", markdown(report))
    if html:
        from device_bench.html import render_html

        atomic_write_text(run_dir / "report.html", render_html(report))
    point_latest(run_dir.parent / "latest", run_dir)
    return run_dir / "report.html"


def latencies(unit: dict) -> list[float]:
    return all_latencies(unit.get("reps", []))


def e2e_latencies(unit: dict) -> list[float]:
    return all_e2e(unit.get("reps", []))
