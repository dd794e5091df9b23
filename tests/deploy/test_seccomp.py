"""The Debian unit's system call filter against the system calls the daemon really makes.

deploy/debian/dnsfilter.service confines the service with SystemCallFilter. A call outside it
would fail there (or, without SystemCallErrorNumber, kill the home's resolver), and CI has no
systemd as PID 1 to run the unit. So this test runs the real daemon under `strace -f -c`
through a life that touches every part (start, a local feed, a remote feed synced by its child
process, UDP and TCP answers, a forward, the query log's writes, the web UI's process, a
reload, a stop) and checks each call it and its children made against the filter, resolved
the way systemd resolves it (groups expanded by `systemd-analyze syscall-filter`), each
socket's family against RestrictAddressFamilies, and that nothing maps memory writable and
executable at once (MemoryDenyWriteExecute)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from functools import cache
from pathlib import Path

import dns.message
import dns.query
import pytest

from tests.support.daemon import REPO, free_port
from tests.support.feedserver import FeedServer, Route
from tests.support.scripted import Scripted

UNIT = REPO / "deploy/debian/dnsfilter.service"
# SQLite's unix VFS gives a new journal or WAL file its database's owner, only when running as
# root (robustFchown: `osGeteuid() ? 0 : osFchown(...)`); the unit runs as the user dnsfilter.
ROOT_ONLY = frozenset({"fchown"})


def _needs(*tools: str) -> None:
    for t in tools:
        if shutil.which(t) is None:
            pytest.skip(f"{t} is not installed (make test installs it when run as root)")


@cache
def expand(token: str) -> frozenset[str]:
    """A filter token as system call names: `@group` recursively, a name as itself."""
    if not token.startswith("@"):
        return frozenset({token})
    out = subprocess.run(["systemd-analyze", "syscall-filter", token], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    names: set[str] = set()
    for line in out.splitlines()[1:]:  # the first line is the group's own name
        line = line.strip()
        if line and not line.startswith("#"):
            names |= expand(line)
    return frozenset(names)


def allowed_calls(unit_text: str) -> frozenset[str]:
    """What a unit's SystemCallFilter= lines allow, merged as systemd(5) says: the first line,
    an allow list here, sets the default (kill or EPERM); later `~` lines take calls out of
    the set and later plain lines put them back."""
    lines = [v.strip() for k, _, v in (ln.partition("=") for ln in unit_text.splitlines())
             if k.strip() == "SystemCallFilter"]
    assert lines and not lines[0].startswith("~"), "the unit's filter starts with an allow list"
    allow: set[str] = set()
    for i, value in enumerate(lines):
        calls = set().union(*(expand(t) for t in value.lstrip("~").split()))
        if i == 0 or not value.startswith("~"):
            allow |= calls
        else:
            allow -= calls
    return frozenset(allow)


_CALL = re.compile(r"^\d+\s+(?:<\.\.\. (\w+) resumed>|(\w+)\()", re.M)
_FAMILY = re.compile(r"^\d+\s+socket(?:pair)?\((AF_\w+)", re.M)
_WX = re.compile(r"^\d+\s+(?:mmap|mprotect|pkey_mprotect)\(.*PROT_WRITE.*PROT_EXEC|"
                 r"^\d+\s+(?:mmap|mprotect|pkey_mprotect)\(.*PROT_EXEC.*PROT_WRITE", re.M)


def strace_calls(trace: str) -> set[str]:
    """System call names in `strace -f` output (`PID name(...)`, `PID <... name resumed>`)."""
    return {a or b for a, b in _CALL.findall(trace)}


def test_the_filter_reads_as_systemd_merges_it() -> None:
    _needs("systemd-analyze")
    base = "SystemCallFilter=@system-service\nSystemCallFilter=~@privileged @resources\n"
    # without the line putting it back, lowering a thread's priority is outside the filter:
    # the unit as it was before this test existed, which would have stopped the log writer
    assert "setpriority" not in allowed_calls(base)
    assert "setpriority" in allowed_calls(base + "SystemCallFilter=setpriority\n")
    assert "setrlimit" not in allowed_calls(base + "SystemCallFilter=setpriority\n")
    assert {"read", "sendmmsg", "execve", "clone3"} <= allowed_calls(base)
    assert "reboot" not in allowed_calls(base) and "chown" not in allowed_calls(base)
    trace = ("101 read(3, <unfinished ...>\n102 setpriority(PRIO_PROCESS, 0, 10) = 0\n"
             "101 <... futex resumed>) = 0\n101 --- SIGCHLD {si_signo=SIGCHLD} ---\n101 +++ exited with 0 +++\n"
             "102 socket(AF_INET6, SOCK_DGRAM, IPPROTO_IP) = 4\n"
             "102 mmap(NULL, 4096, PROT_READ|PROT_WRITE|PROT_EXEC, MAP_PRIVATE, -1, 0) = 0x7f\n")
    assert strace_calls(trace) == {"read", "setpriority", "futex", "socket", "mmap"}
    assert _FAMILY.findall(trace) == ["AF_INET6"] and len(_WX.findall(trace)) == 1


def _query(port: int, name: str, tcp: bool = False) -> dns.message.Message:
    q = dns.message.make_query(name, "A")
    return (dns.query.tcp if tcp else dns.query.udp)(q, "127.0.0.1", port=port, timeout=3)


def _blocked(port: int, name: str) -> bool:
    r = _query(port, name)
    return bool(r.answer) and r.answer[0][0].to_text() == "0.0.0.0"


def _wait(cond: Callable[[], bool], timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.1)
    pytest.fail(f"{what}:\n{log.read_text(errors='replace')[-3000:]}")


def test_every_call_of_the_daemon_and_its_children_is_in_the_units_filter(server: FeedServer,
                                                                          tmp_path: Path) -> None:
    _needs("strace", "systemd-analyze")
    server.routes["/feed"] = Route(b"remote.feed.test\n", etag='"1"')
    (tmp_path / "block.txt").write_text("ads.example.test\n")
    up = Scripted(zone={"www.example.test": ["www.example.test. 300 A 192.0.2.10"]})
    port, web = free_port(), free_port()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"""
