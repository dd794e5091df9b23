"""The engine with profiles, on a fake clock: safe search answers (CNAME + the target's
records), schedules and pauses that take effect on prebuilt fast-path answers, budgets
that count per device and block after, MAC identity from a neighbour snapshot, and EDNS
client hints from a trusted forwarder."""

from __future__ import annotations

import datetime as dt
import struct
import zoneinfo

import dnslib

from dnsfilter.assemble import build_engine
from dnsfilter.config import from_dict
from dnsfilter.core.engine import Engine
from dnsfilter.core.policy.matcher import Matcher
from tests.support.engine import compiled, ede, forwards, hot_loop, q, reply_of, sends, upstream

TZ = zoneinfo.ZoneInfo("Asia/Almaty")
KID, KID2, ADULT = "192.168.1.20", "192.168.1.21", "192.168.1.30"


def at(hh: int, mm: int = 0, day: int = 10) -> float:
    return dt.datetime(2026, 3, day, hh, mm, tzinfo=TZ).timestamp()


class Neighbours:
    """A neighbour snapshot as the shell keeps it: a dict and a version."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = dict(table)
        self.version = 1

    def mac_of(self, ip: str) -> str | None:
        return self.table.get(ip)


def make(neighbours: Neighbours | None = None, **profile) -> Engine:
    cfg = {
        "general": {"timezone": "Asia/Almaty"},
        "dns": {"allowed_clients": ["192.168.0.0/16", "127.0.0.0/8"]},
        "network": {"trusted_forwarders": ["127.0.0.1"]},
        "feeds": [{"name": "ads", "url": "/a", "category": "ads"}, {"name": "games", "url": "/g", "category": "games"}],
        "defaults": {"profile": "Adults"},
        "profiles": [
            {"name": "Kids", "block_categories": ["ads"], "block_services": ["tiktok"], "safe_search": True,
             "budgets": {"youtube": "2m"},
             "schedules": [{"name": "bedtime", "days": ["daily"], "start": "21:00", "end": "07:00", "block": "all"},
                           {"name": "homework", "days": ["weekdays"], "start": "15:00", "end": "18:00",
                            "block": ["games"]}],
             **profile},
            {"name": "Adults", "block_categories": ["ads"]},
        ],
        "devices": [{"name": "tablet", "ip": KID, "profile": "Kids"},
                    {"name": "tablet2", "ip": KID2, "profile": "Kids"},
                    {"name": "phone", "mac": "02:11:22:33:44:55", "profile": "Kids"}],
    }
    m = Matcher({"ads": compiled("ads.test"), "games": compiled("somegame.test")})
    return build_engine(from_dict(cfg), m, neighbours=neighbours)


def answer(eng: Engine, name: str, ip: str, now: float, qtype: str = "A", *zone: str) -> dnslib.DNSRecord:
    acts = eng.on_query(q(name, qtype), ip, "c", now)
    fw = forwards(acts)
    if fw:
        acts = eng.on_upstream(fw[0], upstream(fw[0], *zone), now)
    return reply_of(acts)


def fast_answer(eng: Engine, name: str, ip: str, now: float) -> dnslib.DNSRecord | None:
    """What the UDP hot loop would send without calling on_query (None: on_query answers)."""
    out = hot_loop(eng, q(name), ip, now)
    return None if out is None else dnslib.DNSRecord.parse(out)


def test_safe_search_answer_is_a_cname_and_the_target_records():
    eng = make()
    now = at(12)
    acts = eng.on_query(q("www.google.kz"), KID, "c", now)
    fw = forwards(acts)
    assert len(fw) == 1 and fw[0].qname == b"\x0fforcesafesearch\x06google\x03com\x00"
    r = reply_of(eng.on_upstream(fw[0], upstream(fw[0], "forcesafesearch.google.com. 300 A 216.239.38.120"), now))
    assert [(str(rr.rname), dnslib.QTYPE[rr.rtype], str(rr.rdata)) for rr in r.rr] == [
        ("www.google.kz.", "CNAME", "forcesafesearch.google.com."),
        ("forcesafesearch.google.com.", "A", "216.239.38.120")]
    assert str(r.q.qname) == "www.google.kz."
    # the second ask comes from the cache entry of the target
    r2 = reply_of(eng.on_query(q("www.google.kz"), KID, "c", now + 5))
    assert [dnslib.QTYPE[rr.rtype] for rr in r2.rr] == ["CNAME", "A"] and r2.rr[1].ttl <= 300
    assert eng.stats.outcomes["rewritten"] == 2
    # an Adults device asks upstream for the name itself
    fw = forwards(eng.on_query(q("www.google.kz"), ADULT, "c", now))
    assert fw and fw[0].qname.startswith(b"\x03www\x06google\x02kz")


def test_bedtime_starts_on_time_even_for_prebuilt_answers():
    eng = make()
    r = answer(eng, "www.example.com", KID, at(20, 59), "A", "www.example.com. 86400 A 192.0.2.1")
    assert r.rr[0].rdata == dnslib.A("192.0.2.1")
    assert fast_answer(eng, "www.example.com", KID, at(20, 59) + 0.5) is not None
    eng.tick(at(21, 0))
    assert fast_answer(eng, "www.example.com", KID, at(21, 0)) is None  # the slot was dropped
    r = reply_of(eng.on_query(q("www.example.com"), KID, "c", at(21, 0)))
    assert str(r.rr[0].rdata) == "0.0.0.0" and ede(r)[0] == 17 and "bedtime" in ede(r)[1]
    # the Adults device is untouched and morning lifts it
    assert fast_answer(eng, "www.example.com", KID, at(21, 1)) is not None  # the blocked answer, prebuilt
    eng.tick(at(7, 0, day=11))
    r = reply_of(eng.on_query(q("www.example.com"), KID, "c", at(7, 0, day=11)))
    assert str(r.rr[0].rdata) == "192.0.2.1"


def test_homework_blocks_the_listed_category_only():
    eng = make()
    r = reply_of(eng.on_query(q("somegame.test"), KID, "c", at(16)))  # Tuesday 16:00
    assert str(r.rr[0].rdata) == "0.0.0.0" and "homework" in ede(r)[1]
    assert forwards(eng.on_query(q("www.example.com"), KID, "c", at(16)))
    assert forwards(eng.on_query(q("somegame.test"), KID, "c", at(16, day=14)))  # Saturday: no homework


def test_budget_counts_distinct_minutes_per_device_then_blocks_until_midnight():
    eng = make()
    zone = "rr1.googlevideo.com. 300 A 192.0.2.50"
    assert answer(eng, "rr1.googlevideo.com", KID, at(10), "A", zone).rr  # minute 1
    assert eng.fast.clients[KID].table.get(q("rr1.googlevideo.com")[2:]) is None  # counted names stay slow
    assert reply_of(eng.on_query(q("rr1.googlevideo.com"), KID, "c", at(10) + 20)).rr[0].rdata  # same minute
    r = reply_of(eng.on_query(q("rr1.googlevideo.com"), KID, "c", at(10, 1)))  # minute 2: spent now
    assert str(r.rr[0].rdata) == "192.0.2.50"
    r = reply_of(eng.on_query(q("i.ytimg.com"), KID, "c", at(10, 2)))
    assert str(r.rr[0].rdata) == "0.0.0.0" and ede(r) == (17, "daily limit reached for youtube")
    # another Kids device has its own budget
    assert forwards(eng.on_query(q("i.ytimg.com"), KID2, "c", at(10, 2)))
    # a new local day gives the budget back (after bedtime, which holds from 21:00 to 07:00)
    eng.tick(at(7, 0, day=11))
    assert forwards(eng.on_query(q("s.ytimg.com"), KID, "c", at(7, 0, day=11)))


def test_pause_blocks_a_profile_until_it_ends():
    eng = make()
    now = at(12)
    answer(eng, "www.example.com", KID, now, "A", "www.example.com. 3600 A 192.0.2.1")
    eng.time.pauses.pause("profile:Kids", now + 600)
    eng.forget_all()
    r = reply_of(eng.on_query(q("www.example.com"), KID, "c", now + 1))
    assert str(r.rr[0].rdata) == "0.0.0.0" and "paused" in ede(r)[1]
    eng.tick(now + 601)
    r = reply_of(eng.on_query(q("www.example.com"), KID, "c", now + 601))
    assert str(r.rr[0].rdata) == "192.0.2.1"


def test_mac_identity_follows_the_device_across_addresses():
    nb = Neighbours({"192.168.1.77": "02:11:22:33:44:55"})
    eng = make(nb)
    r = reply_of(eng.on_query(q("www.tiktok.com"), "192.168.1.77", "c", at(12)))
    assert str(r.rr[0].rdata) == "0.0.0.0"  # Kids by MAC
    # the device moves to a new IPv4 address and to IPv6: same MAC, same profile
    nb.table = {"192.168.1.78": "02:11:22:33:44:55", "fd00::78": "02:11:22:33:44:55"}
    nb.version += 1
    eng.tick(at(12))
    for ip in ("192.168.1.78",):
        r = reply_of(eng.on_query(q("www.tiktok.com"), ip, "c", at(12)))
        assert str(r.rr[0].rdata) == "0.0.0.0"
    # the old address now belongs to nobody known: the default profile (Adults)
    assert forwards(eng.on_query(q("www.tiktok.com"), "192.168.1.77", "c", at(12)))


def test_trusted_forwarder_ecs_address_finds_the_mac_in_the_neighbour_table():
    # dnsmasq --add-subnet=32,128 on the same router: only the address comes; the neighbour
    # table gives the MAC, and the MAC gives the profile (the phone has no ip rule)
    eng = make(Neighbours({"192.168.1.77": "02:11:22:33:44:55"}))
    ecs = struct.pack(">HBB", 1, 32, 0) + bytes([192, 168, 1, 77])
    rec = dnslib.DNSRecord.parse(q("www.tiktok.com"))
    rec.ar = [dnslib.EDNS0(udp_len=1232, opts=[dnslib.EDNSOption(8, ecs)])]
    r = reply_of(eng.on_query(bytes(rec.pack()), "127.0.0.1", "c", at(12)))
    assert str(r.rr[0].rdata) == "0.0.0.0"
    # an address the table does not know stays on the default profile (Adults: tiktok allowed)
    rec.ar = [dnslib.EDNS0(udp_len=1232, opts=[dnslib.EDNSOption(8, ecs[:4] + bytes([192, 168, 1, 78]))])]
    assert forwards(eng.on_query(bytes(rec.pack()), "127.0.0.1", "c", at(12)))


def test_trusted_forwarder_names_the_client_with_the_dnsmasq_mac_option():
    eng = make()
    rec = dnslib.DNSRecord.parse(q("www.tiktok.com"))
    rec.ar = [dnslib.EDNS0(udp_len=1232, opts=[dnslib.EDNSOption(65001, bytes.fromhex("021122334455"))])]
    data = bytes(rec.pack())
    r = reply_of(eng.on_query(data, "127.0.0.1", "c", at(12)))
    assert str(r.rr[0].rdata) == "0.0.0.0"  # Kids, by the MAC the forwarder passed on
    assert "127.0.0.1" not in eng.fast.clients  # a forwarder's slot would mix its clients
    # an untrusted sender cannot claim a MAC
    r = eng.on_query(data, ADULT, "c", at(12))
    assert forwards(r) and not sends(r)
