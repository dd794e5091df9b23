"""Proof of enforcement: ask the running resolver, over DNS, for the entries of every authority
list and check that each answer is a block with EDE 16 naming an authority list and its legal
basis (`dnsfilter authority selftest`).

What is probed, per list: its clear-text entries as the downloaded source holds them (only
those the compiled set in force blocks: a rejected download may sit in NAME.src), every one with
`--all`, else a seeded random sample plus every entry added since the previous version (the set
kept as NAME.prev.dset at the last sync). A hashed (sha256) list's names are unknown: it is only
probed when its file ships probe names (`# probe: NAME` lines, a convention of ours that the
list's publisher opts into). Networks (response-IP rules) need a name that resolves into them,
which the list does not give: they are counted, not probed. A name listed as "below" (children
only) is probed through a child, `dnsfilter-probe.NAME`.

Results go to the audit log (counts only: no names), to `data_dir/authority/selftest.json` for
the metrics, and to the caller; a miss is any answer that is not such a block, or no answer.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dnsfilter.authority import audit
from dnsfilter.config import Config, Feed
from dnsfilter.core.dns.wire import text_to_wire
from dnsfilter.core.model import AUTHORITY_CATEGORY, authority_text, list_version
from dnsfilter.core.policy.matcher import FeedSet, Keys, Matcher, MatcherError

EXAMPLES = 20
MAX_ADDED = 100_000  # added entries probed on top of the sample (a list rewritten from scratch: all of them)
PROBE_PREFIX = "# probe:"


class SelftestError(Exception):
    """The self-test cannot run at all (no loopback listener, no dnspython)."""


@dataclass
class FeedResult:
    feed: str
    version: str = ""
    serial: int = 0
    entries: int = 0  # names in the set in force
    networks: int = 0  # response-IP ranges: not probed (no name is known to resolve into them)
    entries_probed: int = 0
    added_probed: int = 0  # of the entries probed, those added since the previous version
    misses: int = 0
    unanswered: int = 0  # of the misses, the names that got no answer at all
    miss_examples: list[str] = field(default_factory=list)  # never for hashed lists
    versions_seen: dict[str, int] = field(default_factory=dict)  # versions the answers named
    hashed: bool = False
    note: str = ""
    fetched_at: float | None = None
    effective_at: float | None = None
    fetch_to_effective: float | None = None  # seconds from the version's download to the daemon answering with it
    seconds: float = 0.0


def server_of(cfg: Config) -> tuple[str, int]:
    """The loopback address the daemon answers on (the default target: never the network)."""
    for lst in cfg.dns.listen:
        if lst.interface:
            continue
        if lst.host in ("0.0.0.0", "127.0.0.1") or lst.host.startswith("127."):
            return ("127.0.0.1" if lst.host == "0.0.0.0" else lst.host), lst.port
        if lst.host in ("::", "::1"):
            return "::1", lst.port
    raise SelftestError("no loopback address in [dns].listen to ask; give --server ADDR:PORT")


def authority_feeds(cfg: Config) -> list[Feed]:
    return [f for f in cfg.feeds if f.enabled and f.category == AUTHORITY_CATEGORY and f.kind == "block"]


def run(cfg: Config, server: tuple[str, int], *, sample: int | None = 500, seed: int | None = None,
        rate: float = 200.0, window: int = 64, timeout: float = 2.0, record: bool = True) -> list[FeedResult]:
    """Probe every authority list (`sample` None: every entry). Writes the audit events and the
    metrics' state file unless `record` is False."""
    from dnsfilter.authority.prober import probe
    from feeds.files import read_status, set_path

    try:
        import dns.message  # noqa: F401 - the prober's parser: say so before any work
    except ImportError:
        raise SelftestError("the self-test needs the Python package 'dnspython', which is not installed") from None
    seed = random.randrange(1 << 30) if seed is None else seed
    expected = {f.name: f for f in authority_feeds(cfg)}
    texts = _accepted_texts(expected)
    results = []
    for feed in expected.values():
        started = time.monotonic()
        res = FeedResult(feed.name)
        results.append(res)
        st = read_status(cfg, feed)
        try:
            fs = _load(set_path(cfg, feed))
        except MatcherError as e:
            res.note, res.misses = f"no compiled set in force ({e})", 1
            continue
        res.version, res.serial, res.entries = list_version(fs.digest), st.serial, len(fs)
        res.networks = len(fs.nets) if fs.nets is not None else 0
        res.hashed = fs.hashed
        names = _names(cfg, feed, fs, res, sample, seed)

        def check(name: str, added: bool, msg: Any, res: FeedResult = res) -> None:
            res.entries_probed += 1
            res.added_probed += added
            seen = _block_version(msg, texts, cfg)
            if seen is None:
                res.misses += 1
                res.unanswered += msg is None
                if len(res.miss_examples) < EXAMPLES and not res.hashed:
                    res.miss_examples.append(name)
            else:
                res.versions_seen[seen] = res.versions_seen.get(seen, 0) + 1

        probe(names, server, check, rate=rate, window=window, timeout=timeout)
        res.seconds = round(time.monotonic() - started, 3)
        _lag(cfg, res)
    if record:
        _record(cfg, results, server, sample, seed)
    return results


