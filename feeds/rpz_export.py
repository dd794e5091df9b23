"""`dnsfilter rpz export` / `rpz publish`: the policy in force, written as Response Policy Zones
for the resolvers that cannot run dnsfilter (docs/rpz.md).

Zones, in the order a resolver must list them (the first zone that matches a name decides):

1. `FEED.authority.SUFFIX`, one per authority list: nothing lifts these;
2. `custom.SUFFIX`: `[filter]` allow (rpz-passthru.) and deny; in one zone the most specific
   trigger wins, as between dnsfilter's own allow and deny rules;
3. `allow.SUFFIX`: `[protection].always_allow`, the helplines (rpz-passthru.);
4. `FEED.allowlist.SUFFIX`, one per allowlist feed (rpz-passthru.);
5. `CATEGORY.SUFFIX`, one per category: its lists, merged;
6. with `[rpz] profile_zones`: `PROFILE.profile.SUFFIX`, one per profile, everything but the
   authority lists combined as dnsfilter decides it for that profile.

A list's source is the one its set in force was compiled from (`NAME.good`, feeds/sync.py), and
what is written is checked against that set: a name the list's own exceptions lift is not
written, a name a listed parent covers is left to the parent's `*.` trigger, and an exception
becomes rpz-passthru. only where no other exported list blocks the name (in RPZ a passthru ends
the search through the zones; in dnsfilter a list's exceptions lift only that list's blocks).
An RPZ source keeps its actions; other lists' blocks follow `[dns] block_mode`. Hashed (sha256)
lists are refused: their names are never written in clear. Regex and conditional rules have no
RPZ form: left out and counted.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dnsfilter import __version__
from dnsfilter.config import Config, Feed
from dnsfilter.core.dns import wire
from dnsfilter.core.model import AUTHORITY_CATEGORY, ede_for_category
from dnsfilter.core.policy.feedset import (
    A_BELOW,
    A_SUB,
    B_BELOW,
    B_SUB,
    FeedSet,
    Verdict,
    name_key,
)
from dnsfilter.core.policy.matcher import Keys, Matcher, MatcherError
from dnsfilter.core.policy.rulesets import RuleSet
from feeds.compile_rules import load_feed
from feeds.formats import parse_file
from feeds.rpz_plain import Record, content_digest, keep_record, plain_names, plain_zone
from feeds.rpz_zone import (
    PASSTHRU,
    PROBE,
    Action,
    Publish,
    Soa,
    ZoneWriter,
    empty_stale,
    ip_owner,
    kept_zone,
    owners,
)
from feeds.rules import Rule, RuleCounts
from feeds.sync import good_source, read_status, set_path


@dataclass
class ZoneInfo:
    zone: str
    kind: str  # authority | custom | allow | allowlist | category | profile
    ede: int | None  # the EDE code a resolver should send for this zone's blocks
    feeds: list[str] = field(default_factory=list)
    serial: int = 0
    records: int = 0
    changed: bool = False
    updated: int | None = None  # records sent to the primary by UPDATE (None: not sent so)
    error: str = ""  # why its change could not be published (the last good file kept)
    how: str = "full"  # "full": computed from every rule; "patched": from its last version; "kept": inputs unchanged


@dataclass
class Export:
    zones: list[ZoneInfo] = field(default_factory=list)  # in the order resolvers list them
    refused: list[str] = field(default_factory=list)  # lists left out, one line each
    notes: list[str] = field(default_factory=list)
    emptied: list[str] = field(default_factory=list)  # zones no longer produced, written empty
    errors: list[str] = field(default_factory=list)  # changes the primary did not take, one line each


def default_action(cfg: Config, notes: list[str]) -> Action:
    """A list's block as `[dns] block_mode` answers it."""
    bm = cfg.dns.block_mode
    if bm.kind == "nxdomain":
        return Action("nxdomain")
    if bm.kind == "refused":
        notes.append("block_mode = \"refused\" has no RPZ action: blocks are written as NXDOMAIN (CNAME .)")
        return Action("nxdomain")
    from feeds.formats.rpz import T_A, T_AAAA

    v4, v6 = ("0.0.0.0", "::") if bm.kind == "null" else (bm.ipv4, bm.ipv6)
    import ipaddress

    data = tuple((t, ipaddress.ip_address(a).packed) for t, a in ((T_A, v4), (T_AAAA, v6)) if a)
    return Action("local", data)


