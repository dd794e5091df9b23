"""The TOML → UCI writer (dnsfilter/router/uci_write.py): render(write(toml)) loads as the same
config as toml, for config.example.toml's settings, the OpenWrt package's default config and
after each of the web UI's edits; the file keeps what it can (lines, comments, other sections);
a setting UCI cannot hold is refused and nothing is written."""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from dnsfilter import config
from dnsfilter.config import ConfigError
from dnsfilter.router.uci import parse, render, source_of, to_dict, to_toml
from dnsfilter.router.uci_write import UciWriteError, write
from tests.deploy.test_uci import FULL, MANAGED

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_UCI = (ROOT / "deploy/openwrt/files/dnsfilter.config").read_text()
PATH = "/var/etc/dnsfilter/config.toml"


def same(uci_text: str, data: dict[str, Any]) -> None:
    """The UCI file, read by the libuci-strict parser and rendered, is the config `data` is."""
    assert config.from_dict(render(parse(uci_text)), PATH) == config.from_dict(data, PATH)


@pytest.mark.parametrize("text", [DEFAULT_UCI, FULL, MANAGED], ids=["package default", "full", "managed"])
def test_an_unchanged_config_leaves_the_file_as_it_is(text: str) -> None:
    assert write(text, to_dict(text), PATH) == text


def _example_household() -> dict[str, Any]:
    """config.example.toml's commented household (profiles, a schedule, a device), uncommented."""
    text = (ROOT / "config.example.toml").read_text()
    block = text.split("# Profiles and devices (uncomment to use):\n", 1)[1].split("\n\n", 1)[0]
    lines = [re.sub(r"^#( |$)", "", ln) for ln in block.splitlines()]
    data = tomllib.loads("\n".join(ln for ln in lines if not ln.lstrip().startswith("block_page")))
    assert data["profiles"][0]["schedules"] and data["devices"], "the example's household changed shape"
    return data


def test_config_example_settings_round_trip() -> None:
    example = tomllib.loads((ROOT / "config.example.toml").read_text())
    data = to_dict(DEFAULT_UCI)
    for section in ("general", "dns", "filter", "protection", "defaults", "notify"):
        data[section] = {**data.get(section, {}), **example[section]}
    # UCI derives these two from `mode` and its default lease file: not set from a TOML file
    data["network"]["neighbours"] = example["network"]["neighbours"]
    data |= _example_household()
    out = write(DEFAULT_UCI, data, PATH)
    same(out, data)
    assert "config schedule" in out and "list budget 'youtube=60m'" in out


def test_the_package_default_into_an_empty_file() -> None:
    data = to_dict(DEFAULT_UCI)
    out = write("", data, PATH)
    same(out, data)
    assert write(out, data, PATH) == out


def _edits() -> list[tuple[str, Any]]:
    """Each edit the web UI makes (webui/edits.py and the pages' own), in the order a family
    might make them; every one must round-trip."""
    from webui import edits, feedsui, logview, protection, system, timerules
    from webui.pages_requests import set_weekly

    rows = [timerules.ScheduleRow("bedtime", ["mon", "tue"], "21:00", "07:00"),
            timerules.ScheduleRow("homework", ["wed"], "15:00", "17:00", False, ["games", "youtube"])]
    return [
        ("time zone", edits.set_timezone("Asia/Almaty")),
        ("protection level", edits.set_protection_level("strict")),
        ("add profile", edits.add_profile("Kids", ["ads", "adult"])),
        ("add profile 2", edits.add_profile("Teens")),
        ("profile settings", edits.update_profile("Kids", {
            "block_services": ["tiktok", "games"], "allow": ["khanacademy.org"], "deny": ["cartoons.example"],
            "safe_search": True, "block_bypass": True, "privacy": "counts"})),
        ("no category at all", edits.update_profile("Teens", {"block_categories": []})),
        ("device by MAC", edits.assign_device("AA-BB-CC-DD-EE-01", "Kids", "Aru's tablet")),
        ("device by address", edits.assign_device_ip("192.168.1.50", "Teens", "")),
        ("device moved", edits.assign_device("aa:bb:cc:dd:ee:01", "Teens", "")),
        ("schedules and budgets", timerules.set_time_rules("Kids", rows, [("youtube", "60"), ("games", "2h")])),
        ("fewer schedules", timerules.set_time_rules("Kids", rows[1:], [("youtube", "60"), ("games", "2h")])),
        ("household deny", logview.list_edit(logview.Target(None), "casino.example", "block")),
        ("profile allow", logview.list_edit(logview.Target("Kids"), "casino.example", "allow")),
        ("catalog list", feedsui.add_catalog("hagezi-gambling")),
        ("own list", feedsui.add_custom("school-list", "https://lists.example/school.txt", "adult")),
        ("list off", feedsui.set_enabled("hagezi-tif-medium", False)),
        ("lists for categories", protection.enable_lists([])),
        ("settings", system.set_general(system.General(["9.9.9.9", "tls://dns.quad9.net"], "nxdomain", "",
                                                       "Asia/Almaty"))),
        ("weekly report", set_weekly("mon 08:30")),
        ("forget device", edits.forget_device("aa:bb:cc:dd:ee:01", None)),
        ("forget the last device", edits.forget_device(None, "192.168.1.50")),
    ]


