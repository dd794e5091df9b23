"""On OpenWrt a family's settings and the web UI's account survive a restart and a reboot.

The init script renders /etc/config/dnsfilter (UCI) into the TOML in RAM at every start, and
the web UI edits that TOML: its edits must reach the UCI file, and its account must live on
flash (state_dir), not in data_dir (tmpfs). Real parts: the init script under busybox ash
with the shim of test_openwrt_init.py, the real Flask app (its forms), the real daemon asked
with dnspython from the device the parent put in a profile (dnsmasq's add-mac option, as the
package's forward mode sends it)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import pytest

from dnsfilter.router.uci_grammar import parse
from tests.deploy.test_openwrt_init import BUSYBOX, ROOT, Router
from tests.support.daemon import addrs, free_port, terminate
from tests.webui.helpers import PASSWORD, csrf_of, do_setup, login

pytestmark = pytest.mark.skipif(BUSYBOX is None, reason="needs busybox (Debian: busybox-static)")

TABLET = "02:aa:bb:cc:dd:01"
DENIED = "cartoons-all-night.example"
FOR_AN_HOUR = "games-for-an-hour.example"  # "Block this" from the log: on the tablet, for an hour


def _start(router: Router) -> subprocess.Popen[str]:
    """What procd does after `start_service`: the daemon on the rendered config."""
    import sys

    d = subprocess.Popen([sys.executable, "-m", "dnsfilter", "serve", "-c", str(router.run / "config.toml")],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    assert d.stdout is not None
    while "ready: answering" not in (line := d.stdout.readline()):
        assert line, "the daemon exited"
    return d


def _ask(port: int, name: str, mac: str) -> list[str]:
    """A query as dnsmasq forwards it for the device with this MAC (add-mac: option 65001)."""
    q = dns.message.make_query(name, "A", use_edns=0,
                               options=[dns.edns.GenericOption(65001, bytes.fromhex(mac.replace(":", "")))])
    return addrs(dns.query.udp(q, "127.0.0.1", port=port, timeout=3))


def _app(router: Router):  # type: ignore[no-untyped-def]
    from webui import create_app

    return create_app(str(router.run / "config.toml"), testing=True)


class Flashed(Router):
    """The router with its RAM in one folder (data_dir and the rendered TOML), to wipe at a reboot."""

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.port = free_port()
        self.ram = tmp / "tmpfs"
        self.set_uci(port=str(self.port), data_dir=str(self.ram / "lib"))
        self.run = self.ram / "etc"  # RUN_DIR (/var/etc/dnsfilter): RAM as well


@pytest.fixture
def router(tmp_path: Path) -> Flashed:
    return Flashed(tmp_path)


def test_ui_edits_reach_uci_and_survive_a_restart_and_a_reboot(router: Flashed) -> None:
    port = router.port
    assert router.init("start_service").returncode == 0
    daemon = _start(router)
    try:
        c = _app(router).test_client()
        do_setup(c)  # the setup form: password, time zone, protection level
        r = c.post("/profiles", data={"csrf_token": csrf_of(c, "/profiles"), "name": "Kids"})
        assert r.status_code == 302, r.get_data(as_text=True)
        form = {"csrf_token": csrf_of(c, "/profiles/Kids"), "deny": DENIED, "service": "tiktok",
                "cat_adult": "1", "safe_search": "1", "privacy": "full"}
        r = c.post("/profiles/Kids", data=form)
        assert r.status_code == 200 and "Saved." in r.get_data(as_text=True), r.get_data(as_text=True)
        r = c.post(f"/devices/{TABLET}/profile",
                   data={"csrf_token": csrf_of(c, "/devices"), "profile": "Kids", "name": "Tablet"})
        assert r.status_code == 302
        assert _ask(port, DENIED, TABLET) == ["0.0.0.0"]  # the running daemon took it (reload)
        # "Block this" for an hour on the tablet, from the log: once the daemon has written the
        # tablet's sighting (every few seconds), the UI knows the device
        for _ in range(40):
            r = c.post("/log/block", data={"csrf_token": csrf_of(c, "/log"), "name": FOR_AN_HOUR, "device": TABLET,
                                           "scope": "device", "for": "1h"})
            assert r.status_code == 302
            if "is blocked on" in c.get(r.location).get_data(as_text=True):
                break
            time.sleep(0.5)
        assert _ask(port, FOR_AN_HOUR, TABLET) == ["0.0.0.0"]  # an expiring block, not a setting
    finally:
        terminate(daemon)  # type: ignore[arg-type]

    # the UCI file holds the edits, in a form libuci reads (the grammar matches its strict mode)
    sections = parse(router.uci.read_text())
    kids = next(s for s in sections if s.type == "profile" and s.options.get("name", s.name) == "Kids")
    assert DENIED in kids.options["deny"] and "tiktok" in kids.options["block_service"]
    assert any(s.type == "device" and s.options.get("mac") == TABLET for s in sections)
    main = next(s for s in sections if s.type == "dnsfilter")
    assert main.options["timezone"] == "Asia/Almaty"
    assert "# Profiles and devices (uncomment to use):" in router.uci.read_text()  # its comments kept
    assert not list(router.uci.parent.glob(router.uci.name + ".*"))  # no .bak: /etc/config holds packages only

    # a restart renders UCI again: the profile, the device and the deny rule are still there
    assert router.init("start_service").returncode == 0
    daemon = _start(router)
    try:
        assert _ask(port, DENIED, TABLET) == ["0.0.0.0"]
    finally:
        terminate(daemon)  # type: ignore[arg-type]

    # a reboot: RAM is empty again (data_dir, the rendered TOML), flash (UCI, state_dir) is kept
    shutil.rmtree(router.ram)
    assert router.init("start_service").returncode == 0
    daemon = _start(router)
    try:
        assert _ask(port, DENIED, TABLET) == ["0.0.0.0"]
        assert _ask(port, FOR_AN_HOUR, TABLET) == ["0.0.0.0"]  # the parent's hour outlives the reboot
        assert (router.flash / "family.db").exists() and not list(router.ram.rglob("family.db*"))
        c = _app(router).test_client()
        r = c.get("/setup")
        assert r.status_code == 302 and "/login" in r.location  # not asked to set up again
        login(c, PASSWORD)  # the password set before the reboot
        kids = c.get("/profiles/Kids").get_data(as_text=True)
        assert "Rules for now" in kids and FOR_AN_HOUR in kids
    finally:
        terminate(daemon)  # type: ignore[arg-type]
