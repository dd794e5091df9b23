"""Files root leaves in the state folder of a daemon that runs as another user (Debian: the
service's user `dnsfilter`; here `nobody`) never take DNS down.

Found under a real systemd: `sudo dnsfilter feeds sync` created `feeds/custom.lock` as
root:root 0644, and every later reload and start failed on it with PermissionError, so the
service restarted every 2 s and DNS stayed down. Now the lock is opened read-only (flock needs
no more), an OSError on a feed's files is that feed failing (its last good set stays, one log
line names the file), and the CLI run as root switches to the folder's owner, or refuses
(`serve`)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import REPO, DaemonProcess, addrs
from tests.support.users import User, unprivileged

pytestmark = pytest.mark.integration

CONFIG = """
[dns]
listen = ["127.0.0.1:{port}"]
upstreams = ["127.0.0.1:9"]
upstream_timeout = 0.5

[storage]
data_dir = "var"

[[feeds]]
name = "custom"
url = "list.txt"
format = "domains"
category = "ads"
"""


@pytest.fixture
def base() -> Iterator[Path]:
    """A folder every user may enter (pytest's tmp folders are 0700), removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="dnsfilter-owner-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def _state(base: Path, user: User) -> Path:
    """The config and the list root's (readable to all), the state folder the user's."""
    (base / "list.txt").write_text("old.example.test\n")
    var = base / "var"
    var.mkdir(mode=0o750)
    os.chown(var, user.uid, user.gid)
    return var


def _as_root(path: Path, mode: int, text: str = "") -> None:
    """What a root-run command leaves: a file root owns, in place of the user's."""
    path.unlink(missing_ok=True)
    path.write_text(text)
    os.chown(path, 0, 0)
    path.chmod(mode)


def _wait_for(d: DaemonProcess, text: str, start: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in d.log()[start:] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert text in d.log()[start:], d.log()[start:]


def _root_files_then_hup(d: DaemonProcess, feeds: Path, mode: int, status: str, names: str) -> str:
    """Root's lock and status in the feed's place, a changed list, SIGHUP: the reload's log."""
    _as_root(feeds / "custom.lock", mode)
    _as_root(feeds / "custom.status.json", mode, status)
    (feeds.parent.parent / "list.txt").write_text(names)
    mark = len(d.log())
    d.signal(signal.SIGHUP)
    _wait_for(d, "reloaded", mark)
    return d.log()[mark:]


def _blocked(d: DaemonProcess, name: str) -> bool:
    return addrs(d.query(name)) == ["0.0.0.0"]


def _dnsfilter(user: User, *args: str, python: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*(python or user.python), "-m", "dnsfilter", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **user.env})


def test_root_owned_lock_and_status_do_not_take_dns_down(base: Path) -> None:
    user = unprivileged()
    var = _state(base, user)
    d = DaemonProcess(base, CONFIG, python=user.python, env=user.env)
    try:
        d.start()
        assert _blocked(d, "old.example.test")
        feeds = var / "feeds"
        assert (feeds / "custom.lock").stat().st_uid == user.uid
        # exactly what `sudo dnsfilter feeds sync` left before: root:root 0644 lock and status
        status = (feeds / "custom.status.json").read_text()
        log = _root_files_then_hup(d, feeds, 0o644, status, "old.example.test\nnew.example.test\n")
        assert _blocked(d, "new.example.test") and "Permission denied" not in log
        assert (feeds / "custom.status.json").stat().st_uid == user.uid  # replaced by the user's

        # worse: files the user cannot even read. The feed fails, its last good set stays.
        log = _root_files_then_hup(d, feeds, 0o600, status, "old.example.test\nnew.example.test\nnewer.example.test\n")
        lines = [ln for ln in log.splitlines() if "custom.lock" in ln]
        assert len(lines) == 1 and "Permission denied" in lines[0] and "owned by root" in lines[0], lines
        assert "keeping the last good version" in lines[0] and "Traceback" not in d.log()
        assert d.alive() and _blocked(d, "new.example.test") and not _blocked(d, "newer.example.test")

        # a restart with those files there: it starts, answers, and says why the feed is old
        assert d.stop() == 0
        d.start()
        assert "custom.lock: Permission denied" in d.log()[d.log_start:]
        assert _blocked(d, "new.example.test") and not _blocked(d, "newer.example.test")
    finally:
        d.stop()


def test_root_cli_runs_as_the_state_folders_owner(base: Path) -> None:
    user = unprivileged()
    var = _state(base, user)
    (base / "config.toml").write_text(CONFIG.replace("{port}", "5399"))
    cfg = str(base / "config.toml")
    # root runs the commands the README gives; the interpreter is one the user may read, since
    # the command switches to the folder's owner before its lazy imports
    r = _dnsfilter(user, "feeds", "sync", "-c", cfg, python=user.root_python)
    assert r.returncode == 0, r.stderr
    r = _dnsfilter(user, "check", "-c", cfg, "old.example.test", python=user.root_python)
    assert r.returncode == 0 and r.stdout.startswith("block:"), r.stdout + r.stderr
    r = _dnsfilter(user, "feeds", "status", "-c", cfg, python=user.root_python)
    assert r.returncode == 0 and "custom" in r.stdout, r.stderr
    made = [p for p in var.rglob("*")]
    assert made and all(p.stat().st_uid == user.uid for p in made), [(p, p.stat().st_uid) for p in made]
    # serving as root there would write root's files all along: refused, one line, exit 2
    r = _dnsfilter(user, "serve", "-c", cfg, python=user.root_python)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"belongs to {user.name}" in r.stderr and "systemctl start dnsfilter" in r.stderr
    # the user itself (and root in a folder root owns) run as before
    assert _dnsfilter(user, "feeds", "sync", "-c", cfg).returncode == 0
