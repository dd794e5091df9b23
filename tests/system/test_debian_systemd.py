"""deploy/debian under a real systemd: a Debian 12 machine (tests/system/machine.py) with a LAN
interface (lan0, 192.168.50.1) and a "WAN" holding the default route (wan0, 81.2.69.2), where
`install.sh --firewall lan0` installs dnsfilter from wheels built from this checkout, as a
Raspberry Pi owner would. The tests run in order on one machine: installed and answering, the
hardening, reloads (a refused one fails `systemctl reload` and keeps the running config), root
running the CLI, restarts and re-runs of the installer, the firewall table and its DoH feed,
then uninstall and purge leaving nothing behind. `make test-system` runs them.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.support.paths import REPO
from tests.system.machine import CACHE, Machine, MachineError, booted

CONF = "/var/lib/dnsfilter/config.toml"
INSTALL = ["sh", "/src/deploy/debian/install.sh"]
OFFLINE = {"PACKAGE": "dnsfilter", "PIP_OPTS": "--no-index --find-links /wheels"}
SECURITY_MAX = {"dnsfilter.service": 2.0, "dnsfilter-firewall.service": 2.5,
                "dnsfilter-firewall-refresh.service": 2.5}


@pytest.fixture(scope="module")
def machine() -> Iterator[Machine]:
    wheels = CACHE / "wheels"
    subprocess.run(["rm", "-rf", str(wheels)], check=True)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "-w", str(wheels), str(REPO)],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        pytest.fail(f"cannot build the wheels to install: {r.stderr.strip()[-400:]}")
    try:
        with booted({REPO: "/src", wheels: "/wheels"}) as m:
            m.sh("ip link add lan0 type veth peer name lan0p && ip link add wan0 type veth peer name wan0p && "
                 "ip addr add 192.168.50.1/24 dev lan0 && ip addr add 81.2.69.2/24 dev wan0 && "
                 "for d in lan0 lan0p wan0 wan0p; do ip link set $d up; done && "
                 "ip route add default via 81.2.69.1 dev wan0")
            yield m
    except MachineError as e:
        pytest.fail(f"no Debian machine to test in: {e}")


def wait_active(m: Machine, *units: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        states = m.run("systemctl", "is-active", *units, check=False).stdout.split()
        if all(s == "active" for s in states):
            return
        if time.monotonic() > deadline:
            status = m.run("systemctl", "status", "--no-pager", *units, check=False).stdout
            raise AssertionError(f"not active: {dict(zip(units, states, strict=False))}\n{status}")
        time.sleep(0.2)


def dig(m: Machine, name: str, server: str = "127.0.0.1", timeout: float = 20.0) -> str:
    """dig's full output once dnsfilter answers (it starts listening a moment after systemd
    reports it active)."""
    deadline = time.monotonic() + timeout
    while True:
        r = m.run("dig", f"@{server}", name, "+tries=1", "+time=2", check=False)
        if "status:" in r.stdout or time.monotonic() > deadline:
            return r.stdout
        time.sleep(0.3)


def blocked(m: Machine, name: str, server: str = "127.0.0.1") -> bool:
    out = dig(m, name, server)
    return re.search(rf"^{re.escape(name)}\.\s+\d+\s+IN\s+A\s+0\.0\.0\.0$", out, re.M) is not None


def edit_config(m: Machine, sed: str) -> None:
    m.run("sed", "-i", sed, CONF)


def test_installed_and_answering(machine: Machine) -> None:
    m = machine
    r = m.run(*INSTALL, "--firewall", "lan0", env=OFFLINE)
    # the LAN's address, never the WAN's that the default route leaves through
    assert "Web UI: http://192.168.50.1:8080/" in r.stdout and "81.2.69.2" not in r.stdout, r.stdout
    assert "user: dnsfilter" in r.stdout
    wait_active(m, "dnsfilter.service", "dnsfilter-firewall.service", "dnsfilter-firewall-refresh.timer")
    out = dig(m, "doubleclick.net")  # the builtin starter list
    assert blocked(m, "doubleclick.net") and "EDE: 15 (Blocked)" in out, out
    # on the LAN interface's port 53 too: where the forced-DNS redirect sends LAN queries
    assert blocked(m, "doubleclick.net", "192.168.50.1")
    assert "/var/lib/dnsfilter/config.toml" == m.run("readlink", "/etc/dnsfilter/config.toml").stdout.strip()
    assert m.run("stat", "-c", "%U:%G %a", "/var/lib/dnsfilter").stdout.split() == ["dnsfilter:dnsfilter", "750"]
    # the one-time setup code at the installer's end, as routers print theirs: the service's own
    # (in its log), in a file only the service's user reads
    found = re.search(r"^setup code: (\d{3}-\d{3}-\d{3}) \(enter it at http://192\.168\.50\.1:8080/setup\)$",
                      r.stdout, re.M)
    assert found, r.stdout
    code = found.group(1)
    assert m.run("cat", "/var/lib/dnsfilter/webui/setup-code").stdout.strip() == code.replace("-", "")
    assert m.run("stat", "-c", "%U %a", "/var/lib/dnsfilter/webui/setup-code").stdout.split() == ["dnsfilter", "600"]
    deadline = time.monotonic() + 30
    while f"enter the setup code {code}" not in (log := m.run("journalctl", "-u", "dnsfilter", "--no-pager").stdout):
        assert time.monotonic() < deadline, f"the service's log has no setup code {code}:\n{log[-2000:]}"
        time.sleep(0.5)


def test_hardening_applied(machine: Machine) -> None:
    m = machine
    pid = m.run("systemctl", "show", "-p", "MainPID", "--value", "dnsfilter.service").stdout.strip()
    status = dict(line.split(":", 1) for line in m.run("cat", f"/proc/{pid}/status").stdout.splitlines())
    uid = m.run("id", "-u", "dnsfilter").stdout.strip()
    assert status["Uid"].split() == [uid] * 4 and uid != "0"
    assert int(status["CapEff"], 16) == 1 << 10  # CAP_NET_BIND_SERVICE and nothing else
    assert status["NoNewPrivs"].strip() == "1" and status["Seccomp"].strip() == "2"
    for unit, limit in SECURITY_MAX.items():
        out = m.run("systemd-analyze", "security", "--no-pager", unit, check=False).stdout
        score = re.search(r"Overall exposure level for \S+: ([\d.]+)", out)
        assert score is not None and float(score.group(1)) <= limit, (unit, out[-400:])
        print(f"systemd-analyze security {unit}: {score.group(1)}")  # shown by make test-system (-rA)
    # the firewall unit: the same user, CAP_NET_ADMIN only (it has exited: its settings then)
    props = m.run("systemctl", "show", "-p", "User,CapabilityBoundingSet,AmbientCapabilities",
                  "dnsfilter-firewall.service").stdout
    assert "User=dnsfilter" in props and "CapabilityBoundingSet=cap_net_admin\n" in props, props


def test_reload_applies_or_fails_visibly(machine: Machine) -> None:
    m = machine
    edit_config(m, 's/^deny = \\[\\]/deny = ["blocked.example"]/')
    m.run("systemctl", "reload", "dnsfilter.service")
    assert blocked(m, "blocked.example")
    good = m.run("cat", CONF).stdout
    cursor = m.cursor()
    edit_config(m, 's/^block_mode = .*/block_mode = "bogus"/')
    r = m.run("systemctl", "reload", "dnsfilter.service", check=False)
    assert r.returncode != 0  # before: "Reloaded", whatever happened
    lines = [ln for ln in m.journal("dnsfilter.service", cursor).splitlines() if "reload rejected" in ln]
    assert len(lines) == 2 and "block_mode" in lines[0], lines  # the daemon's line, and ctl's in ExecReload
    # at priority err: the daemon's "<3>" prefix, read by journald (and not left in the text)
    errors = m.run("journalctl", "--no-pager", "-o", "cat", "-p", "err", "-u", "dnsfilter.service",
                   "--cursor", cursor).stdout
    assert "reload rejected" in errors and "<3>" not in errors, errors
    wait_active(m, "dnsfilter.service")
    assert blocked(m, "blocked.example")  # the running config stays
    m.sh(f"cat > {CONF} <<'EOF'\n{good}EOF")
    m.run("systemctl", "reload", "dnsfilter.service")


def test_root_running_the_cli_leaves_nothing_the_service_cannot_use(machine: Machine) -> None:
    m = machine
    cli, cfg = "/opt/dnsfilter/venv/bin/dnsfilter", "/etc/dnsfilter/config.toml"  # the README's commands
    # the bundled starter list: the shipped catalog lists need the internet, which this machine lacks
    for argv in ([cli, "feeds", "sync", "-c", cfg, "--feed", "starter"], [cli, "check", "-c", cfg, "doubleclick.net"],
                 [cli, "feeds", "status", "-c", cfg]):
        r = m.run(*argv, check=False)
        assert r.returncode == 0, (argv, r.stdout, r.stderr)
    assert m.run("find", "/var/lib/dnsfilter", "!", "-user", "dnsfilter").stdout == ""
    # a lock an older root run left, unreadable to the service: that feed fails, DNS goes on
    m.run("install", "-m", "600", "-o", "root", "/dev/null", "/var/lib/dnsfilter/feeds/starter.lock")
    cursor = m.cursor()
    m.run("systemctl", "reload", "dnsfilter.service")
    m.run("systemctl", "restart", "dnsfilter.service")
    wait_active(m, "dnsfilter.service", "dnsfilter-firewall.service")
    assert blocked(m, "doubleclick.net")
    log = m.journal("dnsfilter.service", cursor)
    assert "starter.lock: Permission denied (owned by root, this process runs as dnsfilter)" in log, log[-2000:]
    assert "Traceback" not in log and m.run("systemctl", "show", "-p", "NRestarts", "--value",
                                            "dnsfilter.service").stdout.strip() == "0"
    # serving as root there is refused in one line
    r = m.run("/opt/dnsfilter/venv/bin/dnsfilter", "serve", "-c", CONF, check=False)
    assert r.returncode == 2 and "belongs to dnsfilter" in r.stderr, r.stderr


def test_restarts_and_reruns_keep_the_firewall_unit(machine: Machine) -> None:
    m = machine
    before = m.run("systemctl", "show", "-p", "InvocationID", "--value", "dnsfilter-firewall.service").stdout
    cursor = m.cursor()
    m.run("systemctl", "restart", "dnsfilter.service")
    wait_active(m, "dnsfilter.service", "dnsfilter-firewall.service")
    # PartOf: restarted with dnsfilter (its table reloaded), not left behind
    assert m.run("systemctl", "show", "-p", "InvocationID", "--value", "dnsfilter-firewall.service").stdout != before
    for _ in range(3):  # the installer again, as an upgrade: it also hands back the root-owned lock
        r = m.run(*INSTALL, env=OFFLINE)
        assert "kept: /var/lib/dnsfilter/config.toml" in r.stdout
        code = m.run("cat", "/var/lib/dnsfilter/webui/setup-code").stdout.strip()
        assert f"setup code: {code[:3]}-{code[3:6]}-{code[6:]} " in r.stdout, r.stdout  # the same code again
        wait_active(m, "dnsfilter.service", "dnsfilter-firewall.service")
    log = m.journal("", cursor)
    assert "status=15/TERM" not in log and "Failed with result" not in log, log[-3000:]
    assert m.run("find", "/var/lib/dnsfilter", "!", "-user", "dnsfilter").stdout == ""
    assert blocked(m, "doubleclick.net", "192.168.50.1")


def test_firewall_table_and_doh_feed(machine: Machine) -> None:
    m = machine
    table = m.run("nft", "list", "table", "inet", "dnsfilter").stdout
    assert 'iifname "lan0"' in table and "redirect to :53" in table, table
    m.sh("echo '198.51.100.7  # a made-up DoH resolver' > /etc/dnsfilter/doh.txt")
    m.sh(f"echo 'doh_feed = \"/etc/dnsfilter/doh.txt\"' >> {CONF}")  # [firewall] is the config's last table
    m.run("systemctl", "reload", "dnsfilter.service")
    m.run("systemctl", "start", "dnsfilter-firewall-refresh.service")
    assert "198.51.100.7" in m.run("nft", "list", "set", "inet", "dnsfilter", "doh4").stdout
    assert m.run("stat", "-c", "%U", "/var/lib/dnsfilter/doh-resolvers.txt").stdout.strip() == "dnsfilter"
    # dnsfilter stopped: the table goes with it, and the timer's refresh is skipped, not failed
    m.run("systemctl", "stop", "dnsfilter.service")
    assert "dnsfilter" not in m.run("nft", "list", "tables").stdout
    assert m.run("systemctl", "start", "dnsfilter-firewall-refresh.service", check=False).returncode != 0
    assert m.run("systemctl", "is-failed", "dnsfilter-firewall-refresh.service", check=False).stdout.strip() != "failed"
    m.run("systemctl", "start", "dnsfilter.service")
    wait_active(m, "dnsfilter.service", "dnsfilter-firewall.service")
    assert "redirect to :53" in m.run("nft", "list", "table", "inet", "dnsfilter").stdout


def _left(m: Machine) -> str:
    """Every file or folder named after dnsfilter outside the test's own mounts."""
    return m.sh("find / \\( -path /proc -o -path /sys -o -path /src -o -path /wheels \\) -prune -o "
                "-name '*dnsfilter*' -print").stdout


def test_uninstall_then_purge_leave_nothing_behind(machine: Machine) -> None:
    m = machine
    m.run("sh", "/src/deploy/debian/uninstall.sh")
    assert "dnsfilter" not in m.run("nft", "list", "tables").stdout
    assert m.run("systemctl", "list-units", "--all", "--no-legend", "dnsfilter*").stdout.strip() == ""
    kept = _left(m).split()  # the config, the state and the user stay; nothing else
    assert all(p.startswith(("/etc/dnsfilter", "/var/lib/dnsfilter")) or p == "/etc/sysusers.d/dnsfilter.conf"
               for p in kept), kept
    assert m.run("test", "-f", "/etc/dnsfilter/config.toml", check=False).returncode == 0
    assert m.run("getent", "passwd", "dnsfilter", check=False).returncode == 0
    m.run("sh", "/src/deploy/debian/uninstall.sh", "--purge")
    assert _left(m) == ""
    assert m.run("getent", "passwd", "dnsfilter", check=False).returncode == 2
    assert m.run("getent", "group", "dnsfilter", check=False).returncode == 2
    assert m.run("systemctl", "list-unit-files", "--no-legend", "dnsfilter*", check=False).stdout.strip() == ""