class _Exporter:
    def __init__(self, cfg: Config, out_dir: Path, now: float, publish: Publish | None = None) -> None:
        self.cfg, self.out_dir, self.now, self.publish = cfg, out_dir, now, publish
        r = cfg.rpz
        self.soa = Soa(r.ttl, r.refresh, r.retry, r.expire, r.minimum)
        self.result = Export()
        self.default = default_action(cfg, self.result.notes)
        self.sets: dict[str, FeedSet] = {}
        for f in cfg.feeds:
            if not f.enabled:
                continue
            try:
                fs = load_feed(set_path(cfg, f))
            except MatcherError:
                self.result.refused.append(f"{f.name}: not synced yet (no compiled set in force): left out")
                continue
            if fs.hashed or f.format == "sha256":
                self.result.refused.append(f"{f.name}: a hashed (sha256) list: its names are never written in "
                                           "clear, so it cannot be exported: left out")
                continue
            if not good_source(cfg, f).exists():
                self.result.refused.append(f"{f.name}: the source of its set in force is not kept (synced by an "
                                           "older dnsfilter): run `dnsfilter feeds sync --feed "
                                           f"{f.name}`; left out")
                continue
            self.sets[f.name] = fs
        self.matcher = Matcher(self.sets)
        self.blocking = [f.name for f in cfg.feeds if f.name in self.sets and f.kind == "block"]
        self.deny: RuleSet[str] = RuleSet(cfg.filter.deny)
        self._memo_zone: list[Feed] | None = None  # _flags: the zone its answers are for
        self._memo: dict[str, int] = {}

    # -------------------------------------------------------------- zones

    def run(self) -> Export:
        cfg, sfx = self.cfg, self.cfg.rpz.suffix
        exported = [f for f in cfg.feeds if f.name in self.sets]
        for f in exported:
            if f.kind == "block" and f.category == AUTHORITY_CATEGORY:
                self._feeds_zone(f"{f.name}.authority.{sfx}", "authority", [f], f.ede or 16)
        if cfg.filter.allow or cfg.filter.deny:
            self._names_zone(f"custom.{sfx}", "custom", cfg.filter.allow, cfg.filter.deny, 15)
        if cfg.protection.always_allow:
            self._names_zone(f"allow.{sfx}", "allow", cfg.protection.always_allow, (), None)
        for f in exported:
            if f.kind == "allow":
                self._feeds_zone(f"{f.name}.allowlist.{sfx}", "allowlist", [f], None)
        categories: dict[str, list[Feed]] = {}
        for f in exported:
            if f.kind == "block" and f.category != AUTHORITY_CATEGORY:
                categories.setdefault(f.category, []).append(f)
        for cat, feeds in categories.items():
            edes = {f.ede for f in feeds if f.ede}
            if len(edes) > 1:
                self.result.notes.append(f"category {cat}: its lists set different ede codes; the zone uses "
                                         f"{min(edes)}")
            self._feeds_zone(f"{cat}.{sfx}", "category", feeds, min(edes) if edes else int(ede_for_category(cat)))
        if cfg.rpz.profile_zones:
            from feeds.rpz_profiles import profile_zones

            profile_zones(self)
        keep = {z.zone for z in self.result.zones}
        self.result.emptied = empty_stale(self.out_dir, keep, self.soa, self.now, self.publish, self.result.errors)
        for zone in self.result.emptied:
            Record.of(self.out_dir / f"{zone}.zone").drop()
        return self.result

    def open(self, zone: str, kind: str, ede: int | None, feeds: list[str], about: str,
             inputs: str = "") -> ZoneWriter:
        self.result.zones.append(ZoneInfo(zone, kind, ede, feeds))
        return ZoneWriter(self.out_dir, zone, about, self.soa, self.now, self.publish, inputs)

    def inputs(self, zone: str, about: str, feeds: list[Feed]) -> tuple[str, str]:
        """What a lists' zone is computed from, as two digests (rpz_zone.kept_zone): its shape
        (this exporter's version, the zone, the block action, its lists' settings) and its
        content (its lists' compiled sets and sources). For any zone but a plain list alone,
        both cover every exported list (an exception is written only where no other list
        blocks the name) and the household's deny rules."""
        alone = len(feeds) == 1 and self._is_plain(feeds[0])
        deps = feeds if alone else [f for f in self.cfg.feeds if f.name in self.sets]
        # a plain list's records come from its set and source, in its format, alone
        lists = [fs_format(self.cfg, f) for f in deps] if alone else [(f, fs_format(self.cfg, f)) for f in deps]
        shape = repr((_VERSION, __version__, zone, about, self.default, lists, None if alone else self.cfg.filter.deny))
        content = [(self.sets[f.name], good_source(self.cfg, f)) for f in deps]
        return hashlib.blake2b(shape.encode(), digest_size=16).hexdigest(), content_digest(content)

    def closed(self, w: ZoneWriter) -> None:
        z = self.result.zones[-1]
        z.serial, z.records, z.changed, z.updated, z.error = w.serial, w.records, w.changed, w.updated, w.error
        if w.error:
            self.result.errors.append(w.error)

    def _names_zone(self, zone: str, kind: str, allow: tuple[str, ...], deny: tuple[str, ...],
                    ede: int | None) -> None:
        with self.open(zone, kind, ede, [], kind) as w:
            written: set[str] = set()
            for names, action in ((allow, PASSTHRU), (deny, self.default)):  # allow wins a tie
                for n in names:
                    name = n.strip().rstrip(".").lower().removeprefix("*.")
                    if "*" in name:
                        self.result.notes.append(f"{kind}: {n!r} holds a wildcard RPZ cannot express: left out")
                        continue
                    for owner in owners(name, "subtree"):
                        if owner not in written:
                            written.add(owner)
                            w.add(owner, action)
        self.closed(w)

    def _feeds_zone(self, zone: str, kind: str, feeds: list[Feed], ede: int | None) -> None:
        about = f"{kind}: {', '.join(f.name for f in feeds)}"
        shape, content = self.inputs(zone, about, feeds)
        path = self.out_dir / f"{zone}.zone"
        kept = kept_zone(path, shape + content)
        if kept is not None:  # computed from the same inputs: the same records (reported, not redone)
            self.result.zones.append(ZoneInfo(zone, kind, ede, [f.name for f in feeds], kept[0], kept[1], how="kept"))
            return
        if len(feeds) == 1 and self._is_plain(feeds[0]):
            f = feeds[0]
            with self.open(zone, kind, ede, [f.name], about, shape + content) as w:
                sizes = plain_zone(w, shape, good_source(self.cfg, f), self.sets[f.name], fs_format(self.cfg, f),
                                   self.default)
            self.closed(w)
            self.result.zones[-1].how = "patched" if w.known is not None else "full"
            keep_record(path, shape + content, good_source(self.cfg, f), set_path(self.cfg, f), sizes)
            return
        Record.of(path).drop()
        filled: set[str] = set()
        with self.open(zone, kind, ede, [f.name for f in feeds], about, shape + content) as w:
            for j, f in enumerate(feeds):
                for owner, action in self.triggers(f, feeds[:j]):
                    w.add(owner, action)
                    for fill, fill_action in self.fills(feeds, owner, filled):
                        w.add(fill, fill_action)
        self.closed(w)

    # -------------------------------------------------------------- nodes below a wildcard

    def fills(self, zone: list[Feed], owner: str, filled: set[str]) -> Iterator[tuple[str, Action]]:
        """Triggers that keep a zone meaning the same in every resolver. BIND and Unbound read a
        policy zone as a DNS zone: an owner, or the empty node above one, shields the names
        below it from a wildcard further up (RFC 4592), where PowerDNS Recursor and Knot
        Resolver still apply that wildcard. Where dnsfilter blocks such a name (an exception
        below a blocked parent: `||c^` and `@@||a.b.c^` leave `b.c` and `x.b.c` blocked), the
        block is written there explicitly, so no resolver's reading lets it through."""
        name = owner.removeprefix("*.")
        labels = name.split(".")
        above = [".".join(labels[i:]) for i in range(1, len(labels))]  # parent first
        top = next((j for j, a in enumerate(above) if self._flags(zone, a) & _WILDCARD), None)
        if top is None:
            return
        if owner == name and not self._flags(zone, name) & _WILDCARD:
            yield from self._fill(zone, f"*.{name}", f"{PROBE}.{name}", filled)
        for a in above[:top]:  # between the name and the wildcard: empty nodes, unless listed
            if not self._flags(zone, a):
                yield from self._fill(zone, a, a, filled)
                yield from self._fill(zone, f"*.{a}", f"{PROBE}.{a}", filled)

    def _flags(self, zone: list[Feed], name: str) -> int:
        """The union of the zone's lists' flags for `name`. Remembered for the zone being
        written: every name of a list asks again for its parents (a million names, a few
        hundred top-level domains)."""
        if zone is not self._memo_zone or len(self._memo) > _MEMO_MAX:
            self._memo_zone, self._memo = zone, {}
        out = self._memo.get(name)
        if out is None:
            key = name_key(wire.text_to_wire(name))
            out = 0
            for f in zone:
                out |= self.sets[f.name].flags_of(key)
            self._memo[name] = out
        return out

    def _fill(self, zone: list[Feed], owner: str, probe: str, filled: set[str]) -> Iterator[tuple[str, Action]]:
        if owner in filled:
            return
        filled.add(owner)
        keys = Keys(wire.text_to_wire(probe))
        for f in zone:
            fs = self.sets[f.name]
            v = fs.evaluate(keys.for_set(fs), 1, None, keys.dotted)
            if v is not None and v.blocked:
                act = None
                if fs.rpz is not None:
                    key = next(h for d, h in keys.for_set(fs) if d == v.depth)
                    act = fs.rpz.of(key, v.depth > 0)
                yield owner, Action(act.kind, act.records) if act is not None else self.default
                return

    # -------------------------------------------------------------- one list's triggers

    def rules(self, f: Feed) -> Iterator[Rule]:
        counts = RuleCounts()
        skipped = 0
        for r in parse_file(good_source(self.cfg, f), f.format, counts, **f.compile_options()):
            if r.regex or r.conditional or r.hashed:
                skipped += 1
                continue
            yield r
        if skipped:
            self.result.notes.append(f"{f.name}: {skipped} regex or conditional rule(s) have no RPZ form: left out")

    def triggers(self, f: Feed, before: list[Feed]) -> Iterator[tuple[str, Action]]:
        """(owner, action) of every trigger list `f` contributes to its zone, after the lists
        `before` it in the same zone."""
        fs = self.sets[f.name]
        fmt = fs_format(self.cfg, f)
        native = fmt == "rpz"  # already RPZ: its own precedence, kept as written
        allowlist = f.kind == "allow"
        if not before and self._is_plain(f):
            for name in plain_names(good_source(self.cfg, f), fs, fmt):  # one lookup a name
                yield name, self.default
                yield f"*.{name}", self.default
            return
        seen: set[tuple[str, str]] = set()  # (owner, rdata) of local data, which may repeat an owner
        done = bytearray((len(fs) >> 2) + 1)  # 2 bits per key: self and below owners written
        networks: set[str] = set()
        for r in self.rules(f):
            action = self.action(r, allowlist)
            if r.network:  # a response-IP rule (a registry's IP entries, a zone's rpz-ip): an IP trigger
                if action is not PASSTHRU and r.name not in networks and (not r.rpz or _ip_kept(fs, action)):
                    networks.add(r.name)
                    yield ip_owner(r.name), action
                continue
            for owner in owners(r.name, r.scope):
                below = owner.startswith("*.")
                probe = f"{PROBE}.{r.name}" if below else r.name
                keys = Keys(wire.text_to_wire(probe))
                depth = 1 if below else 0
                if not native and not allowlist:
                    v = fs.evaluate(keys.for_set(fs), 1, None, keys.dotted)
                    if v is None or v.depth != depth or v.blocked != (action is not PASSTHRU):
                        continue  # lifted by the list's own exception, or covered by a listed parent
                if action is PASSTHRU and not allowlist and self._blocked_elsewhere(keys, f.name):
                    continue
                if any(_blocks(self.sets[e.name], keys, depth) for e in before):
                    continue  # an earlier list of the zone blocks it as specifically: its trigger decides
                if action.kind == "local":
                    if (owner, repr(action.data)) in seen:
                        continue
                    seen.add((owner, repr(action.data)))
                else:
                    at = _position(fs, keys, depth)
                    if at >= 0:
                        bit = 1 << ((at & 3) * 2 + below)
                        if done[at >> 2] & bit:
                            continue
                        done[at >> 2] |= bit
                yield owner, action

    def _is_plain(self, f: Feed) -> bool:
        """A hosts or domains blocklist whose compiled set is plain (feeds/rpz_plain.py)."""
        return self.sets[f.name].names and f.kind != "allow" and fs_format(self.cfg, f) in ("hosts", "domains")

    def note(self, text: str) -> None:
        self.result.notes.append(text)

    def action(self, r: Rule, allowlist: bool) -> Action:
        if allowlist or r.action == "allow":
            return PASSTHRU
        if r.rpz == "local":
            return Action("local", r.data)
        return Action(r.rpz) if r.rpz else self.default

    def _blocked_elsewhere(self, keys: Keys, feed: str) -> bool:
        """Whether a list other than `feed` (or a household deny rule) blocks the name: then an
        exception written as rpz-passthru. would lift that block too."""
        others = tuple(n for n in self.blocking if n != feed)
        return (others and self.matcher.block(keys, others, 1) is not None) or self.deny.match(keys.wire) is not None


