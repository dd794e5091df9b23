"""GET /metrics: the real daemon's counters through the real web UI process, read back with
prometheus_client's own parser, and the same numbers as `dnsfilter ctl metrics`."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from tests.support.daemon import REPO
from tests.support.scripted import Scripted
from tests.webui import live

parser = pytest.importorskip("prometheus_client.parser", reason="prometheus_client is not installed")

ZONE = {"www.example.test": ["www.example.test. 300 A 192.0.2.10"]}
CONFIG = """
[dns]
listen = ["127.0.0.1:{port}"]
upstreams = ["%(upstream)s"]
upstream_timeout = 0.5

[[feeds]]
name = "ads"
url = "%(list)s"
format = "domains"
category = "ads"
"""


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value}, parsed by prometheus_client (fails on bad syntax)."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in parser.text_string_to_metric_families(text) for s in fam.samples}


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[live.Live, Scripted]]:
    lst = tmp_path / "block.txt"
    lst.write_text("ads.example.test\n")
    with Scripted(zone=dict(ZONE)) as upstream:
        ui = live.start(tmp_path, CONFIG % {"upstream": upstream.addr, "list": lst})
        try:
            yield ui, upstream
        finally:
            ui.daemon.stop()


@pytest.mark.integration
def test_metrics_from_the_running_daemon(running: tuple[live.Live, Scripted]) -> None:
    ui, upstream = running
    for _ in range(5):
        assert ui.daemon.query("www.example.test").answer  # 1 upstream question, then the cache
    for _ in range(3):
        ui.daemon.query("ads.example.test")

    # the query log counts answers as it writes them (every few seconds): wait for all 8
    deadline, got = time.monotonic() + 20, {}
    while time.monotonic() < deadline:
        status, headers, body = ui.request("GET", "/metrics")
        assert status == 200 and headers["content-type"].startswith("text/plain")
        got = samples(body.decode())
        answered = sum(v for (n, _l), v in got.items() if n == "dnsfilter_answers_total")
        if answered >= 8:
            break
        time.sleep(0.3)
    assert got[("dnsfilter_up", ())] == 1
    assert got[("dnsfilter_answers_total", (("outcome", "blocked"),))] == 3
    assert sum(v for (n, _l), v in got.items() if n == "dnsfilter_answers_total") == 8
    assert got[("dnsfilter_upstream_queries_total", (("upstream", upstream.addr),))] == len(upstream.seen) == 1
    assert got[("dnsfilter_upstream_errors_total", (("upstream", upstream.addr),))] == 0
    assert 0 < got[("dnsfilter_upstream_latency_seconds", (("upstream", upstream.addr),))] < 0.5
    assert got[("dnsfilter_workers", ())] == 1
    assert 0 <= got[("dnsfilter_feed_age_seconds", (("feed", "ads"),))] < 60
    assert got[("dnsfilter_feed_names", (("feed", "ads"),))] == 1
    assert ("dnsfilter_cache_hits_total", ()) in got and ("dnsfilter_metrics_request_seconds", ()) in got

    # the same numbers as the daemon's own `ctl metrics` (nothing computed in the UI)
    ctl = subprocess.run([sys.executable, "-m", "dnsfilter", "ctl", "-c", str(ui.daemon.config_path), "metrics"],
                         capture_output=True, text=True, timeout=10, cwd=REPO, check=True).stdout
    daemon_side = samples(ctl)
    moving = {"dnsfilter_uptime_seconds", "dnsfilter_feed_age_seconds"}
    _s, _h, body = ui.request("GET", "/metrics")
    now = samples(body.decode())
    for key, value in daemon_side.items():
        if key[0] not in moving:
            assert now[key] == value, key
    assert set(now) - set(daemon_side) == {("dnsfilter_up", ()), ("dnsfilter_metrics_request_seconds", ())}


@pytest.mark.integration
def test_metrics_need_a_token(running: tuple[live.Live, Scripted]) -> None:
    ui, _upstream = running
    status, _h, body = ui.request("GET", "/metrics", token="")
    assert status == 401 and b"dnsfilter_" not in body
    status, _h, body = ui.request("GET", "/metrics", token="not-a-token")
    assert status == 401 and b"dnsfilter_" not in body


def test_stopped_daemon_is_up_0(set_up: Flask) -> None:
    """No daemon behind the control socket: dnsfilter_up 0 and no made-up counters."""
    token = set_up.extensions["dnsfilter"].secrets.create_token("prometheus")
    r = set_up.test_client().get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    got = samples(r.get_data(as_text=True))
    assert got[("dnsfilter_up", ())] == 0
    assert {n for n, _l in got} == {"dnsfilter_up", "dnsfilter_metrics_request_seconds"}
