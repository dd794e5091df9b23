"""Which keys were offered recently, approximately: the admission test of the bounded tables.

Once the fast path or the cache is full, a key takes an older entry's place only at its
second sight within a recent window, so a scan of names asked once (a random-subdomain flood,
a resolver's long tail, a crawler) passes through without pushing out the names asked again
and again, and pays no install or eviction of its own (2Q and TinyLFU keep the same kind of
"doorkeeper"). Two generations of a byte array: a key's hash picks one of 8 slots per key of
a `window`, and the slot keeps a 7-bit fingerprint of the hash; a generation is retired after
`window` new keys. A false "seen" (about 0.2 %) costs one early admission, a slot taken over
since a key's first sight one late one. Nothing is stored per key, and a check is a handful of
operations: a Bloom filter's three bit tests cost a microsecond in Python, four times as much.
"""

from __future__ import annotations


class Doorkeeper:
    __slots__ = ("cur", "old", "mask", "window", "added")

    def __init__(self, window: int) -> None:
        self.window = max(window, 1)
        self.mask = (1 << max(12, (8 * self.window - 1).bit_length())) - 1
        self.cur = bytearray(self.mask + 1)
        self.old = bytearray(self.mask + 1)
        self.added = 0

    def seen(self, key: bytes) -> bool:
        """Whether `key` was offered in the last one or two windows; notes it either way."""
        # A bytes object caches its hash: the table lookup made it already. Its low 48 bits: a
        # compiled build (make native) then works on machine ints (masks stay below 2**30).
        h = hash(key) & 0xFFFFFFFFFFFF
        i = h & self.mask
        f = h >> 40 & 255 | 1  # the fingerprint: other bits than the slot's, never 0 (empty)
        if self.cur[i] == f or self.old[i] == f:
            return True
        self.cur[i] = f
        self.added += 1
        if self.added >= self.window:
            self.old, self.cur, self.added = self.cur, bytearray(self.mask + 1), 0
        return False
