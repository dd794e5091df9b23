"""The sans-IO resolver: bytes and `now` in, actions out.

    on_query(wire, ip, to, now)       -> [Send | Forward]
    on_upstream(forward, wire, now)   -> [Send | Forward]

The stages run in this order, each with one job (see stages/__init__.py):
identify → local → policy → cache → upstream. Every reply is counted under an Outcome.
Answers that depend only on (profile, question bytes) are also installed in the FastPath,
which the UDP loop serves without calling in here at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from dnsfilter.core import codec, wire
from dnsfilter.core.cache import Cache, Entry, cache_key
from dnsfilter.core.fastpath import NEVER, FastPath
from dnsfilter.core.policy import Policy
from dnsfilter.core.stages.identify import Identify
from dnsfilter.core.stages.local import LocalZones
from dnsfilter.core.wire import Query, WireError
from dnsfilter.model import Decision, Ede, Outcome, Reason


@dataclass(slots=True)
class Send:
    to: object
    wire: bytes


@dataclass(slots=True)
class Forward:
    key: bytes
    qname: bytes
    qtype: int
    qclass: int
    do: bool
    cd: bool
    prefetch: bool = False


Action = Send | Forward


@dataclass(slots=True)
class Waiter:
    q: Query
    to: object
    profile: str
    ip: str
    max_size: int
    fast_key: bytes | None  # the UDP question bytes to install the answer under
    exempt: bool = False  # explicitly allowed: only authority lists filter its answer


@dataclass
class EngineOptions:
    serve_stale: bool = True
    stale_ttl: int = 30
    max_inflight: int = 2048
    max_waiters: int = 64  # clients merged onto one upstream query


@dataclass
class Stats:
    outcomes: Counter[str] = field(default_factory=Counter)
    dropped: int = 0
    ratelimited: int = 0
    prefetches: int = 0
    upstream_failures: int = 0


Log = Callable[[str, str], None]  # (kind, message): the shell rate-limits and writes them


def _no_log(kind: str, msg: str) -> None:
    return None


class Engine:
    def __init__(self, identify: Identify, local: LocalZones, policy: Policy, block: codec.BlockAnswer,
                 cache: Cache, fast: FastPath | None = None, options: EngineOptions | None = None,
                 log: Log = _no_log) -> None:
        self.identify = identify
        self.local = local
        self.policy = policy
        self.block = block
        self.cache = cache
        self.fast = fast or FastPath()
        self.opt = options or EngineOptions()
        self.log = log
        self.inflight: dict[bytes, list[Waiter]] = {}
        self.waiting = 0
        self.stats = Stats()

    # ------------------------------------------------------------ queries

    def on_query(self, data: bytes, ip: str, to: object, now: float, *, tcp: bool = False,
                 local_addr: str | None = None) -> list[Action]:
        if type(data) is not bytes:  # keys derived from it must be hashable
            data = bytes(data)
        try:
            q = wire.parse_query(data)
        except WireError as e:
            return self._invalid(data, ip, to, e, now)
        # identify: access control, profile, rate limit
        client = self.identify.client(ip, now)
        if client is None:
            self.log("refused", f"{ip}: not in allowed_clients")
            return self._send(to, codec.reply(q, wire.RCODE_REFUSED, ede=(Ede.PROHIBITED, "not allowed")),
                              Outcome.REFUSED)
        if client.bucket is not None and not client.bucket.take(now):
            self.stats.ratelimited += 1
            self.log("ratelimit", f"{ip}: over the rate limit, answering REFUSED")
            return self._send(to, codec.reply(q, wire.RCODE_REFUSED), Outcome.REFUSED)
        fast_key = None if tcp else data[2:]
        if not tcp and client.ip not in self.fast.clients:
            self.fast.add_client(client.ip, client.profile, client.bucket)
        max_size = 65535 if tcp else q.max_udp()
        refusal = self._unsupported(q)
        if refusal is not None:
            return self._send(to, refusal, Outcome.INVALID)
        # local: the appliance's own names and zones
        local = self.local.answer(q, local_addr, max_size)
        if local is not None:
            out, outcome, _reason = local
            if fast_key is not None and q.qname != self.local.hostname:
                self.fast.install(client.profile, fast_key, out, NEVER, None)
            return self._send(to, out, outcome)
        # policy
        decision = self.policy.decide(client.profile, q.qname, qtype=q.qtype, client=client.ip)
        if decision.blocked:
            out = self._blocked(q, decision, max_size)
            if fast_key is not None and not decision.per_client:
                self.fast.install(client.profile, fast_key, out, NEVER, None)
            return self._send(to, out, Outcome.BLOCKED)
        # cache
        key = cache_key(q.qname, q.qtype, q.qclass, q.do, q.cd)
        e = self.cache.get(key, now)
        if e is not None:
            fast = None if decision.per_client else fast_key
            actions: list[Action] = self._send(
                to, self._answer(q, e, client.profile, client.ip, now, max_size, fast, exempt=decision.exempt),
                Outcome.CACHED)
            if self.cache.wants_prefetch(e, now) and key not in self.inflight:
                e.prefetching = True
                self.inflight[key] = []
                self.stats.prefetches += 1
                actions.append(Forward(key, q.qname, q.qtype, q.qclass, q.do, q.cd, prefetch=True))
            return actions
        # upstream: merge identical questions in flight
        waiters = self.inflight.get(key)
        if self.waiting >= self.opt.max_inflight or (waiters is not None and len(waiters) >= self.opt.max_waiters):
            self.log("busy", "too many queries in flight, answering SERVFAIL")
            return self._send(to, codec.reply(q, wire.RCODE_SERVFAIL, ede=(Ede.NOT_READY, "resolver busy")),
                              Outcome.FAILED)
        w = Waiter(q, to, client.profile, client.ip, max_size, None if decision.per_client else fast_key,
                   decision.exempt)
        self.waiting += 1
        if waiters is not None:
            waiters.append(w)
            return []
        self.inflight[key] = [w]
        return [Forward(key, q.qname, q.qtype, q.qclass, q.do, q.cd)]

    def on_upstream(self, fwd: Forward, response: bytes | None, now: float, error: str = "") -> list[Action]:
        """An upstream answer (or None when every upstream failed) for `fwd`."""
        waiters = self.inflight.pop(fwd.key, [])
        self.waiting -= len(waiters)
        entry: Entry | None = None
        if response is not None:
            try:
                r = wire.parse_response(response)
                if r.rcode in (wire.RCODE_SERVFAIL, wire.RCODE_REFUSED):
                    error = f"upstream answered {'SERVFAIL' if r.rcode == wire.RCODE_SERVFAIL else 'REFUSED'}"
                else:  # a failure above may still be served stale below
                    entry = self.cache.make_entry(response, r, now)
            except WireError as e:
                error = f"unreadable upstream answer: {e}"
        if entry is not None:
            self.cache.store(fwd.key, entry)
            return [a for w in waiters
                    for a in self._send(w.to, self._answer(w.q, entry, w.profile, w.ip, now, w.max_size, w.fast_key, exempt=w.exempt),
                                        Outcome.RESOLVED)]
        self.stats.upstream_failures += 1
        self.log("upstream", f"{wire.wire_to_text(fwd.qname)}: {error or 'no answer'}")
        stale = self.cache.get_stale(fwd.key, now) if self.opt.serve_stale else None
        if stale is not None:
            stale.prefetching = False
        out: list[Action] = []
        for w in waiters:
            if stale is not None:
                reply = self._answer(w.q, stale, w.profile, w.ip, now, w.max_size, None, stale=True, exempt=w.exempt)
                out += self._send(w.to, reply, Outcome.STALE)
            else:
                reply = codec.reply(w.q, wire.RCODE_SERVFAIL, ede=(Ede.NETWORK_ERROR, "upstream resolvers failed"),
                                    max_size=w.max_size)
                out += self._send(w.to, reply, Outcome.FAILED)
        return out

    # ------------------------------------------------------------ helpers

    def _send(self, to: object, out: bytes, outcome: Outcome) -> list[Action]:
        self.stats.outcomes[outcome.value] += 1
        return [Send(to, out)]

    def _invalid(self, data: bytes, ip: str, to: object, e: WireError, now: float) -> list[Action]:
        self.log("malformed", f"{ip}: {e}")
        if e.rcode is None or self.identify.client(ip, now) is None:
            self.stats.dropped += 1
            return []
        out = codec.error_from_header(data, e.rcode)
        if out is None:
            self.stats.dropped += 1
            return []
        return self._send(to, out, Outcome.INVALID)

    def _unsupported(self, q: Query) -> bytes | None:
        if q.edns is not None and q.edns.version > 0:
            return codec.badvers(q)
        if q.qclass not in (wire.C_IN, wire.C_ANY):
            return codec.reply(q, wire.RCODE_REFUSED)
        if q.qtype in (wire.T_AXFR, wire.T_IXFR):
            return codec.reply(q, wire.RCODE_REFUSED, ede=(Ede.PROHIBITED, "zone transfers are not offered"))
        if q.qtype in (wire.T_MAILA, wire.T_MAILB, wire.T_OPT):
            return codec.reply(q, wire.RCODE_NOTIMP)
        return None

    def _blocked(self, q: Query, d: Decision, max_size: int) -> bytes:
        return self.block.build(q, (int(d.ede or Ede.BLOCKED), d.reason.text), max_size)

    def _answer(self, q: Query, e: Entry, profile: str, ip: str, now: float, max_size: int,
                fast_key: bytes | None, stale: bool = False, exempt: bool = False) -> bytes:
        """A reply from a cache entry, unless its CNAME chain reaches a name this profile blocks."""
        for target in e.targets:
            d = self.policy.decide(profile, target, explain=True, qtype=q.qtype, client=ip, authority_only=exempt)
            if d.per_client:
                fast_key = None
            if d.blocked:
                shown = d.reason.rule is not None or d.reason.feed is None
                where = wire.wire_to_text(target) if shown else "a listed name"
                d = Decision(True, Reason(f"CNAME to {where}: {d.reason.text}", d.reason.category,
                                          d.reason.feed, d.reason.rule), d.ede)
                out = self._blocked(q, d, max_size)
                if fast_key is not None:
                    self.fast.install(profile, fast_key, out, e.expires, None)
                return out
        ad = (e.flags & wire.F_AD if (q.flags & wire.F_AD or q.do) else 0) | (e.flags & wire.F_TC)
        out = codec.reply(q, e.rcode, e.render(now, self.opt.stale_ttl if stale else None), e.counts,
                          flags=ad, ede=(Ede.STALE_ANSWER, "upstreams failed") if stale else None,
                          max_size=max_size)
        if fast_key is not None:
            self._install(profile, fast_key, q, e, out, now)
        return out

    def _install(self, profile: str, key: bytes, q: Query, e: Entry, out: bytes, now: float) -> None:
        if out[2] & 0x02 or not e.ttl_offs:  # truncated, or nothing to count down
            self.fast.install(profile, key, out, e.expires, None)
            return
        base = 10 + len(q.question)  # tail = reply without its 2 ID bytes
        prefetch_at = e.expires - e.ttl / 10 if self.cache.prefetch and e.ttl >= 10 else e.expires
        patch = (tuple(base + o for o in e.ttl_offs), e.ttls, e.stored, e.expires, prefetch_at)
        self.fast.install(profile, key, out, min(now + 1.0, e.expires), patch)
