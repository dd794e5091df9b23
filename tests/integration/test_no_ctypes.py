"""A Python without ctypes (OpenWrt's python3-light without python3-ctypes): the daemon says
in one log line that batched UDP I/O is off and answers with its recvfrom/sendto loop."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pytest

from tests.support.daemon import REPO, free_port

# `None` in sys.modules is how Python marks a module as absent: `import ctypes` raises
# ImportError ("import of ctypes halted"), as on a router where the package is not installed.
NO_CTYPES = "import sys; sys.modules['ctypes'] = None; from dnsfilter.cli import main; sys.exit(main())"
WITH_CTYPES = "import sys; from dnsfilter.cli import main; sys.exit(main())"
FALLBACK = "batched UDP I/O unavailable"


def _serve(tmp_path: Path, code: str) -> tuple[str, list[int]]:
    """Run the daemon with `code` as its entry; its log and the rcodes of a blocked name's
    answers over UDP."""
    port = free_port()
    blocked = tmp_path / "blocked.txt"
    blocked.write_text("ads.example.test\n")
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[dns]\nlisten = ["127.0.0.1:{port}"]\nupstreams = ["127.0.0.1:9"]\n'
                   f'[storage]\ndata_dir = "{tmp_path / "var"}"\n'
                   f'[[feeds]]\nname = "ads"\nurl = "{blocked}"\nformat = "domains"\ncategory = "ads"\n')
    log = tmp_path / "daemon.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", code, "serve", "-c", str(cfg), "--log-level", "info"],
                                stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        deadline = time.monotonic() + 20
        while "ready: answering" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.05)
        rcodes = []
        for i in range(20):  # more than one packet per wake-up: the loop, not a lucky first read
            q = dns.message.make_query("ads.example.test" if i % 2 else f"n{i}.ads.example.test", "A")
            rcodes.append(dns.query.udp(q, "127.0.0.1", port=port, timeout=3).rcode())
    finally:
        proc.terminate()
        proc.wait(10)
    return log.read_text(), rcodes


@pytest.mark.integration
def test_daemon_without_ctypes_answers_one_packet_per_call(tmp_path: Path) -> None:
    text, rcodes = _serve(tmp_path, NO_CTYPES)
    assert rcodes == [dns.rcode.NOERROR] * 20  # blocked in null mode: 0.0.0.0, NOERROR
    lines = [ln for ln in text.splitlines() if FALLBACK in ln]
    assert len(lines) == 1 and "one UDP packet per system call" in lines[0], text
    assert "ctypes" in lines[0] and "Traceback" not in text


@pytest.mark.integration
def test_daemon_with_ctypes_batches(tmp_path: Path) -> None:
    """The control: the same daemon with ctypes says nothing of the sort."""
    text, rcodes = _serve(tmp_path, WITH_CTYPES)
    assert rcodes == [dns.rcode.NOERROR] * 20
    assert FALLBACK not in text and "Traceback" not in text
