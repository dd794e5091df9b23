"""NeighbourTable against the real kernel: two network namespaces joined by a veth pair, a
client of known MAC sending UDP over IPv4 and IPv6 (a stable and a privacy-style address) to
a server namespace where the table runs, as the daemon would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.netns import (
    CLIENT_MAC,
    CLIENT_PRIVACY_V6,
    CLIENT_V4,
    CLIENT_V6,
    SERVER_V4,
    SERVER_V6,
    Pair,
    run,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ABSENT_V4 = "10.231.0.99"  # nobody answers: INCOMPLETE, then FAILED — never in the table
STATIC_V4, STATIC_MAC = "10.231.0.77", "02:00:5e:10:00:77"
PORT = 5399


SERVER = textwrap.dedent("""
    import json, socket, sys, time
    from dnsfilter.shell.lan.neighbours import NeighbourTable

    wanted = sys.argv[1:]
    # a dump interval of an hour: after the first dump, only netlink events can teach the table
    table = NeighbourTable(min_dump_interval=3600.0)
    table.start()
    first = {"version": table.version, "snapshot": table.snapshot(), "dumps": table.dumps}
    s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s4.bind(("%(v4)s", %(port)d))
    s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s6.bind(("%(v6)s", %(port)d))
    s4.sendto(b"anyone?", ("%(absent)s", 9))  # starts resolution of an address nobody has
    for s in (s4, s6):
        s.settimeout(0.02)
    print(json.dumps(first), flush=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for s in (s4, s6):
            try:
                data, peer = s.recvfrom(512)
                s.sendto(data, peer)  # the reply makes the kernel resolve the client's MAC
            except socket.timeout:
                pass
        if all(table.mac_of(a) for a in wanted):
            break
    if sys.stdin.readline().strip() == "static":  # the test added a static entry meanwhile
        end = time.monotonic() + 10
        while table.mac_of("%(static)s") is None and time.monotonic() < end:
            time.sleep(0.05)
    print(json.dumps({"version": table.version, "dumps": table.dumps, "errors": table.errors,
                      "macs": {a: table.mac_of(a) for a in wanted + ["%(absent)s", "%(static)s"]}}), flush=True)
    table.stop()
""") % {"v4": SERVER_V4, "v6": SERVER_V6, "port": PORT, "absent": ABSENT_V4, "static": STATIC_V4}

CLIENT = textwrap.dedent("""
    import socket, sys
    for family, src, dst in ((socket.AF_INET, "%(c4)s", "%(s4)s"), (socket.AF_INET6, "%(c6)s", "%(s6)s"),
                             (socket.AF_INET6, "%(p6)s", "%(s6)s")):
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.bind((src, 0))
        s.settimeout(0.5)
        for attempt in range(20):
            s.sendto(b"hello", (dst, %(port)d))
            try:
                s.recvfrom(512)
                break
            except socket.timeout:
                continue
        else:
            sys.exit(f"no echo from {dst} to {src}")
""") % {"c4": CLIENT_V4, "s4": SERVER_V4, "c6": CLIENT_V6, "s6": SERVER_V6, "p6": CLIENT_PRIVACY_V6,
        "port": PORT}


def test_client_addresses_map_to_its_mac(netns_pair: Pair) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    wanted = [CLIENT_V4, CLIENT_V6, CLIENT_PRIVACY_V6]
    server = subprocess.Popen(["ip", "netns", "exec", netns_pair.server, sys.executable, "-c", SERVER, *wanted],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env)
    try:
        assert server.stdout is not None and server.stdin is not None
        first = json.loads(server.stdout.readline() or "null")
        assert first is not None, server.stderr.read() if server.stderr else "server failed"
        assert first["dumps"] == 1
        assert CLIENT_V4 not in first["snapshot"]  # nothing has been said yet
        client = subprocess.run(["ip", "netns", "exec", netns_pair.client, sys.executable, "-c", CLIENT],
                                capture_output=True, text=True, timeout=30, env=env)
        assert client.returncode == 0, client.stderr
        # a static entry added while the table runs arrives as an event too
        run("ip", "-n", netns_pair.server, "neigh", "add", STATIC_V4, "lladdr", STATIC_MAC, "dev", netns_pair.server_if,
           "nud", "permanent")
        server.stdin.write("static\n")
        server.stdin.flush()
        result = json.loads(server.stdout.readline() or "null")
        assert result is not None, server.stderr.read() if server.stderr else "server failed"
    finally:
        server.kill() if server.poll() is None else None
        server.wait(timeout=10)
    macs = result["macs"]
    assert macs[CLIENT_V4] == CLIENT_MAC
    assert macs[CLIENT_V6] == CLIENT_MAC
    assert macs[CLIENT_PRIVACY_V6] == CLIENT_MAC
    assert macs[STATIC_V4] == STATIC_MAC
    assert macs[ABSENT_V4] is None
    assert result["version"] > first["version"]
    assert result["dumps"] == 1, "the mapping should have come from netlink events, not dumps"
    assert result["errors"] == 0


def test_start_in_a_namespace_without_neighbours(netns_pair: Pair) -> None:
    """A fresh namespace: the table starts, is empty, and a miss does not hang or raise."""
    code = textwrap.dedent("""
        import time
        from dnsfilter.shell.lan.neighbours import NeighbourTable
        t = NeighbourTable(min_dump_interval=0.1)
        t.start()
        assert t.snapshot() == {}, t.snapshot()
        assert t.mac_of("10.9.9.9") is None and t.mac_of("127.0.0.1") is None
        time.sleep(0.5)  # the miss asked for a dump: it ran
        assert t.dumps == 2, t.dumps
        t.stop()
        print("ok")
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run(["ip", "netns", "exec", netns_pair.client, sys.executable, "-c", code],
                         capture_output=True, text=True, timeout=30, env=env)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
