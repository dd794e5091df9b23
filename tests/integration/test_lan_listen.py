"""`listen = ["lan:PORT"]` in a namespace: the daemon binds the LAN interface's IPv4, ULA and
link-local addresses (not loopback), answers its own name with the address a query arrived
on, and follows address changes: an address added after start is answered on within seconds,
one removed is let go."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import dns.message
import pytest

from tests.support.daemon import REPO, terminate
from tests.support.netns import address, link, namespaces, run, unique

pytestmark = pytest.mark.integration
PORT = 5399


@pytest.fixture
def lan() -> Iterator[tuple[str, str, str]]:
    """(router namespace, client namespace, the router's LAN interface)."""
    with namespaces("router", "client") as ns:
        router, client, dev, peer = ns["router"], ns["client"], unique("ll"), unique("lc")
        link(router, dev, client, peer)
        address(router, dev, "10.233.0.1/24", "fd00:233::1/64")
        address(client, peer, "10.233.0.2/24", "fd00:233::2/64")
        yield router, client, dev


def own_name(ns: str, server: str, qtype: str) -> list[str] | str:
    """The appliance's own name asked from `ns` (dnspython in a child process)."""
    code = textwrap.dedent(f"""
        import sys, dns.message, dns.query
        q = dns.message.make_query("dnsfilter.lan", {qtype!r})
        sys.stdout.write(dns.query.udp(q, {server!r}, port={PORT}, timeout=1).to_wire().hex())
    """)
    out = run("ip", "netns", "exec", ns, sys.executable, "-c", code, check=False)
    if out.returncode != 0:
        return out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"
    r = dns.message.from_wire(bytes.fromhex(out.stdout))
    return [rd.to_text() for rr in r.answer for rd in rr]


def test_lan_listeners_follow_the_addresses(lan: tuple[str, str, str], tmp_path: Path) -> None:
    router, client, dev = lan
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[dns]\nlisten = ["lan:{PORT}"]\nupstreams = ["127.0.0.1:9"]\n'
                   f'[storage]\ndata_dir = "{tmp_path / "var"}"\n')
    logf = tmp_path / "daemon.log"
    with open(logf, "wb") as out:
        daemon = subprocess.Popen(["ip", "netns", "exec", router, sys.executable, "-m", "dnsfilter", "serve", "-c",
                                   str(cfg)], stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        deadline = time.monotonic() + 20
        while "ready: answering" not in logf.read_text(errors="replace"):
            assert daemon.poll() is None and time.monotonic() < deadline, logf.read_text()
            time.sleep(0.05)
        log = logf.read_text()
        assert f"listening on 10.233.0.1:{PORT} (LAN address)" in log
        assert f"listening on [fd00:233::1]:{PORT} (LAN address)" in log
        assert "127.0.0.1" not in log.split("ready:")[0]  # loopback is not the LAN

        # the own name: the address the query arrived on
        assert own_name(client, "10.233.0.1", "A") == ["10.233.0.1"]
        assert own_name(client, "fd00:233::1", "AAAA") == ["fd00:233::1"]

        run("ip", "-n", router, "addr", "add", "10.233.0.7/24", "dev", dev)
        deadline = time.monotonic() + 3
        got = own_name(client, "10.233.0.7", "A")
        while got != ["10.233.0.7"] and time.monotonic() < deadline:
            time.sleep(0.1)
            got = own_name(client, "10.233.0.7", "A")
        assert got == ["10.233.0.7"], logf.read_text()
        assert own_name(client, "10.233.0.1", "A") == ["10.233.0.1"]  # the others kept answering

        run("ip", "-n", router, "addr", "del", "10.233.0.7/24", "dev", dev)
        deadline = time.monotonic() + 3
        while f"no longer listening on 10.233.0.7:{PORT}" not in logf.read_text():
            assert time.monotonic() < deadline, logf.read_text()
            time.sleep(0.1)
        assert own_name(client, "fd00:233::1", "AAAA") == ["fd00:233::1"]
        # the link-local address, with its scope, once duplicate address detection let it be bound
        deadline = time.monotonic() + 5
        while f"%{dev}]:{PORT} (LAN address)" not in logf.read_text():
            assert time.monotonic() < deadline, logf.read_text()
            time.sleep(0.1)
        assert daemon.poll() is None
    finally:
        terminate(daemon)


# ------------------------------------------------------------ without namespaces


def test_lan_means_the_private_interfaces_and_all_their_addresses() -> None:
    from dnsfilter.config import ConfigError, from_dict
    from dnsfilter.config.values import Listen
    from dnsfilter.shell.lan.interfaces import IFA_F_TENTATIVE, IfAddr, listeners_for

    addrs = [IfAddr("lo", "127.0.0.1", True), IfAddr("lo", "::1", True),
             IfAddr("eth1", "203.0.113.5", False), IfAddr("eth1", "fe80::1", False),
             IfAddr("br-lan", "192.168.1.1", False), IfAddr("br-lan", "fe80::2", False),
             IfAddr("br-lan", "2001:db8::1", False), IfAddr("br-lan", "fd00::1", False, IFA_F_TENTATIVE),
             IfAddr("wg0", "fd12::1", False)]
    specs = from_dict({"dns": {"listen": ["lan:5353", "eth1", "127.0.0.1:53"]}}).dns.listen
    assert specs[:2] == (Listen("", 5353, "lan"), Listen("", 53, "eth1"))
    got = [str(lst) for lst in listeners_for(specs[:2], addrs)]
    assert got == ["192.168.1.1:5353", "203.0.113.5:53", "[2001:db8::1]:5353", "[fd12::1]:5353",
                   "[fe80::1%eth1]:53", "[fe80::2%br-lan]:5353"]
    with pytest.raises(ConfigError, match=r"^dns\.listen\[0\]: 'lan:99999': the port"):
        from_dict({"dns": {"listen": ["lan:99999"]}})
