"""RPZ in (issue 20): a feed followed by zone transfer with TSIG from a real BIND primary.
The first sync is an AXFR, a change arrives by IXFR, a NOTIFY makes it effective within
seconds; a wrong key, a forged NOTIFY, a truncated transfer and a serial going backwards change
nothing; each action of the zone is answered as Unbound answers the same zone.

One BIND primary and one daemon for the module; the tests run in order and share them.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.tsigkeyring
import pytest

from tests.support.daemon import DaemonProcess, cli, free_port
from tests.support.paths import REPO
from tests.support.rpzservers import (
    KEY_NAME,
    SECRET,
    Backend,
    BindPrimary,
    UnboundRpz,
    ask,
    follower_config,
    need,
    wait_until,
)
from tests.support.tcp_relay import TcpRelay

pytestmark = pytest.mark.integration

ZONE = "policy.example"
DATA = REPO / "tests" / "data" / "rpz"
FILLER = 400  # names besides the actions, so a transfer spans many TCP segments (cut halfway below)


def records() -> list[str]:
    out = []
    for f in ("actions.rpz", "nodes.rpz"):
        for line in (DATA / f).read_text().splitlines():
            if line and not line.startswith((";", "$", "@")):
                out.append(line)
    out += [f"filler-{i}.rpz-fill.example CNAME ." for i in range(FILLER)]
    return out


@dataclass
class World:
    tmp: Path
    primary: BindPrimary
    daemon: DaemonProcess
    backend: Backend


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    need("named", "unbound")
    tmp = tmp_path_factory.mktemp("rpz-xfr")
    (tmp / "isp.secret").write_text(SECRET + "\n")
    port = free_port()
    primary = BindPrimary(ZONE, records())
    primary.notify_port = port
    with Backend() as backend, primary:
        daemon = DaemonProcess(tmp, follower_config(backend.port, primary.port, ZONE, "malware"), port=port)
        daemon.start()
        try:
            yield World(tmp, primary, daemon, backend)
        finally:
            daemon.stop()


def status(w: World, config: Path | None = None) -> dict:
    r = cli("feeds", "status", "-c", str(config or w.daemon.config_path), "--json")
    assert r.returncode == 0, r.stderr
    return next(s for s in json.loads(r.stdout) if s["name"] == "isp")


def rcode(w: World, name: str, rdtype: str = "A") -> str:
    r = ask(w.daemon.port, name, rdtype, timeout=1.5)
    return "timeout" if r is None else dns.rcode.to_text(r.rcode())


def metrics(w: World) -> str:
    r = cli("ctl", "metrics", "-c", str(w.daemon.config_path))
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_first_sync_is_an_axfr(world: World) -> None:
    wait_until(lambda: rcode(world, "nx.rpz-actions.example") == "NXDOMAIN", 30, "the first transfer is in force")
    st = status(world)
    assert (st["transfer"], st["result"], st["zone_serial"], st["xfr_serial"]) == ("axfr", "new", 1, 1)
    assert st["entries"] >= FILLER and not st["stale"] and st["soa_refresh"] == 3600
    assert "dnsfilter_feed_serial{feed=\"isp\"} 1" in metrics(world)


def _notify(zone: str, *, key: str | None = KEY_NAME, secret: str = SECRET) -> dns.message.Message:
    m = dns.message.make_query(zone, "SOA")
    m.set_opcode(dns.opcode.NOTIFY)
    m.flags |= dns.flags.AA
    m.flags &= ~dns.flags.RD
    if key is not None:
        m.use_tsig(dns.tsigkeyring.from_text({key: ("hmac-sha256", secret)}), key)
    return m


def test_forged_or_unknown_notify_changes_nothing(world: World) -> None:
    before = status(world)["last_attempt"]
    wrong_secret = "d3JvbmcgZG5zZmlsdGVyIHJweiB0ZXN0IHNlY3JldCE="
    cases = [
        (_notify(ZONE), "127.0.0.2", dns.rcode.REFUSED),  # right key, another source (forged)
        (_notify("other.example"), "127.0.0.1", dns.rcode.REFUSED),  # a zone we do not follow
        (_notify(ZONE, key=None), "127.0.0.1", dns.rcode.NOTAUTH),  # unsigned, and the feed has a key
    ]
    # signed with another secret under the same key name: NOTAUTH (the TSIG does not verify)
    cases.append((_notify(ZONE, secret=wrong_secret), "127.0.0.1", dns.rcode.NOTAUTH))
    for m, source, want in cases:
        raw = _raw_exchange(world, m.to_wire(), source)  # refusals are not signed: read as bytes
        assert raw is not None and raw[:2] == m.to_wire()[:2], (m.question, source)
        assert (raw[3] & 0x0F, (raw[2] >> 3) & 0xF, raw[2] >> 7) == (want, dns.opcode.NOTIFY, 1), (m.question, source)
    time.sleep(3)  # a NOTIFY that was (wrongly) accepted would have started a sync by now
    assert status(world)["last_attempt"] == before
    text = metrics(world)
    for result in ("wrong_source", "unknown_zone", "bad_tsig"):
        assert f'dnsfilter_notify_total{{result="{result}"}}' in text, result
    assert 'result="accepted"' not in text


def _raw_exchange(w: World, wire: bytes, source: str = "127.0.0.1") -> bytes | None:
    """Send raw bytes, return raw bytes: a reply we cannot verify is still read as it is."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.settimeout(3)
        s.sendto(wire, ("127.0.0.1", w.daemon.port))
        try:
            return s.recv(4096)
        except TimeoutError:
            return None


