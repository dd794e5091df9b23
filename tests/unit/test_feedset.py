"""Compiled feeds: the file format, lookups against a reference implementation, AdGuard
rule precedence, hashed feeds, corruption, and the real lists (when ../shared is there)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnsfilter.core import feedset
from dnsfilter.core.feedset import B_SUB, FeedSet, FeedSetError, blake_hash, build
from dnsfilter.core.matcher import Keys, Matcher
from dnsfilter.core.wire import text_to_wire
from feeds.compile_rules import compile_feed, load_feed

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def plain(names: list[str]) -> FeedSet:
    return FeedSet.from_buffer(b"".join(build((blake_hash(n.encode()), B_SUB) for n in names)))


def block(m: Matcher, name: str, qtype: int = 1, client: str | None = "192.168.1.5"):
    hit = m.block(Keys(text_to_wire(name)), None, qtype, client)
    return None if hit is None else (hit[0], hit[1].depth)


def compiled(tmp_path: Path, text: str, fmt: str = "auto", **kw) -> FeedSet:
    src = tmp_path / f"list-{abs(hash(text))}.txt"
    src.write_text(text)
    out = tmp_path / "out.frs"
    compile_feed(src, fmt, out, **kw)
    return load_feed(out)


def test_subtree_and_label_boundaries():
    m = Matcher({"a": plain(["example.com", "ads.example.org"])})
    assert block(m, "example.com") == ("a", 0)
    assert block(m, "www.example.com") == ("a", 1)
    assert block(m, "a.b.ads.example.org") == ("a", 2)
    assert block(m, "notexample.com") is None
    assert block(m, "example.org") is None
    assert block(m, "com") is None


def test_most_specific_feed_wins_then_order():
    m = Matcher({"first": plain(["example.com"]), "second": plain(["www.example.com"])})
    assert block(m, "x.www.example.com") == ("second", 1)
    m2 = Matcher({"first": plain(["example.com"]), "second": plain(["example.com"])})
    assert block(m2, "example.com") == ("first", 0)


names = st.lists(st.from_regex(r"[a-z0-9]{1,6}(\.[a-z0-9]{1,6}){1,3}", fullmatch=True), min_size=0, max_size=40)


@settings(max_examples=150, deadline=None)
@given(listed=names, queries=names)
def test_agrees_with_reference_set(listed, queries):
    m = Matcher({"x": plain(listed)})
    ref = set(listed)
    for q in queries + listed:
        labels = q.split(".")
        want = next((i for i in range(len(labels)) if ".".join(labels[i:]) in ref), None)
        got = block(m, q)
        assert (got[1] if got else None) == want


def test_adblock_precedence(tmp_path):
    fs = compiled(tmp_path, "\n".join([
        "||ads.example.com^", "@@||ok.ads.example.com^",  # exception beats block
        "||tracker.test^$important", "@@||tracker.test^",  # important block beats plain exception
        "||cdn.test^$important", "@@||cdn.test^$important",  # important exception beats important block
        "|exact.test^",  # exact: the name only
        "||typed.test^$dnstype=AAAA",  # only AAAA
        "||kids.test^$client=192.168.1.0/24",  # only those clients
        "||deny.test^$denyallow=fine.deny.test",
        r"/^ad[0-9]+\.regex\.test$/",
    ]), "adblock")
    m = Matcher({"f": fs})
    assert block(m, "x.ads.example.com") == ("f", 1)
    assert block(m, "ok.ads.example.com") is None
    assert block(m, "a.ok.ads.example.com") is None
    assert block(m, "tracker.test") == ("f", 0)
    assert block(m, "cdn.test") is None
    assert block(m, "exact.test") == ("f", 0) and block(m, "www.exact.test") is None
    assert block(m, "typed.test", qtype=1) is None and block(m, "typed.test", qtype=28) == ("f", 0)
    assert block(m, "kids.test", client="192.168.1.9") == ("f", 0)
    assert block(m, "kids.test", client="10.0.0.1") is None
    hit = m.block(Keys(text_to_wire("kids.test")), None, 1, "192.168.1.9")
    assert hit is not None and hit[1].per_client  # never shared across a profile's clients
    assert block(m, "deny.test") == ("f", 0) and block(m, "fine.deny.test") is None
    assert block(m, "ad12.regex.test") == ("f", 0) and block(m, "adx.regex.test") is None


def test_rpz_scopes(tmp_path):
    fs = compiled(tmp_path, "$ORIGIN rpz.test.\nexact.example CNAME .\n*.below.example CNAME .\n"
                            "ok.below.example CNAME rpz-passthru.\n", "rpz")
    m = Matcher({"r": fs})
    assert block(m, "exact.example") == ("r", 0) and block(m, "www.exact.example") is None
    assert block(m, "below.example") is None and block(m, "a.below.example") == ("r", 1)
    assert block(m, "ok.below.example") is None


def test_hashed_feed_never_holds_names(tmp_path):
    digests = [hashlib.sha256(n.encode()).hexdigest() for n in ("secret.example", "hidden.test")]
    src = tmp_path / "hashed.txt"
    src.write_text("# sha256 list\n" + "\n".join(digests) + "\n")
    out = tmp_path / "hashed.frs"
    stats = compile_feed(src, "sha256", out)
    assert stats.hashed and stats.entries == 2
    raw = out.read_bytes()
    assert b"secret" not in raw and b"hidden" not in raw
    fs = load_feed(out)
    assert fs.hashed
    m = Matcher({"h": fs})
    assert block(m, "www.secret.example") == ("h", 1)
    assert block(m, "hidden.test") == ("h", 0)
    assert block(m, "example") is None


def test_plain_lists_drop_covered_names(tmp_path):
    src = tmp_path / "l.txt"
    src.write_text("example.com\nwww.example.com\na.b.example.com\nother.org\nx.other.org\n")
    stats = compile_feed(src, "domains", tmp_path / "o.frs")
    assert stats.entries == 2 and stats.covered == 3


def test_allowlist_feed_compiles_as_allow(tmp_path):
    src = tmp_path / "allow.txt"
    src.write_text("good.example\n")
    out = tmp_path / "a.frs"
    compile_feed(src, "domains", out, allow=True)
    m = Matcher({"ok": load_feed(out)})
    assert m.allows(Keys(text_to_wire("www.good.example")), ("ok",)) is not None
    assert m.block(Keys(text_to_wire("www.good.example")), ("ok",)) is None


def test_corrupt_files_are_rejected(tmp_path):
    data = b"".join(build([(blake_hash(b"example.com"), B_SUB), (blake_hash(b"b.test"), B_SUB)]))
    FeedSet.from_buffer(data)
    with pytest.raises(FeedSetError, match="magic"):
        FeedSet.from_buffer(b"X" + data[1:])
    with pytest.raises(FeedSetError, match="size|truncated"):
        FeedSet.from_buffer(data[:-3])
    flipped = bytearray(data)
    flipped[70] ^= 1
    with pytest.raises(FeedSetError, match="checksum"):
        FeedSet.from_buffer(bytes(flipped))
    with pytest.raises(FeedSetError, match="truncated"):
        FeedSet.from_buffer(b"")
    bad = tmp_path / "bad.frs"
    bad.write_bytes(bytes(flipped))
    with pytest.raises(FeedSetError):
        load_feed(bad)
    with pytest.raises(FeedSetError):
        load_feed(tmp_path / "missing.frs")


def test_big_endian_load_path(monkeypatch):
    data = b"".join(build([(blake_hash(b"example.com"), B_SUB)]))
    real_pack = feedset.struct.pack
    monkeypatch.setattr(feedset.struct, "pack", lambda fmt, *a: b"\x00\x01" if fmt == "=H" else real_pack(fmt, *a))
    fs = FeedSet.from_buffer(data)  # the byteswapped-copy path a MIPS router takes
    monkeypatch.undo()
    # the copy was swapped for a big-endian host, so on this little-endian one it must not match
    assert fs.flags_of(blake_hash(b"example.com")) == 0
    assert fs.flags_of(int.from_bytes(blake_hash(b"example.com").to_bytes(8, "little"), "big")) == B_SUB


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data (real blocklists) is not present")
def test_real_lists_cross_format_and_adguard(tmp_path):
    a = compile_feed(SHARED / "hagezi/multi.adblock.txt", "auto", tmp_path / "a.frs")
    b = compile_feed(SHARED / "hagezi/multi.onlydomains.txt", "auto", tmp_path / "b.frs")
    assert a.format == "adblock" and b.format == "domains"
    assert a.digest == b.digest and a.entries == b.entries > 100_000
    s = compile_feed(SHARED / "stevenblack/hosts", "auto", tmp_path / "s.frs")
    assert s.format == "hosts" and s.entries > 50_000 and s.covered > 10_000
    g = compile_feed(SHARED / "adguard/adguard_dns_filter.txt", "auto", tmp_path / "g.frs")
    assert g.rules > 100_000 and g.exceptions > 10 and g.regex > 0
    m = Matcher({"s": load_feed(tmp_path / "s.frs"), "g": load_feed(tmp_path / "g.frs")})
    assert block(m, "doubleclick.net") is not None
    assert block(m, "localhost") is None


def test_regex_index_agrees_with_naive_search(tmp_path):
    import json
    import random
    import re

    rules = ["||ad*.example.com^", "||*-tracker.net^", "/^ad[0-9]+\\.regex\\.test$/", "||metrics.*.cdn.test^",
             "/banner/", "||x?y.test^", "/\\d+\\.counter\\.org$/", "||pix*^", "@@||adok*.example.com^"]
    fs = compiled(tmp_path, "\n".join(rules), "adblock")
    raw = (tmp_path / "out.frs").read_bytes()
    side = json.loads(raw[raw.index(b'{"cond"'):].decode())
    naive = [(re.compile(r["regex"]), r["bits"]) for r in side["regex"]]
    assert len(naive) >= 6 and fs.regex_at  # most became regexes, and the index is in use
    rng = random.Random(3)
    parts = ["ad", "ad12", "adok", "ads1", "example", "com", "regex", "test", "a-tracker", "net", "metrics", "cdn",
             "banner", "xy", "y", "7", "counter", "org", "pixel", "pix", "www", "b"]
    for _ in range(3000):
        dotted = ".".join(rng.choice(parts) for _ in range(rng.randint(2, 5)))
        keys = Keys(text_to_wire(dotted))
        got = fs.evaluate(keys.for_set(fs), 1, None, keys.dotted)
        blocks = any(rx.search(dotted) for rx, bits in naive if bits & 7)
        allows = any(rx.search(dotted) for rx, bits in naive if not bits & 7)
        listed_or_regex = got is not None
        if not listed_or_regex:
            assert not blocks and not allows, dotted
        elif not got.blocked:
            assert allows, dotted
        else:
            assert blocks and not allows or got.depth > 0, dotted


@pytest.mark.skipif(not SHARED.exists(), reason="../shared/data (real blocklists) is not present")
def test_every_format_compiles_from_real_samples(tmp_path):
    rpz = compile_feed(SHARED / "hagezi/pro.mini.rpz.txt", "auto", tmp_path / "rpz.frs")
    assert rpz.format == "rpz" and rpz.entries > 50_000
    m = Matcher({"rpz": load_feed(tmp_path / "rpz.frs")})
    first = next(line.split()[0] for line in open(SHARED / "hagezi/pro.mini.rpz.txt")
                 if line.strip() and not line.startswith((";", "$", "@", "*")) and " CNAME ." in line)
    assert block(m, first) == ("rpz", 0)
    opts = {"columns": {"domain": 2, "url": 3}, "delimiter": ";", "encoding": "cp1251", "skip_lines": 1}
    csv = compile_feed(SHARED / "formats/registry-dump.sample.csv", "csv", tmp_path / "csv.frs", options=opts)
    assert csv.rules > 500 and csv.urls_skipped > 100
    assert block(Matcher({"c": load_feed(tmp_path / "csv.frs")}), "shop-3.example") == ("c", 0)
    gam = compile_feed(SHARED / "ut1/gambling.domains", "auto", tmp_path / "g.frs")
    assert gam.invalid > 0 and gam.first_invalid_lines  # bare IPs in the list are counted, not loaded
    doh = compile_feed(SHARED / "hagezi/doh.domains.txt", "auto", tmp_path / "d.frs")
    assert doh.entries > 1000


@pytest.mark.parametrize("wire", [
    b"\x00",
    b"\x03www\x07example\x03com\x00",
    b"\x01a\x00",
    b"\x03a.b\x03com\x00",          # a label holding a dot is not two labels
    b"\x03a\\b\x03com\x00",
    b"\x04a\x00\xffb\x04test\x00",
    b"\x01*\x03_tc\x01-\x00",
])
def test_keys_match_the_escaped_text_of_every_suffix(wire: bytes) -> None:
    from dnsfilter.core.feedset import suffixes
    from dnsfilter.core.wire import wire_to_text

    k = Keys(wire)
    dotted = wire_to_text(wire)
    assert k.dotted == dotted
    assert k.raw == suffixes(dotted)
    assert k.plain == [(d, blake_hash(s)) for d, s in suffixes(dotted)]
    assert [k.suffix(d) for d, _ in k.raw] == [s.decode() for _, s in suffixes(dotted)]


def test_a_label_holding_a_dot_does_not_match_the_two_label_name() -> None:
    m = Matcher({"f": plain(["a.b.com"])})
    assert m.block(Keys(text_to_wire("a.b.com"))) is not None
    assert m.block(Keys(b"\x03a.b\x03com\x00")) is None
