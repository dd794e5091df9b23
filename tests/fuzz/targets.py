"""The fuzz targets: each takes the fuzzer's bytes and raises only when it finds a bug.

A target checks more than "no exception": what it is handed either fails the documented way
(WireError, ConfigError, UciError, a line counted invalid) or yields a result that holds its
contract (a reply that parses, echoes the question and fits the payload; a rule whose name
compiles; TOML the config loader reads). They run under atheris (tests/fuzz/one.py) and, without
it, over the seed corpora and the regression inputs (tests/fuzz/test_fuzz.py).
"""

from __future__ import annotations

import ipaddress
import json
import tomllib
from collections.abc import Callable, Iterator
from typing import Any

import dns.exception
import dns.message

from dnsfilter.config import ConfigError, from_dict
from dnsfilter.core.cache import Cache
from dnsfilter.core.dns import codec, scrub, wire
from dnsfilter.core.dns.notify import Notify, read_notify
from dnsfilter.core.dns.notify import reply as reply_notify
from dnsfilter.core.dns.rewrite import cname_reply
from dnsfilter.core.dns.wire import Query, WireError
from dnsfilter.core.engine import Engine, Forward, Send
from dnsfilter.core.policy.feedrules import SideRule, index_regexes
from dnsfilter.core.policy.feedset import wire_of
from dnsfilter.router import uci
from dnsfilter.router.uci_grammar import UciError
from dnsfilter.router.uci_grammar import parse as uci_parse
from dnsfilter.shell.upstream.base import Question, matches
from feeds.formats import RULE_PARSERS, adblock, detect
from feeds.parsers import ParseResult, detect_format, stream_names
from feeds.rules import Rule, RuleCounts
from feeds.table import _side_rule

Target = Callable[[bytes], None]


# ---------------------------------------------------------------- DNS: queries and replies


def check_reply(out: bytes, qid: int, question: bytes | None, max_size: int, client_view: bool = True
                ) -> wire.Response:
    """A reply we send: it parses (our walker and, unless it relays records a client could not
    read in the upstream's answer either, dnspython), answers `qid` and fits."""
    assert len(out) <= max_size, (len(out), max_size)
    r = wire.parse_response(out)
    assert r.id == qid
    if question is not None:
        assert out[12:12 + len(question)] == question, "question not echoed byte for byte"
    if not client_view:
        return r
    try:
        dns.message.from_wire(out, question_only=False)
    except dns.message.UnknownTSIGKey:
        pass
    except dns.exception.DNSException as e:  # dnspython is the client's view
        raise AssertionError(f"reply a client cannot read: {e!r}") from e
    return r


_BLOCKS = [codec.BlockAnswer("null"), codec.BlockAnswer("nxdomain"), codec.BlockAnswer("refused"),
           codec.BlockAnswer("ip", "192.0.2.1", "2001:db8::1")]
_EMPTY_CACHE_ENTRY = Cache().make_entry(
    wire.header(0, wire.F_QR, 1, 0, 0, 0) + b"\x00\x00\x01\x00\x01",
    wire.parse_response(wire.header(0, wire.F_QR, 1, 0, 0, 0) + b"\x00\x00\x01\x00\x01"), 0.0)


def fuzz_query(data: bytes) -> None:
    """The query reader and every reply builder on what it accepts."""
    try:
        q = wire.parse_query(data)
    except WireError as e:
        assert e.rcode in (None, wire.RCODE_FORMERR, wire.RCODE_NOTIMP)
        if e.rcode is not None:
            out = codec.error_from_header(data, e.rcode)
            if out is not None:
                assert len(out) == 12 and out[:2] == data[:2] and out[2] & 0x80
        return
    assert q.qname == q.question[:-4].lower() and wire.wire_to_text(q.qname) == q.name
    _same_as_dnspython(data, q)
    m = q.max_udp()
    assert 512 <= m <= 1232
    check_reply(codec.reply(q, wire.RCODE_NOERROR, max_size=m), q.id, q.question, m)
    check_reply(codec.reply(q, wire.RCODE_SERVFAIL, ede=(23, "upstream resolvers failed"), max_size=m),
                q.id, q.question, m)
    check_reply(codec.badvers(q), q.id, q.question, 65535)
    for b in _BLOCKS:
        check_reply(b.build(q, (15, "blocked \u2014 ads"), m), q.id, q.question, m)
    check_reply(codec.negative(q, wire.RCODE_NXDOMAIN, q.qname, 300, m), q.id, q.question, m)
    target = wire.text_to_wire("forcesafesearch.google.com")
    check_reply(cname_reply(q, target, _EMPTY_CACHE_ENTRY, 0.0, m), q.id, q.question, m)


