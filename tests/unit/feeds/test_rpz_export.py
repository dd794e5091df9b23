"""`dnsfilter rpz export` (feeds/rpz_export.py): the zones, their order and serials, what each
list becomes, what is refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from dnsfilter import cli
from dnsfilter.config import Config, load
from feeds.rpz_export import export
from feeds.rpz_zone import read_head
from feeds.sync import sync_feed


def setup(tmp_path: Path, feeds: str, extra: str = "") -> Config:
    (tmp_path / "config.toml").write_text(f'[storage]\ndata_dir = "var"\n{feeds}\n{extra}\n')
    cfg = load(tmp_path / "config.toml")
    for f in cfg.feeds:
        assert not sync_feed(cfg, f).error
    return cfg


def records(path: Path) -> list[str]:
    return [x for x in path.read_text().splitlines()[5:] if x]


def feed(name: str, url: str, fmt: str, category: str, **more: str) -> str:
    extra = "".join(f'{k} = "{v}"\n' for k, v in more.items())
    return f'[[feeds]]\nname = "{name}"\nurl = "{url}"\nformat = "{fmt}"\ncategory = "{category}"\n{extra}'


def test_zones_in_order_with_their_ede(tmp_path: Path) -> None:
    (tmp_path / "gov.txt").write_text("banned.example\n")
    (tmp_path / "ok.txt").write_text("fine.example\n")
    (tmp_path / "ads.txt").write_text("ads.example\n")
    (tmp_path / "kids.txt").write_text("adult.example\n")
    cfg = setup(tmp_path, feed("gov", "gov.txt", "domains", "authority") + feed("kids", "kids.txt", "domains", "adult")
                + feed("ads", "ads.txt", "domains", "ads") + feed("ok", "ok.txt", "domains", "custom", kind="allow"),
                '[filter]\nallow = ["good.example"]\ndeny = ["bad.example"]\n'
                '[protection]\nalways_allow = ["helpline.example"]\n')
    out = export(cfg, tmp_path / "zones")
    assert [(z.zone, z.kind, z.ede) for z in out.zones] == [
        ("gov.authority.rpz.dnsfilter", "authority", 16), ("custom.rpz.dnsfilter", "custom", 15),
        ("allow.rpz.dnsfilter", "allow", None), ("ok.allowlist.rpz.dnsfilter", "allowlist", None),
        ("adult.rpz.dnsfilter", "category", 17), ("ads.rpz.dnsfilter", "category", 15)]
    z = tmp_path / "zones"
    assert records(z / "custom.rpz.dnsfilter.zone") == [
        "good.example CNAME rpz-passthru.", "*.good.example CNAME rpz-passthru.",
        "bad.example A 0.0.0.0", "bad.example AAAA ::", "*.bad.example A 0.0.0.0", "*.bad.example AAAA ::"]
    assert records(z / "allow.rpz.dnsfilter.zone") == ["helpline.example CNAME rpz-passthru.",
                                                      "*.helpline.example CNAME rpz-passthru."]
    head = (z / "ads.rpz.dnsfilter.zone").read_text().splitlines()
    assert head[1:5] == ["$ORIGIN ads.rpz.dnsfilter.", "$TTL 60",
                         f"@ SOA localhost. hostmaster.localhost. {out.zones[-1].serial} 600 60 1209600 60",
                         "@ NS localhost."]
    assert not list(z.glob("*.tmp")) and not list(z.glob("*.body"))


@pytest.mark.parametrize(("mode", "want"), [
    ("nxdomain", ["x.example CNAME .", "*.x.example CNAME ."]),
    ("ip:192.0.2.9", ["x.example A 192.0.2.9", "*.x.example A 192.0.2.9"]),
    ("ip:192.0.2.9,2001:db8::9", ["x.example A 192.0.2.9", "x.example AAAA 2001:db8::9",
                                  "*.x.example A 192.0.2.9", "*.x.example AAAA 2001:db8::9"]),
])
def test_blocks_follow_the_block_mode(tmp_path: Path, mode: str, want: list[str]) -> None:
    (tmp_path / "l.txt").write_text("x.example\n")
    cfg = setup(tmp_path, feed("l", "l.txt", "domains", "ads"), f'[dns]\nblock_mode = "{mode}"\n')
    export(cfg, tmp_path / "z")
    assert records(tmp_path / "z" / "ads.rpz.dnsfilter.zone") == want


def test_serials_grow_only_with_a_change(tmp_path: Path) -> None:
    (tmp_path / "l.txt").write_text("x.example\n")
    cfg = setup(tmp_path, feed("l", "l.txt", "domains", "ads"))
    path = tmp_path / "z" / "ads.rpz.dnsfilter.zone"
    first = export(cfg, tmp_path / "z", now=1_800_000_000).zones[0]
    stamp = path.stat().st_mtime_ns
    again = export(cfg, tmp_path / "z", now=1_800_000_500).zones[0]
    assert (first.serial, first.changed) == (1_800_000_000, True)
    assert (again.serial, again.changed, path.stat().st_mtime_ns) == (first.serial, False, stamp)
    (tmp_path / "l.txt").write_text("x.example\ny.example\n")
    assert not sync_feed(cfg, cfg.feeds[0]).error
    third = export(cfg, tmp_path / "z", now=1_700_000_000).zones[0]  # a clock set back: still up
    assert third.changed and third.serial == first.serial + 1 and read_head(path) == (third.serial, read_head(path)[1])


def test_hashed_lists_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "h.txt").write_text(hashlib.sha256(b"secret.example").hexdigest() + "\n")
    (tmp_path / "l.txt").write_text("x.example\n")
    cfg = setup(tmp_path, feed("h", "h.txt", "sha256", "authority") + feed("l", "l.txt", "domains", "ads"))
    out = export(cfg, tmp_path / "z")
    assert [z.zone for z in out.zones] == ["ads.rpz.dnsfilter"]
    assert out.refused == ["h: a hashed (sha256) list: its names are never written in clear, so it cannot be "
                           "exported: left out"]
    assert b"secret" not in b"".join(p.read_bytes() for p in (tmp_path / "z").iterdir())  # the records too
    # nothing but hashed lists: a clear line, exit 2
    (tmp_path / "config.toml").write_text('[storage]\ndata_dir = "var"\n' + feed("h", "h.txt", "sha256", "authority"))
    with pytest.raises(SystemExit) as e:
        cli.main(["rpz", "export", "-c", str(tmp_path / "config.toml"), "--out", str(tmp_path / "z2")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "nothing could be exported" in err and "hashed (sha256)" in err


def test_an_exception_keeps_the_blocks_around_it(tmp_path: Path) -> None:
    """`||c.example^` with `@@||a.b.c.example^`: in dnsfilter b.c.example and x.b.c.example stay
    blocked. A resolver reading the zone as a DNS zone would let them through (the empty node
    b.c.example shields them from `*.c.example`), so the zone says so explicitly."""
    (tmp_path / "l.txt").write_text("||c.example^\n@@||a.b.c.example^\n||other.example^\n")
    cfg = setup(tmp_path, feed("l", "l.txt", "adblock", "ads"), '[dns]\nblock_mode = "nxdomain"\n')
    export(cfg, tmp_path / "z")
    got = records(tmp_path / "z" / "ads.rpz.dnsfilter.zone")
    assert sorted(got) == sorted([
        "c.example CNAME .", "*.c.example CNAME .", "a.b.c.example CNAME rpz-passthru.",
        "*.a.b.c.example CNAME rpz-passthru.", "b.c.example CNAME .", "*.b.c.example CNAME .",
        "other.example CNAME .", "*.other.example CNAME ."])


def test_an_exception_another_list_blocks_is_left_out(tmp_path: Path) -> None:
    """In RPZ a passthru ends the search through the zones; in dnsfilter a list's exception lifts
    that list's blocks only. So where another list blocks the name, no passthru is written."""
    (tmp_path / "a.txt").write_text("||c.example^\n@@||shared.c.example^\n@@||own.c.example^\n")
    (tmp_path / "m.txt").write_text("shared.c.example\n")
    cfg = setup(tmp_path, feed("a", "a.txt", "adblock", "ads") + feed("m", "m.txt", "domains", "malware"),
                '[dns]\nblock_mode = "nxdomain"\n')
    export(cfg, tmp_path / "z")
    ads = records(tmp_path / "z" / "ads.rpz.dnsfilter.zone")
    assert "own.c.example CNAME rpz-passthru." in ads and not any(x.startswith("shared.") for x in ads)


