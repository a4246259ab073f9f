"""Fast tier: the loopback adb device through the REAL adb server (no model needed)."""
from __future__ import annotations

import hashlib
import os
import threading
import time

import pytest

from device_bench import adb


def _device(adb_server, dev):
    return adb.adb_client(port=adb_server.port).device(dev.serial)


def _push_script(dev, name: str, body: str) -> str:
    """A program in the device's push folder, trusted by the host side (the sandbox runs only the
    runner ELF and programs the test harness trusted by content)."""
    path = dev.root / "data/local/tmp" / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    dev.trust(path)
    return f"/data/local/tmp/{name}"


def test_shell_v2_exit_code_stdout_stderr(adb_server, loopback):
    dev = loopback()
    prog = _push_script(dev, "streams.sh", "echo out; echo err >&2; exit 7\n")
    r = _device(adb_server, dev).shell2(prog, v2=True)
    assert (r.returncode, r.stdout, r.stderr) == (7, "out\n", "err\n")


def test_adb_cli_shell_exit_code_and_stdin(adb_server, loopback):
    dev = loopback()
    prog = _push_script(dev, "exit3.sh", "exit 3\n")
    assert adb_server.run("-s", dev.serial, "shell", prog).returncode == 3
    data = "line one\nline two\n" * 500
    import subprocess

    res = subprocess.run([adb_server.adb, "-P", str(adb_server.port), "-s", dev.serial, "shell", "cat"],
                         input=data, capture_output=True, text=True, env=adb_server.env, timeout=30)
    assert res.returncode == 0 and res.stdout == data


def test_banner_props_and_getprop(adb_server, loopback):
    dev = loopback(props={"ro.product.model": "Pixel Test"})
    out = adb_server.run("devices", "-l").stdout
    assert dev.serial in out and "model:Pixel_Test" in out
    d = _device(adb_server, dev)
    assert d.shell2("getprop ro.product.model", v2=True).stdout.strip() == "Pixel Test"
    assert "shell_v2" in d.get_features() and "sendrecv_v2" not in d.get_features()


def test_push_pull_large_file_roundtrip(adb_server, loopback, tmp_path):
    dev = loopback()
    target = adb.AdbTarget(_device(adb_server, dev), progress=False)
    src = tmp_path / "blob.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 17))  # many WRTEs and sync DATA chunks
    remote = target.push(src, "nested/dir/blob.bin")
    assert (dev.root / remote.lstrip("/")).read_bytes() == src.read_bytes()
    assert target.shell(["sha256sum", remote]).stdout.split()[0] == \
        hashlib.sha256(src.read_bytes()).hexdigest()
    back = tmp_path / "back.bin"
    assert target.pull(remote, back) and back.read_bytes() == src.read_bytes()
    assert target.pull(remote + ".missing", tmp_path / "x") is False
    names = [f.path for f in _device(adb_server, dev).sync.list(target.remote_path("nested/dir"))]
    assert "blob.bin" in names


def test_push_skips_same_hash(adb_server, loopback, tmp_path):
    dev = loopback()
    target = adb.AdbTarget(_device(adb_server, dev), progress=False)
    src = tmp_path / "a.txt"
    src.write_text("hello")
    remote = target.push(src, "a.txt")
    host_file = dev.root / remote.lstrip("/")
    os.utime(host_file, (1, 1))  # a re-push would reset the mtime
    target.push(src, "a.txt")
    assert host_file.stat().st_mtime == 1
    src.write_text("changed")
    target.push(src, "a.txt")
    assert host_file.read_text() == "changed"


def test_arguments_are_quoted_not_interpreted(adb_server, loopback, tmp_path):
    dev = loopback()
    target = adb.AdbTarget(_device(adb_server, dev), progress=False)
    script = tmp_path / "args.sh"
    script.write_text('#!/bin/sh\nfor a in "$@"; do printf "[%s]\\n" "$a"; done\necho bad >&2\nexit 5\n')
    dev.trust(script)
    remote = target.push(script, "args.sh")
    nasty = ["two words", "$(touch /data/local/tmp/pwned)", "`touch pwned2`", "a;b", "'q'", "*", "x\ny"]
    r = target.run([remote, *nasty], timeout_s=30)
    assert r.returncode == 5 and r.stderr == "bad\n"
    assert r.stdout == "".join(f"[{a}]\n" for a in nasty)
    assert not (dev.root / "data/local/tmp/pwned").exists() and not (dev.root / "pwned2").exists()
    with pytest.raises(adb.DeviceError, match="exited with 5"):
        target.shell([remote])


def test_device_command_deadline(adb_server, loopback):
    dev = loopback()
    target = adb.AdbTarget(_device(adb_server, dev), progress=False)
    t0 = time.monotonic()
    r = target.run([_push_script(dev, "slow.sh", "sleep 30\n")], timeout_s=1)
    assert r.timed_out and time.monotonic() - t0 < 20


def test_unplugged_mid_command_is_device_lost(adb_server, loopback):
    dev = loopback()
    target = adb.AdbTarget(_device(adb_server, dev), progress=False)
    slow = _push_script(dev, "slow.sh", "sleep 30\n")
    threading.Timer(1.0, dev.stop).start()
    with pytest.raises(adb.DeviceLostError, match="unplugged"):
        target.run([slow], timeout_s=60)


def test_discovery_errors(adb_server, loopback):
    client = adb.adb_client(port=adb_server.port)
    with pytest.raises(adb.NoDeviceError, match="127.0.0.9:1 is not attached.*USB debugging"):
        adb.discover("127.0.0.9:1", client)
    dev = loopback("locked", authorized=False)
    deadline = time.monotonic() + 10
    while adb_server.state(dev.serial) != "unauthorized" and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(adb.UnauthorizedDeviceError, match="Allow"):
        adb.discover(dev.serial, client)
    ok = loopback("ok")
    assert [t.serial for t in adb.discover("all", client)] == [ok.serial]
    assert [t.serial for t in adb.discover(f"host,{ok.serial}", client)] == ["host", ok.serial]


def test_no_device_lists_what_adb_sees(adb_server):
    client = adb.adb_client(port=adb_server.port)
    with pytest.raises(adb.NoDeviceError, match="adb sees"):
        adb.discover("all", client)


def test_facts_from_getprop_and_proc(adb_server, loopback):
    dev = loopback(props={"ro.soc.model": "SM8650", "ro.product.cpu.abi": "arm64-v8a"})
    facts = adb.AdbTarget(_device(adb_server, dev), progress=False).facts()
    assert facts["soc"] == "SM8650" and facts["abi"] == "arm64-v8a" and facts["android_version"] == "14"
    assert facts["ram_total_kb"] > 0
    assert facts["thermal_c"] == {"cpu-therm": 35.0, "battery": 25.0}  # the fake /sys, read by grep
    assert facts["emulated"] is False and facts["emulated_cpu"] is None
