"""Run the real `dnsfilter serve` on an ephemeral loopback port for integration tests."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import dns.rdatatype

REPO = Path(__file__).resolve().parents[2]
NO_MIRROR = "http://127.0.0.1:9"  # the discard port: nothing listens, a fetch fails at once


def cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """`dnsfilter ARGS` as a user runs it, from the repository."""
    return subprocess.run([sys.executable, "-m", "dnsfilter", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=timeout)


def ede(r: dns.message.Message) -> list[tuple[int, str]]:
    """The Extended DNS Errors of a reply: (code, extra text)."""
    return [(o.code, o.text or "") for o in r.options if isinstance(o, dns.edns.EDEOption)]


def addrs(r: dns.message.Message) -> list[str]:
    """The A and AAAA addresses of a reply's answer section, in order."""
    return [rd.to_text() for rrset in r.answer for rd in rrset
            if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)]


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP on `host`."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        with socket.socket(fam, socket.SOCK_DGRAM) as u:
            u.bind((host, 0))
            port = u.getsockname()[1]
            with socket.socket(fam, socket.SOCK_STREAM) as t:
                try:
                    t.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


class DaemonProcess:
    """`dnsfilter serve -c <tmp>/config.toml`, with `{port}` in the config text replaced."""

    def __init__(self, tmp: Path, config: str, *, port: int | None = None, extra_args: list[str] | None = None,
                 host: str = "127.0.0.1", prefix: list[str] | None = None,
                 python: list[str] | None = None, env: dict[str, str] | None = None):
        """`python`: the command that runs the interpreter (default this one; tests/support/users.py
        gives one that runs as another user); `env`: added to this process's environment;
        `prefix`: a command the daemon runs under (e.g. unshare)."""
        self.tmp = tmp
        self.host = host  # where `query` asks
        self.prefix = prefix or []
        self.python = python or [sys.executable]
        self.env = env or {}
        self.port = port or free_port()
        self.config_path = tmp / "config.toml"
        self.write_config(config)
        self.log_path = tmp / "daemon.log"
        self.extra_args = extra_args or []
        self.proc: subprocess.Popen[bytes] | None = None

    def write_config(self, text: str) -> None:
        body = text.replace("{port}", str(self.port))
        if "[storage]" not in body:
            body += f'\n[storage]\ndata_dir = "{self.tmp / "var"}"\n'
        if not re.search(r"^\[catalog\]", body, re.M):
            # Catalog lists a test turns on (the UI does, for a chosen category) are fetched from a
            # closed loopback port, never from the projects' sites: no test reaches the internet.
            body += f'\n[catalog]\nmirror = "{NO_MIRROR}"\n'
        self.config_path.write_text(body)

    def start(self, timeout: float = 20.0) -> DaemonProcess:
        self.logf = open(self.log_path, "ab")
        self.log_start = self.log_path.stat().st_size  # readiness is judged on this run's lines only
        self.proc = subprocess.Popen(
            [*self.prefix, *self.python, "-m", "dnsfilter", "serve", "-c", str(self.config_path), "--log-level",
             "debug", *self.extra_args],
            stdout=self.logf, stderr=subprocess.STDOUT, cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited {self.proc.returncode}:\n{self.log()}")
            if "ready: answering on" in self.log()[self.log_start:]:
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"daemon did not get ready within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            self.logf.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def query(self, name: str, rdtype: str = "A", *, tcp: bool = False, timeout: float = 3.0,
              **kw: object) -> dns.message.Message:
        kw.setdefault("use_edns", 0)  # like dig: EDNS on, so EDE options can come back
        q = dns.message.make_query(name, rdtype, **kw)  # type: ignore[arg-type]
        fn = dns.query.tcp if tcp else dns.query.udp
        return fn(q, self.host, port=self.port, timeout=timeout)


def terminate(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Stop a daemon started by hand (e.g. inside a network namespace): SIGTERM, then SIGKILL
    if it has not exited within `timeout` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
