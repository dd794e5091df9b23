"""Prebuilt answers keyed by the raw question bytes, for the UDP hot loop.

A UDP query whose bytes after the ID (flags, counts, question, OPT) were answered before
for the same profile is answered by patching the ID onto the prebuilt reply: no parse, no
policy, no allocation beyond the reply itself. Entries that carry cached TTLs are
re-stamped at most once a second, so TTLs still count down; everything else (blocked and
local answers) stays until the policy changes, which swaps the whole FastPath.

Admission: while the tables have room every answer goes in. Once they are full, a question
takes an older entry's place only at its second sight within a recent window (see
doorkeeper.py), so a scan of names asked once passes through without evicting the names asked
again and again, and pays no install or eviction of its own. The oldest entry goes first
(insertion order, kept in a deque per table: O(1), where taking the first key of a dict walks
the holes its deletions left).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from dnsfilter.core.doorkeeper import Doorkeeper
from dnsfilter.core.policy.decide import NO_TIME_STATE, TimeState
from dnsfilter.core.querylog import LogInfo
from dnsfilter.core.ratelimit import TokenBucket
from dnsfilter.core.stages.identify import ClientState

_to_bytes: Final = int.to_bytes
NEVER: Final = float("inf")

# An entry is (tail, refresh_at, patch, info): tail = the reply without its 2 ID bytes.
# patch = (ttl offsets in tail, ttls, stored_at, expires_at, prefetch_at) or None.
# info = what the query log records for each replay, built once here (None: not logged).
Patch = tuple[tuple[int, ...], tuple[int, ...], float, float, float]
FastEntry = tuple[bytes, float, Patch | None, LogInfo | None]
Table = dict[bytes, FastEntry]


@dataclass(slots=True)
class Slot:
    """What the hot loop needs to know about one client address."""

    table: Table
    bucket: TokenBucket | None  # None: exempt from rate limiting (e.g. loopback forwarders)
    device: str = ""  # whose time state chose the table (the engine drops the slot when it changes)
    ip: str = ""  # the client address: the query log's fast ring records the slot, not a new tuple
    profile: str = ""  # the device's profile (the table is named by it and its time state)
    state: TimeState = NO_TIME_STATE  # the time state the table was chosen for (Engine.first_sight)
    client: ClientState | None = None  # who identify said it is (Engine.go_on)


class FastPath:
    """The prebuilt answers of every table: one per profile, and one per profile in a time
    state (a paused or out-of-budget device has its own). `max_entries` bounds them all
    together: bounded per table, a home's four profiles and a few paused devices could hold
    ten times the memory a router was sized for."""

    def __init__(self, max_entries: int = 50_000, max_clients: int = 65536) -> None:
        self.clients: dict[str, Slot] = {}
        self.tables: dict[str, Table] = {}
        self.order: dict[int, deque[bytes]] = {}  # id(table) -> its keys, oldest first
        self.max_entries = max_entries
        self.max_clients = max_clients
        self.installed = 0
        self.declined = 0  # first sights not admitted into full tables
        self.entries = 0  # in all tables (entries only arrive through install)
        self.door = Doorkeeper(max_entries)

    def table(self, profile: str) -> Table:
        t = self.tables.get(profile)
        if t is None:
            t = self.tables[profile] = {}
            self.order[id(t)] = deque()
        return t

    def add_client(self, ip: str, profile: str, client: ClientState | None = None,
                   state: TimeState = NO_TIME_STATE, bucket: TokenBucket | None = None, device: str = "") -> Slot:
        """`profile` names the table: a profile, or a profile in a time state (see timestate);
        `client` is the client as identified (its profile, device and rate limit) and `state`
        that time state."""
        if len(self.clients) >= self.max_clients:
            self.clients.clear()  # bounded: slots are rebuilt on the next query of each client
        if len(self.tables) >= 1024 and profile not in self.tables:
            self.tables.clear()  # bounded: per-device states (pauses, budgets) each get a table
            self.order.clear()
            self.clients.clear()
            self.entries = 0
        if client is not None:
            bucket, device, owner = client.bucket, client.device, client.profile
        else:
            owner = profile
        slot = self.clients[ip] = Slot(self.table(profile), bucket, device, ip, owner, state, client)
        return slot

    def install(self, profile: str, key: bytes, reply: bytes, refresh_at: float, patch: Patch | None,
                info: LogInfo | None = None) -> None:
        t = self.table(profile)
        if self.admits(t, key):
            self.store(t, key, (reply[2:], refresh_at, patch, info))

    def put(self, t: Table, key: bytes, entry: FastEntry) -> None:
        """Keep `entry` under `key` in table `t` (a slot's table), as admission allows."""
        if self.admits(t, key):
            self.store(t, key, entry)

    def admits(self, t: Table, key: bytes) -> bool:
        """Whether an answer for `key` may go into `t` now (then `store` it, at once): there is
        room, it replaces its own older entry, or it is asked for the second time recently.
        Asked first, so that an answer about to be declined is not even built."""
        if key in t:
            return True
        if self.max_entries <= 0:
            return False
        if self.entries >= self.max_entries and not self.door.seen(key):
            self.declined += 1  # a first sight does not push out an older entry
            return False
        return True

    def admits_again(self, t: Table, key: bytes) -> bool:
        """`admits` for an answer that is cheap to make again (a blocked one, written from the
        query's bytes): only at its second sight, room or not, so names asked once (a scan of
        a list, a flood) never fill the table; a home's names are all asked again soon."""
        if key in t:
            return True
        if self.max_entries <= 0:
            return False
        if not self.door.seen(key):
            self.declined += 1
            return False
        return True

    def store(self, t: Table, key: bytes, entry: FastEntry) -> None:
        """Keep `entry` under `key` (admitted by `admits`), evicting the oldest if it must."""
        if key not in t:
            if self.entries >= self.max_entries:
                self._evict(t)
            self.entries += 1
            self.order[id(t)].append(key)
        t[key] = entry
        self.installed += 1

    def drop_tables(self, keep: Callable[[str], bool]) -> int:
        """Forget every table whose name `keep` refuses (its answers were built under a state
        that has ended), and the client slots that point at one; returns the answers dropped."""
        gone = [name for name in self.tables if not keep(name)]
        dropped = 0
        for name in gone:
            table = self.tables.pop(name)
            self.order.pop(id(table), None)
            dropped += len(table)
            for ip in [ip for ip, slot in self.clients.items() if slot.table is table]:
                del self.clients[ip]
        self.entries -= dropped
        return dropped

    def _evict(self, t: Table) -> None:
        """Drop one entry to make room in `t`: its own oldest while it holds at least its
        share of the whole, else the oldest of the largest table (so a busy profile cannot
        starve a quiet one of the few entries it has). The dropped answer is rebuilt if asked."""
        victim = t if t and len(t) * len(self.tables) >= self.entries else max(self.tables.values(), key=len)
        if victim:
            del victim[self.order[id(victim)].popleft()]
            self.entries -= 1


def restamp(entry: FastEntry, now: float) -> FastEntry | None:
    """The entry with its TTLs counted down to `now`, or None when it must go the slow way
    (expired, due for prefetch, or nothing to patch)."""
    tail, _refresh, patch, info = entry
    if patch is None:
        return None
    offs, ttls, stored, expires, prefetch_at = patch
    if now >= expires or now >= prefetch_at:
        return None
    elapsed = int(now - stored)
    # Spliced from slices of the answer, not written into a bytearray: compiled (make native),
    # slices and concatenation are direct calls, where pack_into and zip(strict=) were generic
    # ones (9.4k instructions a restamp of one record)
    out = b""
    at = 0
    for j in range(len(offs)):
        off = offs[j]
        ttl = ttls[j]
        out = out + tail[at:off] + _to_bytes(ttl - elapsed if ttl > elapsed else 0, 4, "big")  # not +=: generic
        at = off + 4
    return out + tail[at:], min(now + 1.0, expires), patch, info