def test_covered_names_and_duplicates_are_written_once(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x.example\nsub.x.example\nx.example\n")
    (tmp_path / "b.txt").write_text("x.example\ny.example\n")
    cfg = setup(tmp_path, feed("a", "a.txt", "domains", "ads") + feed("b", "b.txt", "domains", "ads"),
                '[dns]\nblock_mode = "nxdomain"\n')
    export(cfg, tmp_path / "z")
    assert records(tmp_path / "z" / "ads.rpz.dnsfilter.zone") == [
        "x.example CNAME .", "*.x.example CNAME .", "y.example CNAME .", "*.y.example CNAME ."]


def test_rpz_sources_keep_their_actions(tmp_path: Path) -> None:
    src = Path(__file__).parents[2] / "data" / "rpz" / "actions.rpz"
    cfg = setup(tmp_path, feed("p", str(src), "rpz", "malware"))
    export(cfg, tmp_path / "z")
    got = records(tmp_path / "z" / "malware.rpz.dnsfilter.zone")
    for line in ("nodata.rpz-actions.example CNAME *.", "drop.rpz-actions.example CNAME rpz-drop.",
                 "tcp.rpz-actions.example CNAME rpz-tcp-only.", "local.rpz-actions.example TXT \"walled garden\"",
                 "garden.rpz-actions.example CNAME portal.isp.example.", "*.mixed.rpz-actions.example CNAME *.",
                 "pass.nx.rpz-actions.example CNAME rpz-passthru.", "32.77.100.51.198.rpz-ip CNAME ."):
        assert line in got, line


def test_a_zone_no_longer_exported_is_emptied(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x.example\n")
    (tmp_path / "m.txt").write_text("y.example\n")
    cfg = setup(tmp_path, feed("a", "a.txt", "domains", "ads") + feed("m", "m.txt", "domains", "malware"))
    export(cfg, tmp_path / "z")
    cfg = setup(tmp_path, feed("a", "a.txt", "domains", "ads"))
    out = export(cfg, tmp_path / "z")
    assert out.emptied == ["malware.rpz.dnsfilter"]
    assert records(tmp_path / "z" / "malware.rpz.dnsfilter.zone") == []


def test_profile_zones_hold_what_each_profile_decides(tmp_path: Path) -> None:
    (tmp_path / "ads.txt").write_text("ads.example\nhelp.ads.example\n")
    (tmp_path / "adult.txt").write_text("adult.example\n")
    cfg = setup(tmp_path, feed("ads", "ads.txt", "domains", "ads") + feed("adult", "adult.txt", "domains", "adult"),
                '[dns]\nblock_mode = "nxdomain"\n[protection]\nalways_allow = ["help.ads.example"]\n'
                '[rpz]\nprofile_zones = true\n[defaults]\nprofile = "Adults"\n'
                '[[profiles]]\nname = "Adults"\nblock_categories = ["ads"]\n'
                '[[profiles]]\nname = "Kids & Teens"\nblock_categories = ["ads", "adult"]\ndeny = ["game.example"]\n')
    out = export(cfg, tmp_path / "z")
    assert [z.zone for z in out.zones][-2:] == ["adults.profile.rpz.dnsfilter", "kids-teens.profile.rpz.dnsfilter"]
    adults = records(tmp_path / "z" / "adults.profile.rpz.dnsfilter.zone")
    kids = records(tmp_path / "z" / "kids-teens.profile.rpz.dnsfilter.zone")
    assert "ads.example CNAME ." in adults and "help.ads.example CNAME rpz-passthru." in adults
    assert not any(x.startswith("adult.") for x in adults)
    assert "adult.example CNAME ." in kids and "game.example CNAME ." in kids


def test_check_names_the_action_of_a_policy_zone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    src = Path(__file__).parents[2] / "data" / "rpz" / "actions.rpz"
    cfg = setup(tmp_path, feed("p", str(src), "rpz", "malware") + feed("l", "l.txt", "domains", "ads")
                if (tmp_path / "l.txt").write_text("x.example\n") else "")
    for name, action in (("nodata.rpz-actions.example", "nodata"), ("drop.rpz-actions.example", "drop"),
                         ("x.example", "null")):
        assert cli.main(["check", "-c", cfg.path, name, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["action"] == action, name


def test_publish_runs_the_reload_command_after_a_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "l.txt").write_text("x.example\n")
    marker = tmp_path / "reloaded"
    setup(tmp_path, feed("l", "l.txt", "domains", "ads"),
          f'[rpz]\nout_dir = "zones"\nreload_command = "touch {marker}"\n')
    args = ["rpz", "publish", "-c", str(tmp_path / "config.toml")]
    assert cli.main(args) == 0 and marker.exists()
    assert (tmp_path / "zones" / "ads.rpz.dnsfilter.zone").exists() and "reload: touch" in capsys.readouterr().out
    marker.unlink()
    assert cli.main(args) == 0 and not marker.exists()  # nothing changed: no reload
    assert "reload: not needed" in capsys.readouterr().out
    (tmp_path / "l.txt").write_text("x.example\ny.example\n")
    cfg = setup(tmp_path, feed("l", "l.txt", "domains", "ads"), '[rpz]\nout_dir = "zones"\nreload_command = "false"\n')
    assert cli.main(["rpz", "publish", "-c", cfg.path]) == 1  # the reload failed: said, exit 1
    assert "reload: false: exit 1" in capsys.readouterr().out
    (tmp_path / "config.toml").write_text('[storage]\ndata_dir = "var"\n' + feed("l", "l.txt", "domains", "ads"))
    with pytest.raises(SystemExit) as e:
        cli.main(args)
    assert e.value.code == 2 and "out_dir is not set" in capsys.readouterr().err
