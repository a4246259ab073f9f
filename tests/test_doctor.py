"""`python -m device_bench doctor` against loopback devices (x86 here; arm64 in the integration
tier): per phone adb authorisation, ABI, push folder space + exec, SELinux, CPU, battery, thermal."""
from __future__ import annotations

import time

import pytest

from device_bench.__main__ import main
from device_bench.doctor import needed_mb, parse_df_available_kb

UNHEALTHY = {"class/power_supply/battery/capacity": "12", "class/thermal/thermal_zone0/temp": "52000",
             "devices/system/cpu/cpu0/cpufreq/scaling_governor": "powersave",
             "devices/system/cpu/online": "0"}


def _doctor(capsys, adb_server, serials, *extra) -> tuple[int, str]:
    rc = main(["doctor", "--devices", ",".join(serials), "--adb-port", str(adb_server.port), *extra])
    return rc, capsys.readouterr().out


def _block(out: str, serial: str) -> str:
    return next(b for b in out.split("\n\n") if b.startswith(serial))


def test_a_healthy_device_is_ready(capsys, adb_server, loopback, host_runner):
    dev = loopback("healthy", props={"ro.product.model": "Pixel Test"})
    rc, out = _doctor(capsys, adb_server, [dev.serial], f"runner_host={host_runner}")
    block = _block(out, dev.serial)
    assert rc == 0 and block.splitlines()[-1] == "  -> ready", out
    for name in ("adb", "abi", "space", "exec", "selinux", "cpu", "battery", "thermal"):
        assert any(line.split()[:2] == ["ok", name] for line in block.splitlines()), (name, block)
    assert "Pixel Test" in block.splitlines()[0] and "emulated" not in block
    assert "typo_runner runs from /data/local/tmp/typo_bench" in block
    assert not list((dev.root / "data/local/tmp/typo_bench").iterdir())  # the probe is removed


def test_what_to_fix_fits_one_screen(capsys, adb_server, loopback, host_runner):
    sick = loopback("sick", sysfs=UNHEALTHY, selinux="Permissive")
    locked = loopback("locked", authorized=False)
    deadline = time.monotonic() + 10
    while adb_server.state(locked.serial) != "unauthorized" and time.monotonic() < deadline:
        time.sleep(0.05)
    rc, out = _doctor(capsys, adb_server, [sick.serial, locked.serial, "127.0.0.9:1"],
                      f"runner_host={host_runner}")
    assert rc == 1 and len(out.splitlines()) <= 40, out
    block = _block(out, sick.serial)
    for check, fix in (("selinux", "stock (user) build"), ("cpu", "cores are offline"),
                       ("battery", "charge above 20 %"), ("thermal", "let it cool below 45 C")):
        line = next(i for i, text in enumerate(block.splitlines()) if text.split()[:2] == ["warn", check])
        assert fix in block.splitlines()[line + 1], (check, block)
    assert "12 %" in block and "52.0 C" in block and "Permissive" in block
    assert block.splitlines()[-1].startswith("  -> ready (worth fixing: selinux, cpu, battery, thermal)")
    assert "FAIL  adb      unauthorized" in _block(out, locked.serial) and "tap 'Allow'" in out
    assert "FAIL  adb      not attached" in _block(out, "127.0.0.9:1")


def test_a_missing_runner_build_is_named(capsys, adb_server, loopback, tmp_path):
    dev = loopback("arm-abi", props={"ro.product.cpu.abi": "arm64-v8a"})
    rc, out = _doctor(capsys, adb_server, [dev.serial], f"runner_android={tmp_path / 'none/typo_runner'}")
    assert rc == 1 and "FAIL  abi      arm64-v8a: its runner is not built" in out
    assert "make android-runner-static" in out and "warn  exec     not tested" in out


def test_an_old_32_bit_phone_fails_abi(capsys, adb_server, loopback):
    dev = loopback("v7", props={"ro.product.cpu.abi": "armeabi-v7a"})
    rc, out = _doctor(capsys, adb_server, [dev.serial])
    assert rc == 1 and "armeabi-v7a: the runner is built for arm64-v8a" in out


def test_no_device_at_all(capsys, adb_server):
    rc, out = _doctor(capsys, adb_server, ["all"])
    assert rc == 1 and "adb sees no devices" in out


def test_df_parsing_and_space_needed(tmp_path):
    gnu = ("Filesystem     1K-blocks     Used Available Use% Mounted on\n"
           "/dev/sda1       71724152 30164100  41543668  43% /\n")
    wrapped = ("Filesystem 1K-blocks Used Available Use% Mounted on\n/dev/block/very-long-name\n"
               "  115138800 51000000 64138800 45% /data\n")
    assert parse_df_available_kb(gnu) == 41543668 and parse_df_available_kb(wrapped) == 64138800
    assert parse_df_available_kb("df: /x: No such file or directory\n") is None
    model = tmp_path / "m.pte"
    model.write_bytes(b"\0" * (3 * 2**20))
    assert needed_mb([]) == 1024 and needed_mb([str(model)]) == pytest.approx(3 + 20 + 50)


@pytest.mark.integration
def test_the_arm64_loopback_device_is_ready_and_says_emulated(capsys, adb_server, loopback, arm64,
                                                              arm64_runner, host_runner):
    dev = loopback("arm64-doctor", flavour=arm64("cortex-a76"))
    rc, out = _doctor(capsys, adb_server, [dev.serial], f"runner_android={arm64_runner}")
    block = _block(out, dev.serial)
    assert rc == 0 and "ok    abi      arm64-v8a -> runner" in block and str(arm64_runner) in block
    assert "info  emulated qemu -cpu cortex-a76" in block
    assert "ok    exec     typo_runner runs from" in block  # the aarch64 runner ran under qemu
    # the x86-64 runner on it: the exec check fails and says why
    rc, out = _doctor(capsys, adb_server, [dev.serial], "--runner", str(host_runner))
    assert rc == 1 and "FAIL  exec" in out and "wrong ABI" in out
