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
from typing import TYPE_CHECKING, Any, Final

from dnsfilter.core.cache import Cache, Entry, cache_key
from dnsfilter.core.dns import codec, wire
from dnsfilter.core.dns.blockpage import BlockPage
from dnsfilter.core.dns.notify import OPCODE_NOTIFY, NotifyPolicy, opcode
from dnsfilter.core.dns.question import Plain, read_plain
from dnsfilter.core.dns.rewrite import cname_reply
from dnsfilter.core.dns.scrub import scrub
from dnsfilter.core.dns.wire import Edns, Query, WireError
from dnsfilter.core.fastpath import NEVER, FastEntry, FastPath, Slot
from dnsfilter.core.household.macaddr import client_hints
from dnsfilter.core.household.seen import Seen, SeenDevices
from dnsfilter.core.model import Decision, Ede, Outcome, Reason
from dnsfilter.core.policy.decide import NO_TIME_STATE, Policy, TimeState
from dnsfilter.core.policy.matcher import Keys
from dnsfilter.core.querylog import RING_SMALL, LogInfo, QueryLog
from dnsfilter.core.stages.identify import ClientState, Identify
from dnsfilter.core.stages.local import LocalZones
from dnsfilter.core.stages.upstream import BUSY, FIRST, InFlight, Waiter

if TYPE_CHECKING:
    from dnsfilter.core.household.timestate import TimeRules


@dataclass(init=False, slots=True)
class Send:
    to: Any  # the client's address; not `object`: mypyc 2.4 fails on such a dataclass field
    wire: bytes

    # init=False: a dataclass's generated __init__ runs interpreted even when compiled (make native)
    def __init__(self, to: Any, wire: bytes) -> None:
        self.to = to
        self.wire = wire


@dataclass(init=False, slots=True)
class Forward:
    key: bytes
    qname: bytes
    qtype: int
    qclass: int
    do: bool
    cd: bool
    prefetch: bool = False

    # init=False: a dataclass's generated __init__ runs interpreted even when compiled (make native)
    def __init__(self, key: bytes, qname: bytes, qtype: int, qclass: int, do: bool, cd: bool,
                 prefetch: bool = False) -> None:
        self.key = key
        self.qname = qname
        self.qtype = qtype
        self.qclass = qclass
        self.do = do
        self.cd = cd
        self.prefetch = prefetch


@dataclass(slots=True)
class SyncFeed:
    """Sync this feed now: its primary sent a NOTIFY we accepted (core/dns/notify.py)."""

    feed: str


Action = Send | Forward | SyncFeed


@dataclass(init=False, slots=True)
class Pending:
    """An allowed first sight read by Engine.first_sight, waiting for the loop's `go_on`."""

    slot: Slot
    key: bytes
    plain: Plain
    decision: Decision

    # init=False: a dataclass's generated __init__ runs interpreted even when compiled (make native)
    def __init__(self, slot: Slot, key: bytes, plain: Plain, decision: Decision) -> None:
        self.slot = slot
        self.key = key
        self.plain = plain
        self.decision = decision


@dataclass
class EngineOptions:
    serve_stale: bool = True
    stale_ttl: int = 30
    max_inflight: int = 2048
    max_waiters: int = 64  # clients merged onto one upstream query


@dataclass
class Stats:
    # Answers by outcome, a plain dict (a Counter's += cost 1.5k instructions compiled, through
    # the generic protocol); blocked first sights (Engine.first_sight) apart, as a native int
    counted: dict[str, int] = field(default_factory=dict)
    first_blocked: int = 0
    dropped: int = 0
    ratelimited: int = 0
    prefetches: int = 0
    upstream_failures: int = 0
    rewritten: int = 0
    scrubbed: int = 0  # upstream answers that carried records not answering the question
    notify: Counter[str] = field(default_factory=Counter)  # NOTIFY messages by result

    @property
    def outcomes(self) -> Counter[str]:
        """Answers by outcome (a copy)."""
        out = Counter(self.counted)
        if self.first_blocked:
            out[_BLOCKED] += self.first_blocked
        return out