def _load(path: Path) -> FeedSet:
    from feeds.files import load_feed

    return load_feed(path)


def _names(cfg: Config, feed: Feed, fs: FeedSet, res: FeedResult, sample: int | None,
           seed: int) -> Iterator[tuple[str, bool]]:
    """(name, added since the previous version) to probe: all, or a sample plus the added."""
    from feeds.authority import prev_path
    from feeds.files import feeds_dir, set_path

    src = feeds_dir(cfg) / f"{feed.name}.src"
    if fs.hashed:
        probes = _shipped_probes(src)
        if not probes:
            res.note = ("hashed list: its names are not known, so they cannot be probed (the list ships no "
                        f"'{PROBE_PREFIX} NAME' lines)")
        else:
            res.note = f"hashed list: probing the {len(probes)} probe names it ships"
        return iter([(n, False) for n in probes])
    prev: Matcher | None = None
    try:
        prev = Matcher({"p": _load(prev_path(set_path(cfg, feed)))})
    except MatcherError:
        pass
    now = Matcher({"f": fs})
    if sample is None:
        return _clear(src, feed, now, prev, res)
    rng = random.Random(f"{seed}:{feed.name}")
    kept: list[tuple[str, bool]] = []
    added: list[tuple[str, bool]] = []
    seen = 0
    for name, is_new in _clear(src, feed, now, prev, res):
        if is_new and len(added) < MAX_ADDED:
            added.append((name, True))
            continue
        seen += 1  # reservoir sampling: one pass, `sample` names held
        if len(kept) < sample:
            kept.append((name, False))
        else:
            j = rng.randrange(seen)
            if j < sample:
                kept[j] = (name, False)
    return iter(added + kept)


def _clear(src: Path, feed: Feed, now: Matcher, prev: Matcher | None, res: FeedResult) -> Iterator[tuple[str, bool]]:
    """The blocked clear-text names of the source that the set in force blocks."""
    from feeds.formats import parse_file
    from feeds.rules import RuleCounts

    stale = 0
    try:
        for r in parse_file(src, feed.format, RuleCounts(), **feed.compile_options()):
            if r.network or r.regex or r.hashed or r.conditional or r.action != "block":
                continue
            name = f"dnsfilter-probe.{r.name}" if r.scope == "below" else r.name
            try:
                keys = Keys(text_to_wire(name))
            except ValueError:
                continue
            if now.block(keys) is None:
                stale += 1  # in the download, not in force (a rejected version waits in NAME.src)
                continue
            yield name, prev is not None and prev.block(keys) is None
    except (OSError, ValueError) as e:
        res.note = f"cannot read the list's source to know its names: {e}"
    if stale:
        res.note = (res.note + "; " if res.note else "") + (
            f"{stale} entries of the downloaded file are not in the set in force (a rejected version?): not probed")


