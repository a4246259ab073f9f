"""The loopback device's command sandbox: what a connected adb server may run on this host.

No shell ever sees a command. A command line is split like a POSIX shell would (quotes
only: no `;`, `|`, `$VAR`, globs or redirections), its program must be on the allowlist
below, every path argument must lie inside the device's root folder (or be one of a few
read-only /proc files), and it runs with a scrubbed environment and the root as its cwd.

Allowed, as the bench and the doctor send them:
  timeout [-k D] [-s SIG] D COMMAND...       a deadline around any allowed command
  getprop [KEY] · getenforce                  fake properties / SELinux mode (scripts in the root)
  cat|ls|stat|sha256sum|df|grep ... PATHS    reads: the root's /data/local/tmp, /sdcard, /sys,
                                              /system, plus /proc/{meminfo,cpuinfo,stat,...}
  mkdir -p PATHS · rm [-f|-r|-rf] PATHS      writes: only inside /data/local/tmp and /sdcard
  rmdir PATHS                                 (never a top-level device folder)
  /data/local/tmp/.../typo_runner ARGS...     the runner the bench pushes: an ELF file named
                                              exactly `typo_runner`, run directly; an aarch64
                                              ELF on the arm64 flavour runs under qemu
  /data/local/tmp/.../NAME ARGS...            a file whose bytes the host side trusted
                                              (`Sandbox.trust`, LoopbackDevice(trusted=...)):
                                              the tests' own scripts; nothing an adb client sends

Programs resolve to a host path before they run: the tools to the binary `shutil.which` finds
in /usr/bin:/bin at start, a pushed program to its real file inside the root (symlinks resolved).
Anything else (`id`, `sh -c ...`, `cat /etc/passwd`, `echo $HF_TOKEN`, a pushed `evil.sh`, a
script or a non-ELF named typo_runner, an ELF under another name) is refused with exit 126 and a
message on stderr.

What this does not confine: the runner ELF is native code running as this user. Its cwd is the
root and its environment is scrubbed, but it can read and write anything this user can, and any
ELF named `typo_runner` passes. The adb key check (loopback_adbd) is what keeps strangers from
pushing one.
"""
from __future__ import annotations

import hashlib
import os
import posixpath
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

REFUSED_EXIT = 126
READ_PREFIXES = ("/data/local/tmp", "/sdcard", "/sys", "/system")
WRITE_PREFIXES = ("/data/local/tmp", "/sdcard")
EXEC_PREFIXES = ("/data/local/tmp",)  # /sdcard is noexec on a phone too
PROC_FILES = ("/proc/meminfo", "/proc/cpuinfo", "/proc/stat", "/proc/loadavg", "/proc/uptime",
              "/proc/version")
HOST_PATH = "/usr/bin:/bin"
RUNNER_NAME = "typo_runner"  # what the bench pushes (device_bench.bench.RUNNER_NAME)
DURATION = re.compile(r"^\d+(\.\d+)?[smhd]?$")
ELF_MAGIC, EM_X86_64, EM_AARCH64 = b"\x7fELF", 62, 183


class Refused(Exception):
    """The sandbox does not run this command; the message says why."""


@dataclass(frozen=True)
class Flavour:
    """What the device claims to be and how its pushed binaries run."""
    name: str
    abi: str
    elf_machine: int | None          # the ELF machine its binaries must have (None = any)
    emulator: tuple[str, ...] = ()   # argv prefix that runs such a binary (qemu), () = natively

    @property
    def emulated(self) -> bool:
        return bool(self.emulator)


def native_flavour() -> Flavour:
    """This host's own ABI (x86_64 here): binaries run natively, as the host runner does."""
    machine = os.uname().machine
    return Flavour("native", machine, {"x86_64": EM_X86_64, "aarch64": EM_AARCH64}.get(machine))


def arm64_flavour(cpu: str = "cortex-a76", sysroot: str = "/usr/aarch64-linux-gnu",
                  qemu: str | None = None) -> Flavour:
    """An arm64-v8a phone. On an aarch64 host its binaries run natively; elsewhere under
    qemu-user with a pinned CPU model (`-cpu`), so results do not depend on qemu's default."""
    if os.uname().machine == "aarch64":
        return Flavour("arm64", "arm64-v8a", EM_AARCH64)
    qemu = qemu or shutil.which("qemu-aarch64-static") or shutil.which("qemu-aarch64")
    if qemu is None:
        raise FileNotFoundError("the arm64 loopback device needs qemu-aarch64-static "
                                "(apt-get install qemu-user-static)")
    if not Path(sysroot, "lib").is_dir():
        raise FileNotFoundError(f"no aarch64 sysroot at {sysroot} (apt-get install libc6-arm64-cross)")
    return Flavour("arm64", "arm64-v8a", EM_AARCH64, (qemu, "-L", sysroot, "-cpu", cpu))