def test_every_ui_edit_round_trips() -> None:
    import tomlkit

    from webui import create_app

    uci = DEFAULT_UCI
    doc = tomlkit.parse(to_toml(to_dict(uci), "/etc/config/dnsfilter"))
    with create_app(str(ROOT / "config.example.toml"), testing=True).test_request_context():
        for what, edit in _edits():
            edit(doc)
            data = doc.unwrap()
            config.from_dict(data, PATH)  # the edit is valid (what configfile.apply checks first)
            uci = write(uci, data, PATH)
            try:
                same(uci, data)
            except AssertionError:
                pytest.fail(f"after {what!r} the UCI file renders another config:\n{uci}")
    sections = parse(uci)
    assert not [s for s in sections if s.type == "device"]
    kids = next(s for s in sections if s.options.get("name", s.name) == "Kids")
    assert kids.options["privacy"] == "counts" and kids.options["budget"] == ["youtube=60m", "games=2h"]
    teens = next(s for s in sections if s.options.get("name", s.name) == "Teens")
    assert teens.options["block_category"] == ["none"]  # blocks no category: UCI has no empty list
    assert len([s for s in sections if s.type == "schedule"]) == 1
    assert "# Profiles and devices (uncomment to use):" in uci and "# malware, about 184,000 names" in uci


def test_only_changed_options_move() -> None:
    data = to_dict(DEFAULT_UCI)
    data["general"]["timezone"] = "Asia/Almaty"
    out = write(DEFAULT_UCI, data, PATH)
    diff = [(a, b) for a, b in zip(DEFAULT_UCI.splitlines(), out.splitlines(), strict=True) if a != b]
    assert diff == [("\toption timezone 'UTC'", "\toption timezone 'Asia/Almaty'")]


def test_quotes_and_several_commands_a_line() -> None:
    text = "config dnsfilter 'main'; option hostname 'a.lan'; option timezone UTC\nconfig profile kids\n option name Kids\n"
    data = to_dict(text)
    data["profiles"][0]["deny"] = ["x.example"]
    data["devices"] = [{"name": "Aru's \"tab\"", "mac": "aa:bb:cc:dd:ee:ff", "profile": "Kids"}]
    out = write(text, data, PATH)
    same(out, data)
    assert "option name 'Aru'\\''s \"tab\"'" in out  # as `uci export` quotes a '


def test_a_setting_uci_cannot_hold_is_refused() -> None:
    data = to_dict(DEFAULT_UCI)
    data["dns"]["serve_stale"] = False  # no UCI option for it
    with pytest.raises(UciWriteError, match=r"\[dns\]"):
        write(DEFAULT_UCI, data, PATH)
    data = copy.deepcopy(to_dict(DEFAULT_UCI))
    data["feeds"].reverse()  # the order of lists: the file keeps its own
    with pytest.raises(UciWriteError, match=r"\[feeds\]"):
        write(DEFAULT_UCI, data, PATH)


def test_through_the_ui_a_refused_edit_writes_nothing(tmp_path: Path) -> None:
    """configfile.apply on a rendered TOML: the change goes to UCI; one with no UCI form is
    refused, and neither file changes."""
    from webui import configfile, edits

    uci = tmp_path / "dnsfilter"
    uci.write_text(DEFAULT_UCI.replace("/var/lib/dnsfilter", str(tmp_path / "var")))
    toml = tmp_path / "config.toml"
    toml.write_text(to_toml(to_dict(uci.read_text()), str(uci)))
    assert source_of(toml.read_text()) == str(uci)
    configfile.apply(toml, edits.set_timezone("Asia/Almaty"), reload=False)
    assert "option timezone 'Asia/Almaty'" in uci.read_text()
    assert toml.read_text() == to_toml(to_dict(uci.read_text()), str(uci))  # what a restart renders
    before = (uci.read_text(), toml.read_text())

    def hostile(doc: Any) -> None:
        doc["dns"]["serve_stale"] = False

    with pytest.raises(ConfigError):
        configfile.apply(toml, hostile, reload=False)
    assert (uci.read_text(), toml.read_text()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "config.toml.bak", "dnsfilter"]


# Options the renderer reads that the writer leaves as they are: settings of the init script
# (how dnsfilter sits next to dnsmasq, the UI's address), of the provider and authority
# sections, and a feed's TSIG key (the UI never edits them; an edit elsewhere keeps them).
NOT_WRITTEN = {"mode", "port", "force_dns", "web_listen",
               "bundle_url", "ca_file", "audit_log",
               "selftest_interval", "selftest_sample", "selftest_rate",
               "tsig_name", "tsig_algorithm", "tsig_secret_file"}


def test_every_option_the_renderer_reads_is_written_or_named_as_left_alone() -> None:
    """The writer's tables and the renderer's code name the same UCI options: one added to the
    renderer alone would make every UI edit of it a refusal, one the writer alone knows would
    write options nothing reads."""
    from dnsfilter.router import uci_write

    read = set(re.findall(r'o\.(?:str|int|list|bool|has|float)\("([a-z_]+)"',
                          (ROOT / "dnsfilter/router/uci.py").read_text()))
    written = {row[2] for row in uci_write.MAIN} | {row[1] for table in (
        uci_write.FEED, uci_write.PROFILE, uci_write.SCHEDULE, uci_write.DEVICE) for row in table}
    assert read - written - NOT_WRITTEN == set(), "read but neither written nor named as left alone"
    assert written - read == set(), "written but never read"
