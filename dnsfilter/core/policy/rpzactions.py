"""The actions of a list compiled from a Response Policy Zone, kept exactly (docs/rpz.md).

An RPZ trigger's action is per owner: `name` and `*.name` may even say different things. A
compiled RPZ list keeps one code byte per key, the low half for the key's own name and the
high half for the names below it (codes below). Most zones say the same thing everywhere, so
the side table holds the commonest code once and only the keys that differ from it (sorted,
looked up by bisection: 9 bytes each), and the local data of the few keys that have any.

The presence of this table also marks the list as an RPZ one: its most specific trigger
decides (feedset.FeedSet.evaluate), as a policy zone's does, not AdGuard's "an exception
beats any block".
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from typing import Any

from dnsfilter.core.model import PolicyAction

NONE, NXDOMAIN, NODATA, DROP, TCP_ONLY, LOCAL = 0, 1, 2, 3, 4, 5
CODES = {"nxdomain": NXDOMAIN, "nodata": NODATA, "drop": DROP, "tcp-only": TCP_ONLY, "local": LOCAL}
_FIXED = {code: PolicyAction(kind) for kind, code in CODES.items() if code != LOCAL}


class RpzActions:
    __slots__ = ("codes", "default", "ip", "keys", "local")

    def __init__(self, default: int, keys: Any, codes: bytes,
                 local: dict[int, tuple[PolicyAction | None, PolicyAction | None]],
                 ip: PolicyAction | None = None) -> None:
        self.default, self.keys, self.codes, self.local = default, keys, codes, local
        self.ip = ip  # the action of the zone's rpz-ip triggers (the set's networks)

    def of(self, key: int, below: bool) -> PolicyAction | None:
        """The action of the trigger `key` names (its own name, or `below` it); None when
        the list holds no action there (a passthru, or no trigger)."""
        code = self.default
        if self.keys:
            i = bisect_left(self.keys, key)
            if i < len(self.keys) and self.keys[i] == key:
                code = self.codes[i]
        code = code >> 4 if below else code & 15
        if code == LOCAL:
            pair = self.local.get(key)
            return None if pair is None else pair[1 if below else 0]
        return _FIXED.get(code)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RpzActions:
        keys = array("Q", (int(k) for k in d.get("keys", ())))
        codes = bytes(d.get("codes", ()))
        if len(codes) != len(keys) or any(a >= b for a, b in zip(keys, keys[1:], strict=False)):
            raise ValueError("RPZ action table out of order")

        def action(records: list[list[Any]] | None) -> PolicyAction | None:
            if not records:
                return None
            return PolicyAction("local", tuple((int(t), bytes.fromhex(data)) for t, data in records))

        local = {int(k): (action(v.get("self")), action(v.get("below"))) for k, v in d.get("local", {}).items()}
        ip = None
        if d.get("ip"):
            code, records = d["ip"]
            ip = action(records) if code == LOCAL else _FIXED.get(int(code))
        return cls(int(d.get("default", 0)), keys, codes, local, ip)
