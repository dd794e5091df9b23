"""A plain list alone in its zone (feeds/rpz_plain.py): a new version patched from the last one
is byte for byte what a full `rpz export` writes, its difference is the one the files differ
by, and whatever the patch cannot account for exactly falls back to the full export."""

from __future__ import annotations

import random
from array import array
from pathlib import Path

import pytest

from dnsfilter.config import Config, load
from feeds.rpz_export import ZoneInfo, export
from feeds.rpz_plain import Record, key_difference
from feeds.rpz_update import difference
from feeds.rpz_zone import Difference
from feeds.sync import sync_feed

ZONE = "ads.rpz.dnsfilter.zone"


def config(tmp_path: Path, fmt: str = "domains", block_mode: str = "nxdomain") -> Config:
    (tmp_path / "config.toml").write_text(
        f'[storage]\ndata_dir = "var"\n[dns]\nblock_mode = "{block_mode}"\n'
        f'[[feeds]]\nname = "ads"\nurl = "ads.txt"\nformat = "{fmt}"\ncategory = "ads"\nmax_shrink = 1.0\n')
    return load(tmp_path / "config.toml")


def sync(cfg: Config, tmp_path: Path, text: str | bytes) -> None:
    path = tmp_path / "ads.txt"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    assert not sync_feed(cfg, cfg.feeds[0], force=True).error


class Hook:
    """`publish`'s hook as ZoneWriter calls it: records what it was given (no primary here:
    the UPDATE itself is tested against Knot in tests/integration/test_rpz_publish.py)."""

    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.known: Difference | None = None
        self.computed: Difference | None = None

    def __call__(self, zone: str, old: Path, body: Path, known: Difference | None = None) -> int:
        self.known, self.computed = known, difference(old, body)
        if self.refuse:
            raise RuntimeError("the primary answered REFUSED")
        return len(self.computed[0]) + len(self.computed[1])


def second(tmp_path: Path, before: str | bytes, after: str | bytes, hook: Hook | None = None,
           **kw: str) -> tuple[ZoneInfo, bytes, bytes]:
    """Export `before`, then `after` into the same folder (with `hook` as the publisher): that
    zone, its file, and the file a fresh export of `after` writes at the same time."""
    cfg = config(tmp_path, **kw)
    sync(cfg, tmp_path, before)
    assert export(cfg, tmp_path / "pub", now=1000).zones[0].how == "full"
    sync(cfg, tmp_path, after)
    z = export(cfg, tmp_path / "pub", now=2000, publish=hook).zones[0]
    fresh = export(cfg, tmp_path / "fresh", now=2000).zones[0]
    assert fresh.how == "full"
    return z, (tmp_path / "pub" / ZONE).read_bytes(), (tmp_path / "fresh" / ZONE).read_bytes()


def names(n: int, tag: str) -> list[str]:
    rng = random.Random(tag)
    return [f"{tag}{rng.randrange(10**6)}-{i}.example" for i in range(n)]


def test_a_changed_list_is_patched_to_the_same_bytes_and_sends_its_difference(tmp_path: Path) -> None:
    old, new = names(400, "a"), names(30, "b")
    hook = Hook()
    z, pub, fresh = second(tmp_path, "\n".join(old) + "\n", "\n".join(old[10:] + new) + "\n", hook)
    assert (z.how, z.changed, z.records, z.serial) == ("patched", True, 2 * 420, 2000)
    assert pub == fresh
    assert hook.known == hook.computed  # what the patch knows is what the files differ by
    deleted, added = hook.known or ([], [])
    assert sorted(deleted) == sorted(f"{p}{n} CNAME ." for n in old[:10] for p in ("", "*."))
    assert sorted(added) == sorted(f"{p}{n} CNAME ." for n in new for p in ("", "*."))
    # and the next one patches from this one
    z = export(config(tmp_path), tmp_path / "pub", now=3000).zones[0]
    assert (z.how, z.changed) == ("kept", False)  # nothing changed: not even computed


@pytest.mark.parametrize("case", ["parent added", "duplicates and case", "hosts", "local data", "crlf and bom",
                                  "emptied", "from empty"])