def elf_machine(path: Path) -> int | None:
    """e_machine of an ELF file, None for anything else (a script)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(20)
    except OSError:
        return None
    return int.from_bytes(head[18:20], "little") if head[:4] == ELF_MAGIC and len(head) == 20 else None


def default_sysfs(cpus: int) -> dict[str, str]:
    """A phone's /sys as the doctor and the facts read it: cores, governors, battery, thermal."""
    files = {f"devices/system/cpu/{k}": f"0-{cpus - 1}" for k in ("possible", "present", "online")}
    for i in range(cpus):
        base = f"devices/system/cpu/cpu{i}/cpufreq"
        files |= {f"{base}/scaling_governor": "schedutil", f"{base}/cpuinfo_max_freq": "2400000",
                  f"{base}/scaling_max_freq": "2400000"}
    battery = "class/power_supply/battery"
    files |= {f"{battery}/capacity": "100", f"{battery}/status": "Full", f"{battery}/temp": "250",
              f"{battery}/present": "1", f"{battery}/health": "Good"}
    for i, (kind, temp) in enumerate((("cpu-therm", "35000"), ("battery", "25000"))):
        files |= {f"class/thermal/thermal_zone{i}/type": kind, f"class/thermal/thermal_zone{i}/temp": temp}
    return files


