"""Measurements from raw runner results: per repetition, then median and spread over reps.

Definitions (documented in the report): sentence latency = the runner's total_ms of one
request (prefill_ms + decode_ms when a runner reports no total); prefill tok/s = prompt
tokens / prefill time; decode tok/s = new tokens / decode time; forwards per output
token = forward calls / new tokens (plain greedy: 1 by construction when the runner does
not report `forwards`).
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
    }


def sentence_ms(r: dict) -> float:
    if r.get("total_ms") is not None:
        return float(r["total_ms"])
    return float(r["prefill_ms"]) + float(r["decode_ms"])


def _num(v):
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


SCALARS = ("latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_mean_ms", "ttft_mean_ms",
           "prefill_tok_s", "decode_tok_s", "forwards_per_token", "acceptance_rate",
           "model_load_ms", "peak_rss_kb")


def unit_metrics(reps: list[dict]) -> dict:
    """Median and spread over the repetitions of every scalar."""
    per = [r["metrics"] for r in reps if r.get("metrics")]
    return {k: spread([m.get(k) for m in per]) for k in SCALARS}


def all_latencies(reps: list[dict]) -> list[float]:
    return [sentence_ms(r) for rep in reps for r in rep.get("results", [])
            if not r.get("error") and not r.get("warmup")]
