"""A loopback Android device for tests: a device-side adb daemon on 127.0.0.1.

The real adb server attaches it with `adb connect 127.0.0.1:PORT` and then talks the
ordinary adb transport protocol to it (CNXN/AUTH/OPEN/OKAY/WRTE/CLSE packets). Services:
`shell:` (v1: merged output, no exit code), `shell,v2,...:` (framed stdout/stderr/exit),
`exec:` and `sync:` (STAT/LIST/SEND/RECV/QUIT).

It is a sandbox, not a door:
- connecting needs adb's RSA authentication, like a phone: only an adb server holding the
  private key of one of `adb_keys` (its `adbkey.pub`; the tests' private server has its
  own, made at start) gets in; anyone else sees `unauthorized` and can open nothing;
- commands are checked against an allowlist and run without a shell, with the root folder as
  their cwd and a scrubbed environment (`_sandbox.py` lists what is allowed); their path
  arguments must lie inside the root. Of pushed files only the runner runs (an ELF named
  `typo_runner`), or what the host side trusted by content (`trusted=`, the tests' scripts):
  a pushed `evil.sh` is refused. The runner itself is native code that is not confined to the
  root: it can touch what this user can (see `_sandbox.py`);
- `/data/local/tmp`, `/sdcard`, `/sys` (a fake one: cores, governors, battery, thermal) and
  `/system` map into the root folder; `getprop` answers from fake device properties.

Flavours: `native` reports this host's ABI and runs pushed binaries natively; `arm64`
reports `arm64-v8a` and runs pushed aarch64 binaries under qemu-aarch64 with a pinned CPU
model (`ro.kernel.qemu=1`, as Android's own emulator says, marks its timings as emulated).

Run one by hand:  python -m device_bench.testing.loopback_adbd --root /tmp/phone [--flavour arm64]
then:             adb connect 127.0.0.1:<printed port>   (your ~/.android/adbkey.pub is the key)
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import signal
import socket
import struct
import subprocess
import threading
from pathlib import Path

from device_bench.testing import _adbauth
from device_bench.testing._sandbox import Flavour, Refused, Sandbox, default_sysfs, native_flavour

A_CNXN, A_OPEN, A_OKAY = 0x4E584E43, 0x4E45504F, 0x59414B4F
A_CLSE, A_WRTE, A_AUTH = 0x45534C43, 0x45545257, 0x48545541
A_VERSION = 0x01000001
AUTH_TOKEN, AUTH_SIGNATURE, AUTH_RSAPUBLICKEY = 1, 2, 3
MAX_PAYLOAD = 256 * 1024
SYNC_DATA_MAX = 64 * 1024
# The adb server probes 5555-5585 on its own; stay clear of that range.
RESERVED_PORTS = range(5555, 5586)

DEFAULT_PROPS = {
    "ro.product.name": "loopback",
    "ro.product.model": "Loopback Device",
    "ro.product.device": "loopback",
    "ro.product.manufacturer": "typo-corrector",
    "ro.soc.model": "host-cpu",
    "ro.soc.manufacturer": "loopback",
    "ro.build.version.release": "14",
    "ro.build.version.sdk": "34",
}
# Only these make the banner (the real adbd sends the same three).
BANNER_PROPS = ("ro.product.name", "ro.product.model", "ro.product.device")
FEATURES = ("shell_v2", "cmd", "fixed_push_mkdir")  # deliberately no sendrecv_v2 / stat_v2


class ProtocolError(RuntimeError):
    """The peer sent something that is not the adb transport protocol."""


def _packet(cmd: int, arg0: int, arg1: int, data: bytes = b"") -> bytes:
    check = sum(data) & 0xFFFFFFFF
    return struct.pack("<6I", cmd, arg0, arg1, len(data), check, cmd ^ 0xFFFFFFFF) + data


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed the connection")
        buf += chunk
    return bytes(buf)


class Stream:
    """One adb stream (an OPEN'ed service) with its own worker thread.

    Flow control as in adbd: after each WRTE we wait for the host's OKAY before the
    next one; data the host writes to us is queued in `_inbox` and read with read_exact.
    """

    def __init__(self, conn: "Connection", local_id: int, remote_id: int):
        self.conn, self.local_id, self.remote_id = conn, local_id, remote_id
        self._cv = threading.Condition()
        self._inbox = bytearray()
        self._acked = True
        self.closed = False
        self.proc: subprocess.Popen | None = None

    # -- host -> device
    def deliver(self, data: bytes) -> None:
        with self._cv:
            self._inbox += data
            self._cv.notify_all()

    def acked(self) -> None:
        with self._cv:
            self._acked = True
            self._cv.notify_all()

    def read_exact(self, n: int) -> bytes:
        with self._cv:
            while len(self._inbox) < n and not self.closed:
                self._cv.wait()
            if len(self._inbox) < n:
                raise ConnectionError("stream closed")
            out = bytes(self._inbox[:n])
            del self._inbox[:n]
            return out

    # -- device -> host
    def write(self, data: bytes) -> None:
        step = self.conn.max_payload
        for i in range(0, len(data), step):
            with self._cv:
                while not self._acked and not self.closed:
                    self._cv.wait()
                if self.closed:
                    raise ConnectionError("stream closed")
                self._acked = False
            self.conn.send(A_WRTE, self.local_id, self.remote_id, data[i:i + step])

    def mark_closed(self) -> None:
        with self._cv:
            self.closed = True
            self._cv.notify_all()
        _kill(self.proc)

    def close(self) -> None:
        """Device side closes: tell the host (once)."""
        with self._cv:
            was_closed, self.closed = self.closed, True
            self._cv.notify_all()
        if not was_closed:
            self.conn.send(A_CLSE, self.local_id, self.remote_id)
        self.conn.forget(self.local_id)


def _kill(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class Connection:
    """One transport connection from the adb server: a reader loop dispatching packets."""

    def __init__(self, device: "LoopbackDevice", sock: socket.socket):
        self.device, self.sock = device, sock
        self.max_payload = 4096
        self._send_lock = threading.Lock()
        self._streams: dict[int, Stream] = {}
        self._lock = threading.Lock()
        self._next_id = 1
        self._token = b""
        self.online = False  # True once the adb server proved it holds an authorised key

    def send(self, cmd: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        with self._send_lock:
            try:
                self.sock.sendall(_packet(cmd, arg0, arg1, data))
            except OSError:
                pass  # the reader loop notices the dead socket and cleans up

    def forget(self, local_id: int) -> None:
        with self._lock:
            self._streams.pop(local_id, None)

    def serve(self) -> None:
        try:
            while True:
                head = _recv_exact(self.sock, 24)
                cmd, arg0, arg1, length, _check, magic = struct.unpack("<6I", head)
                if magic != cmd ^ 0xFFFFFFFF:
                    raise ProtocolError(f"bad packet magic for command {cmd:#x}")
                self._dispatch(cmd, arg0, arg1, _recv_exact(self.sock, length) if length else b"")
        except (ConnectionError, OSError, ProtocolError):
            pass
        finally:
            self.shutdown()

    def _dispatch(self, cmd: int, arg0: int, arg1: int, data: bytes) -> None:
        if cmd in (A_CNXN, A_AUTH):
            self._handshake(cmd, arg0, arg1, data)
            return
        if not self.online:
            raise ProtocolError("a packet before authentication")  # drop the connection
        if cmd == A_OPEN:
            self._open(arg0, data.rstrip(b"\0").decode("utf-8", "replace"))
        elif cmd == A_WRTE:
            stream = self._get(arg1)
            if stream is not None:
                stream.deliver(data)
                self.send(A_OKAY, stream.local_id, arg0)
        elif cmd == A_OKAY:
            stream = self._get(arg1)
            if stream is not None:
                stream.acked()
        elif cmd == A_CLSE:
            stream = self._get(arg1)
            if stream is not None:
                stream.mark_closed()
                self.forget(arg1)

    def _handshake(self, cmd: int, arg0: int, arg1: int, data: bytes) -> None:
        """CNXN -> AUTH TOKEN; a SIGNATURE one of the device's keys verifies -> CNXN (online).
        A wrong signature gets a fresh token (the server tries its next key, then offers its
        public key, which nobody accepts: `unauthorized`, like a phone nobody taps)."""
        if cmd == A_CNXN:
            self.max_payload = max(4096, min(arg1, MAX_PAYLOAD))
        elif arg0 == AUTH_SIGNATURE and self._token and self.device.accepts(self._token, data):
            self.online = True
            self.send(A_CNXN, A_VERSION, MAX_PAYLOAD, self.device.banner())
            return
        elif arg0 != AUTH_SIGNATURE:
            return  # AUTH_RSAPUBLICKEY: the "Allow USB debugging?" prompt nobody answers
        self._token = os.urandom(_adbauth.TOKEN_SIZE)
        self.send(A_AUTH, AUTH_TOKEN, 0, self._token)

    def _get(self, local_id: int) -> Stream | None:
        with self._lock:
            return self._streams.get(local_id)

    def _open(self, remote_id: int, service: str) -> None:
        handler = self.device.service_handler(service)
        if handler is None:
            self.send(A_CLSE, 0, remote_id)  # what adbd answers for an unknown service
            return
        with self._lock:
            local_id, self._next_id = self._next_id, self._next_id + 1
            stream = self._streams[local_id] = Stream(self, local_id, remote_id)
        self.send(A_OKAY, local_id, remote_id)
        threading.Thread(target=self._run, args=(handler, stream), daemon=True,
                         name=f"adbd-stream-{local_id}").start()

    def _run(self, handler, stream: Stream) -> None:
        try:
            handler(stream)
        except (ConnectionError, OSError):
            pass
        finally:
            stream.close()

    def shutdown(self) -> None:
        with self._lock:
            streams = list(self._streams.values())
            self._streams.clear()
        for s in streams:
            s.mark_closed()
        try:
            self.sock.close()
        except OSError:
            pass
        self.device._connections.discard(self)


class LoopbackDevice:
    """The daemon: listens on 127.0.0.1:port, serves each adb server connection.

    adb_keys: public key files (`adbkey.pub`) whose private keys may connect; none = nobody.
    authorized=False: nobody, whatever the key (a phone whose user never taps "Allow").
    flavour: `_sandbox.native_flavour()` (default) or `_sandbox.arm64_flavour(cpu=...)`.
    sysfs: files of the fake /sys to add or replace, {"class/power_supply/battery/capacity": "12"}.
    trusted: host files whose exact bytes may run when pushed, besides the runner ELF (a test's
    fake runner script); `trust(path)` adds one later.
    """

    def __init__(self, root: str | Path, port: int = 0, props: dict[str, str] | None = None,
                 authorized: bool = True, adb_keys=(), flavour: Flavour | None = None,
                 sysfs: dict[str, str] | None = None, selinux: str = "Enforcing", trusted=()):
        self.root = Path(root).resolve()
        self.authorized = authorized
        self._keys = _adbauth.load_public_keys(adb_keys)
        self.flavour = flavour or native_flavour()
        self.props = {**DEFAULT_PROPS, **self.flavour_props(), **(props or {})}
        self.sysfs = {**default_sysfs(os.cpu_count() or 1), **(sysfs or {})}
        self.selinux = selinux
        self.sandbox = Sandbox(self.root, self.flavour, trusted)
        self._want_port = port
        self.port = 0
        self._listener: socket.socket | None = None
        self._connections: set[Connection] = set()
        self._prepare_sandbox()

    def flavour_props(self) -> dict[str, str]:
        props = {"ro.product.cpu.abi": self.flavour.abi, "ro.product.cpu.abilist": self.flavour.abi}
        if self.flavour.emulated:  # what Android's emulator sets; the bench marks timings emulated
            cpu = self.flavour.emulator[-1]
            props |= {"ro.kernel.qemu": "1", "ro.boot.qemu.cpu": cpu, "ro.soc.model": f"qemu-aarch64 {cpu}"}
        return props

    def accepts(self, token: bytes, signature: bytes) -> bool:
        return self.authorized and _adbauth.verify(self._keys, token, signature)

    @property
    def serial(self) -> str:
        return f"127.0.0.1:{self.port}"

    def banner(self) -> bytes:
        props = "".join(f"{k}={self.props[k]};" for k in BANNER_PROPS)
        return f"device::{props}features={','.join(FEATURES)}".encode()

    # -- sandbox ------------------------------------------------------------
    def _prepare_sandbox(self) -> None:
        for sub in ("data/local/tmp", "sdcard", "system/bin"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        lines = "\n".join(f"{k}={v}" for k, v in sorted(self.props.items()))
        (self.root / "system/build.prop").write_text(lines + "\n")
        # Android's getprop: no argument lists all as [k]: [v], one argument prints the value.
        self._script("getprop", "f=\"$(dirname \"$0\")/../build.prop\"\n"
                     "if [ $# -eq 0 ]; then sed 's/^\\([^=]*\\)=\\(.*\\)$/[\\1]: [\\2]/' \"$f\"; exit 0; fi\n"
                     "grep -m1 \"^$1=\" \"$f\" | cut -d= -f2-\n")
        self._script("getenforce", f"echo {shlex.quote(self.selinux)}\n")
        for rel, text in self.sysfs.items():
            path = self.root / "sys" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text + "\n")

    def _script(self, name: str, body: str) -> None:
        path = self.root / "system/bin" / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(0o755)

    def trust(self, path: str | Path) -> None:
        """Let a program with these exact bytes run when pushed (host side only)."""
        self.sandbox.trust(path)

    def host_path(self, device_path: str, write: bool = False) -> Path:
        """Where a device path lives on this host - never outside root (PermissionError)."""
        try:
            return self.sandbox.host_path(device_path, write)
        except Refused as exc:
            raise PermissionError(str(exc)) from exc

    def untranslate_output(self, data: bytes) -> bytes:
        """Sandbox paths in command output read as device paths again (best effort: a path
        split across two output chunks stays as it is)."""
        root = str(self.root).encode()
        return re.sub(re.escape(root) + rb"(?:/|(?![\w.-]))", b"/", data) if root in data else data

    # -- services -----------------------------------------------------------
    def service_handler(self, service: str):
        from device_bench.testing import _services as svc

        if service.startswith("shell,") and ":" in service:
            opts, cmd = service.split(":", 1)
            return lambda s: svc.shell_v2(self, s, cmd, opts.split(",")[1:])
        if service.startswith("shell:"):
            return lambda s: svc.shell_v1(self, s, service[len("shell:"):])
        if service.startswith("exec:"):
            return lambda s: svc.shell_v1(self, s, service[len("exec:"):])
        if service == "sync:":
            return lambda s: svc.sync(self, s)
        return None

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> "LoopbackDevice":
        for _ in range(20):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", self._want_port))  # loopback only, never 0.0.0.0
            if sock.getsockname()[1] in RESERVED_PORTS and not self._want_port:
                sock.close()
                continue
            break
        sock.listen(8)
        self._listener, self.port = sock, sock.getsockname()[1]
        threading.Thread(target=self._accept_loop, daemon=True, name="adbd-accept").start()
        return self

    def _accept_loop(self) -> None:
        while self._listener is not None:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Connection(self, client)
            self._connections.add(conn)
            threading.Thread(target=conn.serve, daemon=True, name="adbd-conn").start()

    def stop(self) -> None:
        """Pull the plug: stop listening, drop connections, kill running commands."""
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        for conn in list(self._connections):
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.shutdown()

    def __enter__(self) -> "LoopbackDevice":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    from device_bench.testing._sandbox import arm64_flavour

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, help="sandbox folder (created)")
    ap.add_argument("--port", type=int, default=0, help="0 = any free port")
    ap.add_argument("--model", default=DEFAULT_PROPS["ro.product.model"])
    ap.add_argument("--flavour", choices=("native", "arm64"), default="native")
    ap.add_argument("--cpu", default="cortex-a76", help="qemu CPU model of the arm64 flavour")
    ap.add_argument("--adb-key", action="append", default=None,
                    help="public key allowed to connect (repeatable; default ~/.android/adbkey.pub)")
    args = ap.parse_args(argv)
    keys = args.adb_key or [str(Path.home() / ".android/adbkey.pub")]
    try:
        flavour = arm64_flavour(args.cpu) if args.flavour == "arm64" else None
        dev = LoopbackDevice(args.root, args.port, {"ro.product.model": args.model}, adb_keys=keys,
                             flavour=flavour).start()
    except (FileNotFoundError, _adbauth.AdbKeyError) as exc:
        ap.error(str(exc))  # exit 2 with the reason: no qemu, no sysroot, no usable key
    print(f"loopback {dev.flavour.abi} device on {dev.serial}, accepting the adb key(s) {', '.join(keys)}: "
          f"adb connect {shlex.quote(dev.serial)}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        dev.stop()


if __name__ == "__main__":
    main()
