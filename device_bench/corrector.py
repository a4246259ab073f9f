"""The `device` backend of evaluation.correctors: the C++ runner on a phone (or host) as a
Corrector, so `python -m evaluation --backends device` scores a device's outputs
with the same metrics and guard as every other corrector.

    make_corrector("device", "models/typing-corrector-int8.pte", device="host"|SERIAL,
                   speculate="none"|"copy", runner=PATH, draft_len=K)
Copy-mode settings not given are the ones recorded in the .pte's metadata at export (else
core/decoding_defaults.json), as in the device bench. Raw outputs (the guard is the caller's
job, as for every backend).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from core.prompt import decode_answer
from device_bench import adb, protocol
from device_bench.bench import RUNNER_NAME, copy_settings, describe_exit, pick_runner, runner_argv
from device_bench.config import BenchConfig
from device_bench.inputs import build_requests, load_model_info, load_tokenizer
from evaluation.correctors import CorrectorError


class DeviceCorrector:
    name = "device"

    def __init__(self, model: str | None, device: str = "host", speculate: str = "none",
                 runner: str | None = None, timeout_s: float = 1800, draft_len: int | None = None,
                 adb_port: int | None = None):
        if not model:
            raise CorrectorError("the device backend needs a .pte (backend_models: {device: PATH})")
        self.model = load_model_info(model)
        self.tok = load_tokenizer(self.model)
        mode = "copy" if speculate == "copy" else "plain"
        self.cfg = BenchConfig(modes=[mode], reps=1, warmup=0, timeout_s=timeout_s, draft_len=draft_len)
        self.mode, self.device, self.runner, self.adb_port = mode, device, runner, adb_port
        self.work = Path(tempfile.mkdtemp(prefix="device-corrector-"))

    def correct(self, texts: list[str]) -> list[str]:
        samples = [{"id": f"t{i}", "input": t, "output": ""} for i, t in enumerate(texts)]
        live = [s for s in samples if s["input"].strip()]  # blanks come back unchanged
        if not live:
            return list(texts)
        reqs = build_requests(self.tok, live, self.cfg.max_new_tokens, self.model.max_seq_len)
        req_path = protocol.write_requests(self.work / "requests.jsonl", reqs)
        client = adb.adb_client(port=self.adb_port) if self.device != "host" else None
        [target] = adb.discover(self.device, client, self.cfg.remote_dir, self.work / "host", progress=False)
        target.prepare()
        runner = pick_runner(target, target.facts() if target.kind == "adb" else {}, self.cfg, self.runner)
        remote = [target.push(runner, RUNNER_NAME), target.push(self.model.path, self.model.path.name),
                  target.push(req_path, "corrector-requests.jsonl")]
        res_r = target.remote_path("corrector-results.jsonl")
        sum_r = target.remote_path("corrector-summary.json")
        argv = runner_argv(remote[0], remote[1], remote[2], res_r, sum_r, self.cfg, self.mode,
                           copy_settings(self.cfg, self.model))
        out = target.run(argv, self.cfg.timeout_s)
        if out.returncode != 0 or not target.pull(res_r, self.work / "results.jsonl"):
            raise CorrectorError(f"{target.serial}: {describe_exit(out.returncode)}: "
                                 f"{out.stderr.strip()[-300:]}")
        by_id = {r["id"]: r for r in protocol.read_results(self.work / "results.jsonl")}
        return [decode_answer(self.tok, by_id[s["id"]]["output_ids"]) if s in live else s["input"]
                for s in samples]


def make_device_corrector(model: str | None = None, **options) -> DeviceCorrector:
    """Entry point `device` of the `typo_corrector.backends` group (pyproject.toml)."""
    return DeviceCorrector(model, **options)
