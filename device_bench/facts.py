"""Device facts for the report: model, SoC, Android version, ABI, RAM, thermal state."""
from __future__ import annotations

import glob
import os
import platform
import re

GETPROPS = {
    "manufacturer": "ro.product.manufacturer", "model": "ro.product.model",
    "device": "ro.product.device", "soc": "ro.soc.model", "soc_manufacturer": "ro.soc.manufacturer",
    "hardware": "ro.hardware", "board_platform": "ro.board.platform",
    "android_version": "ro.build.version.release", "sdk": "ro.build.version.sdk", "abi": "ro.product.cpu.abi",
}


def parse_getprop(text: str) -> dict[str, str]:
    """`getprop` listing lines `[key]: [value]` -> dict."""
    return dict(re.findall(r"^\[([^\]]+)\]: \[(.*)\]\s*$", text, flags=re.M))


def parse_meminfo(text: str) -> dict[str, int]:
    out = {}
    for key in ("MemTotal", "MemAvailable"):
        m = re.search(rf"^{key}:\s+(\d+)\s*kB", text, flags=re.M)
        if m:
            out[key] = int(m.group(1))
    return out


def parse_thermal(text: str) -> dict[str, float]:
    """Lines `type temp_millideg` -> {type: degrees C} (unreadable zones are skipped)."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and re.fullmatch(r"-?\d+", parts[1]):
            value = int(parts[1])
            out[parts[0]] = value / 1000 if abs(value) > 200 else float(value)
    return out


THERMAL_SH = ("for z in /sys/class/thermal/thermal_zone*; do "
              "t=$(cat $z/type 2>/dev/null) && v=$(cat $z/temp 2>/dev/null) && echo \"$t $v\"; done")


def adb_facts(target) -> dict:
    props = parse_getprop(target.shell(["getprop"]).stdout)
    facts = {k: props.get(p) for k, p in GETPROPS.items()}
    facts["soc"] = facts["soc"] or facts["board_platform"] or facts["hardware"]  # ro.soc.* is Android 12+
    mem = parse_meminfo(target.shell(["cat", "/proc/meminfo"], check=False).stdout)
    facts["ram_total_kb"], facts["ram_available_kb"] = mem.get("MemTotal"), mem.get("MemAvailable")
    facts["thermal_c"] = parse_thermal(target.shell(["sh", "-c", THERMAL_SH], check=False).stdout)
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
        "thermal_c": thermal,
    }
