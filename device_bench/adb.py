"""Device layer: the same small interface for a phone over adb and for this host.

Every device command has a deadline (wrapped in `timeout` on the device, because
adbutils' own timeout is per socket read, not a deadline), its exit code is always
checked (`shell2(..., v2=True)`), and every argument is `shlex.quote`d so nothing a
user passes is interpreted by the device shell. adb failures become typed errors.
"""
from __future__ import annotations

import os
import posixpath
import shlex
import shutil
import socket
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from core.errors import BenchError
from core.runs import sha256_file

REMOTE_DIR = "/data/local/tmp/typo_bench"
PUSH_ROOT = "/data/local/tmp"  # the one device folder that is writable and allows exec
RUNNER_NAME = "typo_runner"  # the runner's name in the push folder (the loopback device runs only it)
ADVICE = ("check: the phone is plugged in with a data cable, Developer options > USB debugging "
          "is on, you tapped 'Allow' on the 'Allow USB debugging?' prompt, and `adb devices` "
          "lists it as `device`")


class DeviceError(BenchError):
    """Something about a device went wrong; the message says what to check."""


class NoDeviceError(DeviceError):
    pass


class UnauthorizedDeviceError(DeviceError):
    pass


class DeviceLostError(DeviceError):
    """The device went away (unplugged, adb connection dropped, daemon killed)."""


class DeviceTimeoutError(DeviceError):
    pass


def remote_dir_problem(remote_dir: str) -> str | None:
    """Why `remote_dir` cannot be the bench's push folder, or None. It must normalise to a
    folder below /data/local/tmp/ by at least one component: "/data/local/tmp//" or
    "/data/local/tmp/x/.." is /data/local/tmp itself, which other apps and tools share."""
    if not remote_dir.startswith("/"):
        return f"remote_dir must be an absolute device path below {PUSH_ROOT}/, got {remote_dir!r}"
    norm = posixpath.normpath(remote_dir)
    if ".." in remote_dir.split("/"):
        return f"remote_dir must not climb with '..', got {remote_dir!r}"
    if norm.startswith(PUSH_ROOT + "/"):
        return None
    shared = norm == PUSH_ROOT or PUSH_ROOT.startswith(norm.rstrip("/") + "/")  # it or a parent
    why = "a shared folder the bench must not write into or clean" if shared else \
        "outside it: a phone allows exec only there"
    return (f"remote_dir must be a folder of its own below {PUSH_ROOT}/ (e.g. {REMOTE_DIR}), got "
            f"{remote_dir!r}, which is {norm}: {why}")


def normalise_remote_dir(remote_dir: str) -> str:
    problem = remote_dir_problem(remote_dir)
    if problem:
        raise BenchError(problem)
    return posixpath.normpath(remote_dir)


@dataclass
class CmdResult:
    returncode: int
    stdout: str
    stderr: str
    wall_s: float

    @property
    def timed_out(self) -> bool:
        return self.returncode in (124, 137)  # `timeout` exit, or killed after -k grace


def deadline_argv(argv: list[str], timeout_s: float) -> list[str]:
    """Wrap a command in `timeout`: SIGTERM at the deadline, SIGKILL 5 s later."""
    return ["timeout", "-k", "5", f"{max(1, int(timeout_s))}", *argv]


class HostTarget:
    """Host mode: the host-built runner on this machine, no adb."""

    kind = "host"

    def __init__(self, workdir: str | Path):
        self.serial = "host"
        self.workdir = Path(workdir).resolve()  # the runner runs with cwd=workdir: no relative paths
        self.created = False
        self.written: set[str] = set()  # file names the runner may write here: what cleanup removes

    def prepare(self) -> None:
        self.created = self.created or not self.workdir.exists()
        self.workdir.mkdir(parents=True, exist_ok=True)

    def push(self, local: Path, name: str) -> str:
        return str(Path(local).resolve())  # already here: run it in place

    def remote_path(self, name: str) -> str:
        self.written.add(name)
        return str(self.workdir / name)

    def run(self, argv: list[str], timeout_s: float) -> CmdResult:
        t0 = time.perf_counter()
        proc = subprocess.run(deadline_argv(argv, timeout_s), capture_output=True, text=True,
                              errors="replace", cwd=self.workdir, timeout=timeout_s + 30)
        return CmdResult(proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - t0)

    def pull(self, remote: str, local: Path) -> bool:
        if not Path(remote).is_file():
            return False
        if Path(remote).resolve() != Path(local).resolve():
            shutil.copyfile(remote, local)
        return True

    def remove(self, remote: str) -> None:
        Path(remote).unlink(missing_ok=True)

    def facts(self) -> dict:
        from device_bench.facts import host_facts

        return host_facts()

    def cleanup(self, keep: bool) -> None:
        """Remove the files handed out by name (and the runner's .tmp of each), then the folder
        when this target made it and it is empty: never a folder's contents wholesale."""
        if keep:
            return
        for name in sorted(self.written):
            for p in (self.workdir / name, self.workdir / f"{name}.tmp"):
                p.unlink(missing_ok=True)
        if self.created:
            try:
                self.workdir.rmdir()
            except OSError:
                pass  # something else is in it: it stays


