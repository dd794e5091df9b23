from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.daemon import DaemonProcess
from tests.support.netns import netns_pair  # noqa: F401 (a fixture: two namespaces on one veth link)
from tests.support.scripted import Scripted

BASE = """
[general]
hostname = "dnsfilter.lan"

[dns]
listen = ["127.0.0.1:{port}"]
upstreams = ["%(upstream)s"]
upstream_timeout = 0.5
%(dns)s

[[feeds]]
name = "ads"
url = "%(list)s"
format = "domains"
category = "ads"
%(rest)s
"""

BLOCKLIST = """# test list
ads.example.test
tracker.test
*.wild.test
"""

ZONE = {
    "www.example.test": ["www.example.test. 300 A 192.0.2.10", "www.example.test. 300 AAAA 2001:db8::10"],
    "short.example.test": ["short.example.test. 1 A 192.0.2.11"],
    "cdn.example.test": ["cdn.example.test. 300 CNAME edge.tracker.test.", "edge.tracker.test. 300 A 192.0.2.66"],
    "mx.example.test": ["mx.example.test. 300 MX 10 mail.example.test."],
    "big.example.test": [f'big.example.test. 300 TXT "{"x" * 200}{i}"' for i in range(8)],
}


def needs(*tools: str) -> None:
    for t in tools:
        if shutil.which(t) is None:
            pytest.skip(f"{t} is not installed (make test installs it when run as root)")


@pytest.fixture
def upstream() -> Iterator[Scripted]:
    with Scripted(zone=dict(ZONE)) as s:
        yield s


@pytest.fixture
def make_daemon(tmp_path: Path) -> Iterator[Callable[..., DaemonProcess]]:
    started: list[DaemonProcess] = []

    def make(upstream: str, dns: str = "", rest: str = "", blocklist: str = BLOCKLIST,
             start: bool = True) -> DaemonProcess:
        lst = tmp_path / "block.txt"
        lst.write_text(blocklist)
        d = DaemonProcess(tmp_path, BASE % {"upstream": upstream, "dns": dns, "rest": rest, "list": lst})
        started.append(d)
        return d.start() if start else d

    yield make
    for d in started:
        if d.alive():
            d.stop()