def test_a_change_arrives_by_ixfr_within_seconds_of_the_notify(world: World) -> None:
    assert rcode(world, "fresh.rpz-actions.example") == "NOERROR"
    started = time.monotonic()
    serial = world.primary.update(add=[("fresh.rpz-actions.example", "CNAME", "."),
                                       ("*.fresh.rpz-actions.example", "CNAME", ".")],
                                  delete=[("filler-0.rpz-fill.example", "CNAME", ".")])
    wait_until(lambda: rcode(world, "x.fresh.rpz-actions.example") == "NXDOMAIN", 20,
               "the change applies after BIND's NOTIFY")
    took = time.monotonic() - started
    assert rcode(world, "filler-0.rpz-fill.example") == "NOERROR"  # the deletion too
    st = status(world)
    assert (st["transfer"], st["zone_serial"]) == ("ixfr", serial)
    assert st["bytes"] < 2000  # the differences, not the zone
    assert 'dnsfilter_notify_total{result="accepted"}' in metrics(world)
    assert "NOTIFY from its primary: syncing now" in world.daemon.log()
    print(f"\nNOTIFY to answered with the new policy: {took:.2f}s (IXFR of {st['bytes']} bytes)")
    assert took <= 10.0


def _copy(world: World, name: str, url: str, secret: str = SECRET, keep_zone: bool = True) -> Path:
    """A second config over a copy of the daemon's data: a sync there cannot disturb the daemon."""
    d = world.tmp / name
    shutil.copytree(world.tmp / "var", d / "var", ignore=shutil.ignore_patterns("*.sock", "*.db*", "*.lock"))
    if not keep_zone:
        (d / "var" / "feeds" / "isp.src").unlink()
    (d / "isp.secret").write_text(secret + "\n")
    text = world.daemon.config_path.read_text().replace(f"xfr://127.0.0.1:{world.primary.port}/{ZONE}", url)
    text = text.replace(str(world.tmp / "var"), str(d / "var"))
    (d / "config.toml").write_text(text)
    return d / "config.toml"


def _set_digest(config: Path) -> str:
    return json.loads((config.parent / "var" / "feeds" / "isp.status.json").read_text())["digest"]


