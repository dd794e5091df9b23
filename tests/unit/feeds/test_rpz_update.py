"""feeds/rpz_update.py's difference: what `publish = "update"` sends (the UPDATE itself is
tested against Knot in tests/integration/test_rpz_publish.py)."""

from __future__ import annotations

from pathlib import Path

from feeds.rpz_update import body_lines, difference
from feeds.rpz_zone import Action, Difference, Soa, ZoneWriter

HEAD = "; dnsfilter rpz export: z (x); digest 00\n$ORIGIN z.\n$TTL 60\n@ SOA localhost. h. 1 2 3 4 5\n@ NS localhost.\n"


def test_difference_is_exact_and_ignores_the_head(tmp_path: Path) -> None:
    old, body = tmp_path / "z.zone", tmp_path / "z.zone.body"
    old.write_text(HEAD + "a.example CNAME .\n*.a.example CNAME .\nb.example CNAME *.\nc.example A 192.0.2.1\n")
    body.write_text("b.example CNAME *.\nc.example A 192.0.2.1\nc.example A 192.0.2.1\nd.example CNAME rpz-drop.\n"
                    "c.example TXT \"two words\"\n")
    assert list(body_lines(old)) == ["a.example CNAME .", "*.a.example CNAME .", "b.example CNAME *.",
                                     "c.example A 192.0.2.1"]
    assert difference(old, body) == (["*.a.example CNAME .", "a.example CNAME ."],
                                     ["d.example CNAME rpz-drop.", 'c.example TXT "two words"'])
    assert difference(old, old) == ([], [])


def test_a_refused_publish_keeps_the_file(tmp_path: Path) -> None:
    def first(zone: str, old: Path, body: Path, known: Difference | None = None) -> int:
        raise AssertionError("no old file: nothing to send")

    with ZoneWriter(tmp_path, "z", "x", Soa(), 1000.0, first) as w:
        w.add("a.example", Action("nxdomain"))
    text = (tmp_path / "z.zone").read_text()
    assert w.changed and w.updated is None and not w.error

    def refuse(zone: str, old: Path, body: Path, known: Difference | None = None) -> int:
        assert difference(old, body) == ([], ["b.example CNAME ."])
        raise RuntimeError("the primary answered REFUSED")

    with ZoneWriter(tmp_path, "z", "x", Soa(), 2000.0, refuse) as w:
        w.add("a.example", Action("nxdomain"))
        w.add("b.example", Action("nxdomain"))
    assert (w.changed, w.updated, w.error, w.serial) == (False, None, "the primary answered REFUSED", 1000)
    assert (tmp_path / "z.zone").read_text() == text
    assert not list(tmp_path.glob("*.body")) and not list(tmp_path.glob("*.tmp"))

    with ZoneWriter(tmp_path, "z", "x", Soa(), 3000.0, lambda z, o, b, k=None: len(difference(o, b)[1])) as w:
        w.add("a.example", Action("nxdomain"))
        w.add("b.example", Action("nxdomain"))
    assert (w.changed, w.updated, w.serial) == (True, 1, 3000)
    assert "b.example CNAME ." in (tmp_path / "z.zone").read_text()
