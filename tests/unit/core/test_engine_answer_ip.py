"""Response-IP rules in the engine (policy/netset.py, Engine._answer): an upstream answer whose
A/AAAA address lies in a network a feed lists is blocked with that feed's EDE and reason, from
the upstream answer and from the cache alike; the fast path replays such a block only until the
answer expires, and never an answer that was not checked; explicitly allowed names are still
held to authority networks; with no network anywhere nothing is checked."""

from __future__ import annotations

from dnsfilter.assemble import build_engine
from dnsfilter.config import from_dict
from dnsfilter.core.engine import Engine
from dnsfilter.core.policy.feedset import B_SUB, FeedSet, build, text_key
from dnsfilter.core.policy.matcher import Matcher
from dnsfilter.core.policy.netset import image, network_range
from tests.support.engine import CLIENT, ask, ede, forwards, q, reply_of, resolve, sends, upstream


def feed(names: tuple[str, ...] = (), nets: tuple[str, ...] = ()) -> FeedSet:
    v4 = [network_range(n)[1] for n in nets if ":" not in n]
    v6 = [network_range(n)[1] for n in nets if ":" in n]
    return FeedSet.from_buffer(b"".join(build([(text_key(n.encode()), B_SUB) for n in names],
                                              nets=image(v4, v6) if nets else b"")))


def make(profiles: bool = True) -> Engine:
    cfg = {"dns": {"allowed_clients": ["192.168.0.0/16"]},
           "feeds": [{"name": "gov", "url": "/g", "category": "authority", "legal_basis": "Law 1 art. 2"},
                     {"name": "bad", "url": "/b", "category": "malware"},
                     {"name": "ads", "url": "/a", "category": "ads"}],
           "devices": [{"name": "kid", "ip": CLIENT, "profile": "Kids"}],
           "profiles": [{"name": "Kids", "block_categories": ["malware"], "allow": ["allowed.test"]},
                        {"name": "Open", "block_categories": []}] if profiles else []}
    m = Matcher({"gov": feed(("banned.test",), ("203.0.113.0/24", "2001:db8:bad::/48")),
                 "bad": feed((), ("198.51.100.7",)), "ads": feed(("ads.test",))})
    return build_engine(from_dict(cfg), m)


def answer(name: str, *rdata: str, ttl: int = 300) -> tuple[str, ...]:
    return tuple(f"{name}. {ttl} {'AAAA' if ':' in r else 'A'} {r}" for r in rdata)


def test_an_answer_into_an_authority_network_is_blocked_with_its_ede() -> None:
    eng = make()
    r = resolve(eng, q("site.example"), 0.0, *answer("site.example", "192.0.2.1", "203.0.113.9"))
    assert [str(x.rdata) for x in r.rr] == ["0.0.0.0"]
    code, text = ede(r)
    assert code == 16 and text.startswith("blocked by the authority list gov version ") and text.endswith(
        ": Law 1 art. 2")
    # AAAA too
    r = resolve(eng, q("six.example", 28), 0.0, *answer("six.example", "2001:db8:bad::1"))
    assert [str(x.rdata) for x in r.rr] == ["::"] and ede(r)[0] == 16


def test_the_cached_answer_is_checked_too_and_the_fast_path_keeps_the_block_only_while_it_lives() -> None:
    eng = make()
    resolve(eng, q("site.example"), 0.0, *answer("site.example", "203.0.113.9", ttl=60))
    table = eng.fast.tables["Kids"]
    [(tail, refresh_at, patch, _info)] = table.values()
    assert refresh_at == 60.0 and patch is None  # replayed until the answer expires, then checked again
    r = reply_of(ask(eng, q("site.example"), 30.0))  # from the cache through the engine
    assert [str(x.rdata) for x in r.rr] == ["0.0.0.0"] and ede(r)[0] == 16


def test_a_reload_that_adds_a_network_blocks_an_answer_already_in_the_cache() -> None:
    from dnsfilter.assemble import reconfigure

    eng = make()
    r = resolve(eng, q("later.example"), 0.0, *answer("later.example", "192.0.2.77"))
    assert [str(x.rdata) for x in r.rr] == ["192.0.2.77"]
    cfg = {"dns": {"allowed_clients": ["192.168.0.0/16"]},
           "feeds": [{"name": "gov", "url": "/g", "category": "authority"}]}
    reconfigure(eng, from_dict(cfg), Matcher({"gov": feed((), ("192.0.2.77",))}))
    r = reply_of(ask(eng, q("later.example"), 1.0))  # a cache hit: no upstream query
    assert [str(x.rdata) for x in r.rr] == ["0.0.0.0"] and ede(r)[0] == 16


def test_category_networks_follow_the_profile_and_authority_ones_apply_to_everyone() -> None:
    eng = make()
    r = resolve(eng, q("evil.example"), 0.0, *answer("evil.example", "198.51.100.7"))
    assert [str(x.rdata) for x in r.rr] == ["0.0.0.0"] and ede(r) == (15, "malware: on the list bad")
    open_client = "192.168.1.99"  # no device entry: the default profile (Kids is first)...
    eng2 = build_engine(from_dict({"dns": {"allowed_clients": ["192.168.0.0/16"]},
                                   "feeds": [{"name": "bad", "url": "/b", "category": "malware"}],
                                   "profiles": [{"name": "Open", "block_categories": []}]}),
                        Matcher({"bad": feed((), ("198.51.100.7",))}))
    acts = eng2.on_query(q("evil.example"), open_client, "c", 0.0)
    [fwd] = forwards(acts)
    r = reply_of(eng2.on_upstream(fwd, upstream(fwd, *answer("evil.example", "198.51.100.7")), 0.0))
    assert [str(x.rdata) for x in r.rr] == ["198.51.100.7"]  # Open does not block malware


def test_an_allowed_name_is_still_held_to_authority_networks_only() -> None:
    eng = make()
    r = resolve(eng, q("allowed.test"), 0.0, *answer("allowed.test", "198.51.100.7"))
    assert [str(x.rdata) for x in r.rr] == ["198.51.100.7"]  # malware network: lifted by the allow rule
    r = resolve(eng, q("www.allowed.test"), 0.0, *answer("www.allowed.test", "203.0.113.1"))
    assert [str(x.rdata) for x in r.rr] == ["0.0.0.0"] and ede(r)[0] == 16


def test_a_cname_chain_ending_in_a_listed_address_is_blocked() -> None:
    eng = make()
    r = resolve(eng, q("www.example.com"), 0.0, "www.example.com. 300 CNAME edge.cdn.example.",
                *answer("edge.cdn.example", "203.0.113.50"))
    assert [str(x.rdata) for x in r.rr] == ["0.0.0.0"] and ede(r)[0] == 16


def test_without_networks_nothing_is_checked() -> None:
    cfg = {"dns": {"allowed_clients": ["192.168.0.0/16"]}, "feeds": [{"name": "ads", "url": "/a"}]}
    eng = build_engine(from_dict(cfg), Matcher({"ads": feed(("ads.test",))}))
    assert not eng.policy.has_nets
    r = resolve(eng, q("site.example"), 0.0, *answer("site.example", "203.0.113.9"))
    assert [str(x.rdata) for x in r.rr] == ["203.0.113.9"]
    e = next(iter(eng.cache._d.values()))
    assert e.addrs is None  # the answer's addresses were never even read
    assert sends(ask(eng, q("site.example"), 1.0))
