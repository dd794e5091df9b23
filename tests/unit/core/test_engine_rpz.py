"""A list compiled from a Response Policy Zone answers each trigger as the zone says, with its
category's EDE, and the fast path replays only what may be replayed (issue 20, section 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dnsfilter.assemble import build_engine
from dnsfilter.config import from_dict
from dnsfilter.core.engine import Engine
from dnsfilter.core.policy.matcher import Matcher
from feeds.compile_rules import compile_feed, load_feed
from tests.support.engine import CLIENT, ask, ede, forwards, q, reply_of, sends, upstream

ZONE = """\
$ORIGIN policy.example.
@ SOA localhost. root.localhost. 7 3600 600 86400 60
nx.test CNAME .
*.nx.test CNAME .
pass.nx.test CNAME rpz-passthru.
nodata.test CNAME *.
drop.test CNAME rpz-drop.
tcp.test CNAME rpz-tcp-only.
local.test A 192.0.2.7
local.test AAAA 2001:db8::7
local.test TXT "walled garden"
garden.test CNAME portal.isp.example.
mixed.test CNAME .
*.mixed.test CNAME *.
32.77.100.51.198.rpz-ip CNAME .
24.0.0.10.rpz-ip CNAME *.
"""


@pytest.fixture()
def eng(tmp_path: Path) -> Engine:
    src = tmp_path / "zone.rpz"
    src.write_text(ZONE)
    sets = {}
    for name in ("isp", "gov", "kids"):
        compile_feed(src, "rpz", tmp_path / f"{name}.dset")
        sets[name] = load_feed(tmp_path / f"{name}.dset")
    cfg = from_dict({
        "dns": {"allowed_clients": ["192.168.0.0/16"], "block_ttl": 30},
        "feeds": [{"name": "isp", "url": "/a", "format": "rpz", "category": "malware"}],
    })
    return build_engine(cfg, Matcher({"isp": sets["isp"]}))


def test_nxdomain_nodata_and_their_ede(eng: Engine) -> None:
    r = reply_of(ask(eng, q("nx.test")))
    assert r.header.rcode == 3 and not r.rr and ede(r)[0] == 15
    r = reply_of(ask(eng, q("deep.below.nx.test", "AAAA")))
    assert r.header.rcode == 3
    r = reply_of(ask(eng, q("nodata.test")))
    assert r.header.rcode == 0 and not r.rr and ede(r)[0] == 15
    # `mixed.test` and `*.mixed.test` say different things, each kept
    assert reply_of(ask(eng, q("mixed.test"))).header.rcode == 3
    r = reply_of(ask(eng, q("a.mixed.test")))
    assert r.header.rcode == 0 and not r.rr


def test_passthru_is_resolved(eng: Engine) -> None:
    [fwd] = forwards(ask(eng, q("pass.nx.test")))
    r = reply_of(eng.on_upstream(fwd, upstream(fwd, "pass.nx.test. 60 IN A 192.0.2.80"), 0.0))
    assert [str(x.rdata) for x in r.rr] == ["192.0.2.80"] and ede(r) is None
    # a name below it: the owner `pass.nx.test` shields it from `*.nx.test` (a policy zone is read
    # as a DNS zone, as BIND and Unbound read it: docs/rpz.md, "Nodes")
    assert forwards(ask(eng, q("x.pass.nx.test")))
    assert reply_of(ask(eng, q("x.other.nx.test"))).header.rcode == 3


def test_drop_sends_nothing_and_is_never_replayed(eng: Engine) -> None:
    data = q("drop.test", qid=9)
    for _ in range(3):
        assert ask(eng, data) == []
    assert data[2:] not in eng.fast.tables.get("Default", {})
    assert eng.stats.outcomes["blocked"] == 3


def test_tcp_only_truncates_udp_and_lets_tcp_through(eng: Engine) -> None:
    data = q("tcp.test")
    r = reply_of(ask(eng, data))
    assert r.header.tc == 1 and r.header.rcode == 0 and not r.rr
    assert eng.fast.tables["Default"][data[2:]][0] == sends(ask(eng, data))[0].wire[2:]  # replayed as is
    [fwd] = forwards(ask(eng, data, tcp=True))
    r = reply_of(eng.on_upstream(fwd, upstream(fwd, "tcp.test. 60 IN A 192.0.2.81"), 0.0))
    assert [str(x.rdata) for x in r.rr] == ["192.0.2.81"] and r.header.tc == 0


def test_local_data_answered_as_written(eng: Engine) -> None:
    r = reply_of(ask(eng, q("local.test", "A")))
    assert [(x.rtype, str(x.rdata), x.ttl) for x in r.rr] == [(1, "192.0.2.7", 30)] and ede(r)[0] == 15
    r = reply_of(ask(eng, q("local.test", "AAAA")))
    assert [str(x.rdata) for x in r.rr] == ["2001:db8::7"]
    r = reply_of(ask(eng, q("local.test", "TXT")))
    assert [str(x.rdata) for x in r.rr] == ['"walled garden"']
    r = reply_of(ask(eng, q("local.test", "MX")))  # no record of that type: NODATA
    assert r.header.rcode == 0 and not r.rr


def test_local_cname_to_a_walled_garden_is_followed(eng: Engine) -> None:
    acts = ask(eng, q("garden.test", "A"))
    [fwd] = forwards(acts)
    assert fwd.qname == b"\x06portal\x03isp\x07example\x00"
    r = reply_of(eng.on_upstream(fwd, upstream(fwd, "portal.isp.example. 60 IN A 192.0.2.99"), 0.0))
    assert [(x.rtype, str(x.rdata)) for x in r.rr] == [(5, "portal.isp.example."), (1, "192.0.2.99")]
    assert ede(r)[0] == 15 and eng.stats.outcomes["rewritten"] == 1
    r = reply_of(ask(eng, q("garden.test", "CNAME")))  # asked for the CNAME itself: the record
    assert [str(x.rdata) for x in r.rr] == ["portal.isp.example."]


@pytest.mark.parametrize(("category", "code"), [("authority", 16), ("ads", 15), ("adult", 17)])
def test_each_block_keeps_its_categorys_ede(tmp_path: Path, category: str, code: int) -> None:
    src = tmp_path / "zone.rpz"
    src.write_text(ZONE)
    compile_feed(src, "rpz", tmp_path / "f.dset")
    cfg = from_dict({"dns": {"allowed_clients": ["192.168.0.0/16"]},
                     "feeds": [{"name": "f", "url": "/a", "format": "rpz", "category": category}]})
    e = build_engine(cfg, Matcher({"f": load_feed(tmp_path / "f.dset")}))
    for name in ("nx.test", "nodata.test", "tcp.test", "local.test"):
        assert ede(reply_of(ask(e, q(name))))[0] == code, name


def test_a_cname_chain_into_a_dropped_name_is_dropped(eng: Engine) -> None:
    [fwd] = forwards(ask(eng, q("www.example.com")))
    out = eng.on_upstream(fwd, upstream(fwd, "www.example.com. 60 IN CNAME drop.test.",
                                        "drop.test. 60 IN A 192.0.2.1"), 0.0)
    assert sends(out) == []
    assert ask(eng, q("www.example.com"), ip=CLIENT) == []  # from the cache: dropped too


def test_an_answer_with_a_listed_address_gets_the_ip_triggers_action(eng: Engine) -> None:
    """rpz-ip: the zone's IP triggers are the set's response-IP rules, with the zone's action."""
    [fwd] = forwards(ask(eng, q("www.example.com")))
    r = reply_of(eng.on_upstream(fwd, upstream(fwd, "www.example.com. 60 IN A 198.51.100.77"), 0.0))
    assert r.header.rcode == 3 and not r.rr and ede(r)[0] == 15
    [fwd] = forwards(ask(eng, q("other.example.com")))
    r = reply_of(eng.on_upstream(fwd, upstream(fwd, "other.example.com. 60 IN A 198.51.100.78"), 0.0))
    assert [str(x.rdata) for x in r.rr] == ["198.51.100.78"]
    # 10.0.0.0/24 CNAME *. is a second action for the zone's IP triggers: not enforced (counted)
    [fwd] = forwards(ask(eng, q("lan.example.com")))
    r = reply_of(eng.on_upstream(fwd, upstream(fwd, "lan.example.com. 60 IN A 10.0.0.5"), 0.0))
    assert [str(x.rdata) for x in r.rr] == ["10.0.0.5"]


@pytest.mark.parametrize("name", ["nodata.test", "drop.test", "local.test", "garden.test", "tcp.test", "nx.test"])
def test_the_hot_loop_leaves_a_zone_s_own_actions_to_the_full_path(eng: Engine, name: str) -> None:
    """The UDP loop's first sight writes the configured block mode from the bytes: never for a
    trigger whose zone says how to answer (it would turn a NODATA or a walled garden into the
    block mode's answer, and send what should be dropped)."""
    ask(eng, q("www.example.com"))
    slot = eng.fast.clients[CLIENT]
    assert eng.first_sight(slot, q(name)[2:], 0.0) is None
