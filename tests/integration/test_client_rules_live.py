"""AdGuard rules that depend on who asks or on the query type, against the real daemon: an
allowed answer installed in the fast path for a profile must never reach a client a `$client`
rule blocks (loopback sources 127.0.0.x share the default profile), and accept-all rules
(`*$client=…`, `$dnstype=MX`) block from the first query on."""

from __future__ import annotations

from pathlib import Path

import dns.message
import dns.query
import pytest

from tests.support.daemon import addrs, ede

pytestmark = pytest.mark.integration

RULES = """[Adblock Plus 2.0]
*$client=127.0.0.3
||www.example.test^$client=127.0.0.4
$dnstype=MX
"""


def ask(port: int, name: str, source: str, rdtype: str = "A") -> dns.message.Message:
    q = dns.message.make_query(name, rdtype, use_edns=0)
    return dns.query.udp(q, "127.0.0.1", port=port, timeout=3, source=source)


def test_client_rules_are_never_answered_from_another_clients_fast_path(upstream, make_daemon,  # type: ignore[no-untyped-def]
                                                                       tmp_path: Path) -> None:
    feed = tmp_path / "agh.txt"
    feed.write_text(RULES)
    d = make_daemon(upstream.addr, rest=f'[[feeds]]\nname = "agh"\nurl = "{feed}"\nformat = "adblock"\n')
    for _ in range(3):  # the first answer is installed in the fast path; the next ones replay it
        assert addrs(ask(d.port, "www.example.test", "127.0.0.1")) == ["192.0.2.10"]
        assert addrs(ask(d.port, "short.example.test", "127.0.0.1")) == ["192.0.2.11"]
    r = ask(d.port, "www.example.test", "127.0.0.3")
    assert addrs(r) == ["0.0.0.0"] and ede(r)[0][0] == 15, r
    assert addrs(ask(d.port, "short.example.test", "127.0.0.3")) == ["0.0.0.0"]
    assert addrs(ask(d.port, "www.example.test", "127.0.0.4")) == ["0.0.0.0"]
    assert addrs(ask(d.port, "short.example.test", "127.0.0.4")) == ["192.0.2.11"]
    assert addrs(ask(d.port, "www.example.test", "127.0.0.5")) == ["192.0.2.10"]
    assert addrs(ask(d.port, "www.example.test", "127.0.0.1")) == ["192.0.2.10"]  # and back: still allowed
    r = ask(d.port, "mx.example.test", "127.0.0.1", "MX")  # `$dnstype=MX`: every name, for that type
    assert not r.answer and ede(r)[0][0] == 15, r
    assert ask(d.port, "mx.example.test", "127.0.0.1", "A").rcode() == 0
