"""The arm64 runner for real (integration tier; one fast check of the scripts and targets).
Cross-built against the aarch64 executorch wheel (`make runner-arm64`), run under qemu-aarch64 on
the arm64 loopback device by the bench, and its tokens compared with the x86-64 host runner's on
the same tiny INT8/INT4 .pte files.

Float sums run in another order on NEON than on AVX, so where the host's two best logits are
within NEAR_TIE the arm64 build may pick the other one (seen: 1 of 200 tiny eval sentences for
INT8 and for INT4, gaps 0.001 and 0.003); anything else must be token-identical."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from device_bench.config import BenchConfig
from device_bench.run import run_bench
from device_bench.testing._sandbox import EM_AARCH64, elf_machine

NEAR_TIE = 0.01
REPO = Path(__file__).resolve().parents[1]


def _gap(pte: Path, prompt_ids: list[int], ref: list[int], other: list[int]) -> float:
    """Host logit of ref's token minus other's, at the first step where they differ."""
    import executorch.kernels.quantized  # noqa: F401  (the quantized ops for INT8/INT4 files)

    from export.runtime import PteModel

    k = next((i for i, (a, b) in enumerate(zip(ref, other)) if a != b), None)
    if k is None:
        return float("inf")  # one output is a prefix of the other: a real difference
    logits = PteModel(pte, prefix_cache=False).forward(prompt_ids + ref[:k], 0)[0, -1]
    return float(logits[ref[k]] - logits[other[k]])


def assert_same_tokens(pte: Path, prompts: dict, ref: dict, other: dict) -> int:
    """Every output identical, or split at a near tie of the host's logits; returns how many
    were identical."""
    assert set(ref) == set(other) and ref
    same = 0
    for sid, ids in ref.items():
        if ids == other[sid]:
            same += 1
        else:
            gap = _gap(pte, prompts[sid], ids, other[sid])
            assert gap < NEAR_TIE, f"{pte.name} {sid}: arm64 {other[sid]} vs host {ids} (logit gap {gap})"
    return same


def _requests(run_dir: Path, pte: Path) -> dict:
    """id -> the prompt ids the bench's requests stood for (text mode's: core.prompt's, which the
    device's corrector builds byte for byte: tests/test_corrector_cpp.py)."""
    from core.prompt import prompt_ids
    from export.runtime import load_pte_tokenizer

    lines = (run_dir / "inputs" / f"requests-{pte.stem}.jsonl").read_text().splitlines()
    reqs = [json.loads(line) for line in lines]
    tok = load_pte_tokenizer(pte) if any("text" in r for r in reqs) else None
    return {r["id"]: prompt_ids(tok, r["text"]) if "text" in r else r["prompt_ids"] for r in reqs}


