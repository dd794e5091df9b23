"""The daemon on a LAN made of network namespaces: a client of known MAC asks over IPv4 and
IPv6 and gets its profile (Kids, by MAC) on both, and is listed as one device with both
addresses. This is the failure of today's tools the profiles issue names: a device must keep
its profile when it changes address or family."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import dns.rcode
import pytest

from tests.support.daemon import REPO
from tests.support.netns import CLIENT_MAC, CLIENT_V4, SERVER_V4, SERVER_V6

pytestmark = pytest.mark.integration
CLIENT_V6 = "fd00:231::2"
PORT = 5399

CONFIG = f"""
[dns]
listen = ["{SERVER_V4}:{PORT}", "[{SERVER_V6}]:{PORT}"]
upstreams = ["127.0.0.1:9"]   # nothing there: allowed names fail fast (SERVFAIL)
upstream_timeout = 0.3

[defaults]
profile = "Adults"

[[profiles]]
name = "Kids"
block_services = ["tiktok"]

[[profiles]]
name = "Adults"

[[devices]]
name = "tablet"
mac = "{CLIENT_MAC.upper()}"
profile = "Kids"
"""


def in_ns(ns: str, *argv: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=timeout)


def ask_from(ns: str, server: str, name: str) -> dns.message.Message | None:
    """A query sent from inside the client namespace (dnspython in a child process)."""
    code = ("import dns.message,dns.query,sys;"
            f"q=dns.message.make_query({name!r},'A',use_edns=0);"
            f"r=dns.query.udp(q,{server!r},port={PORT},timeout=2);"
            "sys.stdout.write(r.to_wire().hex())")
    out = in_ns(ns, sys.executable, "-c", code)
    if out.returncode != 0:
        return None
    return dns.message.from_wire(bytes.fromhex(out.stdout))


def blocked_for_kids(r: dns.message.Message | None) -> bool:
    return r is not None and any(rd.to_text() == "0.0.0.0" for rrset in r.answer for rd in rrset) and any(
        isinstance(o, dns.edns.EDEOption) and o.code == 17 for o in r.options)


def test_device_keeps_its_profile_over_ipv4_and_ipv6(netns_pair, tmp_path: Path):
    cfg = tmp_path / "config.toml"
    # a dnsmasq lease for the tablet: the device list must show its hostname
    leases = tmp_path / "dhcp.leases"
    leases.write_text(f"{int(time.time()) + 3600} {CLIENT_MAC} {CLIENT_V4} aru-tablet 01:{CLIENT_MAC}\n")
    cfg.write_text(CONFIG + f'\n[network]\nlease_files = ["{leases}"]\n'
                   f'\n[storage]\ndata_dir = "{tmp_path / "var"}"\n')
    log = open(tmp_path / "daemon.log", "wb")
    proc = subprocess.Popen(["ip", "netns", "exec", netns_pair.server, sys.executable, "-m", "dnsfilter", "serve",
                             "-c", str(cfg)], stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        deadline = time.monotonic() + 20
        while "ready: answering" not in (tmp_path / "daemon.log").read_text(errors="replace"):
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "daemon.log").read_text()
            time.sleep(0.05)
        for server in (SERVER_V4, SERVER_V6):
            # the first packet teaches the kernel the client's MAC; the daemon learns it from the
            # netlink event within moments (a query before that is answered for the default profile)
            deadline = time.monotonic() + 10
            r = ask_from(netns_pair.client, server, "www.tiktok.com")
            while not blocked_for_kids(r) and time.monotonic() < deadline:
                time.sleep(0.2)
                r = ask_from(netns_pair.client, server, "www.tiktok.com")
            assert blocked_for_kids(r), (server, r, (tmp_path / "daemon.log").read_text()[-3000:])
        # the same device, listed once with both addresses (written every few seconds)
        ctl = [sys.executable, "-m", "dnsfilter", "ctl", "-c", str(cfg), "devices"]
        deadline = time.monotonic() + 15
        devices: list[dict] = []
        while time.monotonic() < deadline:
            out = subprocess.run(ctl, capture_output=True, text=True, cwd=REPO, timeout=10)
            devices = json.loads(out.stdout) if out.returncode == 0 and out.stdout.strip().startswith("[") else []
            mine = [d for d in devices if d.get("mac") == CLIENT_MAC]
            if mine and CLIENT_V4 in mine[0].get("ips", []) and any(":" in a for a in mine[0]["ips"]) \
                    and mine[0].get("hostname"):
                break
            time.sleep(0.5)
        mine = [d for d in devices if d.get("mac") == CLIENT_MAC]
        assert len(mine) == 1, devices
        # IPv6: the stable or the privacy address, whichever the client's kernel chose as source
        assert CLIENT_V4 in mine[0]["ips"] and any(a.startswith("fd00:231::") for a in mine[0]["ips"])
        assert mine[0]["profile"] == "Kids"
        assert mine[0]["random"] is True  # 02:… is a locally administered address
        assert mine[0]["hostname"] == "aru-tablet"  # from the lease file
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
