"""A Debian 12 machine with systemd as PID 1, for `make test-system`: debootstrap'd once from the
Debian mirror apt uses here (kept in .cache/system/, git-ignored), copied for each run, booted
with `systemd-nspawn -b --register=no --keep-unit --console=pipe --private-network`, and driven
with `nsenter` into its namespaces. Private network: only its own loopback and the interfaces
a test makes inside it; nothing it does reaches past the machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.paths import REPO

CACHE = REPO / ".cache" / "system"
SUITE = "bookworm"
# what the installer needs (python3-venv, iproute2, nftables), what the test checks with (dig,
# ps) and systemd itself; passwd (useradd) comes with every root
PACKAGES = ("systemd", "systemd-sysv", "dbus", "python3", "python3-venv", "iproute2", "nftables",
            "bind9-dnsutils", "procps")
ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}


class MachineError(Exception):
    """Why the machine could not be made or booted: the test skips (or fails) with it."""


def apt_mirror(sources: list[Path] | None = None) -> str:
    """The Debian mirror apt uses for bookworm: the first URI, in /etc/apt/sources.list and
    sources.list.d (one-line or deb822 form), whose suites include bookworm."""
    if sources is None:
        sources = [Path(p) for p in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*"))]]
    for path in sources:
        try:
            text = path.read_text()
        except OSError:
            continue
        for line in text.splitlines():  # deb [options] URI SUITE COMPONENT...
            m = re.match(r"\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", line)
            if m and m.group(2) == SUITE:
                return m.group(1)
        for stanza in re.split(r"\n\s*\n", text):  # deb822: Types, URIs, Suites, ...
            fields = dict(re.findall(r"^(\w[\w-]*):\s*(.*)$", stanza, re.M))
            if "deb" in fields.get("Types", "").split() and SUITE in fields.get("Suites", "").split():
                return fields["URIs"].split()[0]
    raise MachineError(f"no {SUITE} mirror in /etc/apt/sources.list*")


def base_root() -> Path:
    """The cached, complete debootstrap of bookworm with PACKAGES (made the first time, about a
    minute; a changed package list makes a new one)."""
    key = hashlib.sha256(" ".join(PACKAGES).encode()).hexdigest()[:10]
    root = CACHE / f"{SUITE}-{key}"
    done = root.with_name(root.name + ".done")
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs at once build it once
        if done.exists():
            return root
        if shutil.which("debootstrap") is None:
            raise MachineError("debootstrap is not installed (apt-get install debootstrap)")
        shutil.rmtree(root, ignore_errors=True)
        mirror = apt_mirror()
        r = subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(root),
                            mirror], capture_output=True, text=True, timeout=1800)
        if r.returncode != 0:
            shutil.rmtree(root, ignore_errors=True)
            raise MachineError(f"debootstrap {SUITE} from {mirror} failed: {(r.stdout + r.stderr).strip()[-600:]}")
        done.touch()
    return root


class Machine:
    """A booted copy of the base root. `run` executes a command inside it as root."""

    def __init__(self, root: Path, binds: dict[Path, str]) -> None:
        self.root = root
        self.binds = binds
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid = 0  # the machine's PID 1, seen from here

    def boot(self, timeout: float = 120.0) -> None:
        if shutil.which("systemd-nspawn") is None:
            raise MachineError("systemd-nspawn is not installed (apt-get install systemd-container)")
        argv = ["systemd-nspawn", "--quiet", "-D", str(self.root), "-b", "--register=no", "--keep-unit",
                "--console=pipe", "--private-network", *(f"--bind-ro={src}:{dst}" for src, dst in self.binds.items())]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not self.pid:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise MachineError(f"systemd-nspawn -b did not start the machine: {self._nspawn_error()}")
            self.pid = _child(self.proc.pid)
            time.sleep(0.1)
        state = ""
        while time.monotonic() < deadline:
            r = self.run("systemctl", "is-system-running", check=False)
            state = r.stdout.strip()
            if state in ("running", "degraded"):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.5)
        raise MachineError(f"systemd did not finish booting (state {state!r}): {self._nspawn_error()}")

    def _nspawn_error(self) -> str:
        if self.proc is None or self.proc.poll() is None:
            return "still running"
        assert self.proc.stderr is not None
        return f"exit {self.proc.returncode}: {self.proc.stderr.read().decode(errors='replace').strip()[-400:]}"

    def run(self, *argv: str, check: bool = True, timeout: float = 300,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """`argv` inside the machine (all its namespaces, its root), as root, in a clean environment."""
        full = ["nsenter", "-t", str(self.pid), "-a", "--", "env", "-i",
                *(f"{k}={v}" for k, v in {**ENV, **(env or {})}.items()), *argv]
        r = subprocess.run(full, capture_output=True, text=True, timeout=timeout, cwd="/")
        if check and r.returncode != 0:
            raise AssertionError(f"in the machine: {' '.join(argv)}: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def sh(self, script: str, **kw: object) -> subprocess.CompletedProcess[str]:
        return self.run("sh", "-c", script, **kw)  # type: ignore[arg-type]

    def journal(self, unit: str = "", since: str = "") -> str:
        args = ["journalctl", "--no-pager", "-o", "cat", *(["-u", unit] if unit else []),
                *(["--cursor", since] if since else [])]
        return self.run(*args, check=False).stdout

    def cursor(self) -> str:
        """The journal's position now: `journal(since=...)` shows what came after."""
        r = self.run("journalctl", "-n", "0", "--show-cursor", "--no-pager", check=False)
        m = re.search(r"-- cursor: (\S+)", r.stdout)
        return m.group(1) if m else ""

    def shutdown(self, timeout: float = 60.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # nspawn asks the machine's systemd to halt
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def _child(pid: int) -> int:
    """The first child of `pid` (nspawn's: the machine's PID 1), or 0 while there is none."""
    for task in glob.glob(f"/proc/{pid}/task/*/children"):
        with contextlib.suppress(OSError):
            kids = Path(task).read_text().split()
            if kids:
                return int(kids[0])
    return 0


@contextlib.contextmanager
def booted(binds: dict[Path, str], keep: bool = False) -> Iterator[Machine]:
    """A fresh copy of the base root, booted; shut down and removed afterwards (`keep`: left in
    .cache/system/run-* to look into after a failure)."""
    base = base_root()
    run = CACHE / f"run-{os.getpid()}"
    shutil.rmtree(run, ignore_errors=True)
    subprocess.run(["cp", "-a", "--reflink=auto", str(base), str(run)], check=True, timeout=600)
    m = Machine(run, binds)
    try:
        m.boot()
        yield m
    finally:
        m.shutdown()
        if not keep:
            shutil.rmtree(run, ignore_errors=True)
