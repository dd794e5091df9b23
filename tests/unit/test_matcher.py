"""Compiled domain sets: format, integrity checks, suffix matching, byte order."""

from __future__ import annotations

import hashlib
import struct
from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dnsfilter.core import matcher as m
from dnsfilter.core.matcher import DomainSet, Matcher, MatcherError, compile_names, name_hash
from dnsfilter.core.wire import text_to_wire as w


def make_set(*names: str) -> DomainSet:
    return DomainSet.from_buffer(compile_names(w(n) for n in names))


def test_name_hash_is_fixed_blake2b_little_endian() -> None:
    # Pinned value: a compiled file must mean the same on every machine and Python version.
    expected = int.from_bytes(hashlib.blake2b(b"\x07example\x03com\x00", digest_size=8).digest(), "little")
    assert name_hash(w("example.com")) == expected
    assert name_hash(w("example.com")) != name_hash(w("example.org"))
    assert 0 <= name_hash(w("a.b")) < 2**64


def test_file_layout_header_and_sorted_payload() -> None:
    data = compile_names([w("b.example"), w("a.example"), w("b.example"), w("A.EXAMPLE")])
    magic, version, flags, reserved, count, digest = struct.unpack_from("<8sHHIQ32s", data)
    assert (magic, version, flags, reserved, count) == (b"DNSFSET\x00", 1, 0, 0, 2)
    assert m.HEADER_SIZE == 56 and len(data) == 56 + 16
    payload = data[56:]
    assert digest == hashlib.blake2b(payload, digest_size=32).digest()
    hashes = list(struct.unpack("<2Q", payload))
    assert hashes == sorted({name_hash(w("a.example")), name_hash(w("b.example"))})


def test_exact_and_parent_matches() -> None:
    ds = make_set("example.com", "ads.tracker.net")
    assert len(ds) == 2
    assert ds.match(w("example.com")) == 0
    q = w("www.example.com")
    assert ds.match(q) == 4 and q[4:] == w("example.com")
    q = w("a.b.ads.tracker.net")
    assert q[ds.match(q):] == w("ads.tracker.net")
    assert ds.match(w("tracker.net")) == -1  # a parent of a listed name is not blocked
    assert w("example.com") in ds and w("www.example.com") not in ds


def test_longest_listed_suffix_wins_within_a_set() -> None:
    ds = make_set("example.com", "ads.example.com")
    assert ds.match(w("x.ads.example.com")) == 2


def test_label_boundary_is_required() -> None:
    ds = make_set("example.com")
    assert ds.match(w("notexample.com")) == -1
    assert ds.match(w("example.com.evil")) == -1


def test_root_never_matches() -> None:
    ds = DomainSet.from_buffer(compile_names([b"\x00", w("com")]))
    assert ds.match(b"\x00") == -1
    assert ds.match(w("example.com")) == 8  # "com" after the 8-octet first label; root never
    assert ds.match(w("example.org")) == -1


def test_empty_set() -> None:
    ds = DomainSet.empty()
    assert len(ds) == 0 and ds.match(w("example.com")) == -1 and not ds.contains_hash(0)


def test_from_buffer_does_not_copy() -> None:
    buf = bytearray(compile_names([w("example.com")]))
    ds = DomainSet.from_buffer(buf)
    with pytest.raises(BufferError):  # a live zero-copy view pins the buffer
        buf.extend(b"x")
    ds.close()
    buf.extend(b"x")
    assert ds.match(w("example.com")) == -1


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: b"XXXXXXXX" + d[8:], "not a compiled domain set"),
        (lambda d: d[:8] + struct.pack("<H", 2) + d[10:], "version 2"),
        (lambda d: d[:10] + struct.pack("<H", 1) + d[12:], "unknown flags"),
        (lambda d: d[:40], "truncated"),
        (lambda d: d[:-3], "size"),
        (lambda d: d[:-8], "size"),
        (lambda d: d + b"\x00" * 8, "size"),
        (lambda d: d[:-1] + bytes([d[-1] ^ 0x01]), "checksum"),
        (lambda d: d[:30] + bytes([d[30] ^ 0x80]) + d[31:], "checksum"),
    ],
    ids=["magic", "version", "flags", "short-header", "truncated", "count", "trailing", "payload-bit",
         "digest-bit"],
)
def test_corrupt_files_are_rejected(mutate, message: str) -> None:
    data = compile_names([w("example.com"), w("example.org")])
    with pytest.raises(MatcherError, match=message):
        DomainSet.from_buffer(mutate(data))


def test_verify_false_skips_only_the_checksum() -> None:
    data = compile_names([w("example.com")])
    flipped = data[:-1] + bytes([data[-1] ^ 1])
    assert len(DomainSet.from_buffer(flipped, verify=False)) == 1
    with pytest.raises(MatcherError, match="truncated"):
        DomainSet.from_buffer(data[:10], verify=False)


def _swap_payload(data: bytes) -> bytes:
    payload = array("Q")
    payload.frombytes(data[m.HEADER_SIZE:])
    payload.byteswap()
    return data[: m.HEADER_SIZE] + payload.tobytes()


