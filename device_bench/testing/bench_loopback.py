"""Bench on the host AND through a loopback adb device in one report, without a phone:
a private adb server + loopback device are started and stopped around the run. Prints
the plain / copy-speculative sentence-latency ratios measured in that same run.

    python -m device_bench.testing.bench_loopback --models models/typing-corrector-int8.pte \
        --eval data/eval_data.json [--run NAME] [--arm64 cortex-a76] [key=value ...]

Runner threads default to 1 here (every device shares this machine's cores; threads=N overrides).
--arm64 CPU adds an arm64 loopback device running `make runner-arm64`'s build under
qemu-aarch64 -cpu CPU: its tokens are real, its timings are the emulator's (marked emulated).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from core.config import load_config
from core.runs import default_run_name
from device_bench.config import CONFIG_DIR, BenchConfig
from device_bench.report import device_label
from device_bench.run import run_bench
from device_bench.testing._sandbox import arm64_flavour
from device_bench.testing.adb_server import AdbServer
from device_bench.testing.loopback_adbd import LoopbackDevice

ARM64_RUNNER = "android_runner/build/linux-arm64/typo_runner"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--run", default=f"loopback-{default_run_name()}")
    ap.add_argument("--runner", default=None)
    ap.add_argument("--arm64", metavar="CPU", default=None,
                    help="also an emulated arm64 device (qemu -cpu CPU)")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args(argv)
    if not any(o.startswith("threads=") for o in args.overrides):
        # the host and every loopback device run at once on this one machine: one core each
        args.overrides.append("threads=1")
    if args.arm64 and not any(o.startswith("runner_android=") for o in args.overrides):
        args.overrides.append(f"runner_android={ARM64_RUNNER}")
    cfg = load_config(BenchConfig, CONFIG_DIR / "default.yaml", args.overrides)
    with tempfile.TemporaryDirectory(prefix="loopback-bench-") as tmp, ExitStack() as stack:
        srv = stack.enter_context(AdbServer(Path(tmp) / "home"))
        devices = [stack.enter_context(LoopbackDevice(Path(tmp) / "phone", adb_keys=[srv.public_key]))]
        if args.arm64:
            devices.append(stack.enter_context(LoopbackDevice(
                Path(tmp) / "arm64", adb_keys=[srv.public_key], flavour=arm64_flavour(args.arm64))))
        for dev in devices:
            srv.connect(dev.serial)
        spec = ",".join(["host"] + [d.serial for d in devices])
        out = run_bench(cfg, args.models, args.eval, spec, args.run, runner=args.runner, adb_port=srv.port)
    for row in out["report"]["mode_comparison"]:
        name = device_label(out["report"], row["device"])  # "(emulated)": the emulator's timings
        if row["status"] != "ok":
            print(f"{name:>18} {row['model']}: failed (see the report)")
            continue
        ratio = row["speedup_mean_latency"]
        acc = row["copy_acceptance_rate"]  # None when nothing was drafted (the model never copied)
        print(f"{name:>18} {row['model']}: plain {row['plain_latency_mean_ms']:.1f} ms, "
              f"copy {row['copy_latency_mean_ms']:.1f} ms, plain/copy {ratio:.2f}x, "
              f"fwd/token {row['plain_forwards_per_token']:.2f} -> {row['copy_forwards_per_token']:.2f}, "
              f"acceptance {'n/a (no drafts)' if acc is None else f'{acc:.2f}'}, "
              f"identical {row['outputs_identical']}")
    print(f"report: {out['html']}")
    return 0 if out["report"]["status"] == "complete" else 1


if __name__ == "__main__":
    sys.exit(main())