def _shipped_probes(src: Path) -> list[str]:
    out = []
    try:
        with open(src, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(PROBE_PREFIX):
                    name = line[len(PROBE_PREFIX):].strip().rstrip(".").lower()
                    if name:
                        out.append(name)
    except OSError:
        pass
    return out[:MAX_ADDED]


def _accepted_texts(feeds: dict[str, Feed]) -> dict[str, tuple[str, str]]:
    """Per authority list, the EDE text prefix an answer must carry and its legal basis' text."""
    return {name: (authority_text(name), f.legal_basis) for name, f in feeds.items()}


def _block_version(msg: Any, texts: dict[str, tuple[str, str]], cfg: Config) -> str | None:
    """The `list version` an answer names when it is an authority block, else None."""
    if msg is None:
        return None
    import dns.edns

    for opt in msg.options:
        if not isinstance(opt, dns.edns.EDEOption) or int(opt.code) != 16 or not opt.text:
            continue
        for name, (head, basis) in texts.items():
            if not (opt.text == head or opt.text.startswith(head + " ") or opt.text.startswith(head + ":")):
                continue
            version = opt.text[len(head):].split(":", 1)[0].replace(" version ", "").strip()
            expect = authority_text(name, version, basis)  # the text the daemon builds, cut alike
            if opt.text == expect and _is_block(msg, cfg):
                return f"{name} {version}".strip()
    return None


def _is_block(msg: Any, cfg: Config) -> bool:
    import dns.rcode
    import dns.rdatatype

    bm = cfg.dns.block_mode
    rcode = msg.rcode()
    if bm.kind == "nxdomain":
        return rcode == dns.rcode.NXDOMAIN
    if bm.kind == "refused":
        return rcode == dns.rcode.REFUSED
    addrs = [rd.to_text() for rrset in msg.answer for rd in rrset if rrset.rdtype == dns.rdatatype.A]
    want = "0.0.0.0" if bm.kind == "null" else bm.ipv4
    return rcode == dns.rcode.NOERROR and (addrs == [want] if want else not addrs)


def _lag(cfg: Config, res: FeedResult) -> None:
    """When the version in force was fetched and when the daemon began answering with it."""
    fetched = effective = None
    for rec in audit.records(cfg.audit_path()):
        if rec.get("feed") != res.feed or rec.get("version") != res.version:
            continue
        if rec.get("event") == "fetched":
            fetched, effective = float(rec["ts"]), None
        elif rec.get("event") == "effective" and effective is None:
            effective = float(rec["ts"])
    res.fetched_at, res.effective_at = fetched, effective
    if fetched is not None and effective is not None:
        res.fetch_to_effective = round(effective - fetched, 3)


def state_path(data_dir: Path) -> Path:
    return data_dir / "authority" / "selftest.json"


def read_state(data_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads(state_path(data_dir).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _record(cfg: Config, results: list[FeedResult], server: tuple[str, int], sample: int | None, seed: int) -> None:
    data_dir = cfg.data_path()
    for r in results:
        audit.append(cfg.audit_path(), "selftest", feed=r.feed, version=r.version, serial=r.serial,
                     entries=r.entries, entries_probed=r.entries_probed, added_probed=r.added_probed,
                     misses=r.misses, unanswered=r.unanswered, hashed=r.hashed, networks_not_probed=r.networks,
                     mode="all" if sample is None else f"sample {sample} (seed {seed})",
                     server=f"{server[0]}:{server[1]}", seconds=r.seconds, fetch_to_effective=r.fetch_to_effective)
    state = {r.feed: {"time": time.time(), **{k: v for k, v in asdict(r).items() if k != "miss_examples"}}
             for r in results}
    path = state_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    os.replace(tmp, path)
