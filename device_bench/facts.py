"""Device facts for the report: model, SoC, Android version, ABI, RAM, thermal state, and
whether the device is emulated (`ro.kernel.qemu=1`: its timings are not a phone's).

Only plain commands go to the device (getprop, cat, ls, grep: no `sh -c`), so they run on any
phone's toybox and inside the loopback device's sandbox alike."""
from __future__ import annotations

import glob
import os
import platform
import re

from core.runs import parse_meminfo  # also read from a device's /proc/meminfo below

GETPROPS = {
    "manufacturer": "ro.product.manufacturer", "model": "ro.product.model",
    "device": "ro.product.device", "soc": "ro.soc.model", "soc_manufacturer": "ro.soc.manufacturer",
    "hardware": "ro.hardware", "board_platform": "ro.board.platform",
    "android_version": "ro.build.version.release", "sdk": "ro.build.version.sdk", "abi": "ro.product.cpu.abi",
}


def parse_getprop(text: str) -> dict[str, str]:
    """`getprop` listing lines `[key]: [value]` -> dict."""
    return dict(re.findall(r"^\[([^\]]+)\]: \[(.*)\]\s*$", text, flags=re.M))


def parse_thermal(text: str) -> dict[str, float]:
    """Lines `type temp_millideg` -> {type: degrees C} (unreadable zones are skipped)."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and re.fullmatch(r"-?\d+", parts[1]):
            value = int(parts[1])
            out[parts[0]] = value / 1000 if abs(value) > 200 else float(value)
    return out


THERMAL_DIR = "/sys/class/thermal"
FILES_PER_CALL = 100  # paths per grep: keeps a command line far below adb's limits


def list_dir(target, path: str) -> list[str]:
    """Names in a device folder ([] when it cannot be listed)."""
    r = target.shell(["ls", path], check=False)
    return r.stdout.split() if r.returncode == 0 else []


def read_files(target, paths: list[str]) -> dict[str, str]:
    """Small files (sysfs) in few calls: `grep -Hs . FILES` prints `path:line` for each
    readable file, so an unreadable one (common among thermal zones) is just absent."""
    out: dict[str, str] = {}
    wanted = set(paths)
    for i in range(0, len(paths), FILES_PER_CALL):
        r = target.shell(["grep", "-Hs", ".", *paths[i:i + FILES_PER_CALL]], check=False)
        for line in r.stdout.splitlines():
            path, sep, value = line.partition(":")
            if sep and path in wanted and path not in out:
                out[path] = value.strip()
    return out


def read_thermal(target) -> dict[str, float]:
    """{zone type: degrees C} from /sys/class/thermal/thermal_zone*/{type,temp}."""
    zones = [f"{THERMAL_DIR}/{z}" for z in list_dir(target, THERMAL_DIR)
             if re.fullmatch(r"thermal_zone\d+", z)]
    files = read_files(target, [f"{z}/{leaf}" for z in zones for leaf in ("type", "temp")])
    lines = [f"{files[f'{z}/type']} {files[f'{z}/temp']}" for z in zones
             if f"{z}/type" in files and f"{z}/temp" in files]
    return parse_thermal("\n".join(lines))


def emulation(props: dict[str, str]) -> dict:
    """Android's emulator (and the arm64 loopback device) set ro.kernel.qemu=1."""
    emulated = props.get("ro.kernel.qemu") == "1" or props.get("ro.boot.qemu") == "1"
    return {"emulated": emulated, "emulated_cpu": props.get("ro.boot.qemu.cpu") if emulated else None}


def adb_facts(target) -> dict:
    props = parse_getprop(target.shell(["getprop"]).stdout)
    facts = {k: props.get(p) for k, p in GETPROPS.items()}
    facts["soc"] = facts["soc"] or facts["board_platform"] or facts["hardware"]  # ro.soc.* is Android 12+
    mem = parse_meminfo(target.shell(["cat", "/proc/meminfo"], check=False).stdout)
    facts["ram_total_kb"], facts["ram_available_kb"] = mem.get("MemTotal"), mem.get("MemAvailable")
    facts["thermal_c"] = read_thermal(target)
    facts |= emulation(props)
    facts["serial"], facts["kind"] = target.serial, "adb"
    return facts


def host_facts() -> dict:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            m = re.search(r"^model name\s*:\s*(.+)$", fh.read(), flags=re.M)
            cpu = m.group(1).strip() if m else ""
        with open("/proc/meminfo") as fh:
            mem = parse_meminfo(fh.read())
    except OSError:
        mem = {}
    thermal = {}
    for zone in glob.glob("/sys/class/thermal/thermal_zone*"):
        try:
            with open(f"{zone}/type") as t, open(f"{zone}/temp") as v:
                thermal.update(parse_thermal(f"{t.read().strip()} {v.read().strip()}"))
        except OSError:
            continue
    return {
        "serial": "host", "kind": "host", "manufacturer": None, "model": platform.node(),
        "device": "host", "soc": cpu or platform.processor(), "android_version": None,
        "os": platform.platform(), "abi": platform.machine(), "cpu_count": os.cpu_count(),
        "ram_total_kb": mem.get("MemTotal"), "ram_available_kb": mem.get("MemAvailable"),
        "thermal_c": thermal, "emulated": False, "emulated_cpu": None,
    }
