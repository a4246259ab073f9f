"""The loopback device's services: shell (v1 and v2) and sync, one call per stream.

Each function runs on the stream's own worker thread and returns when the service
is done; the caller then closes the stream (CLSE).
"""
from __future__ import annotations

import os
import stat
import struct
import subprocess
import threading
from pathlib import Path

from device_bench.testing._sandbox import REFUSED_EXIT, Refused
from device_bench.testing.loopback_adbd import SYNC_DATA_MAX, LoopbackDevice, Stream

ID_STDIN, ID_STDOUT, ID_STDERR, ID_EXIT, ID_CLOSE_STDIN, ID_WINDOW = 0, 1, 2, 3, 4, 5


def _spawn(dev: LoopbackDevice, command: str, merged: bool) -> subprocess.Popen | tuple[int, bytes]:
    """The command's process, or (exit code, message) when the sandbox refuses it or the
    program cannot be executed (126, as a shell reports a file it cannot run)."""
    try:
        argv = dev.sandbox.argv(command)
        return subprocess.Popen(
            argv, cwd=dev.root, env=dev.sandbox.env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merged else subprocess.PIPE,
            start_new_session=True,  # its own process group: killed as a whole on CLSE / unplug
        )
    except Refused as exc:
        return REFUSED_EXIT, f"loopback sandbox: refused: {exc}\n".encode()
    except OSError as exc:
        return REFUSED_EXIT, f"loopback: cannot execute: {exc.strerror or exc}\n".encode()


def shell_v1(dev: LoopbackDevice, s: Stream, command: str) -> None:
    """Old shell protocol: stdout and stderr merged, raw bytes, no exit code."""
    proc = _spawn(dev, command, merged=True)
    if isinstance(proc, tuple):
        s.write(dev.untranslate_output(proc[1]))
        return
    s.proc = proc
    if s.closed:
        proc.kill()
    proc.stdin.close()
    try:
        while chunk := proc.stdout.read1(SYNC_DATA_MAX):
            s.write(dev.untranslate_output(chunk))
    finally:
        proc.wait()


def shell_v2(dev: LoopbackDevice, s: Stream, command: str, options: list[str]) -> None:
    """Shell protocol v2: frames (id u8, length u32 LE, data) for stdin/stdout/stderr/exit."""
    frame_lock = threading.Lock()  # a frame may span several WRTEs: never interleave two

    def send(kind: int, data: bytes) -> None:
        with frame_lock:
            s.write(struct.pack("<BI", kind, len(data)) + data)

    proc = _spawn(dev, command, merged=False)
    if isinstance(proc, tuple):
        send(ID_STDERR, dev.untranslate_output(proc[1]))
        send(ID_EXIT, bytes([proc[0]]))
        return
    s.proc = proc
    if s.closed:
        proc.kill()

    def pump(pipe, kind: int) -> None:
        try:
            while chunk := pipe.read1(SYNC_DATA_MAX):
                send(kind, dev.untranslate_output(chunk))
        except (ConnectionError, OSError, ValueError):
            pass

    pumps = [threading.Thread(target=pump, args=(p, k), daemon=True)
             for p, k in ((proc.stdout, ID_STDOUT), (proc.stderr, ID_STDERR))]
    for t in pumps:
        t.start()
    threading.Thread(target=_stdin_pump, args=(s, proc), daemon=True).start()
    for t in pumps:
        t.join()
    code = proc.wait()
    if not s.closed:
        # A signal death reads as 128+N, like a real shell reports it.
        send(ID_EXIT, bytes([(128 - code) if code < 0 else code & 0xFF]))


def _stdin_pump(s: Stream, proc: subprocess.Popen) -> None:
    try:
        while True:
            kind, length = struct.unpack("<BI", s.read_exact(5))
            data = s.read_exact(length) if length else b""
            if kind == ID_STDIN:
                proc.stdin.write(data)
                proc.stdin.flush()
            elif kind == ID_CLOSE_STDIN:
                proc.stdin.close()
    except (ConnectionError, OSError, ValueError):
        pass
    finally:
        try:
            proc.stdin.close()
        except OSError:
            pass


