"""Bootstrap: the addresses of DoT/DoH upstreams written as host names (`https://dns.quad9.net/…`).

They are asked of the `[dns] bootstrap` servers (plain DNS, used for nothing else), never of the
system resolver: on an appliance /etc/resolv.conf points at the appliance itself, and asking
ourselves how to reach our own upstream is a loop (every query failing after the resolver's
own timeout). An answer is kept for its TTL (at least MIN_TTL); when it runs out and no
bootstrap server answers, the last addresses are used still: the upstream has most likely not
moved, and the TLS certificate is checked against its name either way.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass

from dnsfilter.core.dns import wire
from dnsfilter.core.dns.upstream_spec import UpstreamSpec
from dnsfilter.shell.upstream.base import Question, UpstreamError
from dnsfilter.shell.upstream.plain import DnsTransport

MIN_TTL, MAX_TTL = 60, 86400


@dataclass(slots=True)
class Found:
    addresses: tuple[str, ...]
    expires: float


class Bootstrap:
    def __init__(self, servers: list[UpstreamSpec], clock: Callable[[], float] = time.monotonic) -> None:
        self.servers = [DnsTransport(s, batch_io=False) for s in servers]  # seldom asked: no buffers
        self.clock = clock
        self.found: dict[str, Found] = {}
        self.pending: dict[str, asyncio.Task[Found]] = {}  # one lookup per name, however many ask
        self.lookups = 0  # lookups sent (for status and tests)

    async def address(self, host: str, timeout: float) -> str:
        """An address of `host` (IPv4 if it has one); raises UpstreamError when none is known."""
        known = self.found.get(host)
        if known is not None and self.clock() < known.expires:
            return known.addresses[0]
        task = self.pending.get(host)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._lookup(host, timeout))
            self.pending[host] = task
            task.add_done_callback(lambda _t: self.pending.pop(host, None))
        try:
            found = await asyncio.shield(task)
        except UpstreamError:
            if known is not None:  # expired, but better than nothing: the certificate still decides
                return known.addresses[0]
            raise
        self.found[host] = found
        return found.addresses[0]

    async def close(self) -> None:
        for t in list(self.pending.values()):
            t.cancel()
        await asyncio.gather(*self.pending.values(), *(s.close() for s in self.servers), return_exceptions=True)

    async def _lookup(self, host: str, timeout: float) -> Found:
        if not self.servers:
            raise UpstreamError(f"no [dns] bootstrap servers to find {host}")
        qname = wire.text_to_wire(host)
        errors: list[str] = []
        deadline = self.clock() + timeout
        for server in self.servers:
            addresses: list[str] = []
            ttl = 0
            try:
                for qtype in (wire.T_A, wire.T_AAAA):  # AAAA only when there is no A
                    left = deadline - self.clock()
                    if left <= 0:
                        break
                    self.lookups += 1
                    data = await server.exchange(Question(qname, qtype, wire.C_IN), left)
                    got, got_ttl = addresses_in(data, qname, qtype)
                    if got:
                        addresses, ttl = got, got_ttl
                        break
            except UpstreamError as e:
                errors.append(str(e))
                continue
            if addresses:
                return Found(tuple(addresses), self.clock() + max(MIN_TTL, min(ttl, MAX_TTL)))
            errors.append(f"{server.spec.text}: no address for {host}")
        raise UpstreamError(f"bootstrap: cannot find {host}: {'; '.join(errors) or 'no time left'}")


def addresses_in(data: bytes, qname: bytes, qtype: int) -> tuple[list[str], int]:
    """The addresses an answer gives for `qname` (following its CNAMEs), and their lowest TTL."""
    try:
        r = wire.parse_response(data)
    except wire.WireError:
        return [], 0
    if r.rcode != wire.RCODE_NOERROR:
        return [], 0
    names = {qname}
    for rec in r.records:  # CNAMEs come in chain order (RFC 1034 §4.3.2); a loop just stops growing
        if rec.section == 1 and rec.rtype == wire.T_CNAME and wire.record_name(data, rec) in names:
            names.add(wire.rdata_name(data, rec))
    size = 4 if qtype == wire.T_A else 16
    out: list[str] = []
    ttl = MAX_TTL
    for rec in r.records:
        if (rec.section == 1 and rec.rtype == qtype and rec.rdlen == size
                and wire.record_name(data, rec) in names):
            out.append(str(ipaddress.ip_address(data[rec.rdata_off:rec.rdata_off + size])))
            ttl = min(ttl, rec.ttl)
    return out, ttl
