"""The audit trail (dnsfilter/authority/audit.py): every append links to the line before it, so
an edited, removed or reordered line is found by `verify`; a torn last line (a write cut short by
a power cut) is reported, and the next append records it in the chain instead of dropping it."""

from __future__ import annotations

import json
from pathlib import Path

from dnsfilter.authority import audit


def fill(path: Path, n: int = 5) -> None:
    for i in range(n):
        audit.append(path, "fetched", now=1000.0 + i, feed="gov", version=f"v{i}", entries=i)


def test_a_fresh_chain_verifies_and_reads_back(tmp_path: Path) -> None:
    p = tmp_path / "audit.jsonl"
    assert audit.verify(p).ok and audit.verify(p).lines == 0  # no log yet: nothing to break
    fill(p)
    rep = audit.verify(p)
    assert rep.ok and rep.lines == 5 and not rep.torn
    recs = list(audit.records(p))
    assert [r["seq"] for r in recs] == [0, 1, 2, 3, 4] and recs[0]["prev"] == audit.GENESIS
    assert recs[1]["prev"] == audit.line_hash(p.read_bytes().split(b"\n")[0])
    assert rep.head == audit.line_hash(p.read_bytes().split(b"\n")[4])
    assert [r["version"] for r in audit.records(p, since=1003.0)] == ["v3", "v4"]
    assert recs[2]["time"] == "1970-01-01T00:16:42.000Z"


def lines(p: Path) -> list[bytes]:
    return p.read_bytes().splitlines(keepends=True)


def test_an_edited_line_is_found(tmp_path: Path) -> None:
    p = tmp_path / "audit.jsonl"
    fill(p)
    ls = lines(p)
    ls[2] = ls[2].replace(b'"entries":2', b'"entries":9')
    p.write_bytes(b"".join(ls))
    rep = audit.verify(p)
    assert not rep.ok and rep.problems == ["line 4: does not follow the line before it (a line was edited, "
                                           "removed or reordered)"]


def test_a_removed_or_reordered_line_is_found(tmp_path: Path) -> None:
    p = tmp_path / "audit.jsonl"
    fill(p)
    ls = lines(p)
    p.write_bytes(b"".join(ls[:2] + ls[3:]))
    assert not audit.verify(p).ok
    p.write_bytes(b"".join([ls[0], ls[2], ls[1], *ls[3:]]))
    assert not audit.verify(p).ok
    p.write_bytes(b"".join(ls[1:]))  # the first line removed: the second no longer starts the chain
    assert not audit.verify(p).ok


def test_a_line_replaced_by_garbage_is_a_problem_not_a_torn_write(tmp_path: Path) -> None:
    p = tmp_path / "audit.jsonl"
    fill(p)
    ls = lines(p)
    ls[1] = b"{not json\n"
    p.write_bytes(b"".join(ls))
    rep = audit.verify(p)
    assert not rep.ok and "line 2" in rep.problems[0]


def test_a_torn_last_line_is_reported_then_recorded_by_the_next_append(tmp_path: Path) -> None:
    p = tmp_path / "audit.jsonl"
    fill(p, 3)
    whole = p.read_bytes()
    fragment = b'{"seq":3,"time":"1970-01-01T00:16:43.000Z","ts":1003.0,"event":"fetc'
    p.write_bytes(whole + fragment)  # a power cut in the middle of a write
    rep = audit.verify(p)
    assert rep.ok and len(rep.torn) == 1 and "line 4: the last line is torn" in rep.torn[0]
    audit.append(p, "effective", now=2000.0, feed="gov", version="v2")
    rep = audit.verify(p)
    assert rep.ok, rep.problems
    assert rep.lines == 6 and "line 4: a write cut short" in rep.torn[0]
    recs = list(audit.records(p))
    assert [r["event"] for r in recs] == ["fetched", "fetched", "fetched", "torn", "effective"]
    assert [r["seq"] for r in recs] == [0, 1, 2, 3, 4]
    assert recs[3]["bytes"] == len(fragment) and recs[3]["prev"] == audit.line_hash(whole.split(b"\n")[2])
    # the fragment cannot be removed without breaking the chain
    ls = lines(p)
    p.write_bytes(b"".join(ls[:3] + ls[4:]))
    assert not audit.verify(p).ok


def test_no_record_holds_anything_about_queries(tmp_path: Path) -> None:
    """The writers pass list facts only; this pins the record's own keys."""
    p = tmp_path / "audit.jsonl"
    rec = audit.append(p, "selftest", feed="gov", probed=10, misses=0)
    assert set(rec) == {"seq", "time", "ts", "event", "feed", "probed", "misses", "prev"}
    assert json.loads(p.read_text())["event"] == "selftest"
