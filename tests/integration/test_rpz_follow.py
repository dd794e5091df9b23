"""RPZ in from a real Knot DNS primary (deploy/rpz/knot.conf, TSIG, NOTIFY): after Knot's
NOTIFY, the IXFR's differences are applied to the set in force instead of compiling the whole
zone again (feeds/rpz_delta.py); the status says so, the daemon answers with the change, and the
set is the one a full compile of the transferred zone gives. A change the differences cannot
carry exactly (local data) is compiled in full, and the status says why.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.rcode
import pytest

from feeds.compile_rules import compile_feed
from tests.support.daemon import DaemonProcess, cli, free_port
from tests.support.rpzservers import SECRET, Backend, KnotPrimary, ask, follower_config, need, wait_until

pytestmark = pytest.mark.integration

ZONE = "ads.rpz.dnsfilter"
FILLER = 300

def zone_text(extra: list[str], drop: int = -1) -> str:
    """The policy zone Knot serves: filler names (each with its wildcard), an IP trigger, `extra`."""
    lines = [f"$ORIGIN {ZONE}.", "@ 3600 IN SOA ns.invalid. hostmaster.invalid. 1 3600 600 86400 60",
             "@ 3600 IN NS ns.invalid.", "32.77.100.51.198.rpz-ip CNAME ."]
    for i in range(FILLER):
        if i != drop:
            lines += [f"filler-{i}.example CNAME .", f"*.filler-{i}.example CNAME ."]
    return "\n".join(lines + extra) + "\n"


@dataclass
class World:
    tmp: Path
    knot: KnotPrimary
    daemon: DaemonProcess

    def publish(self, text: str) -> None:
        """A new version of the zone file, and Knot's reload: it computes the differences, serves
        them by IXFR and sends its NOTIFY (to the daemon too)."""
        before = self.knot.serial(ZONE) or 0
        (self.knot.storage / f"{ZONE}.zone").write_text(text)
        r = subprocess.run(self.knot.reload_command().format(zones=ZONE).split(), capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
        wait_until(lambda: (self.knot.serial(ZONE) or 0) > before, 30, "Knot serves the new version")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    need("knotd", "knotc")
    tmp = tmp_path_factory.mktemp("rpz-follow")
    (tmp / "isp.secret").write_text(SECRET + "\n")
    port = free_port()
    knot = KnotPrimary([ZONE], {})
    knot.notify["dnsfilter"] = port  # Knot notifies the daemon, signed with the feed's key
    (knot.storage / f"{ZONE}.zone").write_text(zone_text([]))
    with Backend() as backend, knot:
        daemon = DaemonProcess(tmp, follower_config(backend.port, knot.port, ZONE, "ads"), port=port)
        daemon.start()
        try:
            yield World(tmp, knot, daemon)
        finally:
            daemon.stop()


def status(w: World) -> dict:
    r = cli("feeds", "status", "-c", str(w.daemon.config_path), "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]


def rcode(w: World, name: str) -> str:
    r = ask(w.daemon.port, name, timeout=1.5)
    return "timeout" if r is None else dns.rcode.to_text(r.rcode())


def full_compile_digest(w: World, tmp: Path) -> str:
    """The digest of a full compile of the zone as the daemon stored it."""
    return compile_feed(w.tmp / "var" / "feeds" / "isp.src", "rpz", tmp / "full.dset").digest


def test_the_first_transfer_is_compiled_in_full(world: World) -> None:
    wait_until(lambda: rcode(world, "x.filler-7.example") == "NXDOMAIN", 60, "the first AXFR is in force")
    st = status(world)
    assert (st["transfer"], st["compiled"]) == ("axfr", "full")


def test_an_ixfr_after_knots_notify_is_applied_incrementally(world: World, tmp_path: Path) -> None:
    assert rcode(world, "fresh.example") == "NOERROR"
    world.publish(zone_text(["fresh.example CNAME *.", "*.fresh.example CNAME rpz-drop."], drop=3))
    wait_until(lambda: rcode(world, "fresh.example") == "NOERROR" and rcode(world, "filler-3.example") == "NOERROR"
               and status(world)["transfer"] == "ixfr", 30, "the change answered after Knot's NOTIFY")
    r = ask(world.daemon.port, "fresh.example", timeout=1.5)
    assert r is not None and not r.answer  # NODATA, as `CNAME *.` says
    assert rcode(world, "a.fresh.example") == "timeout"  # rpz-drop: no answer at all
    st = status(world)
    assert st["compiled"].startswith("incremental"), st["compiled"]
    assert "NOTIFY from its primary: syncing now" in world.daemon.log()
    assert st["digest"] == full_compile_digest(world, tmp_path)


def test_a_change_the_differences_cannot_carry_is_compiled_in_full(world: World, tmp_path: Path) -> None:
    world.publish(zone_text(["fresh.example CNAME *.", "*.fresh.example CNAME rpz-drop.",
                             "walled.example A 192.0.2.99"], drop=3))
    wait_until(lambda: (r := ask(world.daemon.port, "walled.example", timeout=1.5)) is not None
               and "192.0.2.99" in r.to_text(), 30, "the local data answered")
    st = status(world)
    assert st["transfer"] == "ixfr" and st["compiled"].startswith("full (a record other than"), st["compiled"]
    assert st["digest"] == full_compile_digest(world, tmp_path)
