"""A real DoH (and DoT) front for tests: Debian's dnsdist on loopback, in front of a real resolver.

    with Dnsdist(("127.0.0.1", ub.port), cert, key) as dd:   # dd.doh_port, dd.dot_port, dd.url
        ...

`addDOHLocal` (HTTP/1.1 and HTTP/2, via h2o in Debian's build) and `addTLSLocal`; the backend is
the only server it talks to. Security polling (a DNS query for dnsdist's own version, through
the system resolver) is turned off, the console is not enabled, so nothing leaves loopback.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import pytest

from tests.support.daemon import free_port, terminate

DNSDIST = "/usr/bin/dnsdist"


class Dnsdist:
    def __init__(self, backend: tuple[str, int], cert_file: str, key_file: str, *, path: str = "/dns-query",
                 startup_timeout: float = 15.0) -> None:
        if shutil.which(DNSDIST) is None:
            pytest.skip(f"{DNSDIST} is not installed (apt-get install dnsdist)")
        self.backend = backend
        self.cert_file, self.key_file = cert_file, key_file
        self.path = path
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="dnsdist-test-")
        self.dir = Path(self._tmp.name)
        self.plain_port = self.doh_port = self.dot_port = 0

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.doh_port}{self.path}"

    def config(self) -> str:
        host, port = self.backend
        return "\n".join([
            f'setLocal("127.0.0.1:{self.plain_port}")',
            f'addDOHLocal("127.0.0.1:{self.doh_port}", "{self.cert_file}", "{self.key_file}", "{self.path}")',
            f'addTLSLocal("127.0.0.1:{self.dot_port}", "{self.cert_file}", "{self.key_file}")',
            f'newServer({{address="{host}:{port}"}})',
            'setSecurityPollSuffix("")',
            "",
        ])

    def __enter__(self) -> Dnsdist:
        last = ""
        for _ in range(3):  # a port found free may be taken before dnsdist binds it: new ports, again
            self.plain_port, self.doh_port, self.dot_port = free_port(), free_port(), free_port()
            conf = self.dir / "dnsdist.conf"
            conf.write_text(self.config())
            log = (self.dir / "dnsdist.log").open("wb")
            with log:
                self.proc = subprocess.Popen([DNSDIST, "--supervised", "--disable-syslog", "-C", str(conf)],
                                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            if self._wait_ready():
                return self
            last = (self.dir / "dnsdist.log").read_text(errors="replace")
            self.stop()
        self._tmp.cleanup()
        raise RuntimeError(f"dnsdist did not start:\n{last[-2000:]}")

    def _wait_ready(self) -> bool:
        end = time.monotonic() + self.startup_timeout
        while time.monotonic() < end:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                for port in (self.doh_port, self.dot_port):
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        p, self.proc = self.proc, None
        if p is not None and p.poll() is None:
            terminate(p, 5)

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
        self._tmp.cleanup()