def test_a_wrong_key_changes_nothing(world: World) -> None:
    cfg = _copy(world, "wrong-key", f"xfr://127.0.0.1:{world.primary.port}/{ZONE}",
                secret="d3JvbmcgZG5zZmlsdGVyIHJweiB0ZXN0IHNlY3JldCE=", keep_zone=False)
    digest = _set_digest(cfg)
    r = cli("feeds", "sync", "-c", str(cfg))
    assert r.returncode == 1 and "TSIG" in r.stdout and "keeping the last good version" in r.stdout, r.stdout
    st = json.loads((cfg.parent / "var" / "feeds" / "isp.status.json").read_text())
    assert st["result"] == "failed" and st["digest"] == digest
    assert SECRET not in r.stdout + r.stderr + (cfg.parent / "var" / "feeds" / "isp.status.json").read_text()


def test_a_truncated_transfer_changes_nothing(world: World) -> None:
    with TcpRelay(("127.0.0.1", world.primary.port), cut=3000) as relay:
        cfg = _copy(world, "cut", f"xfr://127.0.0.1:{relay.port}/{ZONE}", keep_zone=False)  # a whole AXFR
        digest = _set_digest(cfg)
        r = cli("feeds", "sync", "-c", str(cfg))
    assert r.returncode == 1 and "truncated transfer" in r.stdout, r.stdout
    st = json.loads((cfg.parent / "var" / "feeds" / "isp.status.json").read_text())
    assert st["result"] == "failed" and st["digest"] == digest
    assert not (cfg.parent / "var" / "feeds" / "isp.src").exists()  # nothing half-written kept


def test_a_serial_going_backwards_changes_nothing(world: World) -> None:
    """Another primary for the zone, restored from an old backup: serial 1 again, and no
    `fresh` name. Its zone is not taken."""
    with BindPrimary(ZONE, records()) as old:
        cfg = _copy(world, "backwards", f"xfr://127.0.0.1:{old.port}/{ZONE}")
        digest = _set_digest(cfg)
        r = cli("feeds", "sync", "-c", str(cfg))
    assert r.returncode == 1 and "older serial" in r.stdout, r.stdout
    assert _set_digest(cfg) == digest


def test_max_bytes_applies_to_transfers(world: World) -> None:
    cfg = _copy(world, "small", f"xfr://127.0.0.1:{world.primary.port}/{ZONE}", keep_zone=False)
    cfg.write_text(cfg.read_text().replace('category = "malware"', 'category = "malware"\nmax_bytes = "4KB"'))
    digest = _set_digest(cfg)
    r = cli("feeds", "sync", "-c", str(cfg))
    assert r.returncode == 1 and "max_bytes" in r.stdout, r.stdout
    assert _set_digest(cfg) == digest


def test_shrink_limit_applies_to_transfers(world: World) -> None:
    """Most of the zone deleted at once: the IXFR arrives, the new version is refused by
    max_shrink, and the last good one stays in force."""
    deleted = [(f"filler-{i}.rpz-fill.example", "CNAME", ".") for i in range(1, FILLER)]
    serial = world.primary.update(delete=deleted)
    wait_until(lambda: status(world)["xfr_serial"] == serial, 20, "the daemon transfers the shrunk zone")
    st = status(world)
    assert st["result"] == "rejected" and "max_shrink" in st["error"] and st["zone_serial"] != serial
    assert rcode(world, "filler-7.rpz-fill.example") == "NXDOMAIN"  # still blocked


