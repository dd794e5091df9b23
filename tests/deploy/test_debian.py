"""deploy/debian: the installer run into a throwaway root (twice: idempotent), the config where
the hardened service may write it, the --firewall opt-in, the uninstaller, the units checked by
systemd-analyze, and every script by sh -n / shellcheck.

Not verified here (no systemd as PID 1): that systemd itself starts the units, hands
/var/lib/dnsfilter to the transient user and moves it under /var/lib/private. The tests stand in
for that step by giving the state folder to an unprivileged user (nobody) and writing the config
as that user, the way the service's web UI does."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from dnsfilter import config

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
    """What DynamicUser gives the service: its state folder (systemd chowns it, recursively) and
    nothing else. There the web UI's save works; in /etc/dnsfilter, as before, it did not."""
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
    # systemd moved the state under /var/lib/private since: the installer writes there
    private = root / "var/lib/private/dnsfilter"
    private.parent.mkdir(parents=True)
    (root / "var/lib/dnsfilter").rename(private)
    (root / "var/lib/dnsfilter").symlink_to("private/dnsfilter")
    r = run_installer(root, wheels)
    assert r.returncode == 0, r.stderr
    assert f"kept: {private}/config.toml" in r.stdout and (root / "var/lib/dnsfilter").is_symlink()
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
    assert config.load(cfg_path).firewall.interfaces == ("eth1", "wlan0")
    assert "listen on the LAN address" in r.stdout
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
    for key in ("DynamicUser=yes", "StateDirectory=dnsfilter", "AmbientCapabilities=CAP_NET_BIND_SERVICE",
                "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "NoNewPrivileges=yes", "ProtectSystem=strict"):
        assert key in text.splitlines()
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
