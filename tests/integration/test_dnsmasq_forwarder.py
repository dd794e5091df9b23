"""A router's real dnsmasq in front of dnsfilter (the OpenWrt mode where dnsmasq keeps DHCP and
DNS on port 53): dnsmasq forwards to dnsfilter on the router's loopback and tells it who asked,
with `--add-mac` (raw, base64 or text) or `--add-subnet=32,128`. dnsfilter sees every query
come from 127.0.0.1, so the Kids decision below can only come from what dnsmasq added.

Also: a client cannot choose its profile by sending the MAC option itself, neither through
dnsmasq (`--strip-mac` removes it) nor straight to dnsfilter (the LAN is not a trusted forwarder).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import dns.edns
import dns.message
import pytest

from tests.integration.test_lan_profiles import blocked_for_kids, in_ns
from tests.support.daemon import REPO
from tests.support.netns import CLIENT_MAC, SERVER_V4, SERVER_V6

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("dnsmasq") is None,
                                 reason="dnsmasq is not installed (make test installs it when run as root)")]
FILTER_PORT = 5397
ADULT_MAC = "02:00:5e:10:00:99"  # the device a child would like to pass for
MODES = {"raw": ["--add-mac"], "base64": ["--add-mac=base64"], "text": ["--add-mac=text"],
         "ecs": ["--add-subnet=32,128"]}

CONFIG = f"""
[dns]
listen = ["127.0.0.1:{FILTER_PORT}", "{SERVER_V4}:{FILTER_PORT}"]
upstreams = ["127.0.0.1:9"]   # nothing there: allowed names fail fast (SERVFAIL)
upstream_timeout = 0.3

[network]
trusted_forwarders = ["127.0.0.1"]

[defaults]
profile = "Adults"

[[profiles]]
name = "Kids"
block_services = ["tiktok"]

[[profiles]]
name = "Adults"

[[devices]]
name = "tablet"
mac = "{CLIENT_MAC}"
profile = "Kids"

[[devices]]
name = "dad's laptop"
mac = "{ADULT_MAC}"
profile = "Adults"
"""


def ask(ns: str, server: str, port: int, name: str, spoof_mac: str | None = None) -> dns.message.Message | None:
    """A query from inside `ns`, optionally carrying a forged dnsmasq MAC option (65001)."""
    opts = f"[dns.edns.GenericOption(65001, bytes.fromhex({spoof_mac.replace(':', '')!r}))]" if spoof_mac else "[]"
    code = ("import dns.edns,dns.message,dns.query,sys;"
            f"q=dns.message.make_query({name!r},'A',use_edns=0,options={opts});"
            f"r=dns.query.udp(q,{server!r},port={port},timeout=2);"
            "sys.stdout.write(r.to_wire().hex())")
    out = in_ns(ns, sys.executable, "-c", code)
    return dns.message.from_wire(bytes.fromhex(out.stdout)) if out.returncode == 0 else None


def eventually_kids(ns: str, server: str, port: int, spoof_mac: str | None = None) -> dns.message.Message | None:
    """dnsmasq learns the client's MAC from the kernel's neighbour table, which the first packets fill."""
    deadline = time.monotonic() + 10
    r = ask(ns, server, port, "www.tiktok.com", spoof_mac)
    while not blocked_for_kids(r) and time.monotonic() < deadline:
        time.sleep(0.2)
        r = ask(ns, server, port, "www.tiktok.com", spoof_mac)
    return r


def test_dnsmasq_in_front_tells_dnsfilter_the_device(netns_pair, tmp_path: Path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(CONFIG + f'\n[storage]\ndata_dir = "{tmp_path / "var"}"\n')
    log = open(tmp_path / "daemon.log", "wb")
    procs = [subprocess.Popen(["ip", "netns", "exec", netns_pair.server, sys.executable, "-m", "dnsfilter", "serve",
                               "-c", str(cfg)], stdout=log, stderr=subprocess.STDOUT, cwd=REPO)]
    ports: dict[str, int] = {}
    try:
        for n, (mode, extra) in enumerate(MODES.items()):
            ports[mode] = 5391 + n
            # --strip-mac/--strip-subnet: whatever the client put there is replaced by the truth
            procs.append(subprocess.Popen(
                ["ip", "netns", "exec", netns_pair.server, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null",
                 "--no-resolv", "--no-hosts", "--pid-file=", "--user=root", "--bind-interfaces",
                 f"--listen-address={SERVER_V4}", f"--listen-address={SERVER_V6}", f"--port={ports[mode]}",
                 f"--server=127.0.0.1#{FILTER_PORT}", "--cache-size=0", "--strip-mac", "--strip-subnet", *extra],
                stdout=log, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 20
        while "ready: answering" not in (tmp_path / "daemon.log").read_text(errors="replace"):
            assert all(p.poll() is None for p in procs) and time.monotonic() < deadline, \
                (tmp_path / "daemon.log").read_text()
            time.sleep(0.05)

        for mode, port in ports.items():
            for server in (SERVER_V4, SERVER_V6):
                r = eventually_kids(netns_pair.client, server, port)
                assert blocked_for_kids(r), (mode, server, r, (tmp_path / "daemon.log").read_text()[-3000:])
        # the same query answered for the default profile when nothing says who asked: the
        # Kids answers above came from dnsmasq's option, not from a default
        plain = ask(netns_pair.server, "127.0.0.1", FILTER_PORT, "www.tiktok.com")
        assert plain is not None and not blocked_for_kids(plain)

        # a forged MAC option: stripped by dnsmasq, ignored by dnsfilter from an untrusted address
        assert blocked_for_kids(eventually_kids(netns_pair.client, SERVER_V4, ports["raw"], spoof_mac=ADULT_MAC))
        assert blocked_for_kids(eventually_kids(netns_pair.client, SERVER_V4, FILTER_PORT, spoof_mac=ADULT_MAC))
        # and the forwarder's option really is honoured from a trusted address (the control case)
        trusted = ask(netns_pair.server, "127.0.0.1", FILTER_PORT, "www.tiktok.com", spoof_mac=CLIENT_MAC)
        assert blocked_for_kids(trusted)
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()
