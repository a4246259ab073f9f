"""Scoring shared by every stage that measures accuracy (evaluation, export's eager-vs-.pte
check, the device bench): raw outputs scored with and without the guard, the per-sample
CSV rows and the Markdown summary."""
from __future__ import annotations

import csv
import io
from typing import Any

from core.spans import protected_strings
from evaluation.guard import GuardConfig, guard
from evaluation.metrics import (
    ALL_CLASSES,
    CLASSES,
    class_counts,
    compute_metrics,
    format_edits,
    norm,
    sample_counts,
    word_edits,
)

# spelling / case / punctuation: "corrected/wrong +over" of the guarded output, per sample
CSV_COLUMNS = ["benchmark", "backend", "input", "reference", "raw_output", "guarded_output",
               "correct", "raw_correct", "paraphrased", "edits", *CLASSES, "latency_ms"]


def score_outputs(inputs: list[str], references: list[str], outputs: list[str],
                  case_insensitive: bool = False, guard_config: GuardConfig | None = None,
                  errors: list[Any] | None = None, fixes: tuple[str, ...] = ALL_CLASSES,
                  guarded: list[str] | None = None) -> dict[str, Any]:
    """Score raw outputs with and without the guard.

    `guarded`: outputs already guarded elsewhere (on the device), scored as they are instead of
    running the host guard on `outputs`.

    Returns {"guarded": metrics, "raw": metrics, "rows": [per-sample dicts]}; each row
    holds input, reference, raw_output, guarded_output, correct (guarded exact match),
    raw_correct, paraphrased (the guard changed the output) and edits (guarded edits)."""
    if not len(inputs) == len(references) == len(outputs):
        raise ValueError(f"score_outputs: {len(inputs)} inputs, {len(references)} references, "
                         f"{len(outputs)} outputs")
    if guarded is None:
        guarded = [guard(i, o, guard_config) for i, o in zip(inputs, outputs)]
    elif len(guarded) != len(outputs):
        raise ValueError(f"score_outputs: {len(outputs)} outputs, {len(guarded)} guarded")
    para = [g != o for g, o in zip(guarded, outputs)]
    rows = [_row(i, r, o, g, p, case_insensitive)
            for i, r, o, g, p in zip(inputs, references, outputs, guarded, para)]
    kw = dict(case_insensitive=case_insensitive, paraphrased=para, errors=errors, fixes=tuple(fixes))
    want = [protected_strings(i) for i in inputs]
    res = {"guarded": compute_metrics(inputs, references, guarded, **kw),
           "raw": compute_metrics(inputs, references, outputs, **kw), "rows": rows}
    for view, outs in (("guarded", guarded), ("raw", outputs)):
        # outputs that lost or altered a protected span of their input (URL, number, e-mail, code)
        res[view]["protected_changed"] = sum(protected_strings(o) != w for o, w in zip(outs, want))
    return res


def _row(inp: str, ref: str, raw: str, grd: str, para: bool, ci: bool) -> dict[str, Any]:
    src = norm(inp, ci).split()
    per = class_counts(inp, ref, grd)
    return {"input": inp, "reference": ref, "raw_output": raw, "guarded_output": grd,
            "correct": norm(grd, ci) == norm(ref, ci), "raw_correct": norm(raw, ci) == norm(ref, ci),
            "paraphrased": para, "edits": format_edits(src, word_edits(src, norm(grd, ci).split())),
            **{c: f"{per[c]['corrected']}/{per[c]['wrong']} +{per[c]['over']}" for c in CLASSES}}


# ---------------------------------------------------------------- guard review
def guard_review(rows: list[dict[str, Any]], case_insensitive: bool = False, n: int = 30) -> dict[str, list]:
    """The `n` worst changes the guard let through (right words it let the model break) and
    the `n` worst it blocked (wrong words the raw output fixed and the guard undid)."""
    through, blocked = [], []
    for r in rows:
        inp, ref, raw, grd = r["input"], r["reference"], r["raw_output"], r["guarded_output"]
        g = sample_counts(inp, ref, grd, case_insensitive)
        if grd != inp and not r["correct"] and (g["over"] or g["hyp"] > g["tp"]):
            through.append(((g["over"], g["hyp"] - g["tp"]), _review_item(r, broke=g["over"])))
        if r["paraphrased"]:
            w = sample_counts(inp, ref, raw, case_insensitive)
            lost = w["corrected"] - g["corrected"]
            if lost > 0:
                blocked.append(((int(r["raw_correct"]), lost), _review_item(r, fixes_lost=lost)))
    top = lambda items: [it for _, it in sorted(items, key=lambda t: t[0], reverse=True)[:n]]  # noqa: E731
    return {"let_through": top(through), "blocked": top(blocked)}


