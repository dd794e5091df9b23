"""The RPZ format keeps each action as the policy zone names it (feeds/formats/rpz.py)."""

from __future__ import annotations

import pytest

from feeds.formats import parse_lines
from feeds.formats.rpz import ip_trigger, txt_rdata, wire_name
from feeds.rules import Rule, RuleCounts


def rules(text: str) -> tuple[list[Rule], RuleCounts]:
    counts = RuleCounts()
    return list(parse_lines(text.splitlines(), "rpz", counts)), counts


ZONE = """\
$ORIGIN policy.example.
@ 300 IN SOA localhost. root.localhost. 7 3600 600 86400 60
@ 300 IN NS localhost.
nx.test 300 IN CNAME .
*.nx.test 300 IN CNAME .
nodata.test CNAME *.
drop.test 60 CNAME rpz-drop.
tcp.test IN CNAME rpz-tcp-only.
pass.nx.test CNAME rpz-passthru.
local.test A 192.0.2.7
           AAAA 2001:db8::7
           TXT "walled; garden" "second \\"part\\"" \\065
*.garden.test CNAME portal.isp.example.
relative.test CNAME portal
wild.test CNAME *.portal.isp.example.
mx.test MX 10 mail.isp.example.
Bücher.test CNAME .
8.zz.ns.test.rpz-nsdname CNAME .
32.1.2.0.192.rpz-nsip CNAME .
32.1.2.0.192.rpz-client-ip CNAME .
24.0.2.0.192.rpz-ip CNAME *.
48.zz.db8.2001.rpz-ip A 192.0.2.80
33.0.2.0.192.rpz-ip CNAME .
"""


def test_every_action_kept() -> None:
    got, c = rules(ZONE)
    assert [(r.name, r.scope, r.action, r.rpz) for r in got if not r.network] == [
        ("nx.test", "exact", "block", "nxdomain"), ("nx.test", "below", "block", "nxdomain"),
        ("nodata.test", "exact", "block", "nodata"), ("drop.test", "exact", "block", "drop"),
        ("tcp.test", "exact", "block", "tcp-only"), ("pass.nx.test", "exact", "allow", "passthru"),
        ("local.test", "exact", "block", "local"), ("local.test", "exact", "block", "local"),
        ("local.test", "exact", "block", "local"), ("garden.test", "below", "block", "local"),
        ("relative.test", "exact", "block", "local"), ("xn--bcher-kva.test", "exact", "block", "nxdomain"),
    ]
    data = [r.data for r in got if r.rpz == "local" and not r.network]
    assert data == [
        ((1, bytes([192, 0, 2, 7])),),
        ((28, bytes.fromhex("20010db8000000000000000000000007")),),
        ((16, b"\x0ewalled; garden\x0dsecond \"part\"\x01A"),),
        ((5, wire_name("portal.isp.example")),),
        ((5, wire_name("portal.policy.example")),),  # a relative name is below $ORIGIN, as in any zone
    ]
    # wild.test's wildcard target, mx.test's MX, and the three other trigger kinds are unsupported;
    # the two name-server triggers are also counted on their own; /33 is no IPv4 network
    assert (c.skipped_unsupported, c.rpz_ns, c.invalid) == (5, 2, 1)
    nets = [(r.name, r.network, r.rpz, r.data) for r in got if r.network]
    assert nets == [("192.0.2.0/24", True, "nodata", ()),
                    ("2001:db8::/48", True, "local", ((1, bytes([192, 0, 2, 80])),))]


def test_common_lines_take_the_fast_path_with_the_same_result() -> None:
    fast, _ = rules("$ORIGIN z.\nA.Example.COM CNAME .\n")
    slow, _ = rules("$ORIGIN z.\nA.Example.COM 60 IN CNAME .\n")
    assert fast == slow == [Rule("a.example.com", "block", "exact", line=2, rpz="nxdomain")]


def test_txt_strings() -> None:
    assert txt_rdata('"a b" c') == b"\x03a b\x01c"
    assert txt_rdata('"\\255\\""') == b'\x02\xff"'
    for bad in ('"open', "", '"' + "x" * 256 + '"'):
        with pytest.raises(ValueError):
            txt_rdata(bad)


@pytest.mark.parametrize(("trigger", "network"), [
    ("32.1.2.0.192", "192.0.2.1/32"), ("24.0.2.0.192", "192.0.2.0/24"), ("8.0.0.0.10", "10.0.0.0/8"),
    ("128.1.zz.db8.2001", "2001:db8::1/128"), ("48.zz.db8.2001", "2001:db8::/48"),
    ("64.zz.1.db8.2001", "2001:db8:1::/64"),
    ("32.zz.1.db8.2001", None),  # host bits beyond the prefix: not a network
    ("33.1.2.0.192", None), ("24.0.2.0", None), ("x.1.2.3.4", None),
])
def test_ip_triggers(trigger: str, network: str | None) -> None:
    assert ip_trigger(trigger) == network