def _same_as_dnspython(data: bytes, q: Query) -> None:
    """Where dnspython reads the same query, it reads the same question and EDNS."""
    try:
        m = dns.message.from_wire(data)
    except Exception:  # dnspython is stricter in places (trailing bytes, TSIG)
        return
    if len(m.question) != 1:
        return
    rrset = m.question[0]
    assert rrset.name.to_wire().lower() == q.qname, (rrset.name, q.qname)
    assert (rrset.rdtype, rrset.rdclass) == (q.qtype, q.qclass)
    assert (m.edns >= 0) == (q.edns is not None)
    if q.edns is not None:
        assert m.edns == q.edns.version and bool(m.ednsflags & 0x8000) == q.edns.do


# ---------------------------------------------------------------- the engine


_ENGINE: Engine | None = None
_CLIENTS = ("192.168.1.50", "192.168.1.2", "10.9.9.9", "::1", "fd00::5")


def engine() -> Engine:
    """One engine for the run (building one per input would be most of the time spent)."""
    global _ENGINE
    if _ENGINE is None:
        from dnsfilter.assemble import build_engine
        from dnsfilter.core.policy.feedset import B_SUB, FeedSet, build, text_key
        from dnsfilter.core.policy.matcher import Matcher

        def sets(*names: str) -> FeedSet:
            return FeedSet.from_buffer(b"".join(build((text_key(n.encode()), B_SUB) for n in names)))

        cfg = from_dict({
            "dns": {"allowed_clients": ["192.168.0.0/16", "127.0.0.0/8", "::1/128", "fd00::/8"],
                    "ratelimit_qps": 100000, "ratelimit_burst": 100000, "cache_size": 300,
                    "fastpath_size": 300, "max_inflight": 64},
            "feeds": [{"name": "ads", "url": "/a", "category": "ads"},
                      {"name": "gov", "url": "/c", "category": "authority"}],
            "filter": {"allow": ["ok.ads.test"], "deny": ["deny.test"]},
            "profiles": [{"name": "Kids", "block_categories": ["ads"], "safe_search": True}, {"name": "Adults"}],
            "defaults": {"profile": "Adults"},
            "devices": [{"ip": "192.168.1.50", "profile": "Kids"}],
        })
        _ENGINE = build_engine(cfg, Matcher({"ads": sets("ads.test", "tracker.test"), "gov": sets("banned.test")}))
    return _ENGINE


def _readable_notify(packet: bytes) -> Notify | None:
    try:
        return read_notify(packet)
    except WireError:
        return None


def fuzz_engine(data: bytes) -> None:
    """Engine.on_query end to end: first byte picks the client and the transport."""
    if not data:
        return
    eng = engine()
    ip = _CLIENTS[data[0] % len(_CLIENTS)]
    tcp = bool(data[0] & 0x80)
    packet = data[1:]
    now = float(data[0])
    for a in eng.on_query(packet, ip, "c", now, tcp=tcp, local_addr="127.0.0.1"):
        if isinstance(a, Send):
            try:
                q = wire.parse_query(packet)
            except WireError:  # FORMERR/NOTIMP from the header alone, or a NOTIFY's answer
                notify = _readable_notify(packet)
                if notify is not None:  # RFC 1996 4.7: its ID and opcode, QR set, the question echoed
                    assert a.wire in {reply_notify(notify, rc) for rc in (0, wire.RCODE_REFUSED, 9)}, a.wire.hex()
                    continue
                assert len(a.wire) == 12 and a.wire[:2] == packet[:2]
                continue
            check_reply(a.wire, q.id, q.question, 65535 if tcp else q.max_udp())
        else:
            assert isinstance(a, Forward)
            eng.on_upstream(a, None, now, "fuzz: no upstream")  # SERVFAIL to its waiters, bounds released
    assert eng.upstream.waiting == 0 and not eng.upstream.queries


