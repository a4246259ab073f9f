"""The peer: llama.cpp (llama-cpp-python) on the same sentences, prompts and thread count as
our runner, plain and with its prompt-lookup decoding. Bench only, never CI.

    bash bench/llamacpp_peer.sh models/merged/<name>   # library (AMX-safe build), HF -> GGUF -> Q8_0/Q4_0
    python -m bench.bench_llamacpp --gguf models/llamacpp/<name>-q8_0.gguf,models/llamacpp/<name>-q4_0.gguf \
        --tokenizer models/merged/<name> --eval runs/demo-real/messages-200.jsonl

Each (file, mode) runs in its own process (clean peak RSS). The requests are the bench's own
(device_bench.inputs.build_requests with the tokenizer of the model folder: same prompt ids,
same answer budget and cap), decoding is greedy, and llama-cpp-python keeps the
common prompt prefix in its KV cache between sentences, as our runner's prefix cache does.
Warm-up sentences are run and dropped; latency is per sentence on a monotonic clock.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from core.paths import input_path, output_path
from core.runs import atomic_write_json, env_info

N_CTX = 512  # llama.cpp's context: the max_seq_len our .pte files are exported with


def requests(tokenizer_dir: str, eval_path: str) -> dict:
    """The bench's own requests (device_bench.inputs.build_requests: same prompt ids, same
    answer budget and cap) plus the ids that stop an answer."""
    from core.loading import load_tokenizer
    from core.prompt import eos_ids
    from device_bench.config import BenchConfig
    from device_bench.inputs import build_requests, load_eval

    tok = load_tokenizer(tokenizer_dir)
    reqs = build_requests(tok, load_eval(input_path(eval_path)), BenchConfig().max_new_tokens, N_CTX)
    return {"requests": reqs, "stop": eos_ids(tok)}


def run_one(gguf: str, mode: str, work: dict, threads: int, warmup: int) -> dict:
    """Every request through one llama.cpp model in this process."""
    try:
        from llama_cpp import Llama
        from llama_cpp.llama_speculative import LlamaPromptLookupDecoding
    except ImportError as exc:
        raise SystemExit(f"llama-cpp-python is not installed ({exc}); see this file's header") from None
    draft = LlamaPromptLookupDecoding() if mode == "lookup" else None  # the library's defaults
    reqs, stop = work["requests"], set(work["stop"])
    llm = Llama(model_path=gguf, n_ctx=N_CTX, n_batch=N_CTX, n_threads=threads, n_threads_batch=threads,
                draft_model=draft, verbose=False, seed=0)

    def one(r: dict) -> tuple[float, list[int]]:
        t0 = time.monotonic()
        tokens: list[int] = []
        for t in llm.generate(r["prompt_ids"], temp=0.0, top_k=1, reset=True):  # greedy, endless: we stop it
            if t in stop:
                break
            tokens.append(t)
            if len(tokens) >= r["max_new_tokens"]:
                break
        return time.monotonic() - t0, tokens

    for r in reqs[:warmup]:
        one(r)
    samples, outputs = [], []
    for r in reqs:
        dt, toks = one(r)
        samples.append(dt * 1000)
        outputs.append(toks)
    new = sum(len(o) for o in outputs)
    return {"gguf": gguf, "mode": mode, "ms": samples, "p50_ms": statistics.median(samples),
            "p90_ms": statistics.quantiles(samples, n=10)[-1], "mean_ms": statistics.mean(samples),
            "tokens_per_s": new / (sum(samples) / 1000), "new_tokens": new, "outputs": outputs,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_llamacpp", description=__doc__.split("\n\n")[0])
    ap.add_argument("--gguf", required=True, help="comma-separated GGUF files")
    ap.add_argument("--tokenizer", required=True, help="model folder whose tokenizer builds the prompts")
    ap.add_argument("--eval", required=True, help="JSON Lines pairs (input, output)")
    ap.add_argument("--modes", default="plain,lookup")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--out", default="runs/bench/llamacpp.json")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: "gguf|mode|requests.json|result.json"
    args = ap.parse_args(argv)
    if args.one:
        gguf, mode, req_file, res_file = args.one.split("|")
        res = run_one(gguf, mode, json.loads(Path(req_file).read_text()), args.threads, args.warmup)
        Path(res_file).write_text(json.dumps(res))
        return 0
    reqs = requests(args.tokenizer, args.eval)
    out_path = output_path(args.out)
    req_file = out_path.with_suffix(".requests.json")
    req_file.parent.mkdir(parents=True, exist_ok=True)
    req_file.write_text(json.dumps(reqs))
    out = {"env": env_info(0), "args": {k: v for k, v in vars(args).items() if k != "one"}, "results": []}
    for gguf in [g for g in args.gguf.split(",") if g]:
        for mode in [m for m in args.modes.split(",") if m]:
            res_file = out_path.with_suffix(f".{Path(gguf).stem}.{mode}.json")
            cmd = [sys.executable, "-m", "bench.bench_llamacpp", "--gguf", gguf,
                   "--tokenizer", args.tokenizer, "--eval", args.eval, "--threads", str(args.threads),
                   "--warmup", str(args.warmup), "--one", f"{gguf}|{mode}|{req_file}|{res_file}"]
            subprocess.run(cmd, check=True)
            res = json.loads(res_file.read_text())
            out["results"].append(res)
            print(f"{Path(gguf).name:24s} {mode:7s} p50 {res['p50_ms']:8.1f} ms  "
                  f"p90 {res['p90_ms']:8.1f} ms  mean {res['mean_ms']:8.1f} ms  "
                  f"{res['tokens_per_s']:6.1f} tok/s  peak RSS {res['peak_rss_mb']:.0f} MB", flush=True)
        plain = [r for r in out["results"] if r["gguf"] == gguf]
        if len(plain) == 2:
            same = plain[0]["outputs"] == plain[1]["outputs"]
            print(f"{'':24s} outputs identical plain vs lookup: {same}, "
                  f"plain/lookup (mean) {plain[0]['mean_ms'] / plain[1]['mean_ms']:.2f}x", flush=True)
    atomic_write_json(out_path, out)
    print(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
