"""Token agreement of the arm64 runner (cross-built from the aarch64 wheel, run under
qemu-aarch64 as a pinned phone core) with the host runner, on real .pte files and real typed
messages: how many answers are identical, and for each one that is not, the host's logit gap
between the two tokens where they split (a near tie is a NEON/AVX rounding difference, a large
gap a kernel difference). Emulated outputs count; emulated timings do not, so none are reported.

    .venv/bin/python -m bench.arm64_agreement --pte models/real/smollm2-typo-int4-lean.pte \\
        models/real/smollm2-typo-int4.pte --eval runs/bench/peer-messages-100.jsonl --n 30
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def agreement(pte: Path, eval_path: str, n: int, cpu: str, max_new: int, work: Path) -> dict:
    from device_bench.inputs import build_requests, load_eval, load_model_info, load_tokenizer
    from device_bench.testing._sandbox import arm64_flavour
    from tests.fixtures.bench import ARM64_BINARY
    from tests.fixtures.runner import BINARY as HOST_BINARY
    from tests.test_arm64 import _gap, _run

    info = load_model_info(pte)
    requests = build_requests(load_tokenizer(info), load_eval(Path(eval_path), n), max_new, info.max_seq_len)
    host = _run([str(HOST_BINARY)], pte, requests, work / f"{pte.stem}-host")
    arm = _run([*arm64_flavour(cpu).emulator, str(ARM64_BINARY)], pte, requests, work / f"{pte.stem}-arm64")
    prompts = {r["id"]: r["prompt_ids"] for r in requests}
    splits = [{"id": sid, "host": ids, "arm64": arm[sid], "logit_gap": _gap(pte, prompts[sid], ids, arm[sid])}
              for sid, ids in host.items() if ids != arm[sid]]
    return {"pte": str(pte), "cpu": cpu, "n": len(host), "identical": len(host) - len(splits),
            "splits": splits}


def main(argv: list[str] | None = None) -> int:
    from core.runs import atomic_write_json, env_info
    from tests.fixtures.bench import ARM64_BINARY
    from tests.fixtures.runner import BINARY as HOST_BINARY

    ap = argparse.ArgumentParser(prog="python -m bench.arm64_agreement", description=__doc__.split("\n\n")[0])
    ap.add_argument("--pte", nargs="+", required=True)
    ap.add_argument("--eval", required=True, help="JSON Lines pairs {input, output}")
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--cpu", default="cortex-a76", help="qemu CPU model (a phone core; `max` has SME)")
    ap.add_argument("--max-new", type=int, default=96)
    ap.add_argument("--out", default="runs/bench/arm64-agreement.json")
    args = ap.parse_args(argv)
    for binary, make in ((HOST_BINARY, "make runner"), (ARM64_BINARY, "make runner-arm64")):
        if not binary.is_file():
            print(f"{binary}: missing (build it with `{make}`)", file=sys.stderr)
            return 2
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for pte in args.pte:
            res = agreement(Path(pte), args.eval, args.n, args.cpu, args.max_new, Path(tmp))
            results.append(res)
            gaps = ", ".join(f"{s['logit_gap']:.3f}" for s in res["splits"]) or "-"
            print(f"{Path(pte).name:32s} {res['identical']:3d} of {res['n']} identical; "
                  f"host logit gaps at the splits: {gaps}", flush=True)
    atomic_write_json(REPO / args.out, {"env": env_info(0), "args": vars(args), "results": results})
    print(f"wrote {REPO / args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