@pytest.mark.integration
def test_runner_arm64_is_an_aarch64_build_of_the_pinned_wheel(arm64_runner, arm64):
    from importlib.metadata import version

    assert elf_machine(arm64_runner) == EM_AARCH64
    cache = (arm64_runner.parent / "CMakeCache.txt").read_text()
    assert f"wheel-aarch64/executorch-{version('executorch')}/executorch" in cache  # same version as Python's
    proc = subprocess.run([*arm64().emulator, str(arm64_runner), "--help"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and "usage: typo_runner" in proc.stdout + proc.stderr


@pytest.mark.integration
def test_bench_on_the_arm64_loopback_device_matches_the_host(tmp_path, tiny_pte, host_runner, arm64_runner,
                                                             bench_eval, adb_server, loopback, arm64):
    dev = loopback("arm64", flavour=arm64("cortex-a76"), props={"ro.product.model": "Arm64 Loopback"})
    cfg = BenchConfig(limit=8, reps=1, warmup=0, max_new_tokens=48, runner_host=str(host_runner),
                      runner_android=str(arm64_runner), reports_dir=str(tmp_path / "reports"),
                      keep_files=True, threads=1)
    models = [tiny_pte["int8"], tiny_pte["int4"]]
    out = run_bench(cfg, [str(m) for m in models], str(bench_eval), f"host,{dev.serial}", "arm64",
                    adb_port=adb_server.port)
    rep, run_dir = out["report"], out["run_dir"]
    assert rep["status"] == "complete" and not rep["errors"], rep["errors"]
    # picked by ABI: the aarch64 build went to the device, and ran there under qemu
    assert elf_machine(dev.root / "data/local/tmp/typo_bench/typo_runner") == EM_AARCH64
    facts = rep["devices"][dev.serial]["facts"]
    assert (facts["abi"], facts["emulated"], facts["emulated_cpu"]) == ("arm64-v8a", True, "cortex-a76")
    # emulated timings are marked, never compared with real ones
    assert rep["emulated_devices"] == {dev.serial: "qemu -cpu cortex-a76"}
    assert f"{dev.serial} (emulated)" in (run_dir / "report.md").read_text()
    assert "host (emulated)" not in (run_dir / "report.md").read_text()
    bench = json.loads((run_dir / "benchmark_results.json").read_text())
    assert {r["deviceInfo"]["serial"] for r in bench if r["deviceInfo"]["emulated"]} == {dev.serial}
    units = {(u["device"], u["model"], u["mode"]): u for u in rep["units"]}
    for pte in models:
        for mode in ("plain", "copy"):
            host, arm = units[("host", pte.stem, mode)], units[(dev.serial, pte.stem, mode)]
            assert arm["status"] == "ok" and len(arm["output_ids"]) == 8
            assert_same_tokens(pte, _requests(run_dir, pte), host["output_ids"], arm["output_ids"])
            # text mode: the aarch64 corrector's guard (under qemu) equals the host guard
            assert arm["guard_check"] == {"identical": 8, "total": 8, "differences": []}


def _run(prefix: list[str], pte: Path, requests: list[dict], workdir: Path) -> dict:
    workdir.mkdir(parents=True)
    req, res = workdir / "requests.jsonl", workdir / "results.jsonl"
    req.write_text("".join(json.dumps(r) + "\n" for r in requests))
    proc = subprocess.run([*prefix, "--model", str(pte), "--requests", str(req), "--results", str(res),
                           "--summary", str(workdir / "summary.json"), "--threads", "1"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return {r["id"]: r["output_ids"] for r in map(json.loads, res.read_text().splitlines())}


@pytest.mark.integration
def test_int8_under_cpu_max_records_the_sme_divergence(tmp_path, tiny_pte, host_runner, arm64_runner,
                                                       bench_eval, arm64):
    """XNNPACK takes its SME path for INT8 (8da8w) linears when the CPU has SME, and qemu's
    default `-cpu max` has it: the tokens then differ from the host's, and not by a near tie.
    A pinned phone core (cortex-a76), or `max` with SME off, agrees with the host. If this
    starts to fail because `max` agrees, the SME path (or qemu's SME emulation) was fixed:
    update android_runner/README.md ("INT8 and SME")."""
    from device_bench.inputs import build_requests, load_eval, load_model_info, load_tokenizer

    if not arm64("max").emulator:
        pytest.skip("native aarch64 host: the CPU model cannot be chosen")
    pte = tiny_pte["int8"]
    info = load_model_info(pte)
    requests = build_requests(load_tokenizer(info), load_eval(bench_eval, 3), 24, info.max_seq_len)
    prompts = {r["id"]: r["prompt_ids"] for r in requests}
    host = _run([str(host_runner)], pte, requests, tmp_path / "host")
    for cpu in ("cortex-a76", "max,sme=off"):
        assert_same_tokens(pte, prompts, host, _run([*arm64(cpu).emulator, str(arm64_runner)], pte, requests,
                                                    tmp_path / cpu))
    sme = _run([*arm64("max").emulator, str(arm64_runner)], pte, requests, tmp_path / "max")
    assert all(sme[sid] != host[sid] for sid in host), "INT8 under -cpu max now agrees with the host"
    assert all(_gap(pte, prompts[sid], host[sid], sme[sid]) > NEAR_TIE for sid in host)


@pytest.mark.integration
def test_a_wrong_abi_runner_is_refused_like_on_a_phone(tmp_path, host_runner, adb_server, loopback, arm64):
    """The x86-64 host runner pushed to the arm64 device does not run (exit 126, says why)."""
    from device_bench import adb

    dev = loopback("arm64-abi", flavour=arm64())
    target = adb.AdbTarget(adb.adb_client(port=adb_server.port).device(dev.serial), progress=False)
    target.prepare()
    r = target.run([target.push(host_runner, "typo_runner"), "--help"], timeout_s=30)
    assert r.returncode == 126 and "wrong ABI" in r.stderr


def test_build_scripts_and_make_targets():
    """Fast: the scripts parse, and make runs them (the static one needs the internet: not in CI)."""
    for script in ("build_arm64.sh", "build_static.sh"):
        proc = subprocess.run(["bash", "-n", str(REPO / "android_runner" / script)], capture_output=True,
                              text=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
    for target, script in (("runner-arm64", "build_arm64.sh"), ("android-runner-static", "build_static.sh")):
        proc = subprocess.run(["make", "-n", "-o", "setup", target], cwd=REPO, capture_output=True, text=True,
                              timeout=30)
        assert proc.returncode == 0 and f"bash android_runner/{script}" in proc.stdout, proc.stderr
    toolchain = (REPO / "android_runner" / "toolchain-aarch64-linux-gnu.cmake").read_text()
    assert "aarch64-linux-gnu-g++" in toolchain and "CMAKE_SYSTEM_PROCESSOR aarch64" in toolchain
    ci = (REPO / ".ci" / "run").read_text()
    assert all(p in ci for p in ("g++-aarch64-linux-gnu", "libc6-arm64-cross", "qemu-user-static"))
