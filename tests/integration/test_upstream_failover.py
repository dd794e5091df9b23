"""A dead or hung upstream next to a working one, as a client of the real daemon sees it: after
the first failure no query waits on the dead one (it is probed aside, one probe at a time, and
never ranked first: the dead one's `hedged` count stays at the first query's one), no query
waits the whole timeout, and each state change is logged once. Counts, not clocks, carry the
claims, so a busy machine cannot fail them. Real servers on loopback: Unbound (plain and DoT), a silent UDP socket, TLS servers that
hang before or after the handshake."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import dns.rcode
import pytest

from dnsfilter.core.dns import wire
from dnsfilter.core.dns.upstream_spec import parse_upstream
from dnsfilter.shell.upstream.pool import UpstreamPool
from tests.support.daemon import DaemonProcess, cli
from tests.support.scripted import Scripted
from tests.support.tcp_relay import HungTls, TcpRelay
from tests.support.unbound import TLS_NAME, Unbound

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

TIMEOUT = 2.0  # upstream_timeout in these configs: the default


def config(upstreams: list[str], extra: str = "") -> str:
    ups = ", ".join(f'"{u}"' for u in upstreams)
    return f"""
[dns]
listen = ["127.0.0.1:{{port}}"]
upstreams = [{ups}]
upstream_timeout = {TIMEOUT}
{extra}
"""


def paced(d: DaemonProcess, seconds: float, prefix: str, every: float = 0.1,
          until: Callable[[], bool] | None = None) -> list[float]:
    """A new name every `every` seconds for `seconds` (or until `until()`): each query's wait."""
    waits: list[float] = []
    start = time.monotonic()
    i = 0
    while time.monotonic() - start < seconds and (until is None or not until()):
        t0 = time.monotonic()
        r = d.query(f"{prefix}{i}.example.test", timeout=5)
        waits.append(time.monotonic() - t0)
        assert r.rcode() == dns.rcode.NXDOMAIN, r  # Unbound's answer: the name is not in its zone
        i += 1
        time.sleep(max(0.0, start + i * every - time.monotonic()))
    return waits


def lines(d: DaemonProcess, text: str) -> list[str]:
    return [ln for ln in d.log().splitlines() if text in ln]


def status(d: DaemonProcess) -> list[dict]:
    import json

    r = cli("ctl", "status", "-c", str(d.config_path))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["upstreams"]


def test_a_dead_first_upstream_never_stalls_a_query_after_the_first(tmp_path: Path) -> None:
    """Issue 16's repro: [dead, alive], a new name every 0.1 s. Before, every back-off period
    one query waited the whole timeout (2.0 s answers at t = 6, 16, 34 s)."""
    with Unbound() as alive, Scripted(mode="drop") as dead:
        d = DaemonProcess(tmp_path, config([dead.addr, f"{alive.addr}:{alive.port}"])).start()
        try:
            waits = paced(d, 8.0, "a")  # down at 2 s, probed at 3 s and 7 s (back-off 1 s, then 2 s)
            probed = len(dead.queries())
            st = status(d)[0]
            assert max(waits) < TIMEOUT  # the first waited the hedge delay, not the timeout
            # Only the first query was ever asked of the dead one first (then hedged): every
            # later one went to the live one at once. A count, not a clock: it holds on a busy box.
            assert st["hedged"] == 1, st
            assert 2 <= probed <= 4 and st["probes"] == probed - 1 and not st["healthy"]
            assert len(lines(d, f"upstream {dead.addr}: down:")) == 1  # once, not once per probe
            # it comes back: the next probe finds it, and that is logged once too
            dead.mode = "answer"
            waits = paced(d, 15.0, "b", until=lambda: bool(lines(d, f"upstream {dead.addr}: up again")))
            assert max(waits) < TIMEOUT  # never the whole timeout: probes go aside
            assert len(lines(d, f"upstream {dead.addr}: up again")) == 1
            assert status(d)[0]["healthy"]
        finally:
            d.stop()


@pytest.mark.parametrize("hang", ["before the handshake", "after the handshake"])
def test_a_hung_tls_upstream_next_to_a_working_one(tmp_path: Path, hang: str) -> None:
    with Unbound(tls=True) as ub:
        assert ub.cert_file and ub.key_file and ub.tls_port
        hung = (TcpRelay(("127.0.0.1", ub.tls_port), hang=True) if hang == "before the handshake"
                else HungTls(ub.cert_file, ub.key_file))
        with hung:
            ups = [f"tls://127.0.0.1:{hung.port}#{TLS_NAME}", f"tls://127.0.0.1:{ub.tls_port}#{TLS_NAME}"]
            d = DaemonProcess(tmp_path, config(ups, f'tls_ca_file = "{ub.ca_file}"')).start()
            try:
                waits = paced(d, 8.0, "h")
                st = status(d)
            finally:
                d.stop()
            assert max(waits) < TIMEOUT
            # only the first query waited on the hung one (hedged once), however slow the box
            assert not st[0]["healthy"] and st[1]["healthy"] and st[0]["hedged"] == 1, st
            assert 2 <= hung.accepts <= 4  # the first query's connection, then one per probe
            assert st[0]["probes"] == hung.accepts - 1


def test_concurrent_failures_do_not_double_the_backoff() -> None:
    """Twenty queries in flight to an upstream that stops answering fail together: that is one
    failure of the upstream, not twenty (before: a 30 s back-off at once)."""
    with Unbound() as alive, Scripted(mode="drop") as dead:
        async def body() -> list[dict]:
            pool = UpstreamPool([parse_upstream(dead.addr), parse_upstream(f"{alive.addr}:{alive.port}")],
                                timeout=0.5, explore=0.0)
            try:
                names = [wire.text_to_wire(f"c{i}.example.test") for i in range(20)]
                await asyncio.gather(*(pool.resolve(n, wire.T_A, wire.C_IN) for n in names))
                await pool.settle()
                return pool.status()
            finally:
                await pool.close()

        st = asyncio.run(asyncio.wait_for(body(), 20))
    assert len(dead.queries()) == 20 and st[0]["failures"] == 20
    assert not st[0]["healthy"] and st[0]["retry_in"] <= 1.0  # the first back-off, once


def test_a_failing_upstream_is_never_ranked_first() -> None:
    """Once its back-off ends, a down upstream gets one probe aside; clients keep going to the
    one that works, however many ask at that moment."""
    now = [100.0]
    with Unbound() as alive, Scripted(mode="drop") as dead:
        async def body() -> list[dict]:
            pool = UpstreamPool([parse_upstream(dead.addr), parse_upstream(f"{alive.addr}:{alive.port}")],
                                timeout=0.5, explore=0.0, clock=lambda: now[0])
            try:
                await pool.resolve(wire.text_to_wire("first.example.test"), wire.T_A, wire.C_IN)
                await pool.settle()  # the dead one's first attempt ran out: down
                now[0] += 5.0  # well past its back-off
                names = [wire.text_to_wire(f"r{i}.example.test") for i in range(30)]
                await asyncio.gather(*(pool.resolve(n, wire.T_A, wire.C_IN) for n in names))
                await pool.settle()
                return pool.status()
            finally:
                await pool.close()

        st = asyncio.run(asyncio.wait_for(body(), 20))
    # none of the thirty was sent to the dead one (so none could wait on it): counts, not a clock
    assert len(dead.queries()) == 2 and st[0]["hedged"] == 1 and st[0]["probes"] == 1  # the first query, then one probe
    assert st[1]["queries"] == 31
