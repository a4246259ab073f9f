"""A private real adb server for tests: its own port and HOME, stopped afterwards.

Tests never touch the user's default adb server (port 5037) or ~/.android keys.
"""
from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from device_bench.adb import find_adb


class AdbServerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AdbServer:
    def __init__(self, home: str | Path, port: int | None = None, adb: str | None = None):
        self.home = Path(home)
        self.port = port or free_port()
        self.adb = adb or find_adb()
        if not self.adb:
            raise AdbServerError("no adb binary: install the Debian package `adb`")

    @property
    def public_key(self) -> Path:
        """This server's adb public key (made by `adb start-server` in its private HOME): what
        a loopback device must be given so that this server, and no other, may connect."""
        return self.home / ".android" / "adbkey.pub"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(HOME=str(self.home), ANDROID_ADB_SERVER_PORT=str(self.port),
                   ANDROID_SDK_HOME=str(self.home))
        return env

    def run(self, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run([self.adb, "-P", str(self.port), *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def start(self) -> "AdbServer":
        self.home.mkdir(parents=True, exist_ok=True)
        res = self.run("start-server", timeout=60)
        if res.returncode != 0:
            raise AdbServerError(f"adb start-server failed: {res.stderr.strip()}")
        if not self.public_key.is_file():
            raise AdbServerError(f"adb start-server made no key at {self.public_key}")
        return self

    def connect(self, serial: str, timeout: float = 20) -> None:
        """`adb connect`, then wait until the device shows up as `device`."""
        res = self.run("connect", serial)
        if "connected" not in res.stdout:
            raise AdbServerError(f"adb connect {serial}: {res.stdout.strip()} {res.stderr.strip()}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.state(serial) == "device":
                return
            time.sleep(0.05)
        raise AdbServerError(f"{serial} did not come online: {self.run('devices').stdout}")

    def state(self, serial: str) -> str | None:
        for line in self.run("devices").stdout.splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 2 and parts[0] == serial:
                return parts[1]
        return None

    def disconnect(self, serial: str) -> None:
        self.run("disconnect", serial)

    def stop(self) -> None:
        try:
            self.run("kill-server", timeout=20)
        except subprocess.TimeoutExpired:
            pass

    def __enter__(self) -> "AdbServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
