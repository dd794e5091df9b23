"""A real authoritative server for tests: Debian's NSD on 127.0.0.1, an ephemeral port.

    with Nsd({"example.test.": ZONE_TEXT}) as ns:   # answers on ns.addr / ns.port
        ...

NSD answers as authoritative servers do (and as the benchmark's upstream does): the zone's
NS records in the authority section and their addresses (glue) in the additional one.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import dns.exception
import dns.message
import dns.query
import pytest

from tests.support.daemon import free_port

NSD = "/usr/sbin/nsd"


class Nsd:
    def __init__(self, zones: dict[str, str], startup_timeout: float = 10.0) -> None:
        if not Path(NSD).exists():
            pytest.skip(f"{NSD} is not installed (apt-get install nsd)")
        self.zones = zones
        self.startup_timeout = startup_timeout
        self.addr = "127.0.0.1"
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="nsd-test-")
        self.dir = Path(self._tmp.name)

    def __enter__(self) -> Nsd:
        try:
            self._start()
        except BaseException:
            self._stop()
            self._tmp.cleanup()
            raise
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self._stop()
        self._tmp.cleanup()

    def _config(self) -> str:
        d = self.dir
        lines = ["server:", f"  ip-address: {self.addr}@{self.port}", f"  port: {self.port}", '  username: ""',
                 '  chroot: ""', f'  zonesdir: "{d}"', f'  pidfile: "{d}/nsd.pid"', '  database: ""',
                 f'  xfrdfile: "{d}/xfrd.state"', f'  zonelistfile: "{d}/zone.list"', f'  logfile: "{d}/nsd.log"',
                 "  server-count: 1", "  verbosity: 1", "  do-ip6: no", "remote-control:", "  control-enable: no"]
        for i, (zone, text) in enumerate(self.zones.items()):
            (d / f"z{i}.zone").write_text(text + "\n")
            lines += ["zone:", f'  name: "{zone}"', f'  zonefile: "z{i}.zone"']
        return "\n".join(lines) + "\n"

    def _start(self) -> None:
        last = ""
        for _ in range(3):  # a port found free may be taken before nsd binds it: again on another
            self.port = free_port()
            conf = self.dir / "nsd.conf"
            conf.write_text(self._config())
            with (self.dir / "nsd.out").open("wb") as out:
                self.proc = subprocess.Popen([NSD, "-d", "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL)
            if self._ready():
                return
            log = self.dir / "nsd.log"
            last = (self.dir / "nsd.out").read_text(errors="replace") + (log.read_text(errors="replace")
                                                                          if log.exists() else "")
            self._stop()
        raise RuntimeError(f"nsd did not start:\n{last[-2000:]}")

    def _ready(self) -> bool:
        q = dns.message.make_query(next(iter(self.zones)), "SOA")
        end = time.monotonic() + self.startup_timeout
        while time.monotonic() < end:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                if dns.query.udp(q, self.addr, port=self.port, timeout=0.2).answer:
                    return True
            except (OSError, dns.exception.Timeout):
                pass
            time.sleep(0.05)
        return False

    def _stop(self) -> None:
        p, self.proc = self.proc, None
        if p is None or p.poll() is not None:
            return
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
