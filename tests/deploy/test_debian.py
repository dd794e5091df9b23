"""deploy/debian: the installer run into a throwaway root (twice: idempotent), the config where
the hardened service may write it, the --firewall opt-in, the address it picks on a router (in
a network namespace with a WAN and a LAN), who it says holds port 53, the uninstaller, the
units checked by systemd-analyze, the sysusers file by systemd-sysusers, and every script by
sh -n / shellcheck.

Not verified here (no systemd as PID 1): systemd itself creating the user, starting the units
and ordering the firewall unit after dnsfilter. The tests stand in for the user by giving the
state folder to nobody; `make test-system` (tests/system/) runs it all under a real systemd."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from dnsfilter import config
from dnsfilter.router.firewall import unanswered
from tests.support.netns import in_ns, namespaces, run

ROOT = Path(__file__).resolve().parents[2]
DEB = ROOT / "deploy/debian"
SCRIPTS = [DEB / "install.sh", DEB / "uninstall.sh", ROOT / "deploy/openwrt/files/dnsfilter.init",
           ROOT / "deploy/openwrt/files/dnsfilter.uci-defaults"]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    """dnsfilter and its dependencies as wheels, so the installer runs offline."""
    out = tmp_path_factory.mktemp("wheels")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "-w", str(out), str(ROOT)],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.skip(f"cannot build wheels for an offline install: {r.stderr.strip()[-300:]}")
    return out


UNITS = {"dnsfilter.service": DEB, "dnsfilter-firewall.service": ROOT / "deploy/nftables",
         "dnsfilter-firewall-refresh.service": ROOT / "deploy/nftables",
         "dnsfilter-firewall-refresh.timer": ROOT / "deploy/nftables"}
STATE_CONFIG = "/var/lib/dnsfilter/config.toml"


def run_installer(root: Path, wheels: Path, *args: str, holders: str = "") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ROOT=str(root), PACKAGE="dnsfilter", PIP_OPTS=f"--no-index --find-links {wheels}",
               LAN_IP="192.168.1.2", PORT53_HOLDERS=holders, PYTHON=sys.executable)
    env.pop("VIRTUAL_ENV", None)
    return subprocess.run(["sh", str(DEB / "install.sh"), *args], env=env, capture_output=True, text=True,
                          timeout=600)


def in_root(root: Path, link: Path) -> Path:
    """Follow an absolute symlink inside the throwaway root."""
    return root / os.readlink(link).lstrip("/")


def test_installer_into_a_throwaway_root(tmp_path, wheels):
    root = tmp_path / "root"
    r = run_installer(root, wheels, holders="systemd-resolved dnsmasq")
    assert r.returncode == 0, r.stderr
    link = root / "etc/dnsfilter/config.toml"
    assert link.is_symlink() and os.readlink(link) == STATE_CONFIG
    cfg_path = in_root(root, link)
    assert cfg_path == root / "var/lib/dnsfilter/config.toml" and cfg_path.is_file()
    unit = (root / "etc/systemd/system/dnsfilter.service").read_text()
    assert f"serve -c {STATE_CONFIG}" in unit and f"check -c {STATE_CONFIG}" in unit
    assert not (root / "etc/systemd/system/dnsfilter-firewall.service").exists()  # opt-in
    cfg = config.load(cfg_path)
    assert cfg.storage.data_dir == "/var/lib/dnsfilter" and cfg.web and cfg.web.listen == "192.168.1.2:8080"
    assert (root / "opt/dnsfilter/venv/bin/dnsfilter").exists()
    assert (root / "etc/systemd/system/dnsfilter.service").read_text() == (DEB / "dnsfilter.service").read_text()
    assert "Web UI: http://192.168.1.2:8080/" in r.stdout
    # into a folder: no setup code (it could become an image for many machines); it says where it will be
    assert "setup code: made when dnsfilter first starts on the machine" in r.stdout
    assert not (root / "var/lib/dnsfilter/webui").exists()
    assert (root / "etc/sysusers.d/dnsfilter.conf").read_text() == (DEB / "dnsfilter.sysusers").read_text()
    for doc in ("deploy.md", "forced-dns.md"):  # the units' Documentation=
        assert (root / "opt/dnsfilter/doc" / doc).read_text() == (ROOT / "docs" / doc).read_text()
    assert f"sudoedit {cfg_path}" in r.stdout  # the real file: sudoedit refuses the link
    assert "systemd-resolved's stub listener" in r.stdout and "dnsmasq is running" in r.stdout
    assert "Nothing was changed" in r.stdout and "not started" in r.stdout
    # again, after the admin edited the config: kept as it is
    cfg_path.write_text(cfg_path.read_text().replace('hostname = "dnsfilter.lan"', 'hostname = "pi.lan"'))
    r = run_installer(root, wheels)
    assert r.returncode == 0, r.stderr
    assert "kept:" in r.stdout and config.load(cfg_path).general.hostname == "pi.lan"
    assert os.readlink(link) == STATE_CONFIG
    # uninstall keeps the config; --purge removes it
    env = dict(os.environ, ROOT=str(root))
    r = subprocess.run(["sh", str(DEB / "uninstall.sh")], env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not (root / "opt/dnsfilter").exists() and not (root / "etc/systemd/system/dnsfilter.service").exists()
    assert cfg_path.exists()
    r = subprocess.run(["sh", str(DEB / "uninstall.sh"), "--purge"], env=env, capture_output=True, text=True)
    assert r.returncode == 0 and not cfg_path.exists() and not link.is_symlink()


NOBODY = 65534


def write_as_nobody(path: Path) -> subprocess.CompletedProcess[str]:
    """Save a config edit as an unprivileged user, with the file operations of the web UI's
    writer (webui/configfile.write_atomic): a temp file beside it, the old version hard-linked
    to config.toml.bak, the new one renamed over it. (Run by sh: this machine's Python lives
    under /root, which nobody may enter.)"""
    script = ('set -e; d=$(dirname "$1"); t="$d/.config.toml.tmp"; '
              'sed s/dnsfilter.lan/edited.lan/ "$1" > "$t"; rm -f "$1.bak"; ln "$1" "$1.bak"; mv "$t" "$1"')
    return subprocess.run(["sh", "-c", script, "sh", str(path)], capture_output=True, text=True, timeout=60,
                          cwd="/", user=NOBODY, group=NOBODY, env={"PATH": "/usr/bin:/bin"})


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand the state folder to another user")
def test_the_service_user_can_save_the_config(wheels):
    """The service's user owns its state folder and nothing else (nobody stands in for the user
    dnsfilter here). There the web UI's save works; in /etc/dnsfilter, as before, it did not."""
    base = Path(tempfile.mkdtemp(prefix="dnsfilter-nobody-"))  # pytest's own tmp folders are 0700
    try:
        _service_user_saves(base, wheels)
    finally:
        shutil.rmtree(base)