def test_big_endian_host_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulate a big-endian router on this (little-endian) machine.

    A BE host reads the file's LE u64s byte-reversed, exactly as an LE host reads BE u64s. So
    with the host order forced to "big", compiling must write each u64 byte-reversed relative to
    native order, and loading must swap back: the round trip must then match normally."""
    names = [w(n) for n in ("example.com", "ads.example.org", "tracker.net")]
    native = compile_names(names)
    monkeypatch.setattr(m, "_HOST_ORDER", "big")
    swapped = compile_names(names)
    assert swapped[m.HEADER_SIZE:] == _swap_payload(native)[m.HEADER_SIZE:]
    # The digest covers the stored bytes: the payload bytes differ, so the digests do too.
    assert swapped[:24] == native[:24] and swapped[24:56] != native[24:56]
    ds = DomainSet.from_buffer(swapped)
    assert isinstance(ds._hashes, array)  # copied and byteswapped, not a zero-copy view
    assert ds.match(w("www.example.com")) == 4
    assert ds.match(w("x.ads.example.org")) == 2
    assert ds.match(w("example.org")) == -1
    assert list(ds) == sorted(name_hash(n) for n in names)
    # Without the swap the same bytes are garbage: the path above is what makes it work.
    monkeypatch.setattr(m, "_HOST_ORDER", "little")
    assert DomainSet.from_buffer(swapped).match(w("www.example.com")) == -1


@pytest.mark.parametrize("host_order", ["little", "big"])
def test_from_hashes_equals_the_compiled_file(monkeypatch: pytest.MonkeyPatch, host_order: str) -> None:
    monkeypatch.setattr(m, "_HOST_ORDER", host_order)
    names = [w(f"n{i}.example") for i in range(2000)] + [w("n7.example")]
    in_memory = DomainSet.from_hashes(name_hash(n) for n in names)
    from_file = DomainSet.from_buffer(compile_names(names))
    assert len(in_memory) == len(from_file) == 2000
    assert list(in_memory) == list(from_file) == sorted({name_hash(n) for n in names})
    assert in_memory.digest == from_file.digest
    assert in_memory.match(w("a.n7.example")) == 2 and in_memory.match(w("n7x.example")) == -1


def test_matcher_most_specific_across_sets() -> None:
    mt = Matcher({"ads": make_set("example.com"), "malware": make_set("bad.example.com"),
                  "adult": make_set("example.com", "x.bad.example.com")})
    assert mt.first_match(w("www.bad.example.com")) == ("malware", 4)
    assert mt.first_match(w("www.example.com")) == ("ads", 4)  # tie: first set in order
    assert mt.first_match(w("www.example.com"), ["adult"]) == ("adult", 4)
    # On a tie the Matcher's order decides, not the order the caller lists names in.
    assert mt.first_match(w("www.example.com"), ["adult", "ads"]) == ("ads", 4)
    assert mt.first_match(w("a.x.bad.example.com")) == ("adult", 2)
    assert mt.first_match(w("a.x.bad.example.com"), {"ads", "malware"}) == ("malware", 4)
    assert mt.first_match(w("example.net")) is None
    assert mt.first_match(w("www.example.com"), ["missing"]) is None
    assert mt.first_match(w("www.example.com"), []) is None


def test_matcher_is_immutable_and_ordered() -> None:
    a, b = make_set("a.test"), make_set("b.test")
    source = {"one": a}
    mt = Matcher(source)
    source["two"] = b  # the caller's dict is copied
    assert list(mt.sets) == ["one"]
    with pytest.raises(TypeError):
        mt.sets["two"] = b  # type: ignore[index]
    mt2 = mt.replace("two", b).replace("one", b)
    assert list(mt2.sets) == ["one", "two"] and mt2["one"] is b and mt["one"] is a
    assert list(mt2.without("one").sets) == ["two"] and len(mt2) == 2


# ---------------------------------------------------------------- property: agrees with a naive model

_labels = st.sampled_from(["a", "b", "c", "ex", "xn--p1ai", "_srv"])
_names = st.lists(_labels, min_size=1, max_size=4).map(".".join)


def naive_match(listed: set[str], qname: str) -> int:
    """Offset of the longest listed suffix, by string manipulation only."""
    labels = qname.split(".")
    offset = 0
    for i in range(len(labels)):
        if ".".join(labels[i:]) in listed:
            return offset
        offset += 1 + len(labels[i])
    return -1


@settings(max_examples=300, deadline=None)
@given(st.lists(_names, max_size=30), st.lists(_names, min_size=1, max_size=20))
def test_match_agrees_with_naive_suffix_set(listed: list[str], queries: list[str]) -> None:
    ds = make_set(*listed)
    assert len(ds) == len(set(listed))
    for q in queries:
        assert ds.match(w(q)) == naive_match(set(listed), q)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_names, max_size=10), min_size=1, max_size=4), st.lists(_names, min_size=1, max_size=10))
def test_first_match_agrees_with_naive(groups: list[list[str]], queries: list[str]) -> None:
    mt = Matcher({f"s{i}": make_set(*g) for i, g in enumerate(groups)})
    for q in queries:
        best: tuple[str, int] | None = None
        for i, g in enumerate(groups):
            off = naive_match(set(g), q)
            if off >= 0 and (best is None or off < best[1]):
                best = (f"s{i}", off)
        assert mt.first_match(w(q)) == best
