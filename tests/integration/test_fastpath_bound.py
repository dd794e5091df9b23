"""`dns.fastpath_size` bounds the prebuilt answers of every profile together, in the real
daemon: two devices in two profiles ask more new names than the bound, and `ctl status`
reports no more entries than it allows, while every answer stays right."""

from __future__ import annotations

import json

import dns.message
import dns.query

from tests.support.daemon import cli

NAMES = [f"n{i}.ads.test" for i in range(40)]
HOUSEHOLD = """
[[profiles]]
name = "Kids"

[[profiles]]
name = "Adults"

[[devices]]
name = "tablet"
ip = "127.0.0.2"
profile = "Kids"

[[devices]]
name = "laptop"
ip = "127.0.0.3"
profile = "Adults"
"""


def _ask(port: int, name: str, source: str) -> str:
    r = dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=port, timeout=3, source=source)
    return r.answer[0][0].to_text() if r.answer else ""


def test_two_profiles_share_one_fast_path_bound(upstream, make_daemon):  # type: ignore[no-untyped-def]
    d = make_daemon(upstream.addr, dns="fastpath_size = 20", rest=HOUSEHOLD, blocklist="ads.test\n")
    for _ in range(2):  # the second pass replays what the fast path kept, and re-installs the rest
        for source in ("127.0.0.2", "127.0.0.3"):
            assert [_ask(d.port, n, source) for n in NAMES] == ["0.0.0.0"] * len(NAMES)
    fast = json.loads(cli("ctl", "-c", str(d.config_path), "status").stdout)["fastpath"]
    assert 0 < fast["entries"] <= 20  # 80 answers asked for; each table on its own held up to 20 before
    assert fast["clients"] == 2