# -- sync ----------------------------------------------------------------------
def _status(word: bytes, message: str = "") -> bytes:
    data = message.encode()
    return word + struct.pack("<I", len(data)) + data


def sync(dev: LoopbackDevice, s: Stream) -> None:
    """File transfer service: requests are `ID(4) len(u32) payload`, reassembled from WRTEs."""
    while True:
        word, length = struct.unpack("<4sI", s.read_exact(8))
        if word == b"QUIT":
            return
        if length > 4096 and word != b"DATA":
            s.write(_status(b"FAIL", f"path too long ({length} bytes)"))
            return
        path = s.read_exact(length).decode("utf-8", "replace")
        handler = {b"STAT": _stat, b"LIST": _list, b"SEND": _send, b"RECV": _recv}.get(word)
        if handler is None:
            s.write(_status(b"FAIL", f"unknown sync request {word!r}"))
            return
        handler(dev, s, path)


def _stat(dev: LoopbackDevice, s: Stream, path: str) -> None:
    try:
        st = dev.host_path(path).stat()
        s.write(b"STAT" + struct.pack("<III", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime)))
    except OSError:
        s.write(b"STAT" + struct.pack("<III", 0, 0, 0))  # adbd's answer for "does not exist"


def _list(dev: LoopbackDevice, s: Stream, path: str) -> None:
    try:
        folder = dev.host_path(path)
        names = [".", ".."] + sorted(os.listdir(folder))
    except OSError:
        names, folder = [], Path("/nonexistent")
    out = bytearray()
    for name in names:
        try:
            st = (folder / name).stat()
        except OSError:
            continue
        raw = name.encode()
        out += b"DENT" + struct.pack("<IIII", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime),
                                     len(raw)) + raw
    s.write(bytes(out) + b"DONE" + bytes(16))


def _send(dev: LoopbackDevice, s: Stream, spec: str) -> None:
    """SEND `path,mode` then DATA chunks then DONE mtime; answer OKAY or FAIL."""
    path, _, mode_text = spec.rpartition(",")
    if not path:
        path, mode_text = spec, "33188"
    error = None
    try:
        target = dev.host_path(path, write=True)
        target.parent.mkdir(parents=True, exist_ok=True)  # fixed_push_mkdir
        tmp = target.with_name(f".{target.name}.adb-tmp")
        fh = open(tmp, "wb")
    except OSError as exc:  # PermissionError: outside the sandbox's writable folders
        error, fh = f"{path}: {exc.strerror or exc}", None
    while True:  # consume the whole transfer even after an error, as adbd does
        word, length = struct.unpack("<4sI", s.read_exact(8))
        if word == b"DATA":
            data = s.read_exact(length)
            if fh is not None:
                fh.write(data)
        elif word == b"DONE":
            break
        else:
            error = f"unexpected {word!r} inside SEND"
            break
    if fh is not None:
        fh.close()
        if error is None:
            os.chmod(tmp, int(mode_text) & 0o7777 if mode_text.isdigit() else 0o644)
            os.replace(tmp, target)
            os.utime(target, (length, length))  # DONE carries the mtime
        else:
            tmp.unlink(missing_ok=True)
    s.write(_status(b"FAIL", error) if error else b"OKAY" + bytes(4))


def _recv(dev: LoopbackDevice, s: Stream, path: str) -> None:
    try:
        p = dev.host_path(path)
        if not stat.S_ISREG(p.stat().st_mode):
            raise IsADirectoryError(21, "not a regular file")
        with open(p, "rb") as fh:
            while chunk := fh.read(SYNC_DATA_MAX):
                s.write(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
    except OSError as exc:
        s.write(_status(b"FAIL", f"{path}: {exc.strerror or exc}"))
        return
    s.write(b"DONE" + bytes(4))
