"""Network namespaces and veth links for the tests that need a LAN: one place that creates them,
skips with the reason when it cannot (not root, no iproute2, no `ip netns` in this sandbox), and
always deletes what it made.

    with namespaces("r", "c", needs=("nft",)) as ns:      # ns["r"], ns["c"]: unique names
        link(ns["r"], "lan0", ns["c"], "eth0")
        address(ns["r"], "lan0", "10.9.0.1/24", "fd00:9::1/64")
        in_ns(ns["c"], "ping", "-c1", "10.9.0.1")
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

_serial = itertools.count()


def run(*argv: str, check: bool = True, timeout: float = 20, **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run a command; with `check`, a failure is an AssertionError naming the command and its stderr."""
    out = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, **kw)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {out.stderr.strip()}")
    return out


def in_ns(ns: str, *argv: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    return run("ip", "netns", "exec", ns, *argv, **kw)


def popen_in(ns: str, argv: list[str], **kw: Any) -> subprocess.Popen[Any]:
    return subprocess.Popen(["ip", "netns", "exec", ns, *argv], **kw)


def unique(prefix: str) -> str:
    """A name no other test process uses (interface names stay under 15 characters)."""
    return f"{prefix}{os.getpid() % 100000}{next(_serial)}"[:15]


@contextlib.contextmanager
def namespaces(*roles: str, needs: tuple[str, ...] = ()) -> Iterator[dict[str, str]]:
    """Fresh namespaces, one per role, loopback up; deleted (with their veth ends) on exit."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create network namespaces")
    for tool in ("ip", *needs):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (make test installs iproute2 and nftables when run as root)")
    names = {role: unique("dnsf") for role in roles}
    made: list[str] = []
    try:
        for name in names.values():
            probe = run("ip", "netns", "add", name, check=False)
            if probe.returncode != 0:
                if not made:
                    pytest.skip(f"`ip netns add` is unavailable here: {probe.stderr.strip()}")
                raise AssertionError(f"ip netns add {name}: {probe.stderr.strip()}")
            made.append(name)
            run("ip", "-n", name, "link", "set", "lo", "up")
        yield names
    finally:
        for name in reversed(made):  # a namespace takes its veth ends with it
            run("ip", "netns", "del", name, check=False)


def link(ns_a: str, dev_a: str, ns_b: str, dev_b: str, mac_b: str | None = None) -> None:
    """A veth pair: dev_a in ns_a, dev_b in ns_b (optionally with a given MAC)."""
    run("ip", "link", "add", dev_a, "netns", ns_a, "type", "veth", "peer", "name", dev_b, "netns", ns_b)
    if mac_b is not None:
        run("ip", "-n", ns_b, "link", "set", dev_b, "address", mac_b)


def address(ns: str, dev: str, *cidrs: str) -> None:
    """Add addresses (IPv6 without duplicate address detection, so they work at once) and bring
    the interface up."""
    for cidr in cidrs:
        extra = ["nodad"] if ":" in cidr else []
        run("ip", "-n", ns, "addr", "add", cidr, "dev", dev, *extra)
    run("ip", "-n", ns, "link", "set", dev, "up")


# ------------------------------------------------------------------ the common two-host LAN

CLIENT_MAC = "02:00:5e:10:00:01"  # locally administered: cannot clash with real hardware
SERVER_V4, CLIENT_V4 = "10.231.0.1", "10.231.0.2"
SERVER_V6, CLIENT_V6, CLIENT_PRIVACY_V6 = "fd00:231::1", "fd00:231::2", "fd00:231::a1b2:c3d4:e5f6:789a"


@dataclass
class Pair:
    server: str
    client: str
    server_if: str
    client_if: str


@pytest.fixture
def netns_pair() -> Iterator[Pair]:
    """A server and a client namespace on one veth link; the client has CLIENT_MAC, an IPv4, a
    stable and a privacy-style IPv6 address."""
    with namespaces("server", "client") as ns:
        pair = Pair(ns["server"], ns["client"], unique("vs"), unique("vc"))
        link(pair.server, pair.server_if, pair.client, pair.client_if, mac_b=CLIENT_MAC)
        address(pair.server, pair.server_if, f"{SERVER_V4}/24", f"{SERVER_V6}/64")
        address(pair.client, pair.client_if, f"{CLIENT_V4}/24", f"{CLIENT_V6}/64", f"{CLIENT_PRIVACY_V6}/64")
        yield pair
