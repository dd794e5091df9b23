"""The upstream fault matrix, on the real daemon in front of a scripted upstream on loopback.

Each fault is checked twice: what the client gets, and what the cache holds afterwards (the
next identical query is answered without asking the upstream only if the answer was cached;
`ctl status` counts the entries). A failure is never cached and never answered NXDOMAIN; an
answer that passed the checks is cached without the records that do not answer the question."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from tests.support.daemon import DaemonProcess, addrs, cli, ede
from tests.support.scripted import Scripted

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CONFIG = """
[dns]
listen = ["127.0.0.1:{port}"]
upstreams = ["%(upstream)s"]
upstream_timeout = %(timeout)s
serve_stale = false
"""

ZONE = {
    "www.example.test": ["www.example.test. 300 A 192.0.2.10"],
    "big.example.test": [f'big.example.test. 300 TXT "{i:02d}{"x" * 240}"' for i in range(16)],  # ~4 KB
}
INJECTED = ["answer: victim-an.other. 300 A 6.6.6.6", "authority: other. 300 NS ns.evil.",
            "additional: ns.evil. 300 A 6.6.6.6", "additional: victim-ar.other. 300 A 6.6.6.6"]
NETWORK_ERROR = 23  # RFC 8914 EDE: what the daemon says when its upstreams failed


@dataclass
class Setup:
    daemon: DaemonProcess
    upstream: Scripted

    def asked(self, name: str) -> int:
        return len(self.upstream.queries(name))

    def cache_entries(self) -> int:
        out = cli("ctl", "-c", str(self.daemon.config_path), "status")
        return int(json.loads(out.stdout)["cache"]["entries"])


@pytest.fixture
def setup(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Setup]:
    mode, timeout, kw = getattr(request, "param", ("answer", 0.5, {}))
    with Scripted(zone=dict(ZONE), mode=mode, **kw) as up:
        d = DaemonProcess(tmp_path, CONFIG % {"upstream": up.addr, "timeout": timeout}).start()
        try:
            yield Setup(d, up)
        finally:
            d.stop()


def failed_and_not_cached(s: Setup, name: str = "www.example.test") -> None:
    """SERVFAIL with EDE "network error" (never NXDOMAIN), nothing cached: asked again next time."""
    before = s.cache_entries()
    r = s.daemon.query(name, timeout=8)
    assert r.rcode() == dns.rcode.SERVFAIL and (NETWORK_ERROR, "upstream resolvers failed") in ede(r)
    assert not r.answer
    asked = s.asked(name)
    assert asked >= 1
    r = s.daemon.query(name, timeout=8)
    assert r.rcode() == dns.rcode.SERVFAIL
    assert s.asked(name) > asked, "a failure was served from the cache"
    assert s.cache_entries() == before


FAILURES = [
    pytest.param(("drop", 0.5, {}), id="timeout"),
    pytest.param(("garbage", 0.5, {}), id="garbage"),
    pytest.param(("wrong_id", 0.5, {}), id="wrong-id"),
    pytest.param(("wrong_question", 0.5, {}), id="wrong-question"),
    pytest.param(("servfail", 0.5, {}), id="servfail"),
    pytest.param(("refused", 0.5, {}), id="refused"),
    pytest.param(("other_source", 0.5, {}), id="reply-from-another-address"),
]


@pytest.mark.parametrize("setup", FAILURES, indirect=True)
def test_failure_is_servfail_and_never_cached(setup: Setup) -> None:
    failed_and_not_cached(setup)
    assert setup.daemon.alive()


@pytest.mark.parametrize("setup", [pytest.param(("truncate", 0.5, {}), id="tc-then-tcp")], indirect=True)
def test_truncated_answer_is_asked_again_over_tcp_and_cached(setup: Setup) -> None:
    r = setup.daemon.query("www.example.test")
    assert addrs(r) == ["192.0.2.10"] and not r.flags & dns.flags.TC
    assert [q.transport for q in setup.upstream.queries("www.example.test")] == ["udp", "tcp"]
    assert addrs(setup.daemon.query("www.example.test")) == ["192.0.2.10"]
    assert setup.asked("www.example.test") == 2, "the TCP answer was not cached"
    assert setup.cache_entries() == 1


@pytest.mark.parametrize("setup", [pytest.param(("answer", 2.0, {"delay": 1.5}), id="slow-1.5s")], indirect=True)
def test_slow_upstream_within_the_timeout_is_waited_for_and_cached(setup: Setup) -> None:
    t0 = time.monotonic()
    r = setup.daemon.query("www.example.test", timeout=8)
    assert addrs(r) == ["192.0.2.10"] and 1.4 <= time.monotonic() - t0
    t0 = time.monotonic()
    assert addrs(setup.daemon.query("www.example.test")) == ["192.0.2.10"]
    assert time.monotonic() - t0 < 1.0 and setup.asked("www.example.test") == 1


@pytest.mark.parametrize("setup", [pytest.param(("answer", 0.5, {"inject": INJECTED}), id="injected-records")],
                         indirect=True)
def test_injected_records_are_dropped_before_the_cache_and_the_client(setup: Setup) -> None:
    for _ in range(2):  # from the upstream, then from the cache
        r = setup.daemon.query("www.example.test")
        names = {rrset.name.to_text() for section in (r.answer, r.authority, r.additional) for rrset in section}
        assert names == {"www.example.test."}, r
        assert addrs(r) == ["192.0.2.10"]
    assert setup.asked("www.example.test") == 1 and setup.cache_entries() == 1
    # the victim's name is not answered from what was injected: it is asked upstream
    setup.daemon.query("victim-an.other")
    assert setup.asked("victim-an.other") == 1
    st = json.loads(cli("ctl", "-c", str(setup.daemon.config_path), "status").stdout)
    assert st["scrubbed"] >= 2


@pytest.mark.parametrize("setup", [pytest.param(("answer", 0.5, {"honour_payload": True}), id="4kb-answer")],
                         indirect=True)
def test_4kb_answer_comes_over_tcp_and_is_cached(setup: Setup) -> None:
    r = setup.daemon.query("big.example.test", "TXT", payload=1232)
    assert r.flags & dns.flags.TC and not r.answer  # too big for the client's UDP size: TC, retry TCP
    assert [q.transport for q in setup.upstream.queries("big.example.test")] == ["udp", "tcp"]
    r = setup.daemon.query("big.example.test", "TXT", tcp=True)
    assert len(r.answer[0]) == 16 and len(r.to_wire()) > 4000
    assert setup.asked("big.example.test") == 2, "the 4 KB answer was not cached"
    r = setup.daemon.query("big.example.test", "TXT", payload=4096)  # at most 1232 on UDP (RFC 9715)
    assert r.flags & dns.flags.TC