def test_patched_equals_full(tmp_path: Path, case: str) -> None:
    base = names(50, "c")
    before, after = "\n".join(base) + "\n", ""
    kw = {}
    if case == "parent added":  # its children leave the zone (the set holds none under it)
        before += "a.parent.example\nb.c.parent.example\n"
        after = before + "parent.example\n"
    elif case == "duplicates and case":
        after = before + base[3].upper() + "\n  " + base[4] + "  \n" + "# a comment\nnew.example\n"
    elif case == "hosts":
        kw["fmt"] = "hosts"
        before = "".join(f"0.0.0.0 {n}\n" for n in base)
        after = before.replace(f"0.0.0.0 {base[0]}\n", "") + "127.0.0.1 new.example other.example\n"
    elif case == "local data":
        kw["block_mode"] = "null"  # A and AAAA: four lines a name
        after = "\n".join(base[5:] + ["new.example"])
    elif case == "crlf and bom":
        before = "\ufeff" + before.replace("\n", "\r\n")
        after = before + "new.example\r\n"
    elif case == "emptied":
        after = "# nothing left\n"
    else:
        before, after = "# nothing yet\n", before
    hook = Hook()
    z, pub, fresh = second(tmp_path, before, after, hook, **kw)
    # an empty set is no plain one: a zone with no name, or one before, is written in full
    assert (z.how, z.changed, pub) == ("full" if case in ("emptied", "from empty") else "patched", True, fresh)
    assert hook.known in (hook.computed, None)


def test_what_the_patch_cannot_account_for_is_exported_in_full(tmp_path: Path) -> None:
    # the parent goes: its child, in the list all along, comes back into the zone without a
    # new line to say so
    hook = Hook()
    z, pub, fresh = second(tmp_path, "parent.example\na.parent.example\nx.example\n", "a.parent.example\nx.example\n",
                           hook)
    assert (z.how, pub) == ("full", fresh)
    assert hook.known is None and hook.computed == (
        ["*.parent.example CNAME .", "parent.example CNAME ."], ["a.parent.example CNAME .", "*.a.parent.example CNAME ."])


@pytest.mark.parametrize("damage", ["sizes", "set", "list", "no record"])
def test_a_record_that_does_not_match_the_file_is_not_used(tmp_path: Path, damage: str) -> None:
    cfg = config(tmp_path)
    old = names(100, "d")
    sync(cfg, tmp_path, "\n".join(old) + "\n")
    export(cfg, tmp_path / "pub", now=1000)
    rec = Record.of(tmp_path / "pub" / ZONE)
    if damage == "sizes":  # the same count and total, in another order
        sizes = array("I")
        head, _, rest = rec.lengths.read_bytes().partition(b"\n")
        sizes.frombytes(rest)
        rec.lengths.write_bytes(head + b"\n" + (sizes[1:] + sizes[:1]).tobytes())
    elif damage == "set":
        rec.set.unlink()
        rec.set.write_bytes(b"not a set")
    elif damage == "list":
        rec.source.unlink()
        rec.source.write_text("other.example\n")
    else:
        rec.drop()
    sync(cfg, tmp_path, "\n".join(old[1:] + ["new.example"]) + "\n")
    z = export(cfg, tmp_path / "pub", now=2000).zones[0]
    export(cfg, tmp_path / "fresh", now=2000)
    assert z.how == "full"
    assert (tmp_path / "pub" / ZONE).read_bytes() == (tmp_path / "fresh" / ZONE).read_bytes()


def test_a_refused_publish_keeps_file_and_record_and_the_next_sends_the_same(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    old = names(100, "e")
    sync(cfg, tmp_path, "\n".join(old) + "\n")
    export(cfg, tmp_path / "pub", now=1000)
    file, rec = tmp_path / "pub" / ZONE, Record.of(tmp_path / "pub" / ZONE)
    kept = [p.read_bytes() for p in (file, rec.source, rec.set, rec.lengths)]
    sync(cfg, tmp_path, "\n".join(old[1:] + ["new.example"]) + "\n")
    refused = Hook(refuse=True)
    z = export(cfg, tmp_path / "pub", now=2000, publish=refused).zones[0]
    assert z.error == "the primary answered REFUSED" and not z.changed
    assert [p.read_bytes() for p in (file, rec.source, rec.set, rec.lengths)] == kept
    taken = Hook()
    z = export(cfg, tmp_path / "pub", now=3000, publish=taken).zones[0]
    assert (z.how, z.changed, z.error) == ("patched", True, "")
    assert taken.known == refused.known == taken.computed
    export(cfg, tmp_path / "fresh", now=3000)
    assert file.read_bytes() == (tmp_path / "fresh" / ZONE).read_bytes()


@pytest.mark.parametrize("seed", range(6))
def test_key_difference_is_the_set_difference(seed: int) -> None:
    rng = random.Random(seed)
    universe = rng.sample(range(1 << 62), 30000)
    old = sorted(rng.sample(universe, rng.choice([0, 1, 50, 20000])))
    new = sorted(set(old[rng.randrange(len(old) + 1):]) | set(rng.sample(universe, rng.choice([0, 3, 500, 9000]))))
    a, b = array("Q", old), array("Q", new)
    gone, added = key_difference(memoryview(a), memoryview(b))
    assert gone == sorted(set(old) - set(new)) and added == sorted(set(new) - set(old))