class Sandbox:
    """Turns a device command line into a host argv, or refuses it."""

    def __init__(self, root: Path, flavour: Flavour, trusted=()):
        self.root, self.flavour = root, flavour
        self.bin = root / "system/bin"
        tools = ("timeout", "cat", "ls", "stat", "sha256sum", "df", "grep", "mkdir", "rm", "rmdir")
        # Fixed host paths found once in HOST_PATH, never on a PATH a command could change. Not
        # symlink-resolved: a multi-call coreutils dispatches on the name it is run by.
        self._tools = {name: shutil.which(name, path=HOST_PATH) for name in tools}
        self._trusted: set[str] = set()  # sha256 of programs the host side allows besides the runner
        for path in trusted:
            self.trust(path)

    def trust(self, path: str | Path) -> None:
        """Let a program with exactly these bytes run when pushed (the tests' own scripts). Host
        side only: nothing an adb client sends reaches this."""
        self._trusted.add(_sha256(Path(path)))

    # -- environment --------------------------------------------------------
    def env(self) -> dict[str, str]:
        """Nothing of the daemon's own environment (tokens, keys) reaches a command."""
        tmp = str(self.root / "data/local/tmp")
        return {"PATH": f"{self.bin}:{HOST_PATH}", "HOME": tmp, "TMPDIR": tmp, "LANG": "C",
                "ANDROID_DATA": str(self.root / "data"), "ANDROID_ROOT": str(self.root / "system")}

    # -- paths ---------------------------------------------------------------
    def host_path(self, device_path: str, write: bool = False) -> Path:
        """A device path -> the host path it maps to, inside the root; else Refused."""
        norm = posixpath.normpath(posixpath.join("/", device_path))
        if not write and norm in PROC_FILES:
            return Path(norm)  # a few read-only facts come from the real host
        prefixes = WRITE_PREFIXES if write else READ_PREFIXES
        if not any(norm == p or norm.startswith(p + "/") for p in prefixes):
            kind = "writable" if write else "readable"
            raise Refused(f"{device_path}: outside the device sandbox ({kind}: "
                          f"{', '.join(prefixes)})")
        host = (self.root / norm.lstrip("/")).resolve()
        if host != self.root and self.root not in host.parents:
            raise Refused(f"{device_path}: leads outside the device sandbox")
        return host

    def _paths(self, args: list[str], write: bool = False) -> list[str]:
        return [str(self.host_path(a, write)) for a in args]

    # -- commands ------------------------------------------------------------
    def argv(self, command: str) -> list[str]:
        """The host argv for a device command line (raises Refused)."""
        if not command.strip():
            raise Refused("no interactive shell on the loopback device; run one command")
        try:
            words = shlex.split(command)
        except ValueError as exc:
            raise Refused(f"cannot parse the command line: {exc}") from exc
        return self._command(words, depth=0)

    def _command(self, words: list[str], depth: int) -> list[str]:
        prog, args = words[0], words[1:]
        if prog == "timeout" and depth == 0:
            return self._timeout(args)
        handler = getattr(self, f"_cmd_{prog}", None) if re.fullmatch(r"[a-z0-9]+", prog) else None
        if handler is not None:
            return handler(args)
        if "/" in prog:
            return self._program(prog, args)
        raise Refused(f"{prog}: not allowed on the loopback device (it runs only what the bench sends)")

    def _timeout(self, args: list[str]) -> list[str]:
        opts, i = [], 0
        while i + 1 < len(args) and args[i] in ("-k", "-s"):
            value = args[i + 1]
            ok = DURATION.match(value) if args[i] == "-k" else re.fullmatch(r"[A-Z0-9]+", value)
            if not ok:
                raise Refused(f"timeout {args[i]} {value!r}: not a valid value")
            opts, i = opts + args[i:i + 2], i + 2
        if i + 1 >= len(args) or not DURATION.match(args[i]):
            raise Refused("timeout: needs a duration and a command")
        return [self._bin("timeout"), *opts, args[i], *self._command(args[i + 1:], depth=1)]

    def _bin(self, name: str) -> str:
        if self._tools.get(name) is None:
            raise Refused(f"{name}: not installed on this host (looked in {HOST_PATH})")
        return self._tools[name]

    @staticmethod
    def _split_options(args: list[str], allowed: set[str], what: str) -> tuple[list[str], list[str]]:
        opts = [a for a in args if a.startswith("-") and len(a) > 1]
        bad = [o for o in opts if o not in allowed]
        if bad:
            raise Refused(f"{what}: option {bad[0]} is not allowed (allowed: {' '.join(sorted(allowed))})")
        return opts, [a for a in args if a not in opts]

    def _tool(self, name: str, args: list[str], allowed: set[str], write: bool = False,
              need_path: bool = True) -> list[str]:
        opts, paths = self._split_options(args, allowed, name)
        if need_path and not paths:
            raise Refused(f"{name}: needs a path")
        return [self._bin(name), *opts, *self._paths(paths, write)]

    def _cmd_cat(self, args):
        return self._tool("cat", args, set(), need_path=False)  # no path: stdin

    def _cmd_ls(self, args):
        return self._tool("ls", args, {"-1", "-a", "-l", "-la", "-al", "-d", "-ld"})

    def _cmd_sha256sum(self, args):
        return self._tool("sha256sum", args, {"-b"})

    def _cmd_df(self, args):
        return self._tool("df", args, {"-k", "-P", "-Pk", "-kP"})

    def _cmd_mkdir(self, args):
        return self._tool("mkdir", args, {"-p"}, write=True)

    def _cmd_stat(self, args):
        if len(args) >= 2 and args[0] == "-c":
            return [self._bin("stat"), "-c", args[1], *self._paths(args[2:] or ["/"])]
        return self._tool("stat", args, set())

    def _cmd_rm(self, args):
        opts, paths = self._split_options(args, {"-f", "-r", "-rf", "-fr"}, "rm")
        for p in paths:
            if posixpath.normpath(posixpath.join("/", p)) in WRITE_PREFIXES:
                raise Refused(f"rm {p}: refusing to remove a top-level device folder")
        return self._tool("rm", args, set(opts), write=True)

    def _cmd_rmdir(self, args):
        for p in args:
            if posixpath.normpath(posixpath.join("/", p)) in WRITE_PREFIXES:
                raise Refused(f"rmdir {p}: refusing to remove a top-level device folder")
        return self._tool("rmdir", args, set(), write=True)

    def _cmd_grep(self, args):
        opts, rest = self._split_options(args, {"-H", "-h", "-s", "-Hs", "-sH"}, "grep")
        if len(rest) < 2:
            raise Refused("grep: needs a pattern and files (stdin is not read)")
        return [self._bin("grep"), *opts, "-e", rest[0], *self._paths(rest[1:])]

    def _cmd_getprop(self, args):
        if len(args) > 1 or (args and not re.fullmatch(r"[\w.\-]+", args[0])):
            raise Refused("getprop: takes at most one property name")
        return [str(self.bin / "getprop"), *args]

    def _cmd_getenforce(self, args):
        if args:
            raise Refused("getenforce: takes no arguments")
        return [str(self.bin / "getenforce")]

    def _program(self, prog: str, args: list[str]) -> list[str]:
        """The runner pushed to /data/local/tmp, or a trusted program: run directly, never by a shell."""
        norm = posixpath.normpath(posixpath.join("/", prog))
        if not any(norm.startswith(p + "/") for p in EXEC_PREFIXES):
            raise Refused(f"{prog}: only programs pushed to {', '.join(EXEC_PREFIXES)} may run")
        path = self.host_path(norm, write=True)  # its real path, inside the root
        if not path.is_file() or not os.access(path, os.X_OK):
            raise Refused(f"{prog}: not an executable file")
        machine = elf_machine(path)
        if not (path.name == RUNNER_NAME and machine is not None) and _sha256(path) not in self._trusted:
            raise Refused(f"{prog}: only the pushed runner (an ELF file named {RUNNER_NAME}) may run "
                          "on the loopback device; a pushed script or any other program does not")
        if machine is not None and self.flavour.elf_machine not in (None, machine):
            raise Refused(f"{prog}: cannot execute an ELF for machine {machine} on this "
                          f"{self.flavour.abi} device (wrong ABI)")
        prefix = list(self.flavour.emulator) if machine is not None and self.flavour.emulated else []
        return [*prefix, str(path), *(self._program_arg(a) for a in args)]

    def _program_arg(self, arg: str) -> str:
        """An argument naming a device path (the runner's --model, --results...) gets its host
        path; anything else passes through untouched (it never meets a shell)."""
        norm = posixpath.normpath(arg) if arg.startswith("/") else ""
        if any(norm == p or norm.startswith(p + "/") for p in READ_PREFIXES):
            return str(self.host_path(arg))
        return arg


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
