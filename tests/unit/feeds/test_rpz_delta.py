"""An IXFR's differences applied to a policy zone's compiled set (feeds/rpz_delta.py) give,
byte for byte, the set a full compile of the new zone gives; what cannot be applied exactly is
refused (NotIncremental), and the caller compiles in full."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from feeds.compile_rules import compile_feed
from feeds.rpz_delta import Delta, NotIncremental, Previous, apply_delta
from feeds.xfr import _key
from tests.support.paths import REPO

ORIGIN = "policy.example."
HEAD = f"; dnsfilter: policy.example by zone transfer from 127.0.0.1:53\n$ORIGIN {ORIGIN}\n" \
       "@ 3600 IN SOA ns.policy.example. h.policy.example. 5 3600 600 86400 60\n@ 3600 IN NS ns.policy.example.\n"
# every action, wildcards, nested triggers and empty nodes, local data and IP triggers, untouched by
# most of the differences below but carried over
BASE = [
    "nx.com 60 IN CNAME .", "*.nx.com 60 IN CNAME .", "nodata.net 60 IN CNAME *.",
    "pass.org 60 IN CNAME rpz-passthru.", "*.drop.org 60 IN CNAME rpz-drop.", "tcp.kz 60 IN CNAME rpz-tcp-only.",
    "x.y.deep.com 60 IN CNAME .", "local.kz 60 IN A 192.0.2.1", "local.kz 60 IN TXT \"walled garden\"",
    "*.garden.kz 60 IN CNAME portal.isp.example.",
    "32.1.2.0.192.rpz-ip 60 IN CNAME .", "24.0.100.51.198.rpz-ip 60 IN CNAME .",
    "*.c.nodes.example 60 IN CNAME .", "a.b.c.nodes.example 60 IN CNAME rpz-passthru.",
    "d.c.nodes.example 60 IN CNAME *.",
] + [f"n{i}.com 60 IN CNAME ." for i in range(60)] + [f"*.n{i}.com 60 IN CNAME ." for i in range(0, 60, 2)]


def _zone(lines: list[str]) -> str:
    return HEAD + "".join(f"{line}\n" for line in lines)


def _after(before: list[str], deleted: list[str], added: list[str]) -> list[str]:
    """The zone after the differences, as feeds/xfr.py patches the stored zone."""
    gone = {_key(d) for d in deleted}
    return [line for line in before if _key(line) not in gone] + added


def _both(tmp: Path, before: list[str], deleted: list[str], added: list[str]) -> tuple[bytes, bytes, object, object]:
    """(incremental set, full set, their stats); raises NotIncremental as apply_delta does."""
    (tmp / "a.src").write_text(_zone(before))
    (tmp / "b.src").write_text(_zone(_after(before, deleted, added)))
    a = compile_feed(tmp / "a.src", "rpz", tmp / "a.dset")
    b = compile_feed(tmp / "b.src", "rpz", tmp / "b.dset")
    prev = Previous(a.rules, a.exceptions, a.invalid, a.skipped, a.not_applied, a.networks,
                    bool(a.first_invalid_lines or a.first_skipped_lines))
    d = apply_delta(tmp / "a.dset", Delta(ORIGIN, deleted, added), prev, tmp / "d.dset")
    return (tmp / "d.dset").read_bytes(), (tmp / "b.dset").read_bytes(), d, b


CASES = {
    "add a name and its wildcard": ([], ["new.com 60 IN CNAME .", "*.new.com 60 IN CNAME ."]),
    "delete a name and its wildcard": (["nx.com 60 IN CNAME .", "*.nx.com 60 IN CNAME ."], []),
    "delete only the wildcard": (["*.nx.com 60 IN CNAME ."], []),
    "add a wildcard to a listed name": ([], ["*.n1.com 60 IN CNAME *."]),
    "change an action": (["nodata.net 60 IN CNAME *."], ["nodata.net 60 IN CNAME rpz-drop."]),
    "a block becomes a passthru": (["n3.com 60 IN CNAME ."], ["n3.com 60 IN CNAME rpz-passthru."]),
    "add each action": ([], [f"a{i}.kz 60 IN CNAME {t}" for i, t in
                             enumerate([".", "*.", "rpz-drop.", "rpz-tcp-only.", "rpz-passthru."])]),
    "a deeper name": ([], ["k.l.m.new.org 60 IN CNAME ."]),
    "delete a deep name": (["x.y.deep.com 60 IN CNAME ."], []),
    "the same name deleted and added again (a new TTL)": (["n5.com 60 IN CNAME ."], ["n5.com 300 IN CNAME ."]),
    "an added record the zone holds already": ([], ["n7.com 60 IN CNAME ."]),
    # half the n*.com have their wildcard too: a few more make `name` + `*.name` the commonest
    "the commonest action changes": ([], [f"*.n{i}.com 60 IN CNAME ." for i in range(1, 12, 2)]),
}


@pytest.mark.parametrize("case", CASES)
def test_the_differences_give_the_set_a_full_compile_gives(tmp_path: Path, case: str) -> None:
    deleted, added = CASES[case]
    incremental, full, d, b = _both(tmp_path, BASE, deleted, added)
    assert incremental == full
    for field in ("entries", "rules", "exceptions", "skipped", "networks", "digest"):
        assert getattr(d, field) == getattr(b, field), field


REFUSED = {
    "a name below a wildcard": ([], ["q.drop.org 60 IN CNAME ."]),
    "an empty node's shield": (["a.b.c.nodes.example 60 IN CNAME rpz-passthru."], []),
    "a wildcard above deeper names": ([], ["*.deep.com 60 IN CNAME ."]),
    "local data": (["local.kz 60 IN A 192.0.2.1"], []),
    "an IP trigger": ([], ["32.9.2.0.192.rpz-ip 60 IN CNAME ."]),
    "a deleted trigger the set does not hold": (["absent.com 60 IN CNAME ."], []),
    "two actions for one trigger": ([], ["nx.com 60 IN CNAME *."]),
    "an owner in capitals": ([], ["Caps.com 60 IN CNAME ."]),
    "most of the zone": ([f"n{i}.com 60 IN CNAME ." for i in range(60)], []),
}


@pytest.mark.parametrize("case", REFUSED)
def test_what_cannot_be_applied_exactly_is_refused(tmp_path: Path, case: str) -> None:
    deleted, added = REFUSED[case]
    with pytest.raises(NotIncremental):
        _both(tmp_path, BASE, deleted, added)


def test_a_set_that_counted_invalid_lines_is_compiled_in_full(tmp_path: Path) -> None:
    with pytest.raises(NotIncremental, match="invalid or unsupported"):
        _both(tmp_path, [*BASE, "8.zz.ns.example.rpz-nsdname 60 IN CNAME ."], [], ["new.com 60 IN CNAME ."])


def test_random_differences_are_exact_or_refused(tmp_path: Path) -> None:
    """Random zones of nested names and random differences: whenever the set is patched, it is
    the full compile's, byte for byte (and most of these are patched)."""
    rng = random.Random(20)
    labels = list("abcdefgh")
    actions = [".", "*.", "rpz-drop.", "rpz-tcp-only.", "rpz-passthru."]

    def line() -> str:
        name = ".".join(rng.choice(labels) for _ in range(rng.randint(1, 4))) + rng.choice([".com", ".kz"])
        return f"{'*.' if rng.random() < 0.3 else ''}{name} 60 IN CNAME {rng.choice(actions)}"

    patched = 0
    for _ in range(120):
        owners: dict[str, str] = {}
        for _ in range(rng.randint(5, 60)):
            text = line()
            owners.setdefault(text.split(" ", 1)[0], text)  # one CNAME per owner, as in a real zone
        before = list(owners.values())
        deleted = rng.sample(before, rng.randint(0, min(3, len(before))))
        fresh = [x for x in (line() for _ in range(3)) if x.split(" ", 1)[0] not in owners]
        added = list({x.split(" ", 1)[0]: x for x in fresh}.values())
        try:
            incremental, full, _, _ = _both(tmp_path, before, deleted, added)
        except NotIncremental:
            continue
        assert incremental == full, (before, deleted, added)
        patched += 1
    assert patched >= 30


def test_the_shipped_nodes_zone_carries_over(tmp_path: Path) -> None:
    """The nested triggers of tests/data/rpz/nodes.rpz stay as they are around a change."""
    nodes = [line.replace(" CNAME ", " 60 IN CNAME ") for line in
             (REPO / "tests" / "data" / "rpz" / "nodes.rpz").read_text().splitlines()
             if line and not line.startswith((";", "$", "@"))]
    incremental, full, _, _ = _both(tmp_path, [*BASE, *nodes], ["n9.com 60 IN CNAME ."], ["fresh.kz 60 IN CNAME ."])
    assert incremental == full
