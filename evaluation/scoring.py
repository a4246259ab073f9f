"""Scoring shared by every stage that measures accuracy (evaluation, export's eager-vs-.pte
check, the device bench): raw outputs scored with and without the guard, the per-sample
CSV rows and the Markdown summary."""
from __future__ import annotations

import csv
import io
from typing import Any

from evaluation.guard import GuardConfig, guard
from evaluation.metrics import compute_metrics, format_edits, norm, word_edits

CSV_COLUMNS = ["benchmark", "backend", "input", "reference", "raw_output", "guarded_output",
               "correct", "raw_correct", "paraphrased", "edits", "latency_ms"]


def score_outputs(inputs: list[str], references: list[str], outputs: list[str],
                  case_insensitive: bool = False, guard_config: GuardConfig | None = None,
                  errors: list[Any] | None = None) -> dict[str, Any]:
    """Score raw outputs with and without the guard.

    Returns {"guarded": metrics, "raw": metrics, "rows": [per-sample dicts]}; each row
    holds input, reference, raw_output, guarded_output, correct (guarded exact match),
    raw_correct, paraphrased (the guard changed the output) and edits (guarded edits)."""
    if not len(inputs) == len(references) == len(outputs):
        raise ValueError(f"score_outputs: {len(inputs)} inputs, {len(references)} references, "
                         f"{len(outputs)} outputs")
    guarded = [guard(i, o, guard_config) for i, o in zip(inputs, outputs)]
    para = [g != o for g, o in zip(guarded, outputs)]
    rows = [_row(i, r, o, g, p, case_insensitive)
            for i, r, o, g, p in zip(inputs, references, outputs, guarded, para)]
    kw = dict(case_insensitive=case_insensitive, paraphrased=para, errors=errors)
    return {"guarded": compute_metrics(inputs, references, guarded, **kw),
            "raw": compute_metrics(inputs, references, outputs, **kw), "rows": rows}


def _row(inp: str, ref: str, raw: str, grd: str, para: bool, ci: bool) -> dict[str, Any]:
    src = norm(inp, ci).split()
    return {"input": inp, "reference": ref, "raw_output": raw, "guarded_output": grd,
            "correct": norm(grd, ci) == norm(ref, ci), "raw_correct": norm(raw, ci) == norm(ref, ci),
            "paraphrased": para, "edits": format_edits(src, word_edits(src, norm(grd, ci).split()))}


# ---------------------------------------------------------------- models


def csv_text(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


SUMMARY_METRICS = ("exact_match", "word_accuracy", "correction_rate", "over_correction_rate",
                   "precision", "recall", "f0_5", "cer_before", "cer_after", "paraphrase_rate")


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)


def summary_markdown(report: dict[str, Any]) -> str:
    lines = [f"# Evaluation: {report.get('model') or 'baselines'}", "",
             "Guarded figures (the raw model's in brackets where the guard changed them).", ""]
    for name, entry in report["benchmarks"].items():
        backends = list(entry["backends"])
        ci = " (case-insensitive)" if entry["case_insensitive"] else ""
        lines += [f"## {name}: {entry['n']} pairs{ci}", "",
                  "| metric | " + " | ".join(backends) + " |", "|---" * (len(backends) + 1) + "|"]
        for m in SUMMARY_METRICS + ("sentences_per_s",):
            cells = []
            for b in backends:
                res = entry["backends"][b]
                g = res.get(m) if m == "sentences_per_s" else res["guarded"].get(m)
                r = None if m == "sentences_per_s" else res["raw"].get(m)
                shown_raw = r is not None and r != g and m != "paraphrase_rate"
                cells.append(_fmt(g) + (f" ({_fmt(r)})" if shown_raw else ""))
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)
