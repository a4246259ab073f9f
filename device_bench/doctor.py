"""`python -m device_bench doctor`: is each phone ready for a bench? One screen, with fixes.

Per device adb sees: adb authorisation, ABI (and the runner build it needs), emulation,
free space and exec permission in the push folder (the runner itself is pushed and run
with --help), SELinux mode, CPU cores and governors, battery, thermal state. Only plain
commands go to the phone (getprop, getenforce, df, ls, grep, mkdir, rm, the runner), so the
doctor runs on any phone's toybox and inside the loopback device's sandbox alike.
Exit status: 0 every device ready (warnings allowed), 1 a check failed, 2 bad input / no adb.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import BenchError
from device_bench import adb, facts
from device_bench.config import BenchConfig

OK, INFO, WARN, FAIL = "ok", "info", "warn", "FAIL"
MIN_FREE_MB = 1024           # free space wanted in the push folder when no models are named
BATTERY_LOW_PCT, HOT_C = 20, 45.0
CPU_DIR = "/sys/devices/system/cpu"
BATTERY_DIR = "/sys/class/power_supply/battery"
SUPPORTED_ABIS = ("arm64-v8a", "x86_64", "aarch64")  # phones; emulators and loopback devices


@dataclass
class Check:
    name: str
    status: str                 # ok | info | warn | FAIL
    detail: str
    fix: str = ""


@dataclass
class Context:
    cfg: BenchConfig
    runner: str | None          # --runner: the binary for every device
    need_mb: float              # free space the bench needs in the push folder


# -- device checks (each returns one Check; a DeviceError becomes a FAIL) --------------------
def check_abi(target, props: dict, ctx: Context) -> tuple[Check, Path | None]:
    from device_bench.bench import pick_runner

    abi = props.get("ro.product.cpu.abi") or "?"
    if abi not in SUPPORTED_ABIS:
        return Check("abi", FAIL, f"{abi}: the runner is built for arm64-v8a (phones) and x86_64 only",
                     "use a 64-bit phone (arm64-v8a)"), None
    try:
        runner = pick_runner(target, {"abi": abi}, ctx.cfg, ctx.runner)
    except adb.DeviceError as exc:
        return Check("abi", FAIL, f"{abi}: its runner is not built", str(exc)), None
    return Check("abi", OK, f"{abi} -> runner {runner}"), runner


def check_emulation(props: dict) -> Check | None:
    emu = facts.emulation(props)
    if not emu["emulated"]:
        return None
    return Check("emulated", INFO, f"qemu -cpu {emu['emulated_cpu'] or '?'}: tokens are real, timings "
                 "are the emulator's (the report marks them emulated)")


def parse_df_available_kb(text: str) -> int | None:
    """`df -k PATH` (GNU or toybox; a long filesystem name may wrap): Available, in kB."""
    lines = [line.split() for line in text.strip().splitlines()[1:] if line.strip()]
    if not lines or len(lines[-1]) < 5 or not lines[-1][-3].isdigit():
        return None
    return int(lines[-1][-3])


def check_space(target, ctx: Context) -> Check:
    target.prepare()  # mkdir -p the push folder
    free_kb = parse_df_available_kb(target.shell(["df", "-k", target.remote_dir], check=False).stdout)
    if free_kb is None:
        return Check("space", WARN, f"{target.remote_dir}: free space unknown (df gave nothing readable)")
    free_mb = free_kb / 1024
    detail = f"{target.remote_dir}: {free_mb / 1024:.1f} GB free, the bench needs {ctx.need_mb:.0f} MB"
    if free_mb < ctx.need_mb:
        return Check("space", FAIL, detail, "free space (Settings > Storage) or bench fewer models")
    return Check("space", OK, detail)


def check_exec(target, runner: Path | None) -> Check:
    """Push the runner this device will get and run `--help`: exec permission, ABI, libraries."""
    if runner is None:
        return Check("exec", WARN, "not tested: no runner for this ABI", "build the runner (see abi)")
    remote = target.push(runner, adb.RUNNER_NAME)  # the bench's own name: what the device will run
    try:
        r = target.run([remote, "--help"], timeout_s=60)
    finally:
        target.remove(remote)
    if r.returncode == 0 and "usage" in r.stdout + r.stderr:
        return Check("exec", OK, f"{runner.name} runs from {target.remote_dir}")
    why = (r.stderr.strip() or r.stdout.strip()).splitlines()[-1:] or [f"exit {r.returncode}"]
    return Check("exec", FAIL, f"{runner.name} does not run there (exit {r.returncode}): {why[0][:160]}",
                 "push folder must allow exec: keep remote_dir under /data/local/tmp (not /sdcard); "
                 "a wrong-ABI or missing-library error means the wrong runner build")


def check_selinux(target) -> Check:
    r = target.shell(["getenforce"], check=False)
    mode = r.stdout.strip() or "unknown"
    if r.returncode != 0 or mode == "unknown":
        return Check("selinux", INFO, "mode unknown (getenforce failed)")
    if mode != "Enforcing":
        return Check("selinux", WARN, f"{mode}: a rooted or engineering build; users' phones enforce",
                     "bench on a stock (user) build for figures that match users")
    return Check("selinux", OK, mode)


def cpu_summary(files: dict[str, str], cores: list[str]) -> tuple[list[str], dict[str, int]]:
    """(governors, {GHz label: count}) of the listed cores."""
    governors = sorted({files[f"{CPU_DIR}/{c}/cpufreq/scaling_governor"] for c in cores
                        if f"{CPU_DIR}/{c}/cpufreq/scaling_governor" in files})
    clusters: dict[str, int] = {}
    for c in cores:
        khz = files.get(f"{CPU_DIR}/{c}/cpufreq/cpuinfo_max_freq", "")
        label = f"{int(khz) / 1e6:.2f} GHz" if khz.isdigit() else "? GHz"
        clusters[label] = clusters.get(label, 0) + 1
    return governors, clusters


def check_cpu(target) -> Check:
    cores = sorted((c for c in facts.list_dir(target, CPU_DIR) if re.fullmatch(r"cpu\d+", c)),
                   key=lambda c: int(c[3:]))
    paths = [f"{CPU_DIR}/{k}" for k in ("online", "possible")]
    paths += [f"{CPU_DIR}/{c}/cpufreq/{leaf}" for c in cores
              for leaf in ("scaling_governor", "cpuinfo_max_freq")]
    files = facts.read_files(target, paths)
    governors, clusters = cpu_summary(files, cores)
    online, possible = files.get(f"{CPU_DIR}/online"), files.get(f"{CPU_DIR}/possible")
    sizes = ", ".join(f"{n}x {ghz}" for ghz, n in clusters.items())
    detail = (f"{len(cores)} cores ({sizes}), online {online}, "
              f"governor {'/'.join(governors) or 'unreadable'}")
    if online and possible and online != possible:
        return Check("cpu", WARN, detail, "some cores are offline: battery saver off, let the phone cool")
    if "powersave" in governors:
        return Check("cpu", WARN, detail, "governor powersave pins the cores low: turn battery saver off")
    if "performance" in governors:
        return Check("cpu", INFO, detail + " (faster than users' phones run)")
    return Check("cpu", OK, detail)


def check_battery(target) -> Check:
    files = facts.read_files(target, [f"{BATTERY_DIR}/{k}" for k in ("capacity", "status", "temp")])
    level, status = files.get(f"{BATTERY_DIR}/capacity"), files.get(f"{BATTERY_DIR}/status", "?")
    temp = files.get(f"{BATTERY_DIR}/temp")
    temp_c = int(temp) / 10 if temp and temp.lstrip("-").isdigit() else None
    if level is None:
        return Check("battery", INFO, "unreadable (no /sys/class/power_supply/battery)")
    detail = f"{level} %, {status}" + (f", {temp_c:.1f} C" if temp_c is not None else "")
    if level.isdigit() and int(level) < BATTERY_LOW_PCT:
        return Check("battery", WARN, detail,
                     f"charge above {BATTERY_LOW_PCT} %: low battery turns on power saving")
    if temp_c is not None and temp_c >= 40:
        return Check("battery", WARN, detail, "battery is hot: unplug the charger, let it cool")
    return Check("battery", OK, detail)


def check_thermal(target) -> Check:
    zones = {k: v for k, v in facts.read_thermal(target).items() if 0 < v < 150}
    if not zones:
        return Check("thermal", INFO, "no readable thermal zone")
    name, hottest = max(zones.items(), key=lambda kv: kv[1])
    detail = f"{len(zones)} zones, hottest {name} {hottest:.1f} C"
    if hottest >= HOT_C:
        return Check("thermal", WARN, detail,
                     f"let it cool below {HOT_C:.0f} C (or bench with cooldown_s=60)")
    return Check("thermal", OK, detail)


# -- per device -------------------------------------------------------------------------------
def _guarded(name: str, fn, *args) -> Check | None:
    try:
        return fn(*args)
    except adb.DeviceError as exc:
        return Check(name, FAIL, f"could not check: {exc}"[:300], "replug the phone and rerun")


def authorisation(state: str | None) -> Check:
    if state == "device":
        return Check("adb", OK, "authorised")
    if state == "unauthorized":
        return Check("adb", FAIL, "unauthorized",
                     "unlock the phone and tap 'Allow' on 'Allow USB debugging?' "
                     "(none shown: revoke USB debugging authorisations in Developer options, replug)")
    if state is None:
        return Check("adb", FAIL, "not attached", adb.ADVICE)
    return Check("adb", FAIL, state, "replug; `no permissions`: add a udev rule for the phone (Linux)")


def examine(client, serial: str, state: str | None, ctx: Context) -> tuple[str, list[Check]]:
    """(the device's name, its checks); nothing but the adb state when it is not usable."""
    checks = [authorisation(state)]
    if state != "device":
        return "", checks
    target = adb.AdbTarget(client.device(serial), ctx.cfg.remote_dir, progress=False)
    try:
        props = facts.parse_getprop(target.shell(["getprop"]).stdout)
    except adb.DeviceError as exc:
        failed = Check("getprop", FAIL, f"could not read properties: {exc}"[:300], "replug the phone, rerun")
        return "", checks + [failed]
    abi, runner = check_abi(target, props, ctx)
    checks += [abi, check_emulation(props), _guarded("space", check_space, target, ctx),
               _guarded("exec", check_exec, target, runner), _guarded("selinux", check_selinux, target),
               _guarded("cpu", check_cpu, target), _guarded("battery", check_battery, target),
               _guarded("thermal", check_thermal, target)]
    title = " ".join(p for p in (props.get("ro.product.manufacturer"), props.get("ro.product.model")) if p)
    return title, [c for c in checks if c is not None]


def describe_device(props_line: str, serial: str, checks: list[Check]) -> str:
    lines = [f"{serial}  {props_line}".rstrip()]
    for c in checks:
        lines.append(f"  {c.status:<5} {c.name:<8} {c.detail}")
        if c.fix and c.status in (WARN, FAIL):
            lines.append(f"  {'':<5} {'':<8} fix: {c.fix}")
    bad = [c.name for c in checks if c.status == FAIL]
    warned = [c.name for c in checks if c.status == WARN]
    verdict = f"NOT ready: fix {', '.join(bad)}" if bad else "ready"
    lines.append(f"  -> {verdict}" + (f" (worth fixing: {', '.join(warned)})" if warned else ""))
    return "\n".join(lines)


def needed_mb(models: list[str], runner_mb: float = 20.0) -> float:
    """Free space a bench of these models needs (the .pte files, the runner, results)."""
    if not models:
        return MIN_FREE_MB
    total = 0.0
    for m in models:
        path = Path(m)
        if not path.is_file():
            raise BenchError(f"--models: {m} is not a file")
        total += path.stat().st_size / 2**20
    return total + runner_mb + 50


def run_doctor(devices: str, cfg: BenchConfig, runner: str | None = None, models: list[str] | None = None,
               adb_port: int | None = None) -> tuple[str, bool]:
    """(the screen, every device ready). `devices`: all | SERIAL[,SERIAL...] (host is skipped)."""
    ctx = Context(cfg, runner, needed_mb(models or []))
    client = adb.adb_client(port=adb_port)
    try:
        return _doctor_all(client, devices, ctx)
    finally:
        adb.stop_started_servers()  # an adb server the doctor started does not outlive it


def _doctor_all(client, devices: str, ctx: Context) -> tuple[str, bool]:
    listing = {d.serial: d.state for d in adb.device_listing(client)}
    wanted = [s.strip() for s in devices.split(",") if s.strip() and s.strip() != "host"]
    serials = sorted(listing) if wanted in ([], ["all"]) else wanted
    if not serials:
        return f"device_bench doctor: {adb.describe([])}; {adb.ADVICE}", False
    screens, ready = [], True
    for serial in serials:
        title, checks = examine(client, serial, listing.get(serial), ctx)
        ready &= all(c.status != FAIL for c in checks)
        screens.append(describe_device(title, serial, checks))
    head = f"device_bench doctor: {len(serials)} device(s), push folder {ctx.cfg.remote_dir}"
    return "\n\n".join([head, *screens]), ready

