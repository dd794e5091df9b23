"""dnsfilter.shell.household's control commands on a stand-in engine: today's budget use per
device (`usage`) and pauses by their normalised target (`pause`)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

from dnsfilter import config as config_mod
from dnsfilter.core.household.budget import Budgets
from dnsfilter.core.household.timestate import ProfileTime, TimeRules
from dnsfilter.shell.household import Household

TAB = "device:aa:bb:cc:dd:ee:ff"


def _household(tmp_path: Path) -> tuple[Household, TimeRules]:
    cfg = config_mod.from_dict({"storage": {"data_dir": str(tmp_path)}})
    rules = TimeRules({"Kids": ProfileTime(budgets=Budgets({"youtube": 60}, "UTC")), "Adults": ProfileTime()}, "UTC")
    engine = SimpleNamespace(time=rules, policy=SimpleNamespace(profiles={"Kids": None, "Adults": None}),
                             forget_all=lambda: None)
    return Household(cfg, lambda: engine), rules


def test_usage_shows_todays_devices_of_profiles_with_budgets(tmp_path):
    hh, rules = _household(tmp_path)
    budgets = rules.profiles["Kids"].budgets
    assert budgets is not None
    now = time.time()
    budgets.record(TAB, "youtube", now)
    budgets.record(TAB, "youtube", now - 60)
    budgets.record("device:11:22:33:44:55:66", "youtube", now - 86400)  # yesterday's: not shown
    usage = hh.usage()
    assert list(usage) == ["Kids"]
    assert usage["Kids"]["limits"] == {"youtube": 60}
    assert usage["Kids"]["devices"] == {TAB: {"youtube": {"used": budgets.used(TAB, "youtube", now), "limit": 60,
                                                                  "extra": 0}}}


def test_pause_takes_the_target_in_any_notation_and_says_it_normalised(tmp_path):
    hh, rules = _household(tmp_path)
    ok, message = hh.pause("device:AA-BB-CC-DD-EE-FF", 30)
    assert ok and message == f"{TAB} paused for 30 minutes"
    assert rules.pauses.paused(TAB, time.time()) is not None
    assert TAB in json.loads((tmp_path / "household.json").read_text())["pauses"]  # saved for a restart
    assert hh.pause("printer:1", 30) == (False, "unknown target (profile:NAME, device:MAC or device:IP)")
    assert hh.pause("profile:Nobody", 30)[0] is False


def test_pauses_and_budgets_go_to_state_dir_and_are_written_only_when_they_change(tmp_path):
    """household.json is on flash on a router ([storage] state_dir): a save with nothing new
    writes nothing, and a restart's load counts as written."""
    cfg = config_mod.from_dict({"storage": {"data_dir": str(tmp_path / "ram"), "state_dir": str(tmp_path / "flash")}})
    rules = TimeRules({"Kids": ProfileTime(budgets=Budgets({"youtube": 60}, "UTC"))}, "UTC")
    engine = SimpleNamespace(time=rules, forget_all=lambda: None)
    hh = Household(cfg, lambda: engine)
    path = tmp_path / "flash" / "household.json"

    def stamp() -> tuple[int, int]:
        st = path.stat()
        return st.st_ino, st.st_mtime_ns

    budgets = rules.profiles["Kids"].budgets
    assert budgets is not None
    budgets.record(TAB, "youtube", time.time())
    hh.save_state()
    first = stamp()
    assert not (tmp_path / "ram" / "household.json").exists()
    hh.save_state()
    assert stamp() == first  # unchanged: not written again
    budgets.record(TAB, "youtube", time.time() + 120)
    hh.save_state()
    assert stamp() != first
    again = Household(cfg, lambda: engine)
    again.load_state()
    written = stamp()
    again.save_state()
    assert stamp() == written
