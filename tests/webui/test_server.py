"""`dnsfilter serve` starts the web UI in its own process when [web] is set."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.daemon import free_port
from webui.server import listen_problem


@pytest.mark.parametrize("host, ok", [("127.0.0.1", True), ("::1", True), ("192.168.1.2", True),
                                      ("fe80::1", True), ("0.0.0.0", False), ("8.8.8.8", False),
                                      ("2001:4860::1", False)])
def test_listen_addresses(host: str, ok: bool) -> None:
    assert (listen_problem(host) is None) is ok
    assert listen_problem(host, allow_any=True) is None


def _get(port: int, path: str) -> http.client.HTTPResponse | None:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", path)
        return conn.getresponse()
    except OSError:
        return None


@pytest.mark.integration
def test_serve_starts_and_stops_the_ui(tmp_path: Path) -> None:
    web, dns = free_port(), free_port()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[dns]\nlisten = ["127.0.0.1:{dns}"]\nupstreams = ["127.0.0.1:9"]\n'
                   f'[web]\nlisten = "127.0.0.1:{web}"\n')
    proc = subprocess.Popen([sys.executable, "-m", "dnsfilter", "serve", "-c", str(cfg)],
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        resp = None
        while time.monotonic() < deadline and resp is None:
            resp = _get(web, "/devices")
            time.sleep(0.1)
        assert resp is not None, "the web UI never answered"
        assert resp.status == 302 and resp.getheader("Location", "").endswith("/setup")
        assert resp.getheader("X-Frame-Options") == "DENY"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err.decode()
    assert _get(web, "/setup") is None  # the UI process ended with the daemon


@pytest.mark.integration
def test_public_web_address_is_refused(tmp_path: Path) -> None:
    dns = free_port()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[dns]\nlisten = ["127.0.0.1:{dns}"]\nupstreams = ["127.0.0.1:9"]\n[web]\nlisten = "0.0.0.0:8089"\n')
    proc = subprocess.Popen([sys.executable, "-m", "dnsfilter", "serve", "-c", str(cfg)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        seen = b""
        while b"web UI not started" not in seen and time.monotonic() < deadline:
            line = proc.stderr.readline() if proc.stderr else b""
            seen += line
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
    assert b"every address" in seen


def _ui_children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids += [int(x) for x in (task / "children").read_text().split()]
    return kids


@pytest.mark.integration
def test_ui_process_starts_on_demand_and_ends_when_idle(tmp_path: Path) -> None:
    """The daemon holds the UI's socket: no UI process (no Flask in memory) until the first
    connection, which it answers; the UI ends after its idle time and the next connection
    starts a new one."""
    web, dns = free_port(), free_port()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[dns]\nlisten = ["127.0.0.1:{dns}"]\nupstreams = ["127.0.0.1:9"]\n'
                   f'[web]\nlisten = "127.0.0.1:{web}"\n')
    env = {**os.environ, "DNSFILTER_WEB_IDLE_EXIT": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "dnsfilter", "serve", "-c", str(cfg), "--log-level", "info"],
                            stderr=subprocess.PIPE, env=env)
    seen = b""
    try:
        while b"ready: answering" not in seen:  # the web socket is bound before the DNS service
            line = proc.stderr.readline() if proc.stderr else b""
            assert line, "the daemon ended before it was ready"
            seen += line
        time.sleep(0.5)
        assert _ui_children(proc.pid) == [], "the UI process ran before anyone connected"
        resp = _get_patiently(web, "/setup")
        assert resp.status == 200
        first = _ui_children(proc.pid)
        assert len(first) == 1
        deadline = time.monotonic() + 20
        while _ui_children(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _ui_children(proc.pid) == [], "the UI did not end after its idle time"
        resp = _get_patiently(web, "/setup")
        assert resp.status == 200
        second = _ui_children(proc.pid)
        assert len(second) == 1 and second != first
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err.decode()
    assert b"UI process ends" in seen + err


def _get_patiently(port: int, path: str) -> http.client.HTTPResponse:
    """A GET that allows for the UI's start (about a second; more on a loaded machine)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    return conn.getresponse()


def _maps(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.integration
def test_the_ui_process_loads_no_ssl_and_starts_with_a_ca_file_in_the_config(tmp_path: Path) -> None:
    """Flask is imported without ssl (dnsfilter/shell/tlsload.py): the UI process maps no
    libssl, nor libcrypto (the login's scrypt runs in a child). A config whose tls_ca_file the
    UI checks with ssl still starts it and shows the page."""
    from tests.support.unbound import make_certs

    ca, _crt, _key = make_certs(tmp_path)
    for extra in ("", f'tls_ca_file = "{ca}"\n'):
        web, dns = free_port(), free_port()
        cfg = tmp_path / "config.toml"
        cfg.write_text(f'[dns]\nlisten = ["127.0.0.1:{dns}"]\nupstreams = ["127.0.0.1:9"]\n{extra}'
                       f'[storage]\ndata_dir = "{tmp_path / "var"}"\n[web]\nlisten = "127.0.0.1:{web}"\n')
        proc = subprocess.Popen([sys.executable, "-m", "dnsfilter", "serve", "-c", str(cfg), "--log-level", "info"],
                                stderr=subprocess.PIPE)
        try:
            seen = b""
            while b"ready: answering" not in seen:  # the web socket is bound before the DNS service
                line = proc.stderr.readline() if proc.stderr else b""
                assert line, "the daemon ended before it was ready"
                seen += line
            assert _get_patiently(web, "/setup").status == 200
            (ui,) = _ui_children(proc.pid)
            maps = _maps(ui)
            if not extra:
                assert "libssl" not in maps and "/_ssl." not in maps and "libcrypto" not in maps
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err.decode()
        assert b"Traceback" not in seen + err


@pytest.mark.skipif(os.confstr("CS_GNU_LIBC_VERSION") is None, reason="malloc_trim is glibc's")
def test_the_ui_hands_free_heap_pages_back_after_a_request() -> None:
    """IdleExit calls glibc's malloc_trim when the last running request is answered."""
    from webui.server import IdleExit

    calls: list[int] = []
    app = IdleExit(lambda environ, start_response: [b"ok"], 0)
    assert app.trim is not None
    trim = app.trim

    def counted() -> object:
        calls.append(1)
        return trim()

    app.trim = counted
    assert app({}, lambda *a: None) == [b"ok"]
    assert calls == [1] and app.running == 0
