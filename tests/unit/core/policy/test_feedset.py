"""Compiled feeds: the file format, lookups against a reference implementation, AdGuard
rule precedence, hashed feeds, corruption, and the real lists (when ../shared is there)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnsfilter.core.dns.wire import text_to_wire
from dnsfilter.core.policy import feedset
from dnsfilter.core.policy.feedset import B_SUB, FeedSet, FeedSetError, build, name_key, text_key
from dnsfilter.core.policy.matcher import Keys, Matcher
from feeds.compile_rules import compile_feed, load_feed
from tests.support.paths import SHARED_DATA

SHARED = SHARED_DATA


def plain(names: list[str]) -> FeedSet:
    return FeedSet.from_buffer(b"".join(build((text_key(n.encode()), B_SUB) for n in names)))


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
    data = b"".join(build([(text_key(b"example.com"), B_SUB), (text_key(b"b.test"), B_SUB)]))
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
    entries = [(text_key(f"n{i}.example.com".encode()), B_SUB) for i in range(300)]
    little = b"".join(build(entries))
    real_pack = feedset.struct.pack
    monkeypatch.setattr(feedset.struct, "pack", lambda fmt, *a: b"\x00\x01" if fmt == "=H" else real_pack(fmt, *a))
    # What a MIPS router does: its native arrays are byteswapped on the way to the file and
    # back. Simulated here, both swaps together must give back every key.
    swapped = b"".join(build(entries))
    fs = FeedSet.from_buffer(swapped)
    # A little-endian file read through the swapping path has a garbled bucket index: refused.
    with pytest.raises(FeedSetError, match="bad bucket index"):
        FeedSet.from_buffer(little)
    monkeypatch.undo()
    assert swapped != little
    assert all(fs.flags_of(k) == B_SUB for k, _ in entries)
    assert fs.flags_of(text_key(b"other.example.com")) == 0


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
    b"\x28" + b"a" * 40 + b"\x03com\x00",  # a length byte that is a printable character
    b"\x2e" + b"b" * 46 + b"\x03com\x00",  # ... and one that is a dot
    b"\x20" + b"c" * 32 + b"\x01x\x00",
    b"\x03a b\x03com\x00",
    b"\x03a\x01b\x28" + b"c" * 40 + b"\x00",  # an odd byte and a printable length byte: still two labels
])
def test_keys_match_the_escaped_text_of_every_suffix(wire: bytes) -> None:
    from dnsfilter.core.dns.wire import wire_to_text
    from dnsfilter.core.policy.feedset import suffixes

    k = Keys(wire)
    dotted = wire_to_text(wire)
    assert k.dotted == dotted
    texts = suffixes(dotted) if dotted else []  # the root has no label, so no suffix
    assert k.raw == texts
    assert [k.suffix(d) for d, _ in k.raw] == [s.decode() for _, s in texts]
    # Keys are over the wire form, which needs no escaping: each suffix's own wire bytes.
    walked, i = [], 0
    while wire[i]:
        walked.append(wire[i:])
        i += wire[i] + 1
    assert k.plain == [(d, name_key(w)) for d, w in enumerate(walked)]
    assert len(walked) == len(texts)


def test_a_label_holding_a_dot_does_not_match_the_two_label_name() -> None:
    m = Matcher({"f": plain(["a.b.com"])})
    assert m.block(Keys(text_to_wire("a.b.com"))) is not None
    assert m.block(Keys(b"\x03a.b\x03com\x00")) is None


def _minimal(names: list[str]) -> set[str]:
    """The reference for a compiled plain list: names no listed parent (of 2+ labels) covers."""
    listed = set(names)
    return {n for n in listed if not any(".".join(n.split(".")[i:]) in listed for i in range(1, n.count(".")))}


@pytest.mark.parametrize("small_spills", [False, True])
def test_streaming_compile_matches_the_reference(tmp_path, monkeypatch, small_spills):
    import random

    from feeds import compile_rules

    if small_spills:  # spill pairs every 4 names and hashes every 16: every segment path runs
        monkeypatch.setattr(compile_rules, "_PAIRS_EVERY", 3)
        monkeypatch.setattr(compile_rules, "_HASHES_EVERY", 15)
        monkeypatch.setattr(compile_rules, "_CHUNK", 8)
    rng = random.Random(7)
    bases = [f"d{i}.{rng.choice(['com', 'net', 'xa'])}" for i in range(300)]
    names = []
    for _ in range(3000):
        depth = rng.randint(0, 3)
        names.append(".".join([*(f"s{rng.randint(0, 9)}" for _ in range(depth)), rng.choice(bases)]))
    src = tmp_path / "l.domains"
    src.write_text("\n".join(names) + "\n")
    stats = compile_feed(src, "domains", tmp_path / "o.dset")
    want = _minimal(names)
    fs = load_feed(tmp_path / "o.dset")
    assert stats.entries == len(fs) == len(want) and stats.covered == len(set(names)) - len(want)
    assert sorted(fs.keys()) == sorted(text_key(n.encode()) for n in want)
    assert (fs.min_labels, fs.max_labels) == (2, 5) and fs.plain
    assert not list(tmp_path.glob(".*")) and not list(tmp_path.glob("*.tmp"))  # temporary files are gone
    m = Matcher({"f": fs})
    for q in [*names[:300], "zz.d1.com", "nothing.test", "s1.s2.s3.s4.d2.net"]:
        labels = q.split(".")
        ref = next((i for i in range(len(labels)) if ".".join(labels[i:]) in want), None)
        got = block(m, q)
        assert (got[1] if got else None) == ref, q


def test_label_range_skips_suffixes_no_entry_can_be(tmp_path):
    fs = compiled(tmp_path, "ads.example.com\ntracker.example.org\n", "domains")
    assert (fs.min_labels, fs.max_labels) == (3, 3)
    raw = (tmp_path / "out.frs").read_bytes()
    assert raw[12:14] == b"\x03\x03"
    keys = Keys(text_to_wire("a.b.ads.example.com"))
    assert [d for d, _ in keys.for_set(fs)] == [2]  # only the 3-label suffix is hashed
    m = Matcher({"f": fs})
    assert block(m, "a.b.ads.example.com") == ("f", 2)
    assert block(m, "example.com") is None and block(m, "com") is None


def test_files_without_a_label_range_still_match_every_suffix():
    # Written without a range (bytes 12-13 zero): every suffix is looked up.
    data = b"".join(build([(text_key(b"com"), B_SUB), (text_key(b"a.b.c.d.e.f.example"), B_SUB)]))
    assert data[12:14] == bytes(2)
    fs = FeedSet.from_buffer(data)
    assert (fs.min_labels, fs.max_labels) == (1, feedset.MAX_LABELS)
    m = Matcher({"x": fs})
    assert block(m, "www.example.com") == ("x", 2)
    assert block(m, "z.a.b.c.d.e.f.example") == ("x", 1)


@pytest.mark.parametrize("labels", [b"\x05\x03", b"\x00\xff", b"\x03\x02"])
def test_a_bad_label_range_is_rejected(labels):
    data = bytearray(b"".join(build([(text_key(b"example.com"), B_SUB)], labels=(2, 2))))
    assert data[12:14] == b"\x02\x02"
    FeedSet.from_buffer(bytes(data))
    data[12 : 12 + len(labels)] = labels
    with pytest.raises(FeedSetError, match="label range"):
        FeedSet.from_buffer(bytes(data))


def test_bucket_index_finds_every_hash_including_both_ends():
    import random

    rng = random.Random(11)
    keys = {rng.getrandbits(64) for _ in range(5000)} | {0, 1, 2**64 - 1, 2**63}
    fs = FeedSet.from_buffer(b"".join(build((k, B_SUB) for k in keys)))
    assert fs.index()[1] < 64  # a real index: several bits of the key pick the bucket
    for k in keys:
        assert fs.flags_of(k) == B_SUB
        assert fs.evaluate([(1, k)]) == feedset.Verdict(True, 1)
    for k in (3, 2**64 - 2, *(rng.getrandbits(64) for _ in range(2000))):
        if k not in keys:
            assert fs.flags_of(k) == 0 and fs.evaluate([(0, k)]) is None


def test_plain_and_rule_feeds_share_one_query_and_agree():
    # The plain fast path (hash until the first hit) and the general path give the same answer.
    names = ["example.com", "ads.example.org", "x.y.z.test"]
    fast = plain(names)
    slow = FeedSet.from_buffer(b"".join(build([*((text_key(n.encode()), B_SUB) for n in names),
                                              (text_key(b"other.test"), feedset.B_EXACT)])))
    assert fast.plain and not slow.plain
    for q in ("www.example.com", "a.ads.example.org", "x.y.z.test", "y.z.test", "example.org", "other.test"):
        keys = Keys(text_to_wire(q))
        d = keys.listed_depth(fast)
        assert (fast.verdicts[d] if d >= 0 else None) == slow.evaluate(keys.for_set(slow)) or q == "other.test"
        assert fast.evaluate(Keys(text_to_wire(q)).for_set(fast)) == (fast.verdicts[d] if d >= 0 else None)


def _crc_twins() -> tuple[bytes, bytes]:
    """Two different names whose wire forms share their CRC-32 (a birthday search over random
    12-character labels: found after ~90k names, in well under a second)."""
    import random
    import zlib

    rng = random.Random(3)
    seen: dict[int, bytes] = {}
    while True:
        w = b"\x0c" + "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=12)).encode() + b"\x03crc\x04test\x00"
        other = seen.setdefault(zlib.crc32(w), w)
        if other != w:
            return other, w


def test_a_name_sharing_a_listed_names_crc32_is_never_blocked():
    from dnsfilter.core.dns.wire import wire_to_text

    listed, twin = _crc_twins()
    assert name_key(listed) >> 32 == name_key(twin) >> 32 and name_key(listed) != name_key(twin)
    fs = plain([wire_to_text(listed)])
    m = Matcher({"f": fs})
    # The twin passes the filter and finds a key with its CRC-32 in its bucket: only the
    # whole-key comparison tells it apart, on every path.
    assert m.block(Keys(listed)) is not None and Keys(listed).listed_depth(fs) == 0
    assert m.block(Keys(twin)) is None and Keys(twin).listed_depth(fs) == -1
    assert fs.evaluate(Keys(twin).for_set(fs)) is None
    assert block(m, "www." + wire_to_text(twin)) is None and block(m, "www." + wire_to_text(listed)) == ("f", 1)
    rules = FeedSet.from_buffer(b"".join(build([(name_key(listed), feedset.B_EXACT)])))  # the general path
    assert not rules.plain and Matcher({"r": rules}).block(Keys(twin)) is None
    assert Matcher({"r": rules}).block(Keys(listed)) is not None


def test_the_filter_stops_most_unlisted_names_and_never_hides_a_listed_one():
    import zlib

    listed = [f"l{i}.example.com" for i in range(3000)]
    fs = plain(listed)
    m = Matcher({"f": fs})
    assert all(block(m, n) == ("f", 0) and block(m, "a." + n) == ("f", 1) for n in listed)
    _hs, _idx, _shift, bm, bshift = fs.probe
    passed = 0
    for i in range(20000):
        w = text_to_wire(f"u{i}.example.net")
        c = zlib.crc32(w)
        passed += bm[c >> bshift] >> (c & 7) & 1
        assert m.block(Keys(w)) is None
    assert passed < 0.15 * 20000  # 8-16 filter bits per key: ~6-12 % of unlisted names pass
