"""Expiring allows and blocks: "allow this for an hour", "block this until midnight".

An override is one host name (covering its subdomains) allowed or blocked for one device or a
whole profile, until a moment (wall clock) or until removed. A parent makes them from the
query log; a child's request approved by a parent is the same thing (issue 18). They are kept
in the runtime store (`dnsfilter/storage/store.py`, table `overrides`), not in the config: they
are short-lived decisions, not settings.

How they apply (`policy/decide.py`): right after the authority lists, above the profile's own
allow/deny, always_allow, pauses, schedules and budgets: a parent's explicit "allow this now"
also works at bedtime, and the UI says so. A device's override beats its profile's; between two
of the same level the most specific name wins, and for the very same name the newer one.

When they apply: `household/timestate.py` puts the overrides that hold for a device into its
`TimeState`, whose key names them (`|o:3,7`), and which holds only until the first of them
ends. So answers built under an override live in their own fast-path table, are never served
to a device the override does not cover, and the engine drops that table the moment the
override ends or the set changes (`Engine.overrides_changed`, `Engine.tick`); nothing decided
under an override outlives it. Blocked answers are never cached, and cached upstream answers
pass the policy again on every slow-path use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dnsfilter.core.model import Decision, Ede, Reason
from dnsfilter.core.policy.rulesets import RuleSet

ACTIONS = ("allow", "block")
_NEVER = float("inf")
MAX_OVERRIDES = 4096  # made by people (and approved requests): bounded whatever happens


@dataclass(frozen=True, slots=True)
class Override:
    id: int
    target: str  # "device:<MAC or address>" (as the engine names devices) or "profile:<name>"
    name: str  # a host name, lower case, without a trailing dot; covers its subdomains
    action: str  # allow | block
    until: float | None  # epoch seconds (wall clock); None: until removed
    source: str = "admin"  # who made it: "admin", "request:<id>"…

    def holds(self, now: float) -> bool:
        return self.until is None or now < self.until


class OverrideSet:
    """The overrides that hold for one device right now, as ready-made decisions."""

    __slots__ = ("_device", "_profile")

    def __init__(self, device: Iterable[tuple[Override, Decision]], profile: Iterable[tuple[Override, Decision]]):
        self._device = _rules(device)
        self._profile = _rules(profile)

    def match(self, qname: bytes) -> Decision | None:
        for rules in (self._device, self._profile):
            if rules:
                hit = rules.match(qname)
                if hit is not None:
                    return hit[1]
        return None


def _rules(items: Iterable[tuple[Override, Decision]]) -> RuleSet[Decision]:
    newest: dict[str, tuple[Override, Decision]] = {}
    for o, d in sorted(items, key=lambda t: t[0].id):
        newest[o.name] = (o, d)  # the same name twice: the newer one counts
    return RuleSet({name: d for name, (_o, d) in newest.items()})


class Overrides:
    """Every override the daemon holds (loaded from the store), by id."""

    def __init__(self, items: Iterable[Override] = ()) -> None:
        self.items: dict[int, Override] = {}
        for o in items:
            if o.action in ACTIONS and len(self.items) < MAX_OVERRIDES:
                self.items[o.id] = o
        self._next_end = min((o.until for o in self.items.values() if o.until is not None), default=_NEVER)

    def __len__(self) -> int:
        return len(self.items)

    def holding(self, device: str, profile: str, now: float) -> tuple[list[Override], list[Override]]:
        """(the device's, the profile's) overrides that hold at `now`."""
        if not self.items:
            return [], []
        dev, prof = f"device:{device}", f"profile:{profile}"
        mine = [o for o in self.items.values() if o.target == dev and o.holds(now)]
        theirs = [o for o in self.items.values() if o.target == prof and o.holds(now)]
        return mine, theirs

    def prune(self, now: float) -> list[Override]:
        """Drop the overrides that have ended; returns them (cheap when none has: called every tick)."""
        if now < self._next_end:
            return []
        gone = [o for o in self.items.values() if not o.holds(now)]
        for o in gone:
            del self.items[o.id]
        self._next_end = min((o.until for o in self.items.values() if o.until is not None), default=_NEVER)
        return gone


def decision(o: Override, clock: Callable[[float], str]) -> Decision:
    """What an override decides, with a reason a parent reads in the query log."""
    who = "this device" if o.target.startswith("device:") else f"profile {o.target.partition(':')[2]}"
    when = f"until {clock(o.until)}" if o.until is not None else "until removed"
    if o.action == "allow":
        return Decision(False, Reason(f"allowed {when} for {who} (rule {o.name})", rule=o.name, kind="override"),
                        exempt=True)
    return Decision(True, Reason(f"blocked {when} for {who} (rule {o.name})", category="custom", rule=o.name,
                                 kind="override"), Ede.FILTERED)
