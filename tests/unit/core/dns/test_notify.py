"""NOTIFY (RFC 1996) for xfr:// feeds as a pure decision: the zone, its primary, its key
(core/dns/notify.py), and the engine's answer (core/engine.py)."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.tsigkeyring
import pytest

from dnsfilter.assemble import build_engine
from dnsfilter.config import from_dict
from dnsfilter.core.dns import wire
from dnsfilter.core.dns.notify import NotifyPolicy, NotifyZone, read_notify
from dnsfilter.core.dns.wire import WireError
from dnsfilter.core.engine import Send, SyncFeed
from dnsfilter.core.policy.matcher import Matcher

ZONE = wire.text_to_wire("policy.example")
SECRET = "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="


def notify(zone: str = "policy.example", key: str | None = None, qtype: str = "SOA") -> bytes:
    m = dns.message.make_query(zone, qtype)
    m.set_opcode(dns.opcode.NOTIFY)
    m.flags |= dns.flags.AA
    if key is not None:
        m.use_tsig(dns.tsigkeyring.from_text({key: ("hmac-sha256", SECRET)}), key)
    return m.to_wire()


def answer(data: bytes) -> tuple[int, int, bool, bytes]:
    """(rcode, opcode, QR, question bytes) of a reply."""
    return data[3] & 0xF, (data[2] >> 3) & 0xF, bool(data[2] & 0x80), data[12:]


def test_read_notify() -> None:
    n = read_notify(notify("Policy.Example", key="k1"))
    assert n.zone == ZONE and n.key == "k1"
    assert read_notify(notify()).key is None
    with pytest.raises(WireError):
        read_notify(notify(qtype="A"))  # a NOTIFY names a zone's SOA
    with pytest.raises(WireError):
        read_notify(dns.message.make_query("policy.example", "SOA").to_wire())  # a query, not a NOTIFY


def test_accepted_only_for_the_zone_from_its_primary() -> None:
    p = NotifyPolicy({ZONE: NotifyZone("isp", "127.0.0.1")})
    d = p.decide(notify(), "127.0.0.1")
    assert (d.result, d.feed) == ("accepted", "isp")
    rcode, opcode, qr, question = answer(d.reply)
    assert (rcode, opcode, qr) == (0, 4, True) and question == notify()[12:]  # RFC 1996: the question echoed
    assert p.decide(notify(), "::ffff:127.0.0.1").result == "accepted"  # a dual-stack socket's form of it
    for data, source, result in ((notify(), "127.0.0.2", "wrong_source"),
                                 (notify("other.example"), "127.0.0.1", "unknown_zone")):
        d = p.decide(data, source)
        assert (d.result, d.feed, answer(d.reply)[0]) == (result, None, dns.rcode.REFUSED)


def test_a_signed_zone_needs_its_key_and_a_verifier() -> None:
    calls = []

    def verifier(data: bytes, zone: NotifyZone) -> bytes | None:
        calls.append(zone.key)
        return b"signed answer" if zone.key == "k1" else None

    p = NotifyPolicy({ZONE: NotifyZone("isp", "127.0.0.1", "k1")})
    assert p.decide(notify(key="k1"), "127.0.0.1").result == "bad_tsig"  # no verifier: fails closed
    p.verifier = verifier
    d = p.decide(notify(key="k1"), "127.0.0.1")
    assert (d.result, d.feed, d.reply) == ("accepted", "isp", b"signed answer")
    for data in (notify(), notify(key="k2")):  # unsigned, or another key: refused before any HMAC
        d = p.decide(data, "127.0.0.1")
        assert (d.result, answer(d.reply)[0]) == ("bad_tsig", 9)  # NOTAUTH
    assert calls == ["k1"]


def test_the_shells_verifier_checks_the_mac(tmp_path) -> None:
    import base64

    from dnsfilter.shell.notify_tsig import TsigVerifier

    v = TsigVerifier({"k1": ("hmac-sha256", base64.b64decode(SECRET))})
    zone = NotifyZone("isp", "127.0.0.1", "k1")
    signed = v(notify(key="k1"), zone)
    assert signed is not None
    r = dns.message.from_wire(signed, keyring=False)
    assert r.opcode() == dns.opcode.NOTIFY and r.had_tsig and r.flags & dns.flags.QR
    other = TsigVerifier({"k1": ("hmac-sha256", b"another secret, the same key name")})
    assert other(notify(key="k1"), zone) is None
    tampered = bytearray(notify(key="k1"))
    tampered[13] ^= 0x20  # "Policy": the question changed under the same MAC
    assert v(bytes(tampered), zone) is None


def test_the_engine_answers_and_asks_for_a_sync() -> None:
    cfg = from_dict({"dns": {"allowed_clients": ["192.168.0.0/16"]},
                     "feeds": [{"name": "isp", "url": "xfr://192.0.2.53/policy.example"}]})
    eng = build_engine(cfg, Matcher({}))
    out = eng.on_query(notify(), "192.0.2.53", "c", 0.0)
    assert [type(a) for a in out] == [Send, SyncFeed] and out[1].feed == "isp"
    out = eng.on_query(notify(), "192.168.1.2", "c", 0.0)  # from a client, not the primary
    assert [type(a) for a in out] == [Send] and answer(out[0].wire)[0] == dns.rcode.REFUSED
    assert dict(eng.stats.notify) == {"accepted": 1, "wrong_source": 1}
    assert eng.fast.installed == 0  # never replayed from the fast path
