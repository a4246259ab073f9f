"""The base bake-off table (issue 26): each base's adapter on every evaluation set with and
without the dictionary pass, beside SymSpell and pyspellchecker; its INT4 .pte size; its runner
latency and what the dictionary pass adds to it; the CPU-hours its training took.

    python -m bench.bakeoff --config bench/configs/bakeoff.yaml [key=value ...]

Reads what the stages already wrote (nothing is re-measured here): `make eval`'s
runs/eval/<run>/metrics.json, the .pte file, and the device bench's reports/<run>/report.json
(raw samples: the pass's added latency is the median end-to-end time against the median of the
same requests less their dictionary time). Writes <out>/bakeoff.json (first), bakeoff.md and
bakeoff.png.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

from core.config import check, load_config
from core.errors import PipelineError
from core.files import read_json
from core.paths import input_path, output_path
from core.runs import atomic_write_json, atomic_write_text

MiB = 1024 * 1024
# per set: the figures of the table (metrics.json keys of the guarded view, in the set's own scoring:
# case-insensitive where its references fix spelling only)
FIGURES = (("exact", "exact_match"), ("F0.5", "f0_5"), ("correction", "correction_rate"),
           ("over-correction", "over_correction_rate"))


class BakeoffError(PipelineError):
    """A bake-off input is missing or not what the stage writes."""


@dataclass
class Leg:
    label: str = ""            # the row's name: base + adapter
    eval_run: str = ""         # runs/eval/<name> of `make eval` (metrics.json); comma-separated: several
    #                            runs over different sets (a later run's set replaces an earlier one's)
    backend: str = "hf"        # the model's backend there ("<backend>+dict" is the pass)
    pte: str = ""              # the INT4 .pte ("" = not exported)
    report: str = ""           # reports/<run> of the device bench ("" = not benched)
    report_model: str = ""     # the model's name in that report ("" = the .pte's stem)
    mode: str = "copy"         # decoding mode whose latency is shown (plain | copy)
    cpu_hours: float = 0.0     # training CPU-hours (process CPU time)
    cpu_hours_source: str = ""  # where that figure is recorded
    machine: str = ""          # where the figures were measured

    def __post_init__(self) -> None:
        check(bool(self.label), "legs[].label must be set")
        check(bool(self.eval_run), f"legs[{self.label}].eval_run must be set")
        check(self.mode in ("plain", "copy"), f"legs[{self.label}].mode must be plain or copy")
        check(self.cpu_hours >= 0, f"legs[{self.label}].cpu_hours must be >= 0")


@dataclass
class BakeoffConfig:
    out: str = "reports/bakeoff"
    legs: list[Leg] = field(default_factory=list)
    baselines: list[str] = field(default_factory=lambda: ["symspell", "pyspellchecker"])
    device: str = "host"       # the report's device whose timings are shown

    def __post_init__(self) -> None:
        check(len(self.legs) >= 1, "legs: give at least one base")


def _metrics(leg: Leg) -> dict:
    benches: dict = {}
    for run in (r.strip() for r in leg.eval_run.split(",") if r.strip()):
        path = input_path(run) / "metrics.json"
        if not path.is_file():
            raise BakeoffError(f"legs[{leg.label}].eval_run: {path} not found (`make eval ... RUN=<name>`)")
        benches.update(read_json(path, BakeoffError, what="evaluation metrics")["benchmarks"])
    return benches


def _figures(guarded: dict) -> dict:
    return {name: guarded.get(key) for name, key in FIGURES}


def quality(cfg: BakeoffConfig) -> dict[str, dict[str, dict]]:
    """set -> row label -> figures: each leg's model and model + dictionary, and the baselines
    from the first run that scored them on that set (one run scores every backend on the same pairs)."""
    table: dict[str, dict[str, dict]] = {}
    for leg in cfg.legs:
        for bench, entry in _metrics(leg).items():
            backends = entry["backends"]
            rows = table.setdefault(bench, {})
            for b, label in ((leg.backend, leg.label), (f"{leg.backend}+dict", f"{leg.label} + dict")):
                if b in backends:
                    rows[label] = _figures(backends[b]["guarded"])
            for b in cfg.baselines:
                if b in backends and b not in rows:
                    rows[b] = _figures(backends[b]["guarded"])
    return table


def _unit(report: dict, model: str, mode: str, device: str) -> dict:
    for u in report["units"]:
        if u["model"] == model and u["mode"] == mode and u["device"] == device:
            return u
    have = sorted({(u["device"], u["model"], u["mode"]) for u in report["units"]})
    raise BakeoffError(f"no unit ({device}, {model}, {mode}) in the report; it has {have}")


def latency(leg: Leg, device: str) -> dict | None:
    """The runner's sentence latency (text mode, end to end) and the dictionary pass's share."""
    if not leg.report:
        return None
    path = input_path(leg.report) / "report.json"
    report = read_json(path, BakeoffError, what="device bench report")
    model = leg.report_model or Path(leg.pte).stem
    unit = _unit(report, model, leg.mode, device)
    rows = [r for rep in unit["reps"] for r in rep.get("results", [])
            if not r.get("error") and not r.get("warmup") and r.get("end_to_end_ms") is not None]
    if not rows:
        raise BakeoffError(f"{path}: unit ({device}, {model}, {leg.mode}) has no timed text-mode request")
    e2e = [float(r["end_to_end_ms"]) for r in rows]
    out = {"requests": len(rows), "e2e_p50_ms": statistics.median(e2e), "mode": leg.mode, "device": device,
           "emulated": device in report.get("emulated_devices", {})}
    if all(r.get("dict_ms") is not None for r in rows):
        bare = statistics.median(float(r["end_to_end_ms"]) - float(r["dict_ms"]) for r in rows)
        out.update(without_dict_p50_ms=bare, dict_added=out["e2e_p50_ms"] / bare - 1 if bare else None,
                   dict_needed_share=sum(bool(r.get("dict_needed")) for r in rows) / len(rows))
    return out


def build(cfg: BakeoffConfig) -> dict:
    legs = []
    for leg in cfg.legs:
        pte = input_path(leg.pte) if leg.pte else None
        if pte is not None and not pte.is_file():
            raise BakeoffError(f"legs[{leg.label}].pte: {pte} not found (export it first)")
        legs.append({"label": leg.label, "eval_run": leg.eval_run, "cpu_hours": leg.cpu_hours,
                     "cpu_hours_source": leg.cpu_hours_source, "machine": leg.machine,
                     "pte": leg.pte, "pte_mib": pte.stat().st_size / MiB if pte else None,
                     "latency": latency(leg, cfg.device)})
    return {"legs": legs, "quality": quality(cfg)}


def _fmt(v, pct: bool = False) -> str:
    if v is None:
        return "–"
    return f"{100 * v:.1f} %" if pct else f"{v:.3f}"


def markdown(result: dict) -> str:
    lines = ["# Base bake-off", "", "| base | CPU-hours | INT4 .pte | runner p50 (with the pass) | "
             "pass adds | sentences needing it | machine |", "|---|---|---|---|---|---|---|"]
    for leg in result["legs"]:
        lat = leg["latency"] or {}
        size = f"{leg['pte_mib']:.1f} MiB" if leg["pte_mib"] else "–"
        p50 = f"{lat['e2e_p50_ms']:.0f} ms ({lat['mode']})" if lat else "–"
        lines.append(f"| {leg['label']} | {leg['cpu_hours']:.2f} | {size} | {p50} | "
                     f"{_fmt(lat.get('dict_added'), True)} | {_fmt(lat.get('dict_needed_share'), True)} | "
                     f"{leg['machine'] or '–'} |")
    for bench, rows in sorted(result["quality"].items()):
        lines += ["", f"## {bench}", "", "| system | " + " | ".join(n for n, _ in FIGURES) + " |",
                  "|---|" + "---|" * len(FIGURES)]
        for label, f in rows.items():
            cells = [_fmt(f["exact"]), _fmt(f["F0.5"]), _fmt(f["correction"], True),
                     _fmt(f["over-correction"], True)]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(result: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = sorted(result["quality"])
    labels = list(dict.fromkeys(lab for s in sets for lab in result["quality"][s]))
    fig, ax = plt.subplots(figsize=(max(8, 1.6 * len(sets)), 5.5))
    width = 0.8 / max(1, len(labels))
    for k, lab in enumerate(labels):
        ys = [(result["quality"][s].get(lab) or {}).get("F0.5") or 0 for s in sets]
        ax.bar([i + k * width for i in range(len(sets))], ys, width, label=lab)
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(sets))], sets, rotation=15)
    ax.set_ylabel("F0.5 (guarded)")
    ax.set_title("Base bake-off: every set, model / + dictionary / dictionary-only baselines")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.2))  # below: bars stay visible
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    from core.cli import run_cli

    ap = argparse.ArgumentParser(prog="python -m bench.bakeoff", description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True)
    ap.add_argument("overrides", nargs="*", help="dotted key=value")
    args = ap.parse_args(argv)

    def body() -> int:
        cfg = load_config(BakeoffConfig, args.config, args.overrides)
        result = build(cfg)
        out = output_path(cfg.out)
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(out / "bakeoff.json", result)
        atomic_write_text(out / "bakeoff.md", markdown(result))
        plot(result, out / "bakeoff.png")
        print(markdown(result))
        print(f"wrote {out}/bakeoff.json, bakeoff.md, bakeoff.png")
        return 0
    return run_cli(body)


if __name__ == "__main__":
    sys.exit(main())
