"""/etc/init.d/dnsfilter and the uci-defaults script run under Debian's busybox ash (the shell
OpenWrt uses), with procd's helpers and `uci` replaced by a shim that records every call.
The UCI → TOML helper and `dnsfilter firewall render` are the real ones."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dnsfilter import config
from tests.support.daemon import free_port, terminate

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "deploy/openwrt/files"
SHIM = Path(__file__).with_name("openwrt_shim.sh")
BUSYBOX = shutil.which("busybox")

pytestmark = pytest.mark.skipif(BUSYBOX is None, reason="needs busybox (Debian: busybox-static)")


class Router:
    """A throwaway directory standing in for the router's filesystem."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.calls = tmp / "calls"
        self.state = tmp / "uci-state"
        self.uci = tmp / "etc-config-dnsfilter"
        self.run = tmp / "var-etc-dnsfilter"
        self.fw = tmp / "nftables.d/table-post/30-dnsfilter.nft"
        self.dnsmasq_dir = tmp / "dnsmasq.d"
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        self.helper = self._script(bin_dir / "dnsfilter-uci",
                                   f'exec "{sys.executable}" "{FILES / "dnsfilter-uci"}" "$@"')
        self.prog = self._script(bin_dir / "dnsfilter", f'exec "{sys.executable}" -m dnsfilter "$@"')
        self.dnsmasq = self._script(bin_dir / "dnsmasq-init", f'echo "dnsmasq_init $*" >> "{self.calls}"')
        self.firewall = self._script(bin_dir / "firewall-init", f'echo "firewall_init $*" >> "{self.calls}"')
        # the router's flash: the package's state_dir (/etc/dnsfilter) moved into the sandbox
        self.flash = tmp / "etc-dnsfilter"
        self.uci.write_text((FILES / "dnsfilter.config").read_text().replace(
            "option state_dir '/etc/dnsfilter'", f"option state_dir '{self.flash}'"))
        self.state.write_text(f"dhcp.@dnsmasq[0].confdir={self.dnsmasq_dir}\nnetwork.lan.ipaddr=192.168.1.1/24\n")

    @staticmethod
    def _script(path: Path, body: str) -> Path:
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
        return path

    def sh(self, script: Path, actions: str, **extra: str) -> subprocess.CompletedProcess[str]:
        self.calls.write_text("")
        env = {**extra, "PATH": os.environ["PATH"], "CALLS": str(self.calls), "UCI_STATE": str(self.state),
               "PROG": str(self.prog), "HELPER": str(self.helper), "UCI_CONFIG": str(self.uci),
               "RUN_DIR": str(self.run), "FW_INCLUDE": str(self.fw), "DNSMASQ_INIT": str(self.dnsmasq),
               "FIREWALL_INIT": str(self.firewall), "PYTHONPATH": str(ROOT)}
        cmd = f'. "{SHIM}"; . "{script}"; {actions}'
        return subprocess.run([BUSYBOX, "ash", "-c", cmd], env=env, capture_output=True, text=True, timeout=60)

    def init(self, actions: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return self.sh(FILES / "dnsfilter.init", actions, **extra)

    def recorded(self) -> list[str]:
        return self.calls.read_text().splitlines()

    def set_uci(self, **options: str) -> None:
        text = self.uci.read_text()
        for k, v in options.items():
            text, n = re.subn(rf"(?m)^\toption {k} .*$", f"\toption {k} '{v}'", text)
            assert n == 1, k
        self.uci.write_text(text)


@pytest.fixture
def router(tmp_path: Path) -> Router:
    return Router(tmp_path)


def test_start_registers_the_procd_instance(router: Router):
    r = router.init("start_service; service_triggers")
    assert r.returncode == 0, r.stderr
    calls = router.recorded()
    toml = router.run / "config.toml"
    assert "procd_open_instance [dnsfilter]" in calls
    # to syslog: procd would log each stderr line as daemon.err (tests/integration/test_log_targets.py)
    assert f"procd_set_param [command] [{router.prog}] [serve] [-c] [{toml}] [--log-to] [syslog]" in calls
    assert "procd_set_param [respawn] [3600] [5] [5]" in calls
    assert f"procd_set_param [file] [{router.uci}] [{toml}]" in calls
    assert "procd_add_reload_trigger [dnsfilter]" in calls
    assert calls.index("procd_open_instance [dnsfilter]") < calls.index("procd_close_instance")
    cfg = config.load(toml)  # the rendered config is what the daemon will load
    assert [str(x) for x in cfg.dns.listen] == ["127.0.0.1:5353", "[::1]:5353"]


def test_forward_mode_points_dnsmasq_at_dnsfilter_with_client_identity(router: Router):
    assert router.init("start_service").returncode == 0
    conf = (router.dnsmasq_dir / "dnsfilter.conf").read_text().splitlines()
    for line in ("no-resolv", "server=127.0.0.1#5353", "add-mac", "add-subnet=32,128", "strip-mac",
                 "strip-subnet", "cache-size=0"):
        assert line in conf
    assert conf.index("strip-mac") < conf.index("add-mac")
    assert "dnsmasq_init restart" in router.recorded()
    # the same config again: dnsmasq is left alone
    assert router.init("start_service").returncode == 0
    assert "dnsmasq_init restart" not in router.recorded()
    assert not router.fw.exists()  # force_dns is off by default
    # stop: the fragment goes and dnsmasq is restarted without it
    assert router.init("stop_service").returncode == 0
    assert not (router.dnsmasq_dir / "dnsfilter.conf").exists()
    assert "dnsmasq_init restart" in router.recorded()


def test_default_dnsmasq_confdir_is_per_instance(router: Router):
    router.state.write_text("")
    r = router.init("dnsmasq_confdir")
    assert r.stdout.strip() == "/tmp/dnsmasq.cfg01411c.d"


def test_dnsmasq_confdir_drops_a_file_filter(router: Router):
    """dnsmasq's conf-dir takes `DIR,*.conf` (only .conf files) or `DIR,.bak` (not .bak files):
    the folder is the part before the comma."""
    router.state.write_text(f"dhcp.@dnsmasq[0].confdir={router.dnsmasq_dir},*.conf\n")
    assert router.init("dnsmasq_confdir").stdout.strip() == str(router.dnsmasq_dir)
    assert router.init("start_service").returncode == 0
    assert (router.dnsmasq_dir / "dnsfilter.conf").exists()
    assert not list(router.tmp.glob("dnsmasq.d,*"))


def test_info_gives_the_web_uis_address_and_setup_code(router: Router):
    r = router.init("info")
    assert r.returncode == 0, r.stderr
    assert "web UI off" in r.stdout and "uci set dnsfilter.main.web_listen='192.168.1.1:8080'" in r.stdout
    assert "open http://192.168.1.1:8080/" in r.stdout and "logread -e dnsfilter" in r.stdout
    with router.state.open("a") as f:
        f.write("dnsfilter.main.web_listen=192.168.1.1:8080\n")
    router.set_uci(data_dir=str(router.tmp / "data"))  # the file the daemon would read, with the web UI on
    router.uci.write_text(router.uci.read_text().replace(
        "\toption enabled '1'\n", "\toption enabled '1'\n\toption web_listen '192.168.1.1:8080'\n", 1))
    r = router.init("info")
    assert "dnsfilter: web UI at http://192.168.1.1:8080/" in r.stdout
    # the one-time setup code, as routers print theirs: made in state_dir (flash) for the daemon
    # (which prints the same one at start), and the same code on every `info` until setup is done
    assert not (router.tmp / "data/webui").exists()
    code = (router.flash / "webui/setup-code").read_text().strip()
    shown = f"{code[:3]}-{code[3:6]}-{code[6:]}"
    assert f"dnsfilter: setup code: {shown} (enter it at http://192.168.1.1:8080/setup)" in r.stdout, r.stdout + r.stderr
    assert f"setup code: {shown} " in router.init("info").stdout
    (router.flash / "webui/admin.json").write_text("{}")  # what setup leaves
    assert "dnsfilter: setup is done: log in with the admin password" in router.init("info").stdout


def test_status_says_whether_it_answers_and_how_the_feeds_are(router: Router):
    r = router.init("status_service", PROCD_STATUS="inactive")
    assert r.returncode != 0 and r.stdout.strip() == "inactive"
    # procd says running but nothing answers on the control socket: said so
    state = router.tmp / "state"
    router.set_uci(port=str(free_port()), data_dir=str(state))
    assert router.init("start_service").returncode == 0
    r = router.init("status_service")
    assert r.returncode == 1 and "does not answer on its control socket" in r.stdout
    daemon = subprocess.Popen([sys.executable, "-m", "dnsfilter", "serve", "-c", str(router.run / "config.toml")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        assert daemon.stdout is not None
        while "ready: answering" not in (line := daemon.stdout.readline()):
            assert line, "the daemon exited"
        r = router.init("status_service")
    finally:
        terminate(daemon)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "running" and any(ln.startswith("starter") for ln in lines[1:]), lines


def test_replace_mode_turns_dnsmasq_dns_off_and_back(router: Router):
    router.set_uci(mode="replace")
    assert router.init("start_service").returncode == 0
    calls = router.recorded()
    assert "uci [-q] [set] [dhcp.@dnsmasq[0].port=0]" in calls
    assert "uci [-q] [add_list] [dhcp.lan.dhcp_option=6,192.168.1.1]" in calls
    assert "uci [-q] [commit] [dhcp]" in calls and "dnsmasq_init restart" in calls
    cfg = config.load(router.run / "config.toml")
    assert [str(x) for x in cfg.dns.listen] == ["lan:53", "127.0.0.1:53", "[::1]:53"]
    assert not (router.dnsmasq_dir / "dnsfilter.conf").exists()
    assert router.init("start_service").returncode == 0  # already applied: no second add_list
    assert not any("add_list" in c for c in router.recorded())
    assert router.init("stop_service").returncode == 0
    calls = router.recorded()
    assert "uci [-q] [delete] [dhcp.@dnsmasq[0].port]" in calls
    assert "uci [-q] [del_list] [dhcp.lan.dhcp_option=6,192.168.1.1]" in calls
    assert "dhcp.@dnsmasq[0].port" not in router.state.read_text()


def test_force_dns_installs_the_fw4_include(router: Router):
    router.set_uci(force_dns="1")
    assert router.init("start_service").returncode == 0
    text = router.fw.read_text()
    assert "dnsfilter_redirect_dns" in text and "redirect to :53" in text
    assert "firewall_init reload" in router.recorded()
    # the daemon is told where the include is, to keep it in step with the DoH feed
    assert f"procd_set_param [env] [DNSFILTER_FW4_INCLUDE={router.fw}]" in router.recorded()
    assert router.init("start_service").returncode == 0  # unchanged rules: no firewall reload
    assert "firewall_init reload" not in router.recorded()
    assert router.init("stop_service").returncode == 0
    assert not router.fw.exists() and "firewall_init reload" in router.recorded()


def test_without_force_dns_no_include_and_no_env(router: Router):
    assert router.init("start_service").returncode == 0
    assert not router.fw.exists()
    assert not [c for c in router.recorded() if "DNSFILTER_FW4_INCLUDE" in c or c.startswith("firewall_init")]


def test_invalid_uci_does_not_start(router: Router):
    router.uci.write_text("config dnsfilter 'main'\n\toption mode 'sideways'\n")
    r = router.init("start_service")
    assert r.returncode != 0
    assert "line 2" in r.stderr and "must be forward or replace" in r.stderr
    assert not any(c.startswith("procd_open_instance") for c in router.recorded())
    assert not (router.run / "config.toml").exists()


def test_disabled_starts_no_instance(router: Router):
    router.set_uci(enabled="0")
    assert router.init("start_service").returncode == 0
    assert not any(c.startswith("procd_open_instance") for c in router.recorded())


def test_uci_defaults_takes_the_router_time_zone(router: Router):
    router.state.write_text("system.@system[0].zonename=Asia/Almaty\ndnsfilter.main.timezone=UTC\n")
    r = router.sh(FILES / "dnsfilter.uci-defaults", "true")
    assert r.returncode == 0, r.stderr
    assert "dnsfilter.main.timezone=Asia/Almaty" in router.state.read_text()
    assert "uci [-q] [commit] [dnsfilter]" in router.recorded()


def test_scripts_parse_under_sh():
    for name in ("dnsfilter.init", "dnsfilter.uci-defaults"):
        assert subprocess.run([BUSYBOX, "ash", "-n", str(FILES / name)]).returncode == 0
