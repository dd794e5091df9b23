"""The child's side against the real daemon: a household of two devices in different profiles
(loopback sources 127.0.0.2 and 127.0.0.3), lists on disk, and HTTP from a given source address
as a device's browser sends it."""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlencode

import dns.message
import dns.query

from tests.support.daemon import DaemonProcess, cli, free_port

KID, TEEN, KID2, STRANGER = "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.9"
T = TypeVar("T")

ZONE = {
    "www.example.test": ["www.example.test. 300 A 192.0.2.10"],
    "game.example.test": ["game.example.test. 300 A 192.0.2.20"],
    "chat.example.test": ["chat.example.test. 300 A 192.0.2.21"],
    "casino.example.test": ["casino.example.test. 300 A 192.0.2.30"],
    "video.example.test": ["video.example.test. 300 A 192.0.2.40"],
    "www.youtube.com": ["www.youtube.com. 300 A 192.0.2.50"],
}

CONFIG = """
[general]
hostname = "dnsfilter.lan"
timezone = "Asia/Almaty"

[dns]
listen = ["127.0.0.1:{port}"]
upstreams = ["127.0.0.1:%(upstream)s"]
upstream_timeout = 0.5
allowed_clients = ["127.0.0.1/32", "127.0.0.2/32", "127.0.0.3/32", "127.0.0.4/32"]

[storage]
data_dir = "%(data)s"
log_flush = 0.5

[portal]
listen = ["127.0.0.1:%(portal)s"]

%(notify)s

[[feeds]]
name = "gambling"
url = "%(gambling)s"
format = "domains"
category = "gambling"

[[feeds]]
name = "registry"
url = "%(registry)s"
format = "domains"
category = "authority"
legal_basis = "Law of the Republic of Kazakhstan On Communications, art. 41-1"
appeal_url = "https://appeal.example/"

[defaults]
profile = "Adults"

[[profiles]]
name = "Kids"
block_categories = ["gambling"]
deny = ["game.example.test", "video.example.test", "s1.test", "s2.test", "s3.test", "s4.test", "s5.test",
        "s6.test"]
block_page = true
budgets = { youtube = "%(youtube)s" }

[[profiles]]
name = "Teens"
deny = ["chat.example.test"]
privacy = "counts"
block_page = true

[[profiles]]
name = "Adults"

[[devices]]
name = "Aru's tablet"
ip = "127.0.0.2"
profile = "Kids"

[[devices]]
name = "Dana's phone"
ip = "127.0.0.3"
profile = "Teens"

[[devices]]
name = "Timur's laptop"
ip = "127.0.0.4"
profile = "Kids"
"""


@dataclass
class Household:
    daemon: DaemonProcess
    portal: int

    def ask_dns(self, name: str, source: str, rdtype: str = "A") -> dns.message.Message:
        q = dns.message.make_query(name, rdtype, use_edns=0)
        return dns.query.udp(q, "127.0.0.1", port=self.daemon.port, timeout=3, source=source)

    def get(self, path: str = "/why", *, source: str, host: str = "dnsfilter.lan",
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        c = http.client.HTTPConnection("127.0.0.1", self.portal, timeout=5, source_address=(source, 0))
        try:
            c.request("GET", path, headers={"Host": host, **(headers or {})})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()
        finally:
            c.close()

    def post(self, form: dict[str, str], *, source: str, host: str = "dnsfilter.lan",
             path: str = "/_dnsfilter/ask") -> tuple[int, str]:
        """The ask form as a browser sends it; (status, Location)."""
        c = http.client.HTTPConnection("127.0.0.1", self.portal, timeout=5, source_address=(source, 0))
        try:
            c.request("POST", path, body=urlencode(form), headers={
                "Host": host, "Content-Type": "application/x-www-form-urlencoded"})
            r = c.getresponse()
            r.read()
            return r.status, r.getheader("Location") or ""
        finally:
            c.close()

    def token(self, source: str) -> str:
        _s, _h, page = self.get(source=source)
        m = re.search(r'name="token" value="([0-9a-f]+)"', page)
        assert m, page
        return m.group(1)

    def ask(self, name: str, source: str, duration: str = "1h", kind: str = "site") -> tuple[int, str]:
        return self.post({"token": self.token(source), "kind": kind, "name": name, "for": duration}, source=source)

    def requests(self) -> list[dict]:
        """The children's requests as `dnsfilter requests list --json` prints them."""
        out = cli("requests", "list", "-c", str(self.daemon.config_path), "--json")
        assert out.returncode == 0, out.stderr
        return list(json.loads(out.stdout))


def household(tmp: Path, upstream_port: int, notify: str = "", youtube: str = "30m") -> Household:
    """The household's daemon (not started); `youtube`: the Kids' daily YouTube budget."""
    (tmp / "gambling.txt").write_text("casino.example.test\n")
    (tmp / "registry.txt").write_text("banned.example.test\n")
    portal = free_port()
    text = CONFIG % {"upstream": upstream_port, "data": tmp / "var", "portal": portal, "notify": notify, "youtube": youtube,
                     "gambling": tmp / "gambling.txt", "registry": tmp / "registry.txt"}
    return Household(DaemonProcess(tmp, text), portal)


@contextmanager
def running_household(tmp: Path, upstream_port: int, **kw: str) -> Iterator[Household]:
    """`household(...)` started, and stopped at the end."""
    h = household(tmp, upstream_port, **kw)
    h.daemon.start()
    try:
        yield h
    finally:
        h.daemon.stop()


def wait_for(what: str, fn: Callable[[], T | None], timeout: float = 10.0, every: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