_VERSION = 3  # of what the exporter writes for given inputs: raise it when that changes
_WILDCARD = B_SUB | B_BELOW | A_SUB | A_BELOW  # a `*.name` trigger (block or passthru)
_MEMO_MAX = 1 << 16  # names whose flags _flags remembers (a few MB), then it starts again


def _ip_kept(fs: FeedSet, action: Action) -> bool:
    """Whether an rpz-ip trigger is one the compiled set enforces (its zone's first IP action)."""
    ip = fs.rpz.ip if fs.rpz is not None else None
    return ip is not None and ip.kind == action.kind and ip.records == action.data


def _blocks(fs: FeedSet, keys: Keys, depth: int) -> bool:
    v: Verdict | None = fs.evaluate(keys.for_set(fs), 1, None, keys.dotted)
    return v is not None and v.blocked and v.depth <= depth


def _position(fs: FeedSet, keys: Keys, depth: int) -> int:
    """Where the deciding suffix's key sits in the set (-1 when it is not a key of it)."""
    pairs = [h for d, h in keys.for_set(fs) if d == depth]
    if not pairs:
        return -1
    from bisect import bisect_left

    starts, shift = fs.index()
    hs, h = fs.keys(), pairs[0]
    b = h >> shift
    i = bisect_left(hs, h, starts[b], starts[b + 1])
    return i if i < starts[b + 1] and hs[i] == h else -1


def fs_format(cfg: Config, f: Feed) -> str:
    return f.format if f.format != "auto" else (read_status(cfg, f).format or "auto")


def export(cfg: Config, out_dir: Path, now: float | None = None, publish: Publish | None = None) -> Export:
    """Write every zone into `out_dir` (created if missing). Raises OSError when it cannot.
    With `publish` (feeds/rpz_update.py), each changed zone's difference goes through it first."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return _Exporter(cfg, out_dir, time.time() if now is None else now, publish).run()
