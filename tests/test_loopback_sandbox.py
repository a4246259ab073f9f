"""Fast tier: the loopback device is a sandbox, not a door (issue 16, item 4).

Only an adb server holding an authorised key gets in; what it may run is the bench's own
command set, without a shell, inside the device's root folder, with a scrubbed environment."""
from __future__ import annotations

import socket
import struct
from pathlib import Path

import pytest

from device_bench import adb
from device_bench.testing import loopback_adbd as adbd
from device_bench.testing.adb_server import AdbServer


def _target(adb_server, dev) -> adb.AdbTarget:
    return adb.AdbTarget(adb.adb_client(port=adb_server.port).device(dev.serial), progress=False)


def _script(dev, name: str, body: str) -> str:
    path = dev.root / "data/local/tmp" / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    dev.trust(path)  # the harness's own script: the sandbox runs no other pushed script
    return f"/data/local/tmp/{name}"


HOSTILE = ["id", "cat /etc/passwd", "echo $HF_TOKEN", "sh -c id", "ls /", "cat /proc/self/environ",
           "cat /data/local/tmp/../../../etc/passwd", "timeout 5 id", "timeout 5 timeout 5 cat /proc/meminfo",
           "rm -rf /data/local/tmp", "rmdir /data/local/tmp", "mkdir -p /etc/x", "/bin/sh -c id",
           "/usr/bin/id", "cat /proc/meminfo; id", "grep -r root /etc", "stat -c %n /etc/passwd", "",
           "export A=1"]


@pytest.mark.parametrize("command", HOSTILE)
def test_hostile_commands_are_refused(adb_server, loopback, monkeypatch, command):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    r = adb.adb_client(port=adb_server.port).device(loopback().serial).shell2(command, v2=True)
    assert r.returncode == 126 and "refused" in r.stderr, (command, r)
    assert "root:" not in r.stdout and "hf_secret_value" not in r.stdout + r.stderr
    assert "uid=" not in r.stdout


