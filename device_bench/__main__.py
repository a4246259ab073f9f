"""`python -m device_bench run --models M.pte ... --eval data/eval_data.json --devices host|all|SERIALS`

Runs every model in every decoding mode on every device (devices in parallel), scores the
device outputs on the host, and writes reports/<run>/ (report.json, benchmark_results.json,
report.md, report.html) with reports/latest pointing at it. Rerun with the same --run to
resume: finished units are kept, failed or missing ones are run again.
Exit status: 0 all units ok, 1 some failed (partial report written), 2 bad input / no device.
`python -m device_bench doctor [--devices all]` checks every phone first (exit 1: something to fix).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys

from core.cli import parse_stage_args, run_cli
from core.config import load_config
from core.runs import default_run_name
from device_bench import adb
from device_bench.config import CONFIG_DIR, BenchConfig


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m device_bench", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="bench models on devices and write a report")
    run.add_argument("--models", nargs="+", required=True, help=".pte files (tokenizer.json beside)")
    run.add_argument("--eval", required=True, help="JSON Lines pairs {input, output}")
    run.add_argument("--devices", default="host", help="host | all | SERIAL[,SERIAL...] (may include host)")
    run.add_argument("--run", default=None, help="report name (default: a timestamp); reuse to resume")
    run.add_argument("--config", default=str(CONFIG_DIR / "default.yaml"))
    run.add_argument("--runner", default=None, help="runner binary for every device (overrides config)")
    run.add_argument("--adb-port", type=int, default=None, help="adb server port (ANDROID_ADB_SERVER_PORT)")
    run.add_argument("--no-html", action="store_true", help="skip plots (report.html)")
    run.add_argument("--real", default=None, metavar="PATH",
                     help="real human-typo slice scored beside --eval (config real_eval; first real_limit "
                          "pairs), e.g. ../shared/data/eval/neuspell-bea4660")
    run.add_argument("overrides", nargs="*", help="config key=value overrides")
    sub.add_parser("devices", help="list what adb sees").add_argument("--adb-port", type=int, default=None)
    doc = sub.add_parser("doctor", help="check every phone before a bench: one screen, with fixes")
    doc.add_argument("--devices", default="all", help="all | SERIAL[,SERIAL...]")
    doc.add_argument("--models", nargs="*", default=[], help=".pte files to bench (free space they need)")
    doc.add_argument("--config", default=str(CONFIG_DIR / "default.yaml"))
    doc.add_argument("--runner", default=None, help="runner binary for every device (overrides config)")
    doc.add_argument("--adb-port", type=int, default=None, help="adb server port (ANDROID_ADB_SERVER_PORT)")
    doc.add_argument("overrides", nargs="*", help="config key=value overrides (remote_dir, runner_android)")
    return parse_stage_args(ap, argv)  # key=value overrides anywhere among the flags


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    commands = {"devices": _devices, "doctor": _doctor, "run": _run}
    return run_cli(lambda: commands[args.cmd](args))


def _devices(args: argparse.Namespace) -> int:
    print(adb.describe(adb.device_listing(adb.adb_client(port=args.adb_port))))
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from device_bench.doctor import run_doctor

    cfg = load_config(BenchConfig, args.config, args.overrides)
    screen, ready = run_doctor(args.devices, cfg, args.runner, args.models, args.adb_port)
    print(screen)
    return 0 if ready else 1


def _run(args: argparse.Namespace) -> int:
    from device_bench.run import run_bench

    cfg = load_config(BenchConfig, args.config, args.overrides)
    if args.real is not None:
        cfg = dataclasses.replace(cfg, real_eval=args.real)  # validated again (named when missing)
    out = run_bench(cfg, args.models, args.eval, args.devices, args.run or default_run_name(),
                    runner=args.runner, adb_port=args.adb_port, html=not args.no_html)
    print(f"report: {out['html']}")
    for err in out["report"]["errors"]:
        print(f"device_bench: failed: {err}", file=sys.stderr)
    return 0 if out["report"]["status"] == "complete" else 1


if __name__ == "__main__":
    sys.exit(main())
