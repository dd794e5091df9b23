"""A reload that fails is seen: one log line with the reason, the running config kept, and
`dnsfilter ctl reload` printing the reason with a non-zero exit (systemd's ExecReload runs it,
so `systemctl reload` fails too). Before, a SIGHUP reload's exception was dropped unlogged and
`ctl reload` said "the daemon sent an unreadable reply"."""

from __future__ import annotations

import signal
import time

import pytest

from tests.support.daemon import addrs, cli

pytestmark = pytest.mark.integration


def _errors(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if "ERROR" in ln or "Traceback" in ln or "exception" in ln.lower()]


def test_a_failed_reload_is_logged_once_and_reported(upstream, make_daemon) -> None:
    d = make_daemon(upstream.addr)
    good = d.config_path.read_text()
    d.config_path.write_text(good + '\n[filter]\ndeny = ["www.example.test"]\n')
    assert cli("ctl", "-c", str(d.config_path), "reload").returncode == 0
    assert addrs(d.query("www.example.test")) == ["0.0.0.0"]
    # the config file replaced by something that cannot be read at all
    d.config_path.unlink()
    d.config_path.mkdir()
    mark = len(d.log())
    d.signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while not _errors(d.log()[mark:]) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # anything more it would log (a task's traceback) comes within this
    lines = _errors(d.log()[mark:])
    assert len(lines) == 1, d.log()[mark:]
    assert "keeping the running config" in lines[0] and str(d.config_path) in lines[0] and "directory" in lines[0]
    assert d.alive() and addrs(d.query("www.example.test")) == ["0.0.0.0"]  # the running config stays
    out = cli("ctl", "-c", str(d.config_path.parent / "config.toml"), "reload")
    assert out.returncode == 1 and "keeping the running config" in out.stdout and "directory" in out.stdout, out
    assert "unreadable reply" not in out.stdout + out.stderr
    # fixed: the next reload applies
    d.config_path.rmdir()
    d.config_path.write_text(good)
    out = cli("ctl", "-c", str(d.config_path), "reload")
    assert out.returncode == 0 and out.stdout.startswith("reloaded"), out
    assert addrs(d.query("www.example.test")) == ["192.0.2.10"]
