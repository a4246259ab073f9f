"""Time the C++ corrector's text side per sentence (a script, not a timed test): prompt
encoding (tokenizer.json + the metadata's prompt) and the guard, on real inputs with the
reference as the raw output, against the Python side it replaces on the host (core.prompt
through transformers + evaluation.guard). Issue 27's target: tokenizer + guard <= 2 ms of a
sentence's 0.8-2 s.

    .venv/bin/python -m bench.bench_corrector_cpp                      # messages dev set + BEA-4660
    .venv/bin/python -m bench.bench_corrector_cpp --sets ../shared/data/eval/neuspell-bea4660 --n 1000
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


def main(argv: list[str] | None = None) -> int:
    from core.prompt import prompt_ids
    from evaluation.eval_sets import load_benchmarks
    from evaluation.guard import guard
    from export.runtime import load_pte_tokenizer
    from tests.fixtures.corrector_cpp import (
        BUILD,
        SMOLLM2_GLOB,
        base_folder,
        build,
        english_words_file,
        write_metadata,
    )

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default=f"{REPO / 'evaluation/devsets/messages'},"
                                       f"{REPO.parent / 'shared/data/eval/neuspell-bea4660'}")
    ap.add_argument("--n", type=int, default=500, help="sentences per set")
    args = ap.parse_args(argv)
    folder = base_folder(SMOLLM2_GLOB)
    if folder is None:
        print("the SmolLM2 GGUF is missing: run `make offline-models`", file=sys.stderr)
        return 2
    build()
    with tempfile.TemporaryDirectory() as tmp:
        meta = write_metadata(folder, Path(tmp) / "smollm2")
        tok = load_pte_tokenizer(meta.with_suffix(".pte"))
        rows = {}
        for bench in load_benchmarks(args.sets):
            pairs = bench.pairs[: args.n]
            lines = "".join(json.dumps({"input": p.input, "output": p.reference}) + "\n" for p in pairs)
            done = subprocess.run([str(BUILD / "tc_tool"), "bench", str(meta), str(english_words_file())],
                                  input=lines, capture_output=True, text=True, check=True)
            cpp = [json.loads(line) for line in jsonl_lines(done.stdout)]
            py_enc, py_guard = [], []
            for p in pairs:
                t0 = time.perf_counter()
                prompt_ids(tok, p.input)
                t1 = time.perf_counter()
                guard(p.input, p.reference)
                py_enc.append((t1 - t0) * 1e6)
                py_guard.append((time.perf_counter() - t1) * 1e6)
            med = statistics.median
            rows[bench.name] = {
                "sentences": len(pairs),
                "cpp_encode_us": round(med(r["encode_us"] for r in cpp), 1),
                "cpp_guard_us": round(med(r["guard_us"] for r in cpp), 1),
                "cpp_total_us": round(med(r["encode_us"] + r["guard_us"] for r in cpp), 1),
                "cpp_total_p95_us": round(sorted(r["encode_us"] + r["guard_us"] for r in cpp)[
                    int(0.95 * (len(cpp) - 1))], 1),
                "python_encode_us": round(med(py_enc), 1),
                "python_guard_us": round(med(py_guard), 1),
            }
    print(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