class AdbTarget:
    """A phone (or the loopback device) behind the adb server, through adbutils."""

    kind = "adb"

    def __init__(self, device, remote_dir: str = REMOTE_DIR, progress: bool = True):
        self.device = device
        self.serial = device.serial
        self.remote_dir = normalise_remote_dir(remote_dir)
        self.progress = progress
        self.created = False
        self.written: set[str] = set()  # names pushed or handed to the runner: what cleanup removes

    def _guard(self, what: str, fn, *args, **kwargs):
        """Call adbutils; translate its failures into DeviceError subclasses."""
        import adbutils

        try:
            return fn(*args, **kwargs)
        except adbutils.AdbTimeout as exc:
            raise DeviceTimeoutError(f"{self.serial}: {what} timed out ({exc})") from exc
        except (adbutils.AdbError, ConnectionError, socket.error, EOFError, struct.error) as exc:
            # struct.error: adbutils unpacking a reply cut short by a dropped connection
            raise DeviceLostError(f"{self.serial}: {what} failed: {exc or type(exc).__name__} - "
                                  f"device unplugged or adb connection lost? {ADVICE}") from exc

    def shell(self, argv: list[str], timeout_s: float = 60, check: bool = True) -> CmdResult:
        cmd = " ".join(shlex.quote(str(a)) for a in deadline_argv(argv, timeout_s))
        t0 = time.perf_counter()
        r = self._guard(f"shell {argv[0]}", self.device.shell2, cmd, timeout=timeout_s + 30, v2=True)
        res = CmdResult(r.returncode, r.stdout, r.stderr, time.perf_counter() - t0)
        if check and res.returncode != 0:
            raise DeviceError(f"{self.serial}: `{' '.join(map(str, argv))}` exited with "
                              f"{res.returncode}: {res.stderr.strip()[-500:]}")
        return res

    def prepare(self) -> None:
        exists = self.shell(["ls", "-d", self.remote_dir], check=False).returncode == 0
        self.created = self.created or not exists
        self.shell(["mkdir", "-p", self.remote_dir])

    def remote_path(self, name: str) -> str:
        self.written.add(name)
        return f"{self.remote_dir}/{name}"

    def _remote_sha(self, remote: str) -> str | None:
        r = self.shell(["sha256sum", remote], check=False)
        return r.stdout.split()[0] if r.returncode == 0 and r.stdout.strip() else None

    def push(self, local: Path, name: str) -> str:
        """Push unless the device already has the same bytes (sha256); progress bar."""
        remote = self.remote_path(name)
        if self._remote_sha(remote) == sha256_file(local):
            return remote
        size = Path(local).stat().st_size
        with open(local, "rb") as fh, tqdm(total=size, unit="B", unit_scale=True, leave=False,
                                             desc=f"push {name} -> {self.serial}",
                                             disable=not self.progress) as bar:
            self._guard(f"push {name}", self.device.sync.push, _Progress(fh, bar), remote, 0o755)
        if self._remote_sha(remote) != sha256_file(local):
            raise DeviceError(f"{self.serial}: {remote} differs from {local} after the push")
        return remote

    def run(self, argv: list[str], timeout_s: float) -> CmdResult:
        return self.shell(argv, timeout_s=timeout_s, check=False)

    def pull(self, remote: str, local: Path) -> bool:
        st = self._guard(f"stat {remote}", self.device.sync.stat, remote)
        if st.mode == 0:
            return False
        self._guard(f"pull {remote}", self.device.sync.pull_file, remote, Path(local))
        return True

    def remove(self, remote: str) -> None:
        self.shell(["rm", "-f", remote])

    def facts(self) -> dict:
        from device_bench.facts import adb_facts

        return adb_facts(self)

    def cleanup(self, keep: bool) -> None:
        """`rm -f` the files the bench pushed or had the runner write, by name (and the runner's
        .tmp of each), then `rmdir` the folder if this target created it: never `rm -rf`."""
        if keep or not self.written:
            return
        paths = [f"{self.remote_dir}/{name}{tmp}" for name in sorted(self.written) for tmp in ("", ".tmp")]
        self.shell(["rm", "-f", *paths], check=False)
        if self.created:
            self.shell(["rmdir", self.remote_dir], check=False)  # fails, harmlessly, unless empty


class _Progress:
    """File wrapper that advances a tqdm bar as adbutils reads it."""

    def __init__(self, fh, bar):
        self.fh, self.bar = fh, bar

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.bar.update(len(data))
        return data

    def close(self) -> None:
        pass  # the caller's `with` closes the file


# -- discovery -------------------------------------------------------------------
def server_port(port: int | None = None) -> int:
    """--adb-port, else ANDROID_ADB_SERVER_PORT, else 5037; a bad value names where it came from."""
    if port is not None:
        where, raw = "--adb-port", str(port)
    else:
        where, raw = "environment variable ANDROID_ADB_SERVER_PORT", os.environ.get("ANDROID_ADB_SERVER_PORT")
        if raw is None or raw.strip() == "":
            return 5037
    try:
        value = int(raw.strip())
    except ValueError:
        raise BenchError(f"{where}={raw!r} is not a port number (1..65535)") from None
    if not 1 <= value <= 65535:
        raise BenchError(f"{where}={raw!r} is out of range: a port is 1..65535")
    return value


