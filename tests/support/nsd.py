"""A real authoritative server for tests: Debian's NSD on 127.0.0.1, an ephemeral port.

    with Nsd({"example.test.": ZONE_TEXT}) as ns:   # answers on 127.0.0.1 / ns.port
        ...

NSD answers as authoritative servers do (and as the benchmark's upstream does): the zone's
NS records in the authority section and their addresses (glue) in the additional one. Started,
waited for and stopped as the RPZ tests' servers are (rpzservers.Server).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.rpzservers import Server, ask

NSD = "/usr/sbin/nsd"


class Nsd(Server):
    name = "nsd"
    start_timeout = 10.0

    def __init__(self, zones: dict[str, str]) -> None:
        if not Path(NSD).exists():
            pytest.skip(f"{NSD} is not installed (apt-get install nsd)")
        super().__init__()
        self.zones = zones

    def command(self) -> list[str]:
        d = self.dir
        lines = ["server:", f"  ip-address: 127.0.0.1@{self.port}", f"  port: {self.port}", '  username: ""',
                 '  chroot: ""', f'  zonesdir: "{d}"', f'  pidfile: "{d}/nsd.pid"', '  database: ""',
                 f'  xfrdfile: "{d}/xfrd.state"', f'  zonelistfile: "{d}/zone.list"', "  server-count: 1",
                 "  verbosity: 1", "  do-ip6: no", "remote-control:", "  control-enable: no"]
        for i, (zone, text) in enumerate(self.zones.items()):
            (d / f"z{i}.zone").write_text(text + "\n")
            lines += ["zone:", f'  name: "{zone}"', f'  zonefile: "z{i}.zone"']
        (d / "nsd.conf").write_text("\n".join(lines) + "\n")
        return [NSD, "-d", "-c", str(d / "nsd.conf")]

    def ready(self) -> bool:
        r = ask(self.port, next(iter(self.zones)), "SOA", timeout=0.3)
        return r is not None and bool(r.answer)