def _review_item(r: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {k: r[k] for k in ("input", "reference", "raw_output", "guarded_output")} | extra


def review_markdown(name: str, review: dict[str, list]) -> list[str]:
    lines = [f"### {name}: the {len(review['let_through'])} worst changes the guard let through", "",
             "| input | reference | guarded output | right words broken |", "|---|---|---|---|"]
    lines += [f"| {_cell(it['input'])} | {_cell(it['reference'])} | {_cell(it['guarded_output'])} | "
              f"{it['broke']} |" for it in review["let_through"]]
    lines += ["", f"### {name}: the {len(review['blocked'])} worst changes the guard blocked", "",
              "| input | reference | raw output (blocked) | fixes lost |", "|---|---|---|---|"]
    lines += [f"| {_cell(it['input'])} | {_cell(it['reference'])} | {_cell(it['raw_output'])} | "
              f"{it['fixes_lost']} |" for it in review["blocked"]]
    return lines + [""]


def _cell(text: str, limit: int = 160) -> str:
    text = text if len(text) <= limit else text[:limit - 1] + "…"
    return text.replace("|", "\\|").replace("\n", " ")


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
        lines += class_table(entry, backends)
        lines += _type_table(entry, backends)
    return "\n".join(lines)


def class_table(entry: dict[str, Any], backends: list[str]) -> list[str]:
    """Correction / over-correction per class (spelling, case, punctuation), guarded, with
    the full-text exact match; the classes the set's references do not fix are marked."""
    fixes = entry.get("fixes") or list(ALL_CLASSES)
    if not any("classes" in entry["backends"][b]["guarded"] for b in backends):
        return []
    scope = ("references fix " + ", ".join(fixes)
             + ("; the other columns show what a backend changed there" if len(fixes) < 3 else ""))
    lines = [f"Per class, guarded: correction (over-correction); {scope}.", "",
             "| class | " + " | ".join(backends) + " |", "|---" * (len(backends) + 1) + "|"]
    for cls in CLASSES:
        cells = []
        for b in backends:
            m = (entry["backends"][b]["guarded"].get("classes") or {}).get(cls)
            cells.append("-" if not m else
                         f"{_fmt(m['correction_rate'])} ({_fmt(m['over_correction_rate'])})")
        mark = "" if cls in fixes else " (not in the references)"
        lines.append(f"| {cls}{mark} | " + " | ".join(cells) + " |")
    cells = [_fmt(entry["backends"][b]["guarded"].get("exact_match_full")) for b in backends]
    lines.append("| exact match, full text | " + " | ".join(cells) + " |")
    return lines + [""]


def _type_table(entry: dict[str, Any], backends: list[str]) -> list[str]:
    """Correction rate (over-correction in brackets) per error type, guarded, per backend."""
    types = sorted({t for b in backends for t in entry["backends"][b]["guarded"].get("by_error_type") or {}})
    if not types:
        return []
    lines = ["Per error type: correction rate (over-correction), guarded; pairs of that type.", "",
             "| error type | pairs | " + " | ".join(backends) + " |", "|---" * (len(backends) + 2) + "|"]
    for t in types:
        cells, n = [], None
        for b in backends:
            m = (entry["backends"][b]["guarded"].get("by_error_type") or {}).get(t)
            n = n or (m or {}).get("n")
            cells.append("-" if not m else
                         f"{_fmt(m['correction_rate'])} ({_fmt(m['over_correction_rate'])})")
        lines.append(f"| {t} | {n} | " + " | ".join(cells) + " |")
    return lines + [""]