def adb_client(host: str | None = None, port: int | None = None):
    """adbutils client for the adb server at host:port (env ANDROID_ADB_SERVER_PORT)."""
    port = server_port(port)  # before the import: adbutils reads the variable at import time
    import adbutils

    host = host or os.environ.get("ANDROID_ADB_SERVER_HOST", "127.0.0.1")
    return adbutils.AdbClient(host=host, port=port, socket_timeout=30)


# Ports of the adb servers this process started (device_listing): the bench stops them when it
# ends, so a run never leaves a server listening behind it.
STARTED_SERVERS: set[int] = set()


def stop_started_servers() -> list[int]:
    """`adb kill-server` for every server this process started; returns their ports."""
    adb = find_adb()
    stopped = []
    for port in sorted(STARTED_SERVERS):
        STARTED_SERVERS.discard(port)
        if adb is None:
            continue
        env = dict(os.environ, ANDROID_ADB_SERVER_PORT=str(port))
        try:
            subprocess.run([adb, "kill-server"], env=env, capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue  # best effort: nothing more to do about a server that will not stop
        stopped.append(port)
    return stopped


def find_adb() -> str | None:
    """The adb binary: PATH (Debian package `adb`) first, then the one adbutils ships."""
    found = shutil.which("adb")
    if found:
        return found
    try:
        from adbutils._utils import adb_path
    except ImportError:  # an adbutils without a bundled binary: there is none to offer
        return None
    path = adb_path()
    return path if path and Path(path).is_file() else None


def device_listing(client) -> list:
    """`adb devices`, starting the server once if it is not running."""
    import adbutils

    try:
        return client.list()
    except (adbutils.AdbError, ConnectionError, OSError) as first:
        adb = find_adb()
        if adb is None:
            raise NoDeviceError(f"no adb server at {client.host}:{client.port} and no adb binary "
                                f"to start one (install the `adb` package): {first}") from first
        env = dict(os.environ, ANDROID_ADB_SERVER_PORT=str(client.port))
        proc = subprocess.run([adb, "start-server"], env=env, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise NoDeviceError(f"`adb start-server` on port {client.port} failed ({proc.returncode}): "
                                f"{proc.stderr.strip()[-500:]}") from first
        STARTED_SERVERS.add(int(client.port))
        try:
            return client.list()
        except (adbutils.AdbError, ConnectionError, OSError) as exc:
            raise NoDeviceError(f"cannot reach the adb server at {client.host}:{client.port}: {exc}") from exc


def describe(listing: list) -> str:
    if not listing:
        return "adb sees no devices at all"
    return "adb sees: " + ", ".join(f"{d.serial} ({d.state})" for d in listing)


def discover(spec: str, client=None, remote_dir: str = REMOTE_DIR, host_workdir: str | Path = ".",
             progress: bool = True) -> list:
    """`host` | `all` | `SERIAL,SERIAL,...` (may include `host`) -> targets, or a clear error."""
    wanted = [s.strip() for s in spec.split(",") if s.strip()]
    if not wanted:
        raise NoDeviceError("--devices is empty: give host, all, or serials")
    twice = sorted({s for s in wanted if wanted.count(s) > 1})
    if twice:  # one device twice: two workers would push into one folder and race on its files
        raise NoDeviceError(f"--devices names {', '.join(twice)} twice: give each device once")
    if "all" in wanted and len(wanted) > 1:
        raise NoDeviceError(f"--devices {spec!r}: 'all' already means every attached device; give all, or "
                            "serials")
    targets: list = []
    if "host" in wanted:
        targets.append(HostTarget(host_workdir))
    serials = [s for s in wanted if s != "host"]
    if not serials:
        return targets
    client = client or adb_client()
    listing = device_listing(client)
    states = {d.serial: d.state for d in listing}
    if serials == ["all"]:
        serials = [s for s, st in states.items() if st == "device"]
        if not serials:
            bad = [s for s, st in states.items() if st == "unauthorized"]
            if bad:
                raise UnauthorizedDeviceError(_unauthorized_message(bad))
            raise NoDeviceError(f"no usable Android device: {describe(listing)}; {ADVICE}")
    for s in serials:
        state = states.get(s)
        if state == "unauthorized":
            raise UnauthorizedDeviceError(_unauthorized_message([s]))
        if state != "device":
            why = "is not attached" if state is None else f"is {state}"
            raise NoDeviceError(f"device {s} {why}; {describe(listing)}; {ADVICE}")
        targets.append(AdbTarget(client.device(s), remote_dir, progress))
    return targets


def _unauthorized_message(serials: list[str]) -> str:
    return (f"device {', '.join(serials)} is unauthorized: unlock the phone and tap 'Allow' on the "
            f"'Allow USB debugging?' prompt (if none shows, revoke USB debugging authorisations in "
            f"Developer options and replug), then rerun")
