"""Encrypted upstreams against real servers on loopback: Unbound with tls-service-pem/tls-port
(DoT), dnsdist with addDOHLocal (DoH) in front of Unbound, private CAs made with openssl.

- a certificate failure is a security warning (rate-limited), also when a plain upstream answered;
- `config check` warns about encrypted and plain upstreams mixed; `upstream_policy =
  "encrypted-only"` refuses plain upstreams, and nothing but the bootstrap lookup goes in the clear;
- DoH host names come from the bootstrap servers, cached for their TTL, never from the daemon
  itself (a mount namespace whose /etc/resolv.conf points at the daemon);
- `tls_ca_file` adds a private CA to the system store;
- one handshake per certificate failure, for DoH too."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import dns.rcode
import pytest

from dnsfilter.core.dns import wire
from dnsfilter.core.dns.upstream_spec import parse_upstream
from dnsfilter.shell.upstream.bootstrap import MIN_TTL, Bootstrap
from dnsfilter.shell.upstream.pool import UpstreamError, UpstreamPool
from tests.support.daemon import DaemonProcess, addrs, cli, ede
from tests.support.dnsdist import Dnsdist
from tests.support.scripted import Scripted
from tests.support.tcp_relay import TcpRelay
from tests.support.unbound import TLS_NAME, Unbound

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

WWW = wire.text_to_wire("www.example.test")


def config(upstreams: list[str], extra: str = "", listen: str = "127.0.0.1:{port}") -> str:
    ups = ", ".join(f'"{u}"' for u in upstreams)
    return f'[dns]\nlisten = ["{listen}"]\nupstreams = [{ups}]\nupstream_timeout = 1.0\n{extra}\n'


def certs(ub: Unbound) -> tuple[str, str, str]:
    assert ub.ca_file and ub.cert_file and ub.key_file
    return ub.ca_file, ub.cert_file, ub.key_file


# ---------------------------------------------------------------- downgrade and policy


def test_a_certificate_failure_is_a_warning_even_when_a_plain_upstream_answers(tmp_path: Path) -> None:
    with Unbound(tls=True) as ub:
        assert ub.tls_port
        with TcpRelay(("127.0.0.1", ub.tls_port)) as relay:
            bad, plain = f"tls://127.0.0.1:{relay.port}#wrong.test", f"127.0.0.1:{ub.port}"
            d = DaemonProcess(tmp_path, config([bad, plain], f'tls_ca_file = "{ub.ca_file}"'))
            check = cli("config", "check", "-c", str(d.config_path))
            assert check.returncode == 0 and "OK" in check.stdout
            assert check.stderr.count("warning:") == 1
            assert "mixed" in check.stderr and bad in check.stderr and plain in check.stderr
            d.start()
            try:
                for i in range(40):  # 4 s: the first query, then probes at 1 s and 3 s
                    r = d.query(f"n{i}.example.test")
                    assert r.rcode() == dns.rcode.NXDOMAIN  # answered, over plain DNS
                    time.sleep(0.1)
                log = d.log()
            finally:
                d.stop()
            handshakes = relay.accepts
    security = [ln for ln in log.splitlines() if "security: upstream" in ln]
    assert handshakes >= 2  # the certificate was refused more than once...
    assert len(security) == 1, security  # ...and said once (rate-limited), though every query was answered
    assert "WARNING" in security[0] and "certificate not accepted" in security[0]
    assert f"answers come unencrypted from {plain}" in security[0]
    assert sum("mixed" in ln and "WARNING" in ln for ln in log.splitlines()) == 1  # at start


def test_encrypted_only_refuses_plain_upstreams(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    policy = 'upstream_policy = "encrypted-only"'
    path.write_text(config(["tls://127.0.0.1#dns.test", "127.0.0.1:5300"], policy, listen="127.0.0.1:5353"))
    r = cli("config", "check", "-c", str(path))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "dns.upstreams[1]" in r.stderr and "encrypted-only" in r.stderr
    path.write_text(config(["tls://127.0.0.1#dns.test"], policy, listen="127.0.0.1:5353"))
    r = cli("config", "check", "-c", str(path))
    assert r.returncode == 0 and r.stderr == ""  # nothing mixed, nothing to warn about


def test_encrypted_only_sends_nothing_in_the_clear_but_the_bootstrap_lookup(tmp_path: Path) -> None:
    """DoH by host name with encrypted-only: the client's names go over HTTPS only; the plain
    bootstrap server is asked for the DoH server's name and for nothing else, also while the
    DoH server is down (SERVFAIL, EDE 23: no fallback anywhere)."""
    with Unbound(tls=True) as ub, Scripted(zone={TLS_NAME: [f"{TLS_NAME}. 300 A 127.0.0.1"]}) as boot:
        ca, cert, key = certs(ub)
        with Dnsdist((ub.addr, ub.port), cert, key) as dd:
            extra = f'upstream_policy = "encrypted-only"\nbootstrap = ["{boot.addr}"]\ntls_ca_file = "{ca}"'
            d = DaemonProcess(tmp_path, config([f"https://{TLS_NAME}:{dd.doh_port}/dns-query"], extra)).start()
            try:
                assert addrs(d.query("www.example.test")) == ["192.0.2.10"]
                assert d.query("alias.example.test").rcode() == dns.rcode.NOERROR
                dd.stop()
                r = d.query("txt.example.test", timeout=5)
                assert r.rcode() == dns.rcode.SERVFAIL and ede(r)[0][0] == 23
            finally:
                d.stop()
    asked = {(str(s.record.q.qname), s.record.q.qtype) for s in boot.queries()}
    assert asked == {(f"{TLS_NAME}.", 1)}  # A only: it had one, so no AAAA


# ---------------------------------------------------------------- bootstrap


def test_bootstrap_when_resolv_conf_points_at_the_daemon(tmp_path: Path) -> None:
    """The appliance case: the system resolver is the daemon itself. Before, the DoH host name
    was looked up through it (a loop: every query SERVFAIL after ~3 s); now through the
    bootstrap server only, and the appliance's own lookups (getent) work through the daemon."""
    if os.geteuid() != 0:
        pytest.skip("needs root for a mount namespace and port 53")
    for tool in ("unshare", "nsenter", "getent"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (util-linux, libc-bin)")
    me = "127.53.0.1"  # port 53 on a loopback address of our own: resolv.conf cannot name a port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((me, 53))
        except OSError as e:
            pytest.skip(f"{me}:53 is taken here: {e}")
    (tmp_path / "resolv.conf").write_text(f"nameserver {me}\noptions timeout:2 attempts:1\n")
    (tmp_path / "hosts").write_text("127.0.0.1 localhost\n")  # the DoH name is not in it
    mounts = (f"mount --bind {tmp_path}/resolv.conf /etc/resolv.conf && "
              f"mount --bind {tmp_path}/hosts /etc/hosts && exec \"$@\"")
    prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c", mounts, "sh"]
    with Unbound(tls=True) as ub, Scripted(zone={TLS_NAME: [f"{TLS_NAME}. 300 A 127.0.0.1"]}) as boot:
        ca, cert, key = certs(ub)
        with Dnsdist((ub.addr, ub.port), cert, key) as dd:
            doh = f"https://{TLS_NAME}:{dd.doh_port}/dns-query"
            extra = f'bootstrap = ["{boot.addr}"]\ntls_ca_file = "{ca}"'
            d = DaemonProcess(tmp_path, config([doh], extra, listen=f"{me}:53"), port=53, host=me, prefix=prefix)
            d.start()
            try:
                assert d.proc is not None
                resolv = subprocess.run(["nsenter", "-t", str(d.proc.pid), "-m", "cat", "/etc/resolv.conf"],
                                        capture_output=True, text=True, timeout=10)
                assert resolv.stdout.startswith(f"nameserver {me}")  # the daemon's view of the system resolver
                t0 = time.monotonic()
                assert addrs(d.query("www.example.test")) == ["192.0.2.10"]
                assert time.monotonic() - t0 < 1.0
                got = subprocess.run(["nsenter", "-t", str(d.proc.pid), "-m", "getent", "ahostsv4", "mail.example.test"],
                                     capture_output=True, text=True, timeout=10)
                assert got.returncode == 0 and "192.0.2.25" in got.stdout, got
                for name in ("txt.example.test", "mx.example.test"):
                    assert d.query(name, "TXT" if name.startswith("txt") else "MX").rcode() == dns.rcode.NOERROR
                st = json.loads(cli("ctl", "status", "-c", str(d.config_path)).stdout)["upstreams"][0]
            finally:
                d.stop()
            log = d.log()
            exported = cli("logs", "export", "-c", str(d.config_path), "--format", "json")
    assert st["healthy"] and st["failures"] == 0, st
    assert [str(s.record.q.qname) for s in boot.queries()] == [f"{TLS_NAME}."]  # once: cached for its TTL
    names = {json.loads(line)["name"].rstrip(".") for line in exported.stdout.splitlines()}
    assert "mail.example.test" in names and TLS_NAME not in names, (names, log[-2000:])  # never asked of itself


def test_bootstrap_caches_for_the_ttl_and_keeps_the_last_address(tmp_path: Path) -> None:
    zone = {"doh.example.test": ["doh.example.test. 120 CNAME edge.example.test.",
                                 "edge.example.test. 120 A 127.0.0.7"]}
    now = [1000.0]
    with Scripted(mode="drop") as dead, Scripted(zone=zone) as boot:
        async def body() -> list[str]:
            b = Bootstrap([parse_upstream(dead.addr), parse_upstream(boot.addr)], clock=lambda: now[0])
            got = [await b.address("doh.example.test", 2.0)]  # the dead one first: then the next
            got.append(await b.address("doh.example.test", 2.0))  # cached: nobody asked
            assert len(boot.queries()) == 1
            now[0] += 119
            got.append(await b.address("doh.example.test", 2.0))
            assert len(boot.queries()) == 1  # within the CNAME's and the A's TTL of 120 s
            now[0] += 2
            got.append(await b.address("doh.example.test", 2.0))
            assert len(boot.queries()) == 2  # expired: asked again
            boot.mode = "drop"
            now[0] += 200
            got.append(await b.address("doh.example.test", 0.3))  # nobody answers: the last address
            with pytest.raises(UpstreamError, match="cannot find nothing.example.test"):
                await b.address("nothing.example.test", 0.3)
            return got

        got = asyncio.run(asyncio.wait_for(body(), 30))
    assert got == ["127.0.0.7"] * 5
    assert MIN_TTL <= 120


# ---------------------------------------------------------------- a private CA


def test_a_private_ca_is_added_to_the_system_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """`tls_ca_file` adds: an upstream whose CA is in the system store and one whose CA is only
    in the file both verify. The system store here is what OpenSSL's SSL_CERT_FILE names: a
    "public" CA made for the test, since no test may rely on (or change) the machine's store."""
    with Unbound(tls=True) as public, Unbound(tls=True) as private:
        monkeypatch.setenv("SSL_CERT_FILE", certs(public)[0])
        monkeypatch.setenv("SSL_CERT_DIR", "/nonexistent")

        async def ask(spec: str, ca: str | None) -> bytes:
            pool = UpstreamPool([parse_upstream(spec)], tls_ca_file=ca, attempts=1)
            try:
                return await pool.resolve(WWW, wire.T_A, wire.C_IN)
            finally:
                await pool.close()

        async def body() -> None:
            for u in (public, private):  # both, with the private CA file
                await ask(f"tls://127.0.0.1:{u.tls_port}#{TLS_NAME}", private.ca_file)
            await ask(f"tls://127.0.0.1:{public.tls_port}#{TLS_NAME}", None)  # the system store alone
            with pytest.raises(UpstreamError, match="certificate not accepted"):
                await ask(f"tls://127.0.0.1:{private.tls_port}#{TLS_NAME}", None)

        asyncio.run(asyncio.wait_for(body(), 30))


def test_the_daemon_trusts_tls_ca_file_for_doh_and_dot(tmp_path: Path) -> None:
    with Unbound(tls=True) as ub:
        ca, cert, key = certs(ub)
        with Dnsdist((ub.addr, ub.port), cert, key) as dd:
            ups = [f"{dd.url}#{TLS_NAME}", f"tls://127.0.0.1:{dd.dot_port}#{TLS_NAME}"]
            d = DaemonProcess(tmp_path, config(ups, f'tls_ca_file = "{ca}"')).start()
            try:
                assert addrs(d.query("www.example.test")) == ["192.0.2.10"]
                assert addrs(d.query("www.example.test", "AAAA")) == ["2001:db8::10"]
                for i in range(10):
                    assert d.query(f"n{i}.example.test").rcode() == dns.rcode.NXDOMAIN
                st = json.loads(cli("ctl", "status", "-c", str(d.config_path)).stdout)["upstreams"]
            finally:
                d.stop()
    for u in st:  # each was measured (the unmeasured go first), over one kept connection
        assert u["healthy"] and u["queries"] >= 1 and u["failures"] == 0 and u["connections"] == 1, st


# ---------------------------------------------------------------- one handshake per failure, DoH


def test_doh_certificate_failure_costs_one_handshake() -> None:
    with Unbound(tls=True) as ub:
        ca, cert, key = certs(ub)
        with Dnsdist((ub.addr, ub.port), cert, key) as dd, TcpRelay(("127.0.0.1", dd.doh_port)) as relay:
            async def body() -> list[dict]:
                pool = UpstreamPool([parse_upstream(f"https://127.0.0.1:{relay.port}/dns-query#wrong.test")],
                                    tls_ca_file=ca, attempts=3)
                try:
                    results = await asyncio.gather(*(pool.resolve(WWW, wire.T_A, wire.C_IN) for _ in range(10)),
                                                   return_exceptions=True)
                    assert all(isinstance(r, UpstreamError) and "certificate not accepted" in str(r)
                               for r in results), results
                    return pool.status()
                finally:
                    await pool.close()

            st = asyncio.run(asyncio.wait_for(body(), 30))
            assert relay.accepts == 1  # ten queries, three attempts each, eight connections allowed: one
    assert not st[0]["healthy"] and st[0]["retry_in"] > 0


def test_cli_has_no_hidden_ca_option() -> None:
    r = subprocess.run([sys.executable, "-m", "dnsfilter", "serve", "-c", "x.toml", "--tls-ca-file", "ca.pem"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "unrecognized arguments" in r.stderr  # the config key is the one way
