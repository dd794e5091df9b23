"""TLS only when it is used (dnsfilter/shell/tlsload.py), in a real daemon process: with plain
upstreams and an http feed, /proc/PID/maps shows no libssl, libcrypto, _ssl or _hashlib
(about 5 MB of a router's RAM); a reload that adds a DoT upstream (a real Unbound with TLS)
loads it then, and that upstream answers; a config with a DoT upstream from the start works as
before."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.support.daemon import DaemonProcess, addrs, ede
from tests.support.feedserver import FeedServer, Route
from tests.support.unbound import TLS_NAME, Unbound

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

# the files TLS and OpenSSL's hashes map into a process
TLS_FILES = ("libssl.so", "libcrypto.so", "/_ssl.", "/_hashlib.")


def tls_mapped(pid: int) -> list[str]:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return sorted({line.split()[-1] for line in maps.splitlines() if any(f in line for f in TLS_FILES)})


def config(upstream: str, feed_url: str, web_port: int) -> str:
    return (f'[dns]\nlisten = ["127.0.0.1:{{port}}"]\nupstreams = ["{upstream}"]\nupstream_timeout = 2.0\n'
            f'\n[web]\nlisten = "127.0.0.1:{web_port}"\n'
            f'\n[[feeds]]\nname = "ads"\nurl = "{feed_url}"\nformat = "domains"\ncategory = "ads"\n')


def wait_for(d: DaemonProcess, text: str, count: int = 1, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while d.log().count(text) < count:
        assert time.monotonic() < deadline, f"{text!r} not logged:\n{d.log()}"
        time.sleep(0.1)


def test_plain_upstreams_and_an_http_feed_load_no_tls_until_a_reload_adds_dot(tmp_path: Path,
                                                                             server: FeedServer) -> None:
    from tests.support.daemon import free_port

    server.routes["/ads"] = Route(b"ads.example.test\n")
    web = free_port()
    with Unbound(tls=True) as ub:
        assert ub.tls_port and ub.ca_file
        d = DaemonProcess(tmp_path, config(f"127.0.0.1:{ub.port}", server.url("/ads"), web),
                          env={"SSL_CERT_FILE": ub.ca_file})  # the test CA, without tls_ca_file
        d.start()
        try:
            pid = d.proc.pid if d.proc else 0
            wait_for(d, "reloaded:")  # the boot's feed sync (a child process) brought the list
            r = d.query("ads.example.test")
            assert addrs(r) == ["0.0.0.0"] and ede(r) == [(15, "ads: on the list ads")]
            assert addrs(d.query("www.example.test")) == ["192.0.2.10"]  # from Unbound, in the clear
            assert tls_mapped(pid) == []
            # the same daemon, its upstream now DoT only: TLS is loaded at the reload, and used
            d.write_config(config(f"tls://127.0.0.1:{ub.tls_port}#{TLS_NAME}", server.url("/ads"), web))
            d.signal(signal.SIGHUP)
            wait_for(d, "reloaded:", 2)
            assert addrs(d.query("www.example.test", timeout=5)) == ["192.0.2.10"]
            mapped = tls_mapped(pid)
            assert any("libssl" in m for m in mapped), mapped
            assert "Traceback" not in d.log() and "certificate not accepted" not in d.log()
        finally:
            assert d.stop() == 0


def test_a_dot_upstream_from_the_start_answers(tmp_path: Path, server: FeedServer) -> None:
    """TLS deferred at start and loaded by the first upstream's context, before any query."""
    from tests.support.daemon import free_port

    server.routes["/ads"] = Route(b"ads.example.test\n")
    with Unbound(tls=True) as ub:
        assert ub.tls_port and ub.ca_file
        d = DaemonProcess(tmp_path, config(f"tls://127.0.0.1:{ub.tls_port}#{TLS_NAME}", server.url("/ads"), free_port()),
                          env={"SSL_CERT_FILE": ub.ca_file}).start()
        try:
            assert addrs(d.query("www.example.test", timeout=5)) == ["192.0.2.10"]
            assert any("libssl" in m for m in tls_mapped(d.proc.pid if d.proc else 0))
            assert "Traceback" not in d.log()
        finally:
            assert d.stop() == 0