def _service_user_saves(base: Path, wheels: Path) -> None:
    base.chmod(0o755)
    root = base / "root"
    assert run_installer(root, wheels).returncode == 0
    for p in (root, root / "var", root / "var/lib"):
        p.chmod(0o755)
    state = root / "var/lib/dnsfilter"
    for p in (state, *state.rglob("*")):
        os.chown(p, NOBODY, NOBODY)
    real = in_root(root, root / "etc/dnsfilter/config.toml")
    r = write_as_nobody(real)
    assert r.returncode == 0, r.stderr
    assert config.load(real).general.hostname == "edited.lan"
    assert (state / "config.toml.bak").exists()
    # the old layout: a config file in root's /etc/dnsfilter cannot be saved by the service user
    old = root / "etc/dnsfilter/old.toml"
    old.write_text(real.read_text())
    old.chmod(0o644)
    (root / "etc").chmod(0o755)
    r = write_as_nobody(old)
    assert r.returncode != 0 and "Permission denied" in r.stderr


def test_installer_moves_a_config_from_etc(tmp_path, wheels):
    """An install from before the move had a plain /etc/dnsfilter/config.toml: it is moved into
    the state folder (the admin's edits kept) and replaced by the link."""
    root = tmp_path / "root"
    (root / "etc/dnsfilter").mkdir(parents=True)
    text = (ROOT / "config.example.toml").read_text().replace('hostname = "dnsfilter.lan"', 'hostname = "old.lan"')
    (root / "etc/dnsfilter/config.toml").write_text(text)
    r = run_installer(root, wheels)
    assert r.returncode == 0, r.stderr
    assert "moved:" in r.stdout and os.readlink(root / "etc/dnsfilter/config.toml") == STATE_CONFIG
    assert config.load(root / "var/lib/dnsfilter/config.toml").general.hostname == "old.lan"
    # an install from the DynamicUser days: systemd kept the state under /var/lib/private, with
    # /var/lib/dnsfilter a link to it. The state moves back, for the system user to own.
    private = root / "var/lib/private/dnsfilter"
    private.parent.mkdir(parents=True)
    (root / "var/lib/dnsfilter").rename(private)
    (root / "var/lib/dnsfilter").symlink_to("private/dnsfilter")
    r = run_installer(root, wheels)
    assert r.returncode == 0, r.stderr
    state = root / "var/lib/dnsfilter"
    assert f"moved: {private} -> {state}" in r.stdout and f"kept: {state}/config.toml" in r.stdout
    assert not state.is_symlink() and not private.exists()
    assert config.load(state / "config.toml").general.hostname == "old.lan"
    # both layouts at once: the /etc file is set aside, not overwritten by the link
    (root / "etc/dnsfilter/config.toml").unlink()
    (root / "etc/dnsfilter/config.toml").write_text(text)
    r = run_installer(root, wheels)
    assert r.returncode == 0 and "set aside:" in r.stdout, r.stderr
    assert (root / "etc/dnsfilter/config.toml.old").read_text() == text
    assert os.readlink(root / "etc/dnsfilter/config.toml") == STATE_CONFIG


