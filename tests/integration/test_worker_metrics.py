"""`ctl status`, `ctl metrics` (and so /metrics) count every SO_REUSEPORT worker's answers, not
worker 0's only: a real 2-worker daemon, queries from many source ports (the kernel spreads
them over both workers by the 4-tuple's hash), the sums checked against what was sent."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import dns.message
import dns.query

from tests.support.daemon import REPO
from tests.support.scripted import Scripted

N = 40


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dnsfilter", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=30)


def samples(text: str) -> dict[str, float]:
    """{sample with labels: value} from Prometheus text (the lines that are not comments)."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def own_status(path: str) -> dict:
    """A worker's own counters, from its socket (what worker 0 asks)."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(b"status-self\n")
        return json.loads(s.makefile().readline())["status"]


def test_metrics_sum_both_workers(make_daemon) -> None:
    with Scripted() as up:
        d = make_daemon(up.addr, dns="workers = 2")
        deadline = time.monotonic() + 10
        while d.log().count("ready: answering on") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        for i in range(N):  # distinct blocked names: each one decided by the engine, never cached
            q = dns.message.make_query(f"n{i}.ads.example.test", "A")
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # a new source port each
                s.bind(("127.0.0.1", 0))
                assert dns.query.udp(q, "127.0.0.1", port=d.port, timeout=3, sock=s).answer
        second = own_status(str(d.tmp / "var" / "worker-1.sock"))["outcomes"].get("blocked", 0)
        assert 0 < second < N, f"the kernel gave worker 1 {second} of {N}: the test proves nothing"

        status = json.loads(cli("ctl", "-c", str(d.config_path), "status").stdout)
        assert status["outcomes"]["blocked"] == N and status["workers_reporting"] == 2

        # the query log counts answers as its writers flush them (every few seconds, per worker)
        deadline, got = time.monotonic() + 20, {}
        while time.monotonic() < deadline:
            out = cli("ctl", "-c", str(d.config_path), "metrics")
            assert out.returncode == 0, out.stderr
            got = samples(out.stdout)
            if got.get('dnsfilter_answers_total{outcome="blocked"}') == N:
                break
            time.sleep(0.3)
        assert got['dnsfilter_engine_answers_total{outcome="blocked"}'] == N
        assert got['dnsfilter_answers_total{outcome="blocked"}'] == N
        assert got["dnsfilter_workers"] == 2 and got["dnsfilter_workers_reporting"] == 2
        assert d.stop() == 0
