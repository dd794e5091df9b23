"""Engine.first_sight: the UDP loop's blocked answers, decided and written straight from the
question bytes, are byte for byte what on_query answers and are logged and counted the same
way; allowed names go on (go_on) to the cache and upstream as on_query would send them; every
query it is not meant for (local, safe search, budgets, odd, with EDNS options…) is left to
on_query; time states and profiles hold for it as for the prebuilt answers."""

from __future__ import annotations

import struct
from pathlib import Path

import dnslib
import pytest

from dnsfilter.core.engine import Engine, Pending
from dnsfilter.core.policy.matcher import Matcher
from feeds.compile_rules import compile_feed, load_feed
from tests.support.engine import (
    CLIENT,
    ask,
    compiled,
    ede,
    forwards,
    hot_loop,
    make,
    q,
    reply_of,
    sends,
    upstream,
)
from tests.unit.core import test_engine_profiles as household


def slot_of(eng: Engine, ip: str = CLIENT, now: float = 0.0):
    """The client's fast slot, made as the daemon makes it: by a first query on the full path."""
    ask(eng, q("www.example.com"), now, ip)
    return eng.fast.clients[ip]


def full(eng: Engine, data: bytes, ip: str = CLIENT, now: float = 0.0) -> bytes:
    [s] = sends(eng.on_query(data, ip, "c", now))
    return s.wire


SHAPES = {
    "A": {"qtype": "A"},
    "AAAA": {"qtype": "AAAA"},
    "MX (no data)": {"qtype": "MX"},
    "HTTPS (no data)": {"qtype": 65},
    "no EDNS": {"edns": False},
    "DO": {"do": True},
    "CD and AD": {"cd": True, "ad": True},
    "small payload": {"payload": 512},
}
MODES = ["null", "nxdomain", "refused", "ip:192.0.2.99,2001:db8::99"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ["ads.test", "Deep.Sub.ADS.test", "denied.test", "banned.test"])
def test_the_answer_is_on_querys_to_the_byte(mode: str, shape: str, name: str) -> None:
    eng, ref = make({"block_mode": mode}), make({"block_mode": mode})
    slot = slot_of(eng)
    data = q(name, qid=0xBEEF, **SHAPES[shape])
    e = eng.first_sight(slot, data[2:], 5.0)
    assert e is not None
    assert data[:2] + e[0] == full(ref, data)
    blocked = eng.stats.outcomes["blocked"]
    assert blocked == 1 and e[3] is not None and e[3][3] == "blocked"
    slow = ref.qlog.take().slow
    assert e[3] == slow.records(len(slow))[-1][3]  # what the query log records: the same description


def test_the_ede_says_why() -> None:
    eng = make()
    slot = slot_of(eng)
    for name, code, text in (("x.ads.test", 15, "ads: on the list ads"),
                             ("banned.test", 16, "blocked by the authority list gov"),
                             ("denied.test", 15, "denied by the rule denied.test")):
        e = eng.first_sight(slot, q(name)[2:], 0.0)
        assert e is not None
        got_code, got_text = ede(dnslib.DNSRecord.parse(b"\x00\x01" + e[0]))
        # an authority list's text names the version in force too (docs/authority.md)
        assert got_code == code and (got_text == text or got_text.startswith(text + " version ")), got_text


def test_kept_in_the_table_from_its_second_sight_and_replayed_from_it() -> None:
    eng = make()
    slot = slot_of(eng)
    data = q("ads.test", qid=1)
    e = eng.first_sight(slot, data[2:], 0.0)
    assert data[2:] not in slot.table  # asked once: a scan of a list never fills the table
    again = eng.first_sight(slot, q("ads.test", qid=2)[2:], 0.0)
    assert again is not None and slot.table[data[2:]] == again and again[0] == e[0]
    other = q("ads.test", qid=3)
    assert hot_loop(eng, other) == other[:2] + e[0]  # replayed
    assert eng.stats.outcomes["blocked"] == 2


def test_names_asked_once_leave_the_table_empty() -> None:
    eng = make()
    slot = slot_of(eng)
    for i in range(500):
        assert eng.first_sight(slot, q(f"n{i}.ads.test")[2:], 0.0) is not None
    assert len(slot.table) <= 5 and eng.fast.declined >= 495  # the doorkeeper's rare false "seen"


def _opt(*opts: dnslib.EDNSOption, version: int = 0) -> bytes:
    r = dnslib.DNSRecord(dnslib.DNSHeader(id=9, rd=1), q=dnslib.DNSQuestion("ads.test", dnslib.QTYPE.A))
    r.add_ar(dnslib.EDNS0(udp_len=1232, version=version, opts=list(opts)))
    return bytes(r.pack())