def test_installer_refuses_a_broken_existing_config(tmp_path, wheels):
    root = tmp_path / "root"
    (root / "etc/dnsfilter").mkdir(parents=True)
    (root / "etc/dnsfilter/config.toml").write_text("[dns]\nlisten = []\n")
    r = run_installer(root, wheels)
    assert r.returncode != 0
    assert "not valid" in r.stderr and not (root / "etc/systemd/system/dnsfilter.service").exists()
    # nothing was moved: the broken file is where the admin left it
    assert not (root / "etc/dnsfilter/config.toml").is_symlink()
    assert not (root / "var/lib/dnsfilter/config.toml").exists()


def test_installer_firewall_opt_in(tmp_path, wheels):
    root = tmp_path / "root"
    r = run_installer(root, wheels, "--firewall", "eth1,wlan0")
    assert r.returncode == 0, r.stderr
    units = root / "etc/systemd/system"
    for name, src in UNITS.items():
        assert (units / name).read_text() == (src / name).read_text(), name
    cfg_path = root / "var/lib/dnsfilter/config.toml"
    cfg = config.load(cfg_path)
    assert cfg.firewall.interfaces == ("eth1", "wlan0")
    # a fresh config listens where the redirect sends LAN DNS (port 53 of those interfaces)
    assert [str(lst) for lst in cfg.dns.listen] == ["eth1:53", "wlan0:53", "127.0.0.1:53", "[::1]:53"]
    assert unanswered(cfg) == "" and "[dns] listen must include that interface" in r.stdout
    # again, with or without the flag: one [firewall] table, the units kept
    for args in (("--firewall", "eth2"), ()):
        r = run_installer(root, wheels, *args)
        assert r.returncode == 0, r.stderr
        assert cfg_path.read_text().count("[firewall]") == 1 and (units / "dnsfilter-firewall.service").exists()
    assert config.load(cfg_path).firewall.interfaces == ("eth1", "wlan0")
    r = run_installer(root, wheels, "--firewall", "eth1;reboot")
    assert r.returncode != 0 and "interface names" in r.stderr
    env = dict(os.environ, ROOT=str(root))
    assert subprocess.run(["sh", str(DEB / "uninstall.sh")], env=env, capture_output=True).returncode == 0
    assert not [u for u in UNITS if (units / u).exists()]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze (Debian: systemd)")