def test_actions_as_unbound_answers_the_same_zone(world: World) -> None:
    """Every action of the zone (and its nested triggers), asked of dnsfilter, which follows it
    by transfer, and of Unbound reading the same zone from a file."""
    zone_text = "".join(f"{line}\n" for line in records())
    path = world.tmp / "same.rpz"
    path.write_text("$TTL 60\n@ SOA localhost. root.localhost. 1 3600 600 86400 60\n@ NS localhost.\n" + zone_text)
    rpz = f'server:\n    module-config: "respip iterator"\nrpz:\n    name: {ZONE}\n    zonefile: {path}\n'
    names = [(f"{x}.rpz-actions.example", "A") for x in ("nx", "sub.nx", "pass.nx", "x.pass.nx", "nodata",
                                                         "tcp", "local", "garden", "mixed", "a.mixed", "unlisted",
                                                         "ipsink")]
    names += [("local.rpz-actions.example", t) for t in ("AAAA", "TXT", "MX")]
    names += [(f"{x}.c.rpz-nodes.example", "A") for x in ("x", "x.b", "a.b", "x.a.b", "d", "x.d", "x.e", "f", "x.f",
                                                         "y.x")]
    # Unbound lets `*.c` answer for a name that is only an empty node (b.c, e.c); BIND and dnsfilter
    # do not (docs/rpz.md, "Nodes"). For ANY it answers local data with no record; BIND, PowerDNS
    # Recursor and dnsfilter answer every record.
    differ = {"b.c.rpz-nodes.example", "e.c.rpz-nodes.example"}
    r = ask(world.daemon.port, "local.rpz-actions.example", "ANY", tcp=True)
    assert r is not None and sorted(x.rdtype for x in r.answer) == [1, 16, 28]
    with UnboundRpz(0, world.backend.port, source=rpz) as ub:
        for name, rdtype in names + [(n, "A") for n in sorted(differ)] + [("drop.rpz-actions.example", "A")]:
            got = _answer(ask(world.daemon.port, name, rdtype, timeout=1.5))
            want = _answer(ask(ub.port, name, rdtype, timeout=1.5))
            if name in differ:
                assert got == "NOERROR pass" and want == "NXDOMAIN", (name, got, want)
            else:
                assert got == want, (name, rdtype, got, want)


def _answer(r: dns.message.Message | None) -> str:
    if r is None:
        return "drop"
    data = sorted(f"{dns.rdatatype.to_text(x.rdtype)} {rd}" for x in r.answer for rd in x)
    if data in (["A 192.0.2.1"], ["AAAA 2001:db8::1"], ['TXT "backend"']):
        data = ["pass"]
    tc = " TC" if r.flags & dns.flags.TC else ""
    return f"{dns.rcode.to_text(r.rcode())}{tc} {' '.join(data)}".strip()


def test_an_ixfr_that_disagrees_with_the_stored_zone_falls_back_to_an_axfr(world: World) -> None:
    """The stored zone lost a record (a disk that lies, a hand edit): an IXFR deleting it cannot
    be applied, so the zone is transferred whole instead."""
    cfg = _copy(world, "disagree", f"xfr://127.0.0.1:{world.primary.port}/{ZONE}")
    src = cfg.parent / "var" / "feeds" / "isp.src"
    kept = [x for x in src.read_text().splitlines(keepends=True) if not x.startswith("mixed.rpz-actions.example ")]
    assert len(kept) < len(src.read_text().splitlines())
    src.write_text("".join(kept))
    world.primary.update(delete=[("mixed.rpz-actions.example", "CNAME", ".")])
    r = cli("feeds", "sync", "-c", str(cfg))
    st = json.loads((cfg.parent / "var" / "feeds" / "isp.status.json").read_text())
    assert (st["transfer"], st["xfr_serial"]) == ("axfr", world.primary.serial()), (r.stdout, st)


def test_a_silent_primary_times_out(world: World) -> None:
    from dnsfilter.config import load
    from feeds.sync import sync_feed

    with TcpRelay(("127.0.0.1", world.primary.port), hang=True) as relay:
        cfg = load(_copy(world, "silent", f"xfr://127.0.0.1:{relay.port}/{ZONE}", keep_zone=False))
        started = time.monotonic()
        st = sync_feed(cfg, cfg.feeds[0], fetch_options={"read_timeout": 0.5, "total_timeout": 2.0})
    assert st.result == "failed" and "timed out" in st.error and time.monotonic() - started < 10
