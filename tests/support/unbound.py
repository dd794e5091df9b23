"""A real resolver for tests: Debian's unbound on 127.0.0.1, ephemeral ports, local zones only.

    with Unbound() as ub:                      # plain DNS on ub.addr / ub.port
        ...
    with Unbound(tls=True) as ub:              # plus DNS over TLS on ub.tls_port, CA in ub.ca_file
        ...

It serves only `local-zone`/`local-data` (the `example.test.` zone below unless `zones` says
otherwise) and refuses every other name (`local-zone: "." refuse`), so it never recurses and
never sends a packet off loopback. With `tls=True` a throwaway CA and a server certificate for
`dns.test` + IP 127.0.0.1 are made with the openssl CLI.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import dns.exception
import dns.message
import dns.query
import dns.rcode
import pytest

from tests.support.daemon import free_port

UNBOUND = "/usr/sbin/unbound"
TLS_NAME = "dns.test"
BIG_TXT_COUNT = 12  # 12 x ~250-byte strings: well over 1232 bytes, so UDP answers are truncated

SOA = "example.test. 3600 IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 300"
EXAMPLE_ZONE = "\n".join([
    SOA,
    "example.test. 3600 IN NS ns.example.test.",
    "ns.example.test. 3600 IN A 127.0.0.1",
    "www.example.test. 300 IN A 192.0.2.10",
    "www.example.test. 300 IN AAAA 2001:db8::10",
    "alias.example.test. 300 IN CNAME www.example.test.",
    "chain1.example.test. 300 IN CNAME chain2.example.test.",
    "chain2.example.test. 300 IN CNAME chain3.example.test.",
    "chain3.example.test. 300 IN CNAME www.example.test.",
    'txt.example.test. 300 IN TXT "hello from unbound"',
    "mx.example.test. 300 IN MX 10 mail.example.test.",
    "mail.example.test. 300 IN A 192.0.2.25",
    *(f'big.example.test. 300 IN TXT "{i:02d}{"x" * 240}"' for i in range(BIG_TXT_COUNT)),
])
ZONES = {"example.test.": EXAMPLE_ZONE}


def make_certs(d: Path, name: str = TLS_NAME, ip: str = "127.0.0.1") -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key): a throwaway CA and a server certificate it signed."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (needed to make test certificates)")
    ca_key, ca, key, csr, crt, ext = (d / n for n in ("ca.key", "ca.pem", "server.key", "server.csr",
                                                      "server.pem", "server.ext"))
    ext.write_text(f"subjectAltName=DNS:{name},IP:{ip}\nbasicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
                   "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for cmd in (
        ["openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2",
         "-subj", "/CN=dnsfilter test CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        ["openssl", "req", *ec, "-keyout", key, "-out", csr, "-subj", f"/CN={name}"],
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", crt, "-days", "2", "-extfile", ext],
    ):
        subprocess.run([str(c) for c in cmd], check=True, capture_output=True, timeout=30)
    return ca, crt, key


def local_data(line: str) -> str:
    """One zone-file RR line as an unbound `local-data:` entry (single-quoted if it holds quotes)."""
    line = " ".join(line.split())
    return f"local-data: '{line}'" if '"' in line else f'local-data: "{line}"'


class Unbound:
    """unbound -d on loopback; a context manager. `.addr`, `.port`, `.tls_port`, `.ca_file`."""

    def __init__(self, zones: dict[str, str] | None = None, tls: bool = False, *,
                 extra: str = "", startup_timeout: float = 10.0) -> None:
        if not Path(UNBOUND).exists():
            pytest.skip(f"{UNBOUND} is not installed (apt-get install unbound)")
        self.zones = dict(ZONES if zones is None else zones)
        self.tls = tls
        self.extra = extra
        self.startup_timeout = startup_timeout
        self.addr = "127.0.0.1"
        self.port = 0
        self.tls_port: int | None = None
        self.ca_file: str | None = None
        self.cert_file: str | None = None
        self.key_file: str | None = None
        self.tls_name = TLS_NAME
        self.proc: subprocess.Popen[bytes] | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="unbound-test-")
        self.dir = Path(self._tmp.name)

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Unbound:
        try:
            self.start()
        except BaseException:
            self.stop()
            self._tmp.cleanup()
            raise
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
        self._tmp.cleanup()

    def start(self) -> Unbound:
        if self.tls and self.ca_file is None:
            ca, crt, key = make_certs(self.dir)
            self.ca_file, self.cert_file, self.key_file = str(ca), str(crt), str(key)
        last = ""
        for _ in range(3):  # a port found free may be taken before unbound binds it: new ports, again
            self.port = free_port()
            self.tls_port = free_port() if self.tls else None
            conf = self.dir / "unbound.conf"
            conf.write_text(self.config())
            log = (self.dir / "unbound.log").open("wb")
            with log:
                self.proc = subprocess.Popen([UNBOUND, "-d", "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL)
            if self._wait_ready():
                return self
            last = self.log_text()
            self.stop()
        raise RuntimeError(f"unbound did not start:\n{last[-2000:]}")

    def stop(self) -> None:
        """Terminate (then kill) unbound; safe to call twice."""
        p, self.proc = self.proc, None
        if p is None:
            return
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_text(self) -> str:
        path = self.dir / "unbound.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _wait_ready(self) -> bool:
        """Poll until unbound answers (bounded), False if it died or never answered."""
        first = next(iter(self.zones), "example.test.")
        q = dns.message.make_query(first, "SOA")
        end = time.monotonic() + self.startup_timeout
        while time.monotonic() < end:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                r = dns.query.udp(q, self.addr, port=self.port, timeout=0.2)
                if r.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                    return True
            except (OSError, dns.exception.Timeout):
                time.sleep(0.05)
        return False

    # ------------------------------------------------------------------ config

    def config(self) -> str:
        lines = [
            "server:",
            f"  interface: {self.addr}@{self.port}",
            f"  port: {self.port}",
            f'  directory: "{self.dir}"',
            f'  pidfile: "{self.dir}/unbound.pid"',
            "  do-daemonize: no",
            '  username: ""',
            '  chroot: ""',
            "  use-syslog: no",
            '  logfile: ""',
            "  verbosity: 1",
            "  num-threads: 1",
            "  do-ip6: no",
            "  access-control: 127.0.0.0/8 allow",
            # Never leave loopback: no recursion (everything outside the test zones is refused),
            # outgoing sockets bound to loopback, localhost not queried, no trust anchors.
            '  module-config: "iterator"',
            "  do-not-query-localhost: yes",
            "  outgoing-interface: 127.0.0.1",
            "  outgoing-range: 16",
            "  so-reuseport: no",
            "  max-udp-size: 1232",
            "  edns-buffer-size: 1232",
            "  hide-identity: yes",
            "  hide-version: yes",
            '  local-zone: "." refuse',
        ]
        if self.tls:
            lines += [
                f"  interface: {self.addr}@{self.tls_port}",
                f"  tls-port: {self.tls_port}",
                f'  tls-service-key: "{self.key_file}"',
                f'  tls-service-pem: "{self.cert_file}"',
            ]
        for zone, text in self.zones.items():
            name = zone if zone.endswith(".") else zone + "."
            lines.append(f'  local-zone: "{name}" static')
            lines += ["  " + local_data(rr) for rr in text.splitlines() if rr.strip() and not rr.lstrip().startswith(";")]
        lines += [self.extra, "remote-control:", "  control-enable: no", ""]
        return "\n".join(lines)