# ---------------------------------------------------------------- upstream answers


_QUESTIONS = [Question(wire.text_to_wire(n), t, 1, do) for n, t, do in (
    ("www.example.test", wire.T_A, False), ("x.test", wire.T_A, False), ("www.example.test", wire.T_AAAA, True),
    ("cdn.example.test", wire.T_HTTPS, False), ("example.test", wire.T_MX, False), ("nope.test", wire.T_A, True),
    ("a.b.example.test", wire.T_TXT, False), ("example.test", wire.T_NS, False))]


def fuzz_upstream(data: bytes) -> None:
    """An upstream answer through the validator, the scrubber, the cache and the engine. The
    first byte picks the question asked; the rest is what came back."""
    if not data:
        return
    q = _QUESTIONS[data[0] % len(_QUESTIONS)]
    resp = data[1:]
    r = matches(resp, None, q)
    readable = _readable(resp)
    try:
        walked = wire.parse_response(resp)
    except WireError:
        assert r is None
        return
    clean = scrub.scrub(resp, walked)
    full = scrub.scrub_full(resp, walked)  # the shortcuts change nothing
    assert clean == full and (clean is resp) == (full is resp)
    if clean is not resp:
        _check_scrubbed(resp, walked, clean)
    if r is None:
        return
    # The engine: a client asks, the answer comes back; then the cached copy is served.
    eng = engine()
    query = wire.build_query(0x4242, q.qname, q.qtype, q.qclass, do=q.do)
    for now in (1000.0, 1001.0):
        acts = eng.on_query(query, "192.168.1.2", "c", now)
        fwd = [a for a in acts if isinstance(a, Forward)]
        if fwd:
            acts = eng.on_upstream(fwd[0], resp, now)
        asked = wire.parse_query(query)
        for a in acts:
            if isinstance(a, Send):
                check_reply(a.wire, 0x4242, asked.question, asked.max_udp(), readable)
    eng.cache.clear()  # the next input is asked upstream again


def _readable(data: bytes) -> bool:
    """dnspython reads it: the upstream's answer is one a client could read."""
    try:
        dns.message.from_wire(data)
    except Exception:  # any reason it cannot
        return False
    return True


def _names(buf: bytes, r: wire.Response) -> Iterator[tuple[int, bytes, int]]:
    for rec in r.records:
        yield rec.section, wire.record_name(buf, rec), rec.rtype


def _check_scrubbed(before: bytes, r0: wire.Response, after: bytes) -> None:
    """The scrubbed message parses, keeps the question, and holds only records it had."""
    r1 = wire.parse_response(after)
    assert (r1.id, r1.qname, r1.qtype, r1.qclass, r1.rcode) == (r0.id, r0.qname, r0.qtype, r0.qclass, r0.rcode)
    assert after[12:r1.question_end] == before[12:r0.question_end]
    had = set(_names(before, r0))
    kept = list(_names(after, r1))
    assert set(kept) <= had, set(kept) - had
    assert len(kept) <= len(r0.records)
    for sec, name, _t in kept:
        if sec == 1:
            assert name in scrub.chain_names(after, r1) or any(
                scrub.is_below(c, name) for c in scrub.chain_names(after, r1)), name


# ---------------------------------------------------------------- feeds


def _lines(data: bytes) -> list[str]:
    return data.decode("utf-8", "replace").splitlines(keepends=True)


