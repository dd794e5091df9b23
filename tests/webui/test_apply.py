"""An edit through the web UI's API applies within 2 s without dropping a query: the real daemon
and web UI process, a real upstream on loopback, and a client asking all the time."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from tests.support.scripted import Scripted
from tests.webui import live

TARGET = "games.example.test"
OTHER = "www.example.test"
ZONE = {TARGET: [f"{TARGET}. 300 A 192.0.2.20"], OTHER: [f"{OTHER}. 300 A 192.0.2.10"]}
CONFIG = """
[dns]
listen = ["127.0.0.1:{port}"]
upstreams = ["%(upstream)s"]
upstream_timeout = 0.5

[defaults]
profile = "Family"

[[profiles]]
name = "Family"
block_categories = ["ads"]
"""
MAX_QUERIES = 4000  # per asker, bounded by count and by time; loopback only
MAX_SECONDS = 20.0
APPLY_WITHIN = 2.0
ASKERS = 3  # clients asking at the same time, each one question at a time


@dataclass
class Asker:
    """Asks TARGET and OTHER in turn, one at a time (no retries: a timeout is a lost query)."""

    port: int
    answers: list[tuple[float, str, int, list[str]]] = field(default_factory=list)  # (t, name, rcode, addrs)
    lost: list[tuple[float, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        end = time.monotonic() + MAX_SECONDS
        for i in range(MAX_QUERIES):
            if self.stop.is_set() or time.monotonic() > end:
                return
            name = TARGET if i % 2 == 0 else OTHER
            q = dns.message.make_query(name, "A")
            sent = time.monotonic()
            try:
                r = dns.query.udp(q, "127.0.0.1", port=self.port, timeout=1.0)
            except dns.exception.Timeout:
                self.lost.append((sent, name))
                continue
            addrs = [rd.to_text() for rrset in r.answer if rrset.rdtype == dns.rdatatype.A for rd in rrset]
            self.answers.append((sent, name, r.rcode(), addrs))
            time.sleep(0.002)


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[live.Live, Scripted]]:
    with Scripted(zone=dict(ZONE)) as upstream:
        ui = live.start(tmp_path, CONFIG % {"upstream": upstream.addr})
        try:
            yield ui, upstream
        finally:
            ui.daemon.stop()


@pytest.mark.integration
def test_deny_list_edit_applies_within_2s_without_losing_a_query(running: tuple[live.Live, Scripted]) -> None:
    ui, _upstream = running
    askers = [Asker(ui.daemon.port) for _ in range(ASKERS)]
    threads = [threading.Thread(target=a.run, daemon=True) for a in askers]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)  # answers cached and in the fast path before the edit
        edit_at = time.monotonic()
        status, body = ui.json("PATCH", "/api/profiles/Family", {"deny": [TARGET]})
        answered_at = time.monotonic()
        assert status == 200 and body["ok"] and body["reloaded"], body
        time.sleep(APPLY_WITHIN + 1.0)  # keep asking after the deadline: the block must hold
    finally:
        for a in askers:
            a.stop.set()
        for t in threads:
            t.join(MAX_SECONDS + 5)
    asker = Asker(0, sorted(x for a in askers for x in a.answers), sorted(x for a in askers for x in a.lost))
    assert not asker.lost, f"{len(asker.lost)} queries got no answer, e.g. {asker.lost[:3]}"
    assert not [a for a in asker.answers if a[2] != dns.rcode.NOERROR], "an answer other than NOERROR"
    before = [a for a in asker.answers if a[0] < edit_at]
    after = [a for a in asker.answers if a[0] >= edit_at]
    assert len(before) > 50 and len(after) > 100, (len(before), len(after))
    assert all(a[3] == ["192.0.2.20"] for a in before if a[1] == TARGET)
    blocked = [a for a in after if a[1] == TARGET and a[3] == ["0.0.0.0"]]
    assert blocked, "the name was never blocked"
    first = blocked[0][0]
    # every question for TARGET sent after the first block is blocked too (no stale copy answers)
    stale = [a for a in after if a[1] == TARGET and a[0] >= first and a[3] != ["0.0.0.0"]]
    assert not stale, stale[:3]
    # the other name is untouched throughout
    assert all(a[3] == ["192.0.2.10"] for a in asker.answers if a[1] == OTHER)
    took = first - edit_at
    print(f"edit request {answered_at - edit_at:.3f} s; blocked after {took:.3f} s; "
          f"{len(asker.answers)} answers, {len(asker.lost)} lost")
    assert took <= APPLY_WITHIN, f"blocked only after {took:.2f} s"
