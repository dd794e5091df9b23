"""`dnsfilter serve` starts the web UI in its own process when [web] is set."""

from __future__ import annotations

import http.client
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