def _check_rule(r: Rule) -> None:
    """What the compiler does with a rule must work: a name compiles to a key, a regex joins
    the feed's regex index."""
    if r.regex:
        assert r.name == ""
        side = SideRule.from_json(json.loads(json.dumps(_side_rule(r, 1))))
        index_regexes((side,))
        return
    if r.hashed:
        assert len(r.name) == 64 and int(r.name, 16) >= 0
        return
    wire.text_to_wire(r.name)  # 1-63 octet ASCII labels, 255 octets at most
    assert r.name == r.name.lower() and not r.name.endswith(".") and wire_of(r.name.encode())
    for c in (r.clients or ()) + (r.exclude_clients or ()):
        assert isinstance(c, str)
    for d in r.denyallow:
        wire.text_to_wire(d)


def _rules(fmt: str, data: bytes, **options: Any) -> None:
    counts = RuleCounts()
    lines = _lines(data)
    n = 0
    for rule in RULE_PARSERS[fmt](lines, counts, **options):
        _check_rule(rule)
        n += 1
    assert counts.rules == n and counts.lines == len(lines), (counts, n, len(lines))


def fuzz_adblock(data: bytes) -> None:
    lines = _lines(data)
    _rules("adblock", data, badfilter=adblock.badfilters(lines))


def fuzz_dnsmasq(data: bytes) -> None:
    _rules("dnsmasq", data)


def fuzz_rpz(data: bytes) -> None:
    _rules("rpz", data)


def fuzz_sha256(data: bytes) -> None:
    _rules("sha256", data)


def fuzz_csv(data: bytes) -> None:
    """The registry dump: the first byte picks the options (quoting, URL policy, raw bytes)."""
    if not data:
        return
    opts: dict[str, Any] = {"url_policy": "host" if data[0] & 1 else "skip",
                            "quotechar": '"' if data[0] & 2 else None, "skip_lines": data[0] >> 6}
    body = data[1:]
    counts = RuleCounts()
    lines: list[Any] = body.splitlines(keepends=True) if data[0] & 4 else _lines(body)
    for rule in RULE_PARSERS["csv"](lines, counts, **opts):
        _check_rule(rule)


def fuzz_hosts(data: bytes) -> None:
    """feeds.parsers: hosts and domains lists and the format detection of both modules."""
    lines = _lines(data)
    for guess, formats in ((detect_format, ("hosts", "domains")), (detect, tuple(RULE_PARSERS))):
        try:
            assert guess(lines) in formats
        except ValueError as e:  # the documented way to say "cannot tell"
            assert str(e)
    for fmt in ("hosts", "domains"):
        result = ParseResult()
        for name in stream_names(lines, fmt, result):
            wire.text_to_wire(name)
            assert name == name.lower() and "." in name
            try:
                ipaddress.ip_address(name)
            except ValueError:
                pass
            else:
                raise AssertionError(f"an address listed as a name: {name}")


# ---------------------------------------------------------------- router and config


def fuzz_uci(data: bytes) -> None:
    """/etc/config/dnsfilter → sections → TOML: a UciError, or TOML the config loader reads."""
    text = data.decode("utf-8", "replace")
    try:
        uci_parse(text)
        toml = uci.uci_to_toml(text)
    except UciError as e:
        assert str(e)
        return
    doc = tomllib.loads(toml)  # what we write must be TOML, whatever the UCI file held
    try:
        from_dict(doc)
    except ConfigError as e:
        assert str(e)


def fuzz_config(data: bytes) -> None:
    """config.toml → Config: a ConfigError naming its key, never anything else."""
    text = data.decode("utf-8", "replace")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return
    try:
        from_dict(doc, "fuzz.toml")
    except ConfigError as e:
        assert str(e)


TARGETS: dict[str, Target] = {
    "query": fuzz_query,
    "engine": fuzz_engine,
    "upstream": fuzz_upstream,
    "adblock": fuzz_adblock,
    "dnsmasq": fuzz_dnsmasq,
    "rpz": fuzz_rpz,
    "csv": fuzz_csv,
    "sha256": fuzz_sha256,
    "hosts": fuzz_hosts,
    "uci": fuzz_uci,
    "config": fuzz_config,
}