PLAIN = q("ads.test", qid=9)
HDR = struct.Struct(">HHHHHH")
LEFT_TO_ON_QUERY = {
    "localhost": q("localhost"),
    "the appliance's name": q("dnsfilter.lan"),
    "a private reverse name": q("1.1.168.192.in-addr.arpa", "PTR"),
    "a cookie": _opt(dnslib.EDNSOption(10, b"12345678")),
    "a client subnet": _opt(dnslib.EDNSOption(8, struct.pack(">HBB", 1, 24, 0) + bytes([192, 168, 1]))),
    "EDNS version 1": _opt(version=1),
    "class CH": q("ads.test", "TXT", qclass=3),
    "a zone transfer": q("ads.test", "AXFR"),
    "MAILB": q("ads.test", 253),
    "trailing bytes": PLAIN + b"\x00",
    "two questions": HDR.pack(9, 0x0100, 2, 0, 0, 0) + PLAIN[12:] + PLAIN[12:],
    "a compressed name": HDR.pack(9, 0x0100, 1, 0, 0, 0) + b"\x03ads\xc0\x0c\x00\x01\x00\x01",
    "a name running past the end": PLAIN[:16],
    "a response": HDR.pack(9, 0x8100, 1, 0, 0, 0) + PLAIN[12:],
    "opcode NOTIFY": HDR.pack(9, 0x2000, 1, 0, 0, 0) + PLAIN[12:],
    "an answer record": HDR.pack(9, 0x0100, 1, 1, 0, 0) + PLAIN[12:],
    "a truncated OPT": PLAIN[:-3],
}


@pytest.mark.parametrize("what", LEFT_TO_ON_QUERY)
def test_left_to_on_query(what: str) -> None:
    eng = make()
    slot = slot_of(eng)
    assert eng.first_sight(slot, LEFT_TO_ON_QUERY[what][2:], 0.0) is None
    assert eng.stats.outcomes["blocked"] == 0 and not eng.qlog.slow.pos  # nothing decided, nothing logged


def test_the_plain_control_is_answered() -> None:
    """The queries above are the plain one with one thing changed: the plain one itself is taken."""
    eng = make()
    assert eng.first_sight(slot_of(eng), PLAIN[2:], 0.0) is not None


def test_traced_decisions_go_the_full_way() -> None:
    eng = make()
    lines: list[str] = []
    eng.trace = lines.append
    assert eng.first_sight(slot_of(eng), q("ads.test")[2:], 0.0) is None
    reply_of(ask(eng, q("ads.test")))
    assert len(lines) == 1 and "ads.test blocked" in lines[0]


def test_a_client_conditional_block_is_left_to_on_query(tmp_path: Path) -> None:
    src = tmp_path / "kids.txt"
    src.write_text("||kids.test^$client=192.168.1.0/24\n||ads.test^\n")
    compile_feed(src, "adblock", tmp_path / "kids.dset")
    eng = make()
    eng.policy.matcher = Matcher({"ads": load_feed(tmp_path / "kids.dset"), "gov": compiled("banned.test")})
    slot = slot_of(eng)
    assert eng.first_sight(slot, q("kids.test")[2:], 0.0) is None  # its answer depends on the address
    assert str(reply_of(ask(eng, q("kids.test"))).rr[0].rdata) == "0.0.0.0"
    assert eng.first_sight(slot, q("ads.test")[2:], 0.0) is not None


def test_schedules_hold_for_first_sights() -> None:
    eng = household.make()
    kid, adult = household.KID, household.ADULT
    homework, night, saturday = household.at(16), household.at(21, 30), household.at(16, day=14)
    ask(eng, q("www.example.com"), homework, kid)
    out = hot_loop(eng, q("somegame.test"), kid, homework)  # Tuesday 16:00: games are blocked
    assert out is not None and "homework" in ede(dnslib.DNSRecord.parse(out))[1]
    eng.tick(night)  # the homework state ended: the slot goes, the next query makes a new one
    for ip in (kid, adult):
        ask(eng, q("www.example.com"), night, ip)
    out = hot_loop(eng, q("new.example.org"), kid, night)  # never asked before: bedtime blocks it
    assert out is not None and "bedtime" in ede(dnslib.DNSRecord.parse(out))[1]
    assert hot_loop(eng, q("new.example.org"), adult, night) is None  # allowed: on_query forwards it
    eng.tick(saturday)
    ask(eng, q("www.example.com"), saturday, kid)
    assert hot_loop(eng, q("somegame.test"), kid, saturday) is None  # no homework on Saturday


def test_a_budget_name_reaches_the_counter() -> None:
    eng = household.make()
    ask(eng, q("www.example.com"), household.at(10), household.KID)
    assert hot_loop(eng, q("rr1.googlevideo.com"), household.KID, household.at(10)) is None


