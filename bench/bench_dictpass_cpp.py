"""Time the dictionary pass's own C++ cost per message (a script, not a timed test): targets,
SymSpell candidates, the edit prior, tokenizing every candidate answer and the guard before and
after, without the model. The model's scores are the tiny model's (hf_scorer), recorded while the
Python pass runs and replayed to the C++ pass (tc_tool dictbench), whose time spent in the scorer
is subtracted; the Python pass is timed the same way (its scorer time subtracted) beside it.

    .venv/bin/python -m bench.bench_dictpass_cpp                 # messages dev set, raw = the input
    .venv/bin/python -m bench.bench_dictpass_cpp --raw reference --n 200
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from core.files import jsonl_lines

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


class TimedRecorder:
    """The ScoreFn the Python pass runs: records each call for the replay and times itself."""

    def __init__(self, score):
        self.score, self.calls, self.seconds = score, [], 0.0

    def __call__(self, prefix, conts):
        t0 = time.perf_counter()
        out = self.score(prefix, conts)
        self.seconds += time.perf_counter() - t0
        self.calls.append({"prefix": list(prefix), "conts": [list(c) for c in conts], "scores": list(out)})
        return out


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[int(q * (len(xs) - 1))] if xs else 0.0


def main(argv: list[str] | None = None) -> int:
    from core.loading import load_model, load_tokenizer
    from core.tiny import TinyModelConfig, build_tiny
    from evaluation.dictpass import DictConfig, DictionaryPass, hf_scorer
    from evaluation.eval_sets import load_benchmarks
    from tests.fixtures.corrector_cpp import BUILD, build, english_words_file, write_metadata

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", default=str(REPO / "evaluation/devsets/messages"))
    ap.add_argument("--n", type=int, default=442, help="messages")
    ap.add_argument("--raw", choices=("input", "reference"), default="input",
                    help="the model's raw answer: the input (a model that left everything) or the reference")
    args = ap.parse_args(argv)
    build()
    words = english_words_file()
    with tempfile.TemporaryDirectory() as tmp:
        base = build_tiny(TinyModelConfig(), Path(tmp) / "tiny")
        meta = write_metadata(base, Path(tmp) / "meta")
        model, tok = load_model(str(base)).eval(), load_tokenizer(str(base))
        rec = TimedRecorder(hf_scorer(model, tok.pad_token_id))
        dp = DictionaryPass(DictConfig(misspellings=""), tok, rec, 512)
        pairs = [p for b in load_benchmarks(args.set) for p in b.pairs][: args.n]
        lines, py_us = [], []
        for p in pairs:
            raw = p.input if args.raw == "input" else p.reference
            rec.calls, rec.seconds = [], 0.0
            t0 = time.perf_counter()
            dp.run(p.input, raw)
            py_us.append((time.perf_counter() - t0 - rec.seconds) * 1e6)
            req = {"input": p.input, "raw": raw, "max_len": 512, "calls": rec.calls}
            lines.append(json.dumps(req) + "\n")
        done = subprocess.run([str(BUILD / "tc_tool"), "dictbench", str(meta), str(words), str(words), "-"],
                              input="".join(lines), capture_output=True, text=True, check=True)
        cpp = [json.loads(line)["pass_us"] for line in jsonl_lines(done.stdout)]
        needed = [bool(json.loads(line)["calls"]) for line in lines]
    when_needed = [c for c, n in zip(cpp, needed) if n] or [0.0]
    row = {"messages": len(pairs), "raw": args.raw, "needed_share": round(sum(needed) / len(needed), 3),
           "cpp_pass_us_median": round(statistics.median(cpp), 1),
           "cpp_pass_us_p95": round(pct(cpp, 0.95), 1),
           "cpp_pass_us_median_needed": round(statistics.median(when_needed), 1),
           "python_pass_us_median": round(statistics.median(py_us), 1),
           "python_pass_us_p95": round(pct(py_us, 0.95), 1)}
    print(json.dumps(row, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
