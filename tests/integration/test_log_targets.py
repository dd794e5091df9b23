"""Where the daemon's log lines go, with their severity: OpenWrt's logd (syslog datagrams on
/dev/log; procd would log every stderr line as daemon.err) and systemd's journal (a "<N>"
prefix journald turns into the line's priority). Both are checked on the real daemon: logd is
played by a unix datagram socket that records what arrives, the journal by the environment
systemd gives a service (JOURNAL_STREAM naming its stderr)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.daemon import REPO, DaemonProcess, free_port, terminate

pytestmark = pytest.mark.integration

CONFIG = """
[dns]
listen = ["127.0.0.1:{port}"]
upstreams = ["127.0.0.1:9"]

[[feeds]]
name = "missing"
url = "missing.txt"
format = "domains"
"""


def test_syslog_datagrams_carry_each_lines_severity(tmp_path: Path) -> None:
    path = tmp_path / "log"
    conf = tmp_path / "config.toml"
    conf.write_text(CONFIG.replace("{port}", str(free_port())) + f'[storage]\ndata_dir = "{tmp_path / "var"}"\n')
    logd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    logd.bind(str(path))
    logd.settimeout(0.2)
    got: list[str] = []
    proc = subprocess.Popen([sys.executable, "-m", "dnsfilter", "serve", "-c", str(conf), "--log-to", "syslog"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO,
                            env={**os.environ, "DNSFILTER_SYSLOG_SOCKET": str(path)})
    try:
        deadline = time.monotonic() + 20
        while not any("ready: answering" in g for g in got) and time.monotonic() < deadline:
            try:
                got.append(logd.recv(4096).decode())
            except TimeoutError:
                assert proc.poll() is None, got
    finally:
        terminate(proc)
        logd.close()
    assert proc.stdout is not None
    assert proc.stdout.read() == b""  # nothing on stderr for procd to file as an error
    # LOG_DAEMON (3) * 8 + severity: 6 info, 4 warning
    assert any(re.fullmatch(rf"<30>dnsfilter\[{proc.pid}\]: ready: answering on .*", g, re.S) for g in got), got
    assert any(g.startswith(f"<28>dnsfilter[{proc.pid}]: feed missing: failed: ") for g in got), got


def test_under_systemd_journald_reads_the_priority(tmp_path: Path) -> None:
    d = DaemonProcess(tmp_path, CONFIG)
    d.log_path.touch()
    st = d.log_path.stat()
    d.env = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}  # as systemd sets it for StandardError=journal
    try:
        d.start()
    finally:
        d.stop()
    lines = d.log().splitlines()
    assert any(ln.startswith("<6>ready: answering on") for ln in lines), lines
    assert any(ln.startswith("<4>feed missing: failed: ") for ln in lines), lines


def test_without_a_syslog_socket_it_logs_to_stderr(tmp_path: Path) -> None:
    d = DaemonProcess(tmp_path, CONFIG, extra_args=["--log-to", "syslog"],
                      env={"DNSFILTER_SYSLOG_SOCKET": str(tmp_path / "nothing-here")})
    try:
        d.start()
    finally:
        d.stop()
    assert (f"dnsfilter: WARNING: no syslog socket at {tmp_path / 'nothing-here'} (No such file or directory): "
            "logging to stderr") in d.log()
    assert "dnsfilter: INFO: ready: answering on" in d.log()
