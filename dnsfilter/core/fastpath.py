"""Prebuilt answers keyed by the raw question bytes, for the UDP hot loop.

A UDP query whose bytes after the ID (flags, counts, question, OPT) were answered before
for the same profile is answered by patching the ID onto the prebuilt reply: no parse, no
policy, no allocation beyond the reply itself. Entries that carry cached TTLs are
re-stamped at most once a second, so TTLs still count down; everything else (blocked and
local answers) stays until the policy changes, which swaps the whole FastPath.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from dnsfilter.core.querylog import LogInfo
from dnsfilter.core.ratelimit import TokenBucket

_U32 = struct.Struct(">I")
NEVER = float("inf")

# An entry is (tail, refresh_at, patch, info): tail = the reply without its 2 ID bytes.
# patch = (ttl offsets in tail, ttls, stored_at, expires_at, prefetch_at) or None.
# info = what the query log records for each replay, built once here (None: not logged).
Patch = tuple[tuple[int, ...], tuple[int, ...], float, float, float]
FastEntry = tuple[bytes, float, Patch | None, LogInfo | None]


@dataclass(slots=True)
class Slot:
    """What the hot loop needs to know about one client address."""

    table: dict[bytes, FastEntry]
    bucket: TokenBucket | None  # None: exempt from rate limiting (e.g. loopback forwarders)
    device: str = ""  # whose time state chose the table (the engine drops the slot when it changes)
    ip: str = ""  # the client address: the query log's fast ring records the slot, not a new tuple


class FastPath:
    """The prebuilt answers of every table: one per profile, and one per profile in a time
    state (a paused or out-of-budget device has its own). `max_entries` bounds them all
    together: bounded per table, a home's four profiles and a few paused devices could hold
    ten times the memory a router was sized for."""

    def __init__(self, max_entries: int = 50_000, max_clients: int = 65536) -> None:
        self.clients: dict[str, Slot] = {}
        self.tables: dict[str, dict[bytes, FastEntry]] = {}
        self.max_entries = max_entries
        self.max_clients = max_clients
        self.installed = 0
        self.entries = 0  # in all tables (entries only arrive through install)

    def table(self, profile: str) -> dict[bytes, FastEntry]:
        t = self.tables.get(profile)
        if t is None:
            t = self.tables[profile] = {}
        return t

    def add_client(self, ip: str, profile: str, bucket: TokenBucket | None, device: str = "") -> Slot:
        """`profile` names the table: a profile, or a profile in a time state (see timestate)."""
        if len(self.clients) >= self.max_clients:
            self.clients.clear()  # bounded: slots are rebuilt on the next query of each client
        if len(self.tables) >= 1024 and profile not in self.tables:
            self.tables.clear()  # bounded: per-device states (pauses, budgets) each get a table
            self.clients.clear()
            self.entries = 0
        slot = self.clients[ip] = Slot(self.table(profile), bucket, device, ip)
        return slot

    def install(self, profile: str, key: bytes, reply: bytes, refresh_at: float, patch: Patch | None,
                info: LogInfo | None = None) -> None:
        if self.max_entries <= 0:
            return
        t = self.table(profile)
        if key not in t:
            if self.entries >= self.max_entries:
                self._evict(t)
            self.entries += 1
        t[key] = (reply[2:], refresh_at, patch, info)
        self.installed += 1

    def drop_tables(self, keep: Callable[[str], bool]) -> int:
        """Forget every table whose name `keep` refuses (its answers were built under a state
        that has ended), and the client slots that point at one; returns the answers dropped."""
        gone = [name for name in self.tables if not keep(name)]
        dropped = 0
        for name in gone:
            table = self.tables.pop(name)
            dropped += len(table)
            for ip in [ip for ip, slot in self.clients.items() if slot.table is table]:
                del self.clients[ip]
        self.entries -= dropped
        return dropped

    def _evict(self, t: dict[bytes, FastEntry]) -> None:
        """Drop one entry to make room in `t`: its own oldest while it holds at least its
        share of the whole, else the oldest of the largest table (so a busy profile cannot
        starve a quiet one of the few entries it has). The dropped answer is rebuilt if asked."""
        victim = t if t and len(t) * len(self.tables) >= self.entries else max(self.tables.values(), key=len)
        if victim:
            del victim[next(iter(victim))]
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
    buf = bytearray(tail)
    elapsed = int(now - stored)
    for off, ttl in zip(offs, ttls, strict=True):
        _U32.pack_into(buf, off, ttl - elapsed if ttl > elapsed else 0)
    return bytes(buf), min(now + 1.0, expires), patch, info