def test_unit_passes_systemd_analyze_verify(tmp_path):
    # ExecStart must exist for verify: point the units at a stand-in executable
    fake = tmp_path / "dnsfilter"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    for name, src in UNITS.items():
        (tmp_path / name).write_text((src / name).read_text().replace("/opt/dnsfilter/venv/bin/dnsfilter", str(fake)))
    r = subprocess.run(["systemd-analyze", "verify", *(str(tmp_path / n) for n in UNITS)],
                       capture_output=True, text=True, timeout=60)
    problems = [line for line in (r.stdout + r.stderr).splitlines() if "dnsfilter" in line]
    assert r.returncode == 0 and not problems, r.stdout + r.stderr
    text = (DEB / "dnsfilter.service").read_text()
    unit = tmp_path / "dnsfilter.service"
    for key in ("User=dnsfilter", "StateDirectory=dnsfilter", "AmbientCapabilities=CAP_NET_BIND_SERVICE",
                "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "NoNewPrivileges=yes", "ProtectSystem=strict",
                "RemoveIPC=yes", "ExecReload=/opt/dnsfilter/venv/bin/dnsfilter ctl reload -c " + STATE_CONFIG):
        assert key in text.splitlines(), key
    assert "DynamicUser=yes" not in text  # root's CLI could not become a transient user (privilege.py)
    for name, src in UNITS.items():
        body = (src / name).read_text()
        docs = [ln.split("=", 1)[1] for ln in body.splitlines() if ln.startswith("Documentation=")]
        # the docs install.sh copies into /opt/dnsfilter/doc
        assert all(d.startswith("file:/opt/dnsfilter/doc/") and (ROOT / "docs" / d.rsplit("/", 1)[1]).exists()
                   for d in docs), (name, docs)
    for name in ("dnsfilter-firewall.service", "dnsfilter-firewall-refresh.service"):
        lines = (ROOT / "deploy/nftables" / name).read_text().splitlines()
        for key in ("User=dnsfilter", "CapabilityBoundingSet=CAP_NET_ADMIN", "AmbientCapabilities=CAP_NET_ADMIN",
                    "ProtectSystem=strict", "ReadWritePaths=/var/lib/dnsfilter", "PrivateDevices=yes",
                    "SystemCallFilter=@system-service", "MemoryDenyWriteExecute=yes"):
            assert key in lines, (name, key)
    assert "Requisite=dnsfilter-firewall.service" in (
        ROOT / "deploy/nftables/dnsfilter-firewall-refresh.service").read_text().splitlines()
    # the check is live: a misspelt directive is reported
    unit.write_text(unit.read_text().replace("ProtectHome=yes", "ProtectHomes=yes"))
    r = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert "ProtectHomes" in r.stdout + r.stderr


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze (Debian: systemd)")
def test_upstream_ca_drop_in_verifies_with_the_unit(tmp_path):
    """docs/upstreams.md's drop-in for a private CA: systemd reads it with the unit, and the
    credential's path is the one the config is told to use."""
    fake = tmp_path / "dnsfilter"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    (tmp_path / "dnsfilter.service").write_text(
        (DEB / "dnsfilter.service").read_text().replace("/opt/dnsfilter/venv/bin/dnsfilter", str(fake)))
    drop = tmp_path / "dnsfilter.service.d"
    drop.mkdir()
    text = (DEB / "upstream-ca.conf").read_text()
    (drop / "upstream-ca.conf").write_text(text)
    r = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "dnsfilter.service")], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and "dnsfilter" not in r.stdout + r.stderr, r.stdout + r.stderr
    assert "LoadCredential=upstream-ca.pem:/etc/dnsfilter/upstream-ca.pem" in text.splitlines()
    assert 'tls_ca_file = "/run/credentials/dnsfilter.service/upstream-ca.pem"' in text
    assert 'tls_ca_file = "/run/credentials/dnsfilter.service/upstream-ca.pem"' in (ROOT / "docs/upstreams.md").read_text()
    # the check is live: systemd reads the drop-in (a misspelt key is reported from it)
    (drop / "upstream-ca.conf").write_text(text.replace("LoadCredential=", "LoadCredentials="))
    r = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "dnsfilter.service")], capture_output=True,
                       text=True, timeout=60)
    assert "upstream-ca.conf" in r.stdout + r.stderr and "LoadCredentials" in r.stdout + r.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shell_scripts_parse(script):
    assert subprocess.run(["sh", "-n", str(script)]).returncode == 0
    if shutil.which("shellcheck"):
        r = subprocess.run(["shellcheck", "-s", "dash" if script.suffix != ".sh" else "sh", str(script)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout


def test_dockerfile_uses_the_same_layout():
    text = (ROOT / "deploy/docker/Dockerfile").read_text()
    assert "/opt/dnsfilter/venv" in text and "/etc/dnsfilter/config.toml" in text
    assert "config check" in text  # the image build fails on a config the daemon would refuse
    # the image itself is not built here (it needs the base image from a registry)


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="needs systemd-sysusers (Debian: systemd)")
def test_sysusers_file_creates_the_service_user(tmp_path):
    r = subprocess.run(["systemd-sysusers", f"--root={tmp_path}", "--dry-run", str(DEB / "dnsfilter.sysusers")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "Creating user 'dnsfilter'" in r.stdout + r.stderr, r.stdout + r.stderr


def test_installer_restarts_the_firewall_unit_only_through_dnsfilter():
    """dnsfilter-firewall.service is wanted by and PartOf dnsfilter.service: a second restart of
    it right after dnsfilter's killed the start under way (status=15/TERM on 3 of 4 runs)."""
    calls = [ln.strip() for ln in (DEB / "install.sh").read_text().splitlines() if ln.strip().startswith("systemctl ")]
    restarts = [c for c in calls if " restart " in f"{c} "]
    assert restarts == ["systemctl restart dnsfilter.service"], calls


def _router(ns: str) -> None:
    """A router's interfaces: a WAN with a public address and the default route, a LAN, and a
    second LAN in another private range (veth pairs whose far ends stay down in the namespace)."""
    for dev in ("wan0", "lan0", "lan1"):
        run("ip", "-n", ns, "link", "add", dev, "type", "veth", "peer", "name", f"{dev}p")
    for dev, cidr in (("wan0", "81.2.69.2/24"), ("lan0", "192.168.7.1/24"), ("lan1", "10.8.0.1/24")):
        run("ip", "-n", ns, "addr", "add", cidr, "dev", dev)
        run("ip", "-n", ns, "link", "set", dev, "up")
        run("ip", "-n", ns, "link", "set", f"{dev}p", "up")
    run("ip", "-n", ns, "route", "add", "default", "via", "81.2.69.1", "dev", "wan0")


def _install_in(ns: str, root: Path, wheels: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A fresh config each time (the venv stays): the address is only chosen for a new config."""
    (root / "var/lib/dnsfilter/config.toml").unlink(missing_ok=True)
    env = dict(os.environ, ROOT=str(root), PACKAGE="dnsfilter", PIP_OPTS=f"--no-index --find-links {wheels}",
               PYTHON=sys.executable)
    for key in ("VIRTUAL_ENV", "LAN_IP", "PORT53_HOLDERS"):
        env.pop(key, None)
    r = in_ns(ns, "sh", str(DEB / "install.sh"), *args, env=env, check=False, timeout=600)
    assert r.returncode == 0, r.stderr
    return r


def test_installer_on_a_router_picks_the_lan_and_names_port_53s_holder(tmp_path, wheels):
    with namespaces("router", needs=("ss",)) as ns:
        router = ns["router"]
        _router(router)
        root = tmp_path / "root"
        cfg = root / "var/lib/dnsfilter/config.toml"
        # another DNS server written in Python holds port 53: reported, not mistaken for dnsfilter
        other = subprocess.Popen(["ip", "netns", "exec", router, sys.executable, "-c",
                                  "import socket, time; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                                  "s.bind(('0.0.0.0', 53)); print('ready', flush=True); time.sleep(300)"],
                                 stdout=subprocess.PIPE, text=True)
        try:
            assert other.stdout is not None and other.stdout.readline().strip() == "ready"
            r = _install_in(router, root, wheels)
        finally:
            other.kill()
            other.wait()
        # the default route leaves through the WAN: its address is never the UI's
        web = config.load(cfg).web
        assert web is not None and web.listen == "192.168.7.1:8080", web
        assert "Web UI: http://192.168.7.1:8080/" in r.stdout and "81.2.69.2" not in r.stdout
        assert "port 53: held by python" in r.stdout, r.stdout
        # --firewall IFACE: that interface's address; and dnsfilter itself on port 53 is not reported
        (tmp_path / "lo.toml").write_text(f'[dns]\nlisten = ["127.0.0.1:53"]\n[storage]\ndata_dir = "{tmp_path}/v"\n')
        daemon = subprocess.Popen(["ip", "netns", "exec", router, sys.executable, "-m", "dnsfilter", "serve", "-c",
                                   str(tmp_path / "lo.toml")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, cwd=ROOT)
        try:
            assert daemon.stdout is not None
            while "ready: answering" not in (line := daemon.stdout.readline()):
                assert line, "the daemon exited"
            r = _install_in(router, root, wheels, "--firewall", "lan1")
        finally:
            daemon.terminate()
            daemon.wait(10)
        c = config.load(cfg)
        assert c.web is not None and c.web.listen == "10.8.0.1:8080" and "port 53:" not in r.stdout, r.stdout
        assert unanswered(c, {"lan1": ["10.8.0.1"]}) == ""
        # no private address at all: loopback, said so, still never the WAN's
        for dev in ("lan0", "lan1"):
            run("ip", "-n", router, "addr", "flush", "dev", dev)
        r = _install_in(router, root, wheels)
        assert config.load(cfg).web.listen == "127.0.0.1:8080" and "no LAN address found" in r.stdout  # type: ignore[union-attr]