[dns]
listen = ["127.0.0.1:{port}"]
upstreams = ["{up.addr}"]
upstream_timeout = 0.5
[storage]
data_dir = "{tmp_path}/var"
log_flush = 1
[web]
listen = "127.0.0.1:{web}"
[[feeds]]
name = "ads"
url = "{tmp_path}/block.txt"
format = "domains"
category = "ads"
[[feeds]]
name = "remote"
url = "{server.url('/feed')}"
format = "domains"
category = "ads"
interval = "1h"
""")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    log, trace = tmp_path / "daemon.log", tmp_path / "strace.txt"
    # -f: the web UI's process and the feed sync's child too
    p = subprocess.Popen(["strace", "-f", "-qq", "-s", "0", "-o", str(trace), sys.executable, "-m", "dnsfilter", "serve",
                          "-c", str(cfg)], stdout=open(log, "wb"), stderr=subprocess.STDOUT, cwd=REPO, env=env)
    try:
        _wait(lambda: "ready: answering" in log.read_text(errors="replace") or p.poll() is not None, 60,
              "the daemon did not start under strace", log)
        if p.poll() is not None:
            text = log.read_text(errors="replace")
            if "ptrace" in text or "Operation not permitted" in text:
                pytest.skip(f"strace cannot trace here: {text.strip()[-200:]}")
            pytest.fail(f"the daemon ended under strace:\n{text[-3000:]}")
        _wait(lambda: _blocked(port, "remote.feed.test"), 60, "the remote feed was not synced", log)
        assert _blocked(port, "ads.example.test")
        r = _query(port, "ads.example.test", tcp=True)
        assert r.answer and r.answer[0][0].to_text() == "0.0.0.0"
        assert _query(port, "www.example.test").answer  # forwarded to the loopback upstream
        with urllib.request.urlopen(f"http://127.0.0.1:{web}/login", timeout=30) as resp:
            assert resp.status == 200  # the UI's process started and served a page
        time.sleep(2.5)  # the query log's writer flushes (log_flush = 1)
        daemon = _traced_daemon(p.pid)
        reloads = log.read_text(errors="replace").count("reloaded")  # the feed sync's own reload too
        os.kill(daemon, signal.SIGHUP)
        _wait(lambda: log.read_text(errors="replace").count("reloaded") > reloads, 30, "no reload", log)
        os.kill(daemon, signal.SIGTERM)
        assert p.wait(60) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        up.close()
    text = log.read_text(errors="replace")
    assert "feed remote: new" in text and "Traceback" not in text
    text = trace.read_text(errors="replace")
    called = strace_calls(text)
    assert {"sendmmsg", "recvmmsg", "setpriority", "execve", "accept4"} <= called  # the trace saw it all
    outside = called - allowed_calls(UNIT.read_text()) - (ROOT_ONLY if os.geteuid() == 0 else frozenset())
    assert not outside, f"system calls the unit's SystemCallFilter does not allow: {sorted(outside)}"
    unit = UNIT.read_text()
    families = set(_FAMILY.findall(text))
    restrict = re.search(r"^RestrictAddressFamilies=(.*)$", unit, re.M)
    assert restrict is not None
    allowed_families = set(restrict.group(1).split())
    assert {"AF_INET", "AF_NETLINK"} <= families and families <= allowed_families, families
    assert "MemoryDenyWriteExecute=yes" in unit
    assert not _WX.findall(text), "writable and executable memory, which MemoryDenyWriteExecute refuses"


def _traced_daemon(strace_pid: int) -> int:
    """The daemon's pid: strace's child."""
    kids = Path(f"/proc/{strace_pid}/task/{strace_pid}/children").read_text().split()
    assert kids, "strace has no child"
    return int(kids[0])