Log = Callable[[str, str], None]  # (kind, message): the shell rate-limits and writes them
_NOT_ALLOWED: Final = Reason("not in allowed_clients", kind="not_allowed")
_RATELIMITED: Final = Reason("over the rate limit", kind="ratelimit")
_UNSUPPORTED: Final = Reason("unsupported query", kind="unsupported")
_BUSY: Final = Reason("resolver busy", kind="busy")
_CACHED: Final = Outcome.CACHED.value
_BLOCKED: Final = Outcome.BLOCKED.value
# refused or not implemented (_unsupported), or the OPT type: never answered by first_sight
_SPECIAL_TYPES: Final = frozenset((wire.T_AXFR, wire.T_IXFR, wire.T_MAILA, wire.T_MAILB, wire.T_OPT))


def _no_log(kind: str, msg: str) -> None:
    return None


def _no_override(table: str) -> bool:
    """Fast-path tables built under an override are named with `|o:` (household/timestate.py)."""
    return "|o:" not in table


class Engine:
    def __init__(self, identify: Identify, local: LocalZones, policy: Policy, block: codec.BlockAnswer,
                 cache: Cache, fast: FastPath | None = None, options: EngineOptions | None = None,
                 log: Log = _no_log, time_rules: TimeRules | None = None) -> None:
        self.identify = identify
        self.local = local
        self.policy = policy
        self.block = block
        self.cache = cache
        self.fast = fast or FastPath()
        self.opt = options or EngineOptions()
        self.log = log
        self.upstream = InFlight(self.opt.max_inflight, self.opt.max_waiters)
        self.stats = Stats()
        self.time = time_rules
        self.states: dict[str, tuple[TimeState, float]] = {}  # device -> (state, valid until)
        self.seen = SeenDevices()  # devices seen since the shell last drained them
        self.budgets_spent = 0
        # `now` is the shell's monotonic clock (TTLs must not jump with the wall clock); time
        # rules need the wall clock: wall = now + wall_offset, kept current by the shell.
        self.wall_offset = 0.0
        # Set by the shell at debug level: one line per block or rewrite the slow path decides
        # (profile, device, name, reason); answers replayed by the fast path are not repeated.
        self.trace: Callable[[str], None] | None = None
        self.qlog = QueryLog(small=RING_SMALL)  # every answer is recorded here; the shell drains it to disk
        self.notify = NotifyPolicy({})  # the zones of xfr:// feeds (assemble.build_notify)
        # profiles with `block_page = true`: their blocked A/AAAA point at the portal (dns/blockpage.py)
        self.block_page: BlockPage | None = None

    # ------------------------------------------------------------ queries

    def on_query(self, data: bytes, ip: str, to: object, now: float, *, tcp: bool = False,
                 local_addr: str | None = None) -> list[Action]:
        if type(data) is not bytes:  # keys derived from it must be hashable
            data = bytes(data)
        try:
            q = wire.parse_query(data)
        except WireError as err:
            if err.rcode == wire.RCODE_NOTIMP and opcode(data) == OPCODE_NOTIFY:  # only on this error path
                return self._notify(data, ip, to, now)
            return self._invalid(data, ip, to, err, now)
        # identify: access control, profile, rate limit
        if self.identify.refresh():
            self.fast.clients.clear()  # addresses may belong to other devices now (as in tick)
        client = self.identify.client(ip, now)
        if client is None:
            self.log("refused", f"{ip}: not in allowed_clients")
            self._rec(now, ip, "", "", q, Outcome.REFUSED, _NOT_ALLOWED)
            return self._send(to, codec.reply(q, wire.RCODE_REFUSED, ede=(Ede.PROHIBITED, "not allowed")),
                              Outcome.REFUSED)
        if client.bucket is not None and not client.bucket.take(now):
            self.stats.ratelimited += 1
            self.log("ratelimit", f"{ip}: over the rate limit, answering REFUSED")
            self._rec(now, ip, client.device, client.profile, q, Outcome.REFUSED, _RATELIMITED)
            return self._send(to, codec.reply(q, wire.RCODE_REFUSED), Outcome.REFUSED)
        shared = False  # a forwarder speaking for several devices: no per-address fast slot
        device_ip: str | None = ip  # where the device is (for the block page's interface)
        if q.edns is not None and q.edns.options and self.identify.trusted and self.identify.is_trusted(ip):
            hint_mac, hint_ip = client_hints(q.edns.options)
            if hint_mac is not None or hint_ip is not None:
                client, shared, device_ip = self.identify.behind(client, hint_mac, hint_ip), True, hint_ip
        wall = now + self.wall_offset
        self.seen.saw(client, wall)
        state = self._state(client, wall)
        fast_key = None if tcp or shared else data[2:]
        if fast_key is not None and client.ip not in self.fast.clients:
            self.fast.add_client(client.ip, state.key or client.profile, client, state)
        profile_key = state.key or client.profile
        max_size = 65535 if tcp else q.max_udp()
        refusal = self._unsupported(q)
        if refusal is not None:
            self._rec(now, client.ip, client.device, client.profile, q, Outcome.INVALID, _UNSUPPORTED)
            return self._send(to, refusal, Outcome.INVALID)
        # local: the appliance's own names and zones
        local = self.local.answer(q, local_addr, max_size)
        if local is not None:
            out, outcome, reason = local
            info = self._rec(now, client.ip, client.device, client.profile, q, outcome, reason)
            if fast_key is not None and q.qname != self.local.hostname:
                self.fast.install(profile_key, fast_key, out, self._ends(client.device), None, info)
            return self._send(to, out, outcome)
        # policy
        decision = self.policy.decide(client.profile, q.qname, qtype=q.qtype, client=client.ip, state=state)
        if self.trace is not None and (decision.blocked or decision.rewrite is not None):
            self._trace(client, q.qname, decision)
        act = decision.action
        if decision.blocked and not (tcp and act is not None and act.kind == "tcp-only"):  # TCP-only: TCP passes
            if act is not None and act.cname is not None and q.qtype not in (wire.T_CNAME, wire.T_ANY):
                # a policy zone's walled garden: a CNAME to it, and the garden's own answer
                return self._rewrite(q, act.cname, client, to, max_size, now, decision.reason, self._ede(decision))
            page = None
            bp = self.block_page
            if bp is not None and act is None and client.profile in bp.profiles:  # a zone's action answers as written
                page = self._to_page(bp, q, decision, max_size, local_addr, device_ip)
            answer = page or self._blocked(q, decision, max_size)
            info = self._rec(now, client.ip, client.device, client.profile, q, Outcome.BLOCKED, decision.reason)
            if (answer is not None and fast_key is not None and not decision.per_client  # a drop is never replayed
                    and (page is None or bp is None or bp.fixed)):
                self.fast.install(profile_key, fast_key, answer, self._ends(client.device), None, info)
            return self._send(to, answer, Outcome.BLOCKED)
        if decision.count:
            fast_key = None  # every use must reach the budget counter
            if self.time is not None and self.time.record(client.profile, client.device, decision.count, wall):
                self.forget_device(client.device)  # the budget is spent from now on
                self.budgets_spent += 1  # the shell saves the budgets on the next tick
        if decision.rewrite is not None:
            return self._rewrite(q, decision.rewrite, client, to, max_size, now, decision.reason)
        return self._cached_or_upstream(q, client, state, decision, to, now, fast_key, max_size)

    def _cached_or_upstream(self, q: Query, client: ClientState, state: TimeState, decision: Decision, to: object,
                            now: float, fast_key: bytes | None, max_size: int) -> list[Action]:
        # cache
        key = cache_key(q.qname, q.qtype, q.qclass, q.do, q.cd)
        e = self.cache.get(key, now)
        if e is not None:
            fast = None if decision.per_client else fast_key
            actions: list[Action] = self._send(
                to, self._answer(q, e, client.profile, client.ip, now, max_size, fast, exempt=decision.exempt,
                                 state=state, device=client.device, why=decision.reason, outcome=Outcome.CACHED),
                Outcome.CACHED)
            if self.cache.wants_prefetch(e, now) and self.upstream.prefetch(key):
                e.prefetching = True
                self.stats.prefetches += 1
                actions.append(Forward(key, q.qname, q.qtype, q.qclass, q.do, q.cd, prefetch=True))
            return actions
        # upstream: merge identical questions in flight
        w = Waiter(q, to, client.profile, client.ip, max_size, None if decision.per_client else fast_key,
                   decision.exempt, state=state, device=client.device, reason=decision.reason)
        return self._ask_upstream(key, q.qname, w, now)

    def first_sight(self, slot: Slot, key: bytes, now: float) -> FastEntry | Pending | None:
        """The UDP loop's question `key` (a datagram after its ID) from a client with a fast
        slot, missing from its table, read straight from the bytes (no Query; the rate limit
        token is the loop's). A blocked name is decided, answered, recorded and offered to the
        table (kept from its second sight on) here; an allowed one comes back as a Pending for `go_on`, which needs the sender.
        None: anything else (local names, safe search, budgets, odd packets), for `on_query`."""
        if self.trace is not None:  # decisions are traced one by one on the full path
            return None
        plain = read_plain(key)
        if plain is None:
            return None
        flags, qname, starts, qtype, question, payload, do = plain
        if qtype in _SPECIAL_TYPES or self.local.owns(qname, starts[-1] if starts else 0):
            return None
        ends = NEVER  # when the device's time state ends (_ends), read with the check below
        if self.time is not None and slot.client is not None:
            held = self.states.get(slot.client.device)
            if held is None or held[0] is not slot.state or held[1] <= now + self.wall_offset:
                return None  # the device's time state moved on since the slot: the full path decides
            ends = held[1] - self.wall_offset
        # positional: keyword arguments cost a first sight a tenth of a microsecond more
        d = self.policy.decide(slot.profile, qname, False, qtype, slot.ip, False, slot.state, Keys(qname, starts))
        if not d.blocked:
            return None if d.rewrite is not None or d.count or slot.client is None else Pending(slot, key, plain, d)
        if d.per_client or d.action is not None or (
                self.block_page is not None and slot.profile in self.block_page.profiles):
            return None  # a policy zone's own action, or the block page: the full path answers them
        reason = d.reason
        e = (self.block.tail(flags, question, qtype, payload > 0, do, d.ede or Ede.BLOCKED, reason.text),
             ends, None, self.qlog.info(slot.profile, qname, qtype, _BLOCKED, reason))
        if self.fast.admits_again(slot.table, key):  # kept from its second sight on
            self.fast.store(slot.table, key, e)
        self.stats.first_blocked += 1  # last: a first sight that raised is answered (and counted) in full
        return e

    def go_on(self, p: Pending, qid: int, to: object, now: float) -> list[Action]:
        """An allowed first sight, once the loop has its ID and sender: the cache, then upstream."""
        flags, qname, _starts, qtype, question, payload, do = p.plain
        edns = Edns(payload, do, 0, b"") if payload else None
        q = Query(qid, flags, qname, qtype, wire.C_IN, question, edns)
        client = p.slot.client
        assert client is not None
        self.seen.saw(client, now + self.wall_offset)
        max_size = 512 if edns is None else min(payload, 1232)
        return self._cached_or_upstream(q, client, p.slot.state, p.decision, to, now, p.key, max_size)

    def on_upstream(self, fwd: Forward, response: bytes | None, now: float, error: str = "") -> list[Action]:
        """An upstream answer (or None when every upstream failed) for `fwd`."""
        waiters = self.upstream.finish(fwd.key)
        entry: Entry | None = None
        if response is not None:
            try:
                r = wire.parse_response(response)
                if r.rcode in (wire.RCODE_SERVFAIL, wire.RCODE_REFUSED):
                    error = f"upstream answered {'SERVFAIL' if r.rcode == wire.RCODE_SERVFAIL else 'REFUSED'}"
                else:  # a failure above may still be served stale below
                    clean = scrub(response, r)
                    if clean is not response:  # records that do not answer the question: dropped
                        before = len(r.records)
                        response, r = clean, wire.parse_response(clean)
                        self.stats.scrubbed += 1
                        self.log("scrubbed", f"{wire.wire_to_text(fwd.qname)}: dropped {before - len(r.records)} "
                                             f"of {before} records that do not answer the question")
                    entry = self.cache.make_entry(response, r, now)
            except WireError as e:
                error = f"unreadable upstream answer: {e}"
        if entry is not None:
            self.cache.store(fwd.key, entry)
            if len(waiters) == 1 and waiters[0].rewrite is None:  # nearly always: one client, as asked
                w = waiters[0]
                return self._send(w.to, self._reply_for(w, entry, now), Outcome.RESOLVED)
            return [a for w in waiters for a in self._send(w.to, self._reply_for(w, entry, now),
                                                           Outcome.REWRITTEN if w.rewrite else Outcome.RESOLVED)]
        self.stats.upstream_failures += 1
        self.log("upstream", f"{wire.wire_to_text(fwd.qname)}: {error or 'no answer'}")
        stale = self.cache.get_stale(fwd.key, now) if self.opt.serve_stale else None
        if stale is not None:
            stale.prefetching = False
        out: list[Action] = []
        for w in waiters:
            if stale is not None:
                out += self._send(w.to, self._reply_for(w, stale, now, stale=True), Outcome.STALE)
            else:
                reply = codec.reply(w.q, wire.RCODE_SERVFAIL, ede=(Ede.NETWORK_ERROR, "upstream resolvers failed"),
                                    max_size=w.max_size)
                self._rec(now, w.ip, w.device, w.profile, w.q, Outcome.FAILED, w.reason)
                out += self._send(w.to, reply, Outcome.FAILED)
        return out

    # ------------------------------------------------------------ profiles in time

    def _state(self, client: ClientState, now: float) -> TimeState:
        """The device's time state at wall-clock `now`."""
        if self.time is None:
            return NO_TIME_STATE
        held = self.states.get(client.device)
        if held is not None and now < held[1] and (held[0].key or client.profile).split("|", 1)[0] == client.profile:
            return held[0]
        st = self.time.state(client.profile, client.device, now)
        if len(self.states) >= 65536:
            self.states.clear()
        self.states[client.device] = st
        return st[0]

    def time_state(self, client: ClientState, wall: float) -> TimeState:
        """The device's time state at wall-clock `wall`, as its next query would get it."""
        return self._state(client, wall)

    def drain_seen(self) -> list[Seen]:
        return self.seen.drain()

    def forget_device(self, device: str) -> None:
        """Its time state changed (budget spent, pause): recompute it, rebuild its fast slots."""
        self.states.pop(device, None)
        gone = [ip for ip, slot in self.fast.clients.items() if slot.device == device]
        for ip in gone:
            del self.fast.clients[ip]

    def forget_all(self) -> None:
        """Pauses or identities changed: every device's state and fast slot is rebuilt."""
        self.states.clear()
        self.fast.clients.clear()

    def overrides_changed(self) -> None:
        """An expiring allow/block was added or removed: every device's state is recomputed,
        and the answers built under the overrides that held are gone from the fast path."""
        self.forget_all()
        self.fast.drop_tables(_no_override)

    def tick(self, now: float) -> None:
        """Called about once a second by the shell: states whose time is up (a schedule
        boundary, a pause's end, an override's end, midnight) are dropped with their devices'
        fast slots, so the fast path never serves an answer from a state that no longer holds;
        an ended override's own answers are dropped too (policy/overrides.py)."""
        if self.identify.refresh():
            self.fast.clients.clear()  # addresses may belong to other devices now
        wall = now + self.wall_offset
        for d in [d for d, (_s, until) in self.states.items() if until <= wall]:
            self.forget_device(d)
        if self.time is not None and self.time.overrides.prune(wall):
            self.fast.drop_tables(_no_override)  # the states that named them ended above

    def _trace(self, client: ClientState, qname: bytes, d: Decision) -> None:
        r = d.reason
        what = "blocked" if d.blocked else f"rewritten to {wire.wire_to_text(d.rewrite or b'')}"
        detail = ", ".join(f"{k}={v}" for k, v in (("kind", r.kind), ("category", r.category),
                                                   ("service", r.service), ("feed", r.feed), ("rule", r.rule)) if v)
        assert self.trace is not None
        self.trace(f"{client.ip} [{client.device}] profile {client.profile}: {wire.wire_to_text(qname)} {what}: "
                   f"{r.text} ({detail})")

    def _rewrite(self, q: Query, target: bytes, client: ClientState, to: object, max_size: int,
                 now: float, reason: Reason, ede: tuple[int, str] | None = None) -> list[Action]:
        key = cache_key(target, q.qtype, q.qclass, q.do, q.cd)
        e = self.cache.get(key, now)
        if e is not None:
            self.stats.rewritten += 1
            self._rec(now, client.ip, client.device, client.profile, q, Outcome.REWRITTEN, reason)
            return self._send(to, cname_reply(q, target, e, now, max_size, ede=ede), Outcome.REWRITTEN)
        w = Waiter(q, to, client.profile, client.ip, max_size, None, rewrite=target, device=client.device,
                   reason=reason, ede=ede)
        return self._ask_upstream(key, target, w, now)

    def _ask_upstream(self, key: bytes, qname: bytes, w: Waiter, now: float) -> list[Action]:
        """The upstream stage: forward `qname` (the asked name, or a rewrite's target) unless the
        same question is already in flight; SERVFAIL "busy" over the bounds."""
        joined = self.upstream.join(key, w)
        if joined == BUSY:
            self.log("busy", "too many queries in flight, answering SERVFAIL")
            self._rec(now, w.ip, w.device, w.profile, w.q, Outcome.FAILED, _BUSY)
            return self._send(w.to, codec.reply(w.q, wire.RCODE_SERVFAIL, ede=(Ede.NOT_READY, "resolver busy")),
                              Outcome.FAILED)
        if joined == FIRST:
            q = w.q
            return [Forward(key, qname, q.qtype, q.qclass, q.do, q.cd)]
        return []

    # ------------------------------------------------------------ helpers

    def _rec(self, now: float, ip: str, device: str, profile: str, q: Query, outcome: Outcome,
             reason: Reason | None) -> LogInfo | None:
        """Record one answer in the query log; returns its description for a fast-path entry."""
        # _value_, not .value: in 3.11 the property costs a descriptor call on every first sight
        return self.qlog.answer(now, ip, device, profile, q.qname, q.qtype, outcome._value_, reason)

    def _send(self, to: object, out: bytes | None, outcome: Outcome) -> list[Action]:
        """Count an answer and send it; None is a policy zone's rpz-drop: nothing is sent."""
        counted, v = self.stats.counted, outcome._value_
        counted[v] = counted.get(v, 0) + 1
        return [Send(to, out)] if out is not None else []

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

    def _notify(self, data: bytes, ip: str, to: object, now: float) -> list[Action]:
        """A NOTIFY: answered as RFC 1996 says; when accepted, its feed syncs now."""
        try:
            d = self.notify.decide(data, ip)
        except WireError as e:
            self.stats.notify["malformed"] += 1
            return self._invalid(data, ip, to, e, now)
        self.stats.notify[d.result] += 1
        if d.feed is None:
            self.log("notify", f"{ip}: NOTIFY refused ({d.result.replace('_', ' ')})")
            return [Send(to, d.reply)]
        return [Send(to, d.reply), SyncFeed(d.feed)]

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

    def _blocked(self, q: Query, d: Decision, max_size: int) -> bytes | None:
        """A block's answer: as block_mode says, or as its policy zone's action (None: drop)."""
        if d.action is not None:
            return codec.action_reply(q, d.action, self._ede(d), max_size, self.block.ttl)
        return self.block.build(q, self._ede(d), max_size)

    @staticmethod
    def _ede(d: Decision) -> tuple[int, str]:
        return int(d.ede or Ede.BLOCKED), d.reason.text

    def _to_page(self, bp: BlockPage, q: Query, d: Decision, max_size: int, local: str | None,
                 device_ip: str | None) -> bytes | None:
        """A block of a block-page profile's A/AAAA: the portal's address (None: the usual answer)."""
        if q.qtype != wire.T_A and q.qtype != wire.T_AAAA:
            return None
        recs = bp.records(local, device_ip)
        return None if recs is None else bp.build(q, (int(d.ede or Ede.BLOCKED), d.reason.text), max_size, recs)

    def set_block_page(self, bp: BlockPage | None) -> None:
        """New portal addresses (a LAN address came or went, a reload): answers built with the
        old ones go with the fast path."""
        self.block_page = bp if bp else None
        self.fast = FastPath(self.fast.max_entries, self.fast.max_clients)

    def _reply_for(self, w: Waiter, e: Entry, now: float, stale: bool = False) -> bytes | None:
        if w.rewrite is not None:
            self.stats.rewritten += 1
            self._rec(now, w.ip, w.device, w.profile, w.q, Outcome.REWRITTEN, w.reason)
            return cname_reply(w.q, w.rewrite, e, now, w.max_size, ede=w.ede)
        return self._answer(w.q, e, w.profile, w.ip, now, w.max_size, None if stale else w.fast_key, stale=stale,
                            exempt=w.exempt, state=w.state, device=w.device, why=w.reason,
                            outcome=Outcome.STALE if stale else Outcome.RESOLVED)

    def _answer(self, q: Query, e: Entry, profile: str, ip: str, now: float, max_size: int,
                fast_key: bytes | None, stale: bool = False, exempt: bool = False,
                state: TimeState = NO_TIME_STATE, device: str = "", why: Reason | None = None,
                outcome: Outcome = Outcome.CACHED) -> bytes | None:
        """A reply from a cache entry, unless its CNAME chain reaches a name this profile blocks
        (None: a policy zone drops it)."""
        table = state.key or profile
        for target in e.targets:
            d = self.policy.decide(profile, target, explain=True, qtype=q.qtype, client=ip, authority_only=exempt,
                                   state=state)
            if d.per_client:
                fast_key = None
            if d.blocked and not _tcp_passes(d, max_size):
                shown = d.reason.rule is not None or d.reason.feed is None
                where = wire.wire_to_text(target) if shown else "a listed name"
                d = Decision(True, Reason(f"CNAME to {where}: {d.reason.text}", d.reason.category,
                                          d.reason.feed, d.reason.rule), d.ede, action=d.action)
                return self._answer_blocked(q, d, e, now, ip, device, profile, table, max_size, fast_key)
        if self.policy.has_nets and e.counts[0]:  # response-IP rules: an address in a listed network
            hit = self.policy.answer_block(profile, e.addresses(), exempt)
            if hit is not None and not _tcp_passes(hit, max_size):
                return self._answer_blocked(q, hit, e, now, ip, device, profile, table, max_size, fast_key)
        ad = (e.flags & wire.F_AD if (q.flags & wire.F_AD or q.do) else 0) | (e.flags & wire.F_TC)
        out = codec.reply(q, e.rcode, e.render(now, self.opt.stale_ttl if stale else None), e.counts,
                          flags=ad, ede=(Ede.STALE_ANSWER, "upstreams failed") if stale else None,
                          max_size=max_size)
        info = self._rec(now, ip, device, profile, q, outcome, why)
        if fast_key is not None:  # its replays are cache hits
            t = self.fast.table(table)
            if self.fast.admits(t, fast_key):
                if outcome is not Outcome.CACHED and info is not None:
                    info = self.qlog.info(profile, q.qname, q.qtype, _CACHED, why)
                self.fast.store(t, fast_key, self._prebuilt(q, e, out, now, info, self._ends(device)))
        return out

    def _answer_blocked(self, q: Query, d: Decision, e: Entry, now: float, ip: str, device: str, profile: str,
                        table: str, max_size: int, fast_key: bytes | None) -> bytes | None:
        """A block for what an answer holds (a CNAME target, an address): the fast path replays it
        only until the answer expires; the next answer is checked afresh. None: a policy zone's
        rpz-drop, never replayed."""
        out = self._blocked(q, d, max_size)
        info = self._rec(now, ip, device, profile, q, Outcome.BLOCKED, d.reason)
        if out is not None and fast_key is not None:
            self.fast.install(table, fast_key, out, min(e.expires, self._ends(device)), None, info)
        return out

    def _ends(self, device: str) -> float:
        """When the device's time state ends, on the engine's clock: no answer built under a
        state (an override, a schedule…) is replayed past its end, not even until the next
        tick; after it the UDP loop hands the query back to the engine."""
        held = self.states.get(device)
        return NEVER if held is None else held[1] - self.wall_offset

    def _prebuilt(self, q: Query, e: Entry, out: bytes, now: float, info: LogInfo | None,
                  ends: float = NEVER) -> FastEntry:
        """The fast-path entry of a reply from cache entry `e`, its TTLs patched as they count
        down, replayed no later than `ends` (the end of the device's time state)."""
        expires = min(e.expires, ends)
        if out[2] & 0x02 or not e.ttl_offs:  # truncated, or nothing to count down
            return out[2:], expires, None, info
        base = 10 + len(q.question)  # tail = reply without its 2 ID bytes
        prefetch_at = e.expires - e.ttl / 10 if self.cache.prefetch and e.ttl >= 10 else e.expires
        # a comprehension, not map(base.__add__, …): compiled, a loop instead of generic calls
        patch = (tuple([base + off for off in e.ttl_offs]), e.ttls, e.stored, expires, min(prefetch_at, expires))
        return out[2:], min(now + 1.0, expires), patch, info


def _tcp_passes(d: Decision, max_size: int) -> bool:
    """A policy zone's rpz-tcp-only asked over TCP (the only transport with a 65535-byte limit):
    resolved as if nothing had matched."""
    return max_size == 65535 and d.action is not None and d.action.kind == "tcp-only"
