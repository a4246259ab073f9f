"""Measurements from raw runner results: per repetition, then median and spread over reps.

Definitions (documented in the report): sentence latency = the runner's total_ms of one
request (prefill_ms + decode_ms when a runner reports no total); prefill tok/s = prompt
tokens / prefill time; decode tok/s = new tokens / decode time; forwards per output
token = forward calls / new tokens (plain greedy: 1 by construction when the runner does
not report `forwards`). Text mode adds end-to-end latency = the runner's end_to_end_ms (text in
to guarded text out on the device: tokenize + prefill + decode + guard) and each stage's
median and mean per sentence (STAGES); None in id mode.
"""
from __future__ import annotations

import statistics


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100), None on no data."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def spread(values: list[float]) -> dict:
    vals = [v for v in values if v is not None]
    if not vals:
        return {"median": None, "min": None, "max": None, "n": 0, "values": []}
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "n": len(vals), "values": vals}


def _ratio(num: float, den: float, scale: float = 1.0) -> float | None:
    return num / den * scale if den > 0 else None


def rep_metrics(results: list[dict], prompt_len: dict[str, int], summary: dict) -> dict:
    """Scalars of one runner process over its (non-warm-up) results."""
    ok = [r for r in results if not r.get("error") and not r.get("warmup")]
    lat = [sentence_ms(r) for r in ok]
    new = sum(int(r["new_tokens"]) for r in ok)
    fwd = [r.get("forwards") for r in ok]
    forwards = sum(fwd) if ok and all(f is not None for f in fwd) else new
    drafted = sum(int(r.get("drafted_tokens") or 0) for r in ok)
    accepted = sum(int(r.get("accepted_tokens") or 0) for r in ok)
    return {
        "n_ok": len(ok), "n_errors": sum(1 for r in results if r.get("error")),
        "latency_p50_ms": percentile(lat, 50), "latency_p90_ms": percentile(lat, 90),
        "latency_p99_ms": percentile(lat, 99),
        "latency_mean_ms": statistics.fmean(lat) if lat else None,
        "ttft_mean_ms": statistics.fmean(float(r["ttft_ms"]) for r in ok) if ok else None,
        "prefill_tok_s": _ratio(sum(prompt_len.get(r["id"], 0) for r in ok),
                                sum(float(r["prefill_ms"]) for r in ok), 1000),
        "decode_tok_s": _ratio(new, sum(float(r["decode_ms"]) for r in ok), 1000),
        "forwards_per_token": _ratio(forwards, new),
        "acceptance_rate": _ratio(accepted, drafted),  # accepted / drafted tokens
        "model_load_ms": _num(summary.get("model_load_ms")),
        "peak_rss_kb": _num(summary.get("peak_rss_kb")),
        "threads": _num(summary.get("threads")),  # what the runner's threadpool ran with
        **stage_metrics(ok),
    }


# text mode's stages, in order: the runner's fields per request (docs/runner_protocol.md)
STAGES = ("tokenize", "prefill", "decode", "guard")


def stage_metrics(ok: list[dict]) -> dict:
    """End-to-end latency (p50/p90/mean) and each stage's p50 and mean over the decoded requests
    of one runner process: all None unless every one of them carries the text mode's timings."""
    keys = [f"{s}_ms" for s in STAGES] + ["end_to_end_ms"]
    text = bool(ok) and all(r.get(k) is not None for r in ok for k in keys)
    col = {k: [float(r[k]) for r in ok] if text else [] for k in keys}
    e2e = col["end_to_end_ms"]
    out = {"e2e_p50_ms": percentile(e2e, 50), "e2e_p90_ms": percentile(e2e, 90),
           "e2e_mean_ms": statistics.fmean(e2e) if e2e else None}
    for s in STAGES:
        vals = col[f"{s}_ms"]
        out[f"{s}_p50_ms"] = percentile(vals, 50)
        out[f"{s}_mean_ms"] = statistics.fmean(vals) if vals else None
    return {**out, **dict_metrics(ok if text else [])}


def dict_metrics(ok: list[dict]) -> dict:
    """The dictionary pass's stage (inside end_to_end_ms) and the share of requests it had words
    to review in: all None unless every request carries it (the runner's --dictionary)."""
    on = bool(ok) and all(r.get("dict_ms") is not None and "dict_needed" in r for r in ok)
    ms = [float(r["dict_ms"]) for r in ok] if on else []
    return {"dict_p50_ms": percentile(ms, 50), "dict_mean_ms": statistics.fmean(ms) if ms else None,
            "dict_needed_share": sum(bool(r["dict_needed"]) for r in ok) / len(ok) if on else None}


def sentence_ms(r: dict) -> float:
    if r.get("total_ms") is not None:
        return float(r["total_ms"])
    return float(r["prefill_ms"]) + float(r["decode_ms"])


def _num(v):
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


SCALARS = ("latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_mean_ms", "ttft_mean_ms",
           "prefill_tok_s", "decode_tok_s", "forwards_per_token", "acceptance_rate",
           "model_load_ms", "peak_rss_kb", "threads", "e2e_p50_ms", "e2e_p90_ms", "e2e_mean_ms",
           *(f"{s}_{k}_ms" for s in STAGES for k in ("p50", "mean")),
           "dict_p50_ms", "dict_mean_ms", "dict_needed_share")


def unit_metrics(reps: list[dict]) -> dict:
    """Median and spread over the repetitions of every scalar."""
    per = [r["metrics"] for r in reps if r.get("metrics")]
    return {k: spread([m.get(k) for m in per]) for k in SCALARS}


def all_latencies(reps: list[dict]) -> list[float]:
    return [sentence_ms(r) for rep in reps for r in rep.get("results", [])
            if not r.get("error") and not r.get("warmup")]


def all_e2e(reps: list[dict]) -> list[float]:
    """Text mode: every repetition's end_to_end_ms (empty in id mode)."""
    return [float(r["end_to_end_ms"]) for rep in reps for r in rep.get("results", [])
            if not r.get("error") and not r.get("warmup") and r.get("end_to_end_ms") is not None]