def test_commands_run_with_a_scrubbed_environment_inside_the_root(adb_server, loopback, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value")
    dev = loopback()
    prog = _script(dev, "env.sh", 'echo "token=[$HF_TOKEN]"; pwd; env | sort\n')
    out = _target(adb_server, dev).shell([prog]).stdout
    assert "token=[]" in out and "hf_secret_value" not in out
    assert set(line.split("=")[0] for line in out.splitlines()[2:]) <= {
        "PATH", "HOME", "TMPDIR", "LANG", "ANDROID_DATA", "ANDROID_ROOT", "PWD", "SHLVL", "_", "OLDPWD"}
    assert out.splitlines()[1] == "/"  # cwd is the root folder, reported as the device's /


def test_a_symlink_out_of_the_root_is_refused(adb_server, loopback):
    dev = loopback()
    (dev.root / "data/local/tmp/passwd").symlink_to("/etc/passwd")
    r = _target(adb_server, dev).shell(["cat", "/data/local/tmp/passwd"], check=False)
    assert r.returncode == 126 and "outside" in r.stderr and "root:" not in r.stdout


def test_sync_cannot_read_or_write_outside_the_root(adb_server, loopback, tmp_path):
    dev = loopback()
    target = _target(adb_server, dev)
    assert target.pull("/etc/passwd", tmp_path / "p") is False  # STAT of a refused path: absent
    src = tmp_path / "x"
    src.write_text("x")
    getprop = (dev.root / "system/bin/getprop").read_bytes()
    for remote in ("/etc/evil", "/system/bin/getprop", "/data/local/tmp/../../../tmp/evil"):
        with pytest.raises(adb.DeviceError, match="push failed: FAIL"):  # adbd's FAIL reply
            target._guard("push", target.device.sync.push, str(src), remote)
    assert not any(p.exists() for p in (Path("/etc/evil"), Path("/tmp/evil"), dev.root / "etc/evil"))
    assert (dev.root / "system/bin/getprop").read_bytes() == getprop
    assert target.push(src, "ok.txt") == "/data/local/tmp/typo_bench/ok.txt"


def test_the_bench_command_set_is_allowed(adb_server, loopback, tmp_path):
    """What the bench and the doctor send: each succeeds (exit 0) in the sandbox."""
    dev = loopback()
    target = _target(adb_server, dev)
    target.prepare()
    (tmp_path / "f").write_text("hello")
    remote = target.push(tmp_path / "f", "f")
    for argv in (["getprop"], ["getprop", "ro.product.model"], ["getenforce"], ["cat", "/proc/meminfo"],
                 ["ls", "/sys/class/thermal"], ["grep", "-Hs", ".", "/sys/class/thermal/thermal_zone0/temp"],
                 ["df", "-k", target.remote_dir], ["stat", "-c", "%a", target.remote_dir],
                 ["sha256sum", remote], ["ls", "-d", target.remote_dir],
                 ["rm", "-f", remote, remote + ".tmp"], ["rmdir", target.remote_dir]):
        assert target.shell(argv).returncode == 0, argv


def test_another_adb_server_is_unauthorized(adb_server, loopback, tmp_path):
    """A second adb server (its own key, as any other local user has) cannot get in."""
    dev = loopback()
    with AdbServer(tmp_path / "stranger") as stranger:
        stranger.run("connect", dev.serial)
        state = None
        for _ in range(100):
            state = stranger.state(dev.serial)
            if state == "unauthorized":
                break
            import time

            time.sleep(0.05)
        assert state == "unauthorized"
        r = stranger.run("-s", dev.serial, "shell", "getprop")
        assert r.returncode != 0 and "unauthorized" in (r.stdout + r.stderr)
    assert adb_server.state(dev.serial) == "device"  # the test's own server is still in


def _packet(cmd: int, arg0: int, arg1: int, data: bytes = b"") -> bytes:
    return struct.pack("<6I", cmd, arg0, arg1, len(data), sum(data) & 0xFFFFFFFF, cmd ^ 0xFFFFFFFF) + data


def _read_packet(sock) -> tuple[int, int, bytes]:
    head = b""
    while len(head) < 24:
        chunk = sock.recv(24 - len(head))
        if not chunk:
            raise ConnectionError("closed")
        head += chunk
    cmd, arg0, _arg1, length, _check, _magic = struct.unpack("<6I", head)
    data = b""
    while len(data) < length:
        data += sock.recv(length - len(data))
    return cmd, arg0, data


def test_raw_clients_without_the_key_get_nothing(loopback_raw):
    """Skipping AUTH, or signing with garbage, opens no service: a bad packet drops the link."""
    with socket.create_connection(("127.0.0.1", loopback_raw.port), timeout=10) as sock:
        sock.sendall(_packet(adbd.A_CNXN, adbd.A_VERSION, 4096, b"host::\0"))
        cmd, arg0, token = _read_packet(sock)
        assert (cmd, arg0, len(token)) == (adbd.A_AUTH, adbd.AUTH_TOKEN, 20)
        sock.sendall(_packet(adbd.A_AUTH, adbd.AUTH_SIGNATURE, 0, b"\x01" * 256))
        cmd, arg0, _ = _read_packet(sock)
        assert (cmd, arg0) == (adbd.A_AUTH, adbd.AUTH_TOKEN)  # a new token, not CNXN
        sock.sendall(_packet(adbd.A_OPEN, 1, 0, b"shell:id\0"))
        with pytest.raises(ConnectionError):
            _read_packet(sock)


@pytest.fixture
def loopback_raw(tmp_path, adb_server):
    dev = adbd.LoopbackDevice(tmp_path / "raw", adb_keys=[adb_server.public_key]).start()
    yield dev
    dev.stop()


def test_no_keys_means_nobody(tmp_path):
    dev = adbd.LoopbackDevice(tmp_path / "nokey")
    assert dev.accepts(b"\0" * 20, b"\0" * 256) is False


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_pushed_script_never_runs(adb_server, loopback, tmp_path):
    """`adb push evil.sh /data/local/tmp/; adb shell /data/local/tmp/evil.sh`: refused, with a
    message, and nothing is written outside the root (nor inside it)."""
    dev = loopback()
    outside = tmp_path / "outside"
    outside.mkdir()
    evil = tmp_path / "evil.sh"
    evil.write_text(f"#!/bin/sh\ntouch {outside}/pwned\necho ran\n")
    evil.chmod(0o755)
    assert adb_server.run("-s", dev.serial, "push", str(evil), "/data/local/tmp/").returncode == 0
    before = _tree(dev.root)
    for command in ("/data/local/tmp/evil.sh", "timeout 5 /data/local/tmp/evil.sh"):
        r = adb_server.run("-s", dev.serial, "shell", command)
        assert r.returncode == 126, (command, r)
        assert "refused" in r.stderr and "/data/local/tmp/evil.sh" in r.stderr, r.stderr
        assert "only the pushed runner" in r.stderr and "ran" not in r.stdout
    assert list(outside.iterdir()) == [] and _tree(dev.root) == before


def test_only_an_elf_named_typo_runner_runs(adb_server, loopback, tmp_path):
    """The runner the bench pushes runs; the same script or another ELF under its name does not."""
    import shutil

    from device_bench.bench import RUNNER_NAME
    from device_bench.testing._sandbox import RUNNER_NAME as SANDBOX_RUNNER

    assert SANDBOX_RUNNER == RUNNER_NAME
    dev = loopback()
    target = _target(adb_server, dev)
    target.prepare()
    elf, script = tmp_path / "elf", tmp_path / "script"
    shutil.copyfile(shutil.which("true"), elf)
    script.write_text("#!/bin/sh\nexit 0\n")
    for f in (elf, script):
        f.chmod(0o755)
    assert target.run([target.push(elf, RUNNER_NAME)], timeout_s=30).returncode == 0  # the ELF runs
    for local, name in ((script, RUNNER_NAME), (elf, "other_tool")):
        r = target.run([target.push(local, name)], timeout_s=30)
        assert r.returncode == 126 and "only the pushed runner" in r.stderr, (name, r)