def test_profiles_keep_their_own_answers() -> None:
    eng = household.make()
    for ip in (household.KID, household.ADULT):
        ask(eng, q("www.example.com"), household.at(12), ip)
    tiktok = q("www.tiktok.com")
    assert hot_loop(eng, tiktok, household.KID, household.at(12)) is not None  # Kids block the service
    assert hot_loop(eng, tiktok, household.ADULT, household.at(12)) is None


def test_an_allowed_name_goes_on_as_on_query_would() -> None:
    eng, ref = make(), make()
    slot = slot_of(eng)
    slot_of(ref)
    plain = q("news.example.org", qid=0x4242, edns=False)
    p = eng.first_sight(slot, plain[2:], 1.0)
    assert isinstance(p, Pending)
    [fwd] = forwards(eng.go_on(p, 0x4242, "c", 1.0))
    [want] = forwards(ask(ref, plain, 1.0))
    assert fwd == want
    zone = "news.example.org. 300 A 192.0.2.7"
    got = sends(eng.on_upstream(fwd, upstream(fwd, zone), 1.5))
    assert [s.wire for s in got] == [s.wire for s in sends(ref.on_upstream(want, upstream(want, zone), 1.5))]
    # the same name asked with EDNS (another question, the same cache entry): a cache hit
    with_edns = q("news.example.org", qid=0x4343)
    p = eng.first_sight(slot, with_edns[2:], 3.0)
    assert isinstance(p, Pending)
    assert [s.wire for s in sends(eng.go_on(p, 0x4343, "c", 3.0))] == [full(ref, with_edns, now=3.0)]
    assert eng.stats.outcomes == ref.stats.outcomes and eng.cache.hits == ref.cache.hits == 1


def test_safe_search_goes_the_full_way() -> None:
    eng = household.make()
    ask(eng, q("www.example.com"), household.at(12), household.KID)
    slot = eng.fast.clients[household.KID]
    assert eng.first_sight(slot, q("www.google.kz")[2:], household.at(12)) is None


def test_a_neighbour_change_seen_first_by_a_query_drops_the_slots() -> None:
    """The neighbour table changed, and a query (not the tick) is first to notice: the slots of
    the old identities go too, or a device's old profile would go on answering from the loop."""
    nb = household.Neighbours({"192.168.1.77": "02:11:22:33:44:55"})  # the Kids' phone
    eng = household.make(nb)
    now = household.at(12)
    tiktok = q("www.tiktok.com")
    assert str(reply_of(eng.on_query(tiktok, "192.168.1.77", "c", now)).rr[0].rdata) == "0.0.0.0"
    assert hot_loop(eng, tiktok, "192.168.1.77", now) is not None  # Kids: blocked from the loop
    nb.table = {}  # the phone left; the address now belongs to nobody known (Adults)
    nb.version += 1
    eng.on_query(q("www.example.com"), household.ADULT, "c", now)  # another client asks first
    eng.tick(now)
    assert hot_loop(eng, tiktok, "192.168.1.77", now) is None
    assert forwards(eng.on_query(tiktok, "192.168.1.77", "c", now))  # Adults: tiktok allowed


def test_a_slot_from_an_ended_time_state_decides_nothing_before_the_tick() -> None:
    """The tick drops slots whose state ended once a second; a first sight in between must not
    decide by the state that ended (homework over, bedtime begun): the full path does."""
    eng = household.make()
    kid, homework, night = household.KID, household.at(16), household.at(21, 30)
    ask(eng, q("www.example.com"), homework, kid)
    slot = eng.fast.clients[kid]
    assert eng.first_sight(slot, q("somegame.test")[2:], homework) is not None
    assert eng.first_sight(slot, q("somegame.test")[2:], night) is None  # no tick yet
    r = reply_of(ask(eng, q("somegame.test"), night, kid))
    assert "bedtime" in ede(r)[1]


def test_a_first_sight_block_is_replayed_no_later_than_its_time_state() -> None:
    """The entry a blocked first sight makes carries the end of the device's time state (read
    with the state check), as on_query's entries do: past it the loop asks the engine again."""
    eng = household.make()
    kid, homework = household.KID, household.at(16)
    ask(eng, q("www.example.com"), homework, kid)
    slot = eng.fast.clients[kid]
    e = eng.first_sight(slot, q("somegame.test")[2:], homework)
    assert e is not None and homework < e[1] == eng._ends(slot.device) < float("inf")
    plain = make()
    slot = slot_of(plain)
    e = plain.first_sight(slot, q("ads.test")[2:], 0.0)
    assert e is not None and e[1] == plain._ends(slot.device)  # at the latest the hourly recomputation
