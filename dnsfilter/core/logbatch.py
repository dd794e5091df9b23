"""The query log's writer side: records drained from the rings (core/querylog.py) turned into
log rows and hourly rollups under each profile's privacy mode, in the writer's thread
(shell/querylog_writer.py). Pure functions; not on the query path, so not compiled."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from operator import attrgetter, itemgetter
from random import Random

from dnsfilter.core.dns.wire import wire_to_text
from dnsfilter.core.logring import Span
from dnsfilter.core.querylog import (
    CATEGORY,
    COUNT_CHUNK,
    DEFAULT_PRIVACY,
    EXACT_COUNT,
    FEED,
    FLOOD_NAMES,
    KIND,
    NAME,
    NAME_SAMPLE,
    OUTCOME,
    PROFILE,
    SERVICE,
    Drained,
    LogInfo,
    Record,
)

# A log row as stored: (unix time, device, ip, profile, name, qtype, outcome, kind, category, feed, service)
Row = tuple[float, str, str, str, str, int, str, str, str, str, str]
RollupKey = tuple[int, str, str, str, str]  # (unix hour, device, profile, category group, outcome)
NameKey = tuple[int, str, str]  # (unix hour, profile, blocked name)
_SLOT_DEVICE = attrgetter("device")
_random = Random(0x5EED)  # which records of a flood have their names counted (see batch)
_ROLL = itemgetter(PROFILE, OUTCOME, CATEGORY, SERVICE, KIND)  # what a rollup row needs of an info


@dataclass
class Batch:
    """Records turned into what the store writes in one transaction."""

    rows: list[Row]
    rollup: Counter[RollupKey]
    names: Counter[NameKey]
    shed: int = 0  # records counted in the rollups but not written as rows (over max_rows)


def batch(records: Drained | list[Record], wall_offset: float, privacy: Mapping[str, str],
          hashed_feeds: frozenset[str] = frozenset(), max_rows: int | None = None,
          max_names: int = FLOOD_NAMES, pause: Callable[[], None] | None = None) -> Batch:
    """Apply each profile's privacy mode: full keeps everything; anonymous drops the device
    and address; counts keeps only the rollup (no names); off keeps nothing.

    Beyond `max_rows` records (a flood: a home sends tens of queries a second, not tens of
    thousands) the rest are only counted, per (device, answer), into the rollups of the last
    record's hour. Up to EXACT_COUNT records of a ring those counts are exact, counted in
    C-level chunks with `pause()` between them, so the thread running this hands the
    interpreter back to the event loop every half millisecond. Beyond that (tens of thousands
    a second) a random sample of NAME_SAMPLE records is counted and scaled to every answer it
    stands for, overwritten replays of an overflowed fast ring included: the writer's cost
    stays flat however hard the flood, and the totals are estimates within a few %, where an
    exact count of what was left would undercount an overflow by what it lost. Of the rest's
    blocked names only the `max_names` most frequent are counted, from such a sample too: a
    flood of distinct names would otherwise cost one dict entry and one upsert each, and "top
    blocked names" needs only the top."""
    d = records if isinstance(records, Drained) else Drained.of(records)
    rows: list[Row] = []
    rollup: Counter[RollupKey] = Counter()
    names: Counter[NameKey] = Counter()
    head = d.records(max_rows)
    text = _Texts()
    for r, (mono, ip, device, i) in enumerate(head):
        if pause is not None and r % 250 == 249:
            pause()
        profile, name, qtype, outcome, kind, category, feed, service = i
        mode = privacy.get(profile, DEFAULT_PRIVACY)
        if mode == "off":
            continue
        ts = mono + wall_offset
        hour = int(ts // 3600)
        if mode != "full":
            ip = ""
            if mode == "anonymous":
                device = ""
        rollup[(hour, device, profile, category or service or kind, outcome)] += 1
        if mode == "counts":
            continue
        # A defence in depth: the name was blanked at record time if the feed was known hashed.
        shown = "" if feed and feed in hashed_feeds else text(name) if isinstance(name, bytes) else name
        if shown and outcome == "blocked":
            names[(hour, profile, shown)] += 1
        rows.append((ts, device, ip, profile, shown, qtype, outcome, kind, category, feed, service))
    shed = len(d) - len(head)
    if shed:
        if pause is not None:
            pause()
        _count_rest(d, len(head), wall_offset, privacy, hashed_feeds, max_names, rollup, names, pause, text)
    return Batch(rows, rollup, names, shed)


class _Texts(dict[bytes, str]):
    """Wire names turned into text, once per name per batch (a page of rows repeats a few names)."""

    def __call__(self, name: bytes) -> str:
        t = self.get(name)
        if t is None:
            t = self[name] = wire_to_text(name)
        return t


def _part(span: Span, k: int, sel: slice | list[int], named: bool = True) -> tuple[list[str], list[LogInfo]]:
    """Devices and LogInfos of a span's records `sel` (a slice or indexes) from position k on,
    read in place; `named=False`: without their names (enough to count them)."""
    if isinstance(sel, slice):
        _t, whos, infos = span.part(k + sel.start, k + sel.stop, named)
    else:
        whos, infos = span.pick([k + j for j in sel], named)
    return list(map(_SLOT_DEVICE, whos)), infos


def _pairs(devices: list[str], infos: list[LogInfo]) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(device, rollup fields) per record, for a Counter to count in C."""
    return zip(devices, map(_ROLL, infos), strict=True)


def _count_rest(d: Drained, skip: int, wall_offset: float, privacy: Mapping[str, str],
                hashed_feeds: frozenset[str], max_names: int, rollup: Counter[RollupKey],
                names: Counter[NameKey], pause: Callable[[], None] | None, text: _Texts) -> None:
    hour = int((d.last_time() + wall_offset) // 3600)  # the flood's rollups go to its last hour
    # the head (the rows) took the slow span's first records, then the fast span's
    k_slow = min(skip, len(d.slow))
    spans = ((d.slow, k_slow), (d.fast, skip - k_slow))
    counts: Counter[tuple[str, tuple[str, ...]]] = Counter()
    sampled: list[tuple[list[LogInfo], float]] = []  # infos whose names are counted, and the weight of each
    total = len(d) - skip
    for span, k in spans:
        size = len(span) - k
        # a span's rest stands for the answers an overflow overwrote too
        answers = max(size, span.replayed - k)
        part = partial(_part, span, k)
        if not size:
            continue
        if size <= EXACT_COUNT and answers == size:
            # counted by zip/map/itemgetter/Counter in C (about 0.2 µs a record), a chunk at a time
            for a in range(0, size, COUNT_CHUNK):
                counts.update(_pairs(*part(slice(a, a + COUNT_CHUNK), named=False)))
                if pause is not None:
                    pause()
            m = size if total <= NAME_SAMPLE else round(NAME_SAMPLE * size / total)
            if not m:
                continue
            infos = part(slice(0, size))[1] if m == size else part(_random.choices(range(size), k=m))[1]
        else:  # a flood: counted from a random sample (with replacement), scaled to its answers
            m = NAME_SAMPLE
            devices, infos = part(_random.choices(range(size), k=m))
            for key, n in Counter(_pairs(devices, infos)).items():
                counts[key] += round(n * answers / m)
        sampled.append((infos, answers / m))  # its names: from the same sample
        if pause is not None:
            pause()
    for (device, (profile, outcome, category, service, kind)), n in counts.items():
        mode = privacy.get(profile, DEFAULT_PRIVACY)
        if mode != "off":
            rollup[(hour, "" if mode == "anonymous" else device, profile, category or service or kind, outcome)] += n
    # (profile, name as recorded): only the names kept are turned into text, not every one sampled
    flood: Counter[tuple[str, str | bytes]] = Counter()
    for picked, weight in sampled:
        if pause is not None:
            pause()
        for i, n in Counter(picked).items():
            if i[OUTCOME] != "blocked" or not i[NAME] or (i[FEED] and i[FEED] in hashed_feeds):
                continue
            if privacy.get(i[PROFILE], DEFAULT_PRIVACY) in ("full", "anonymous"):
                flood[(i[PROFILE], i[NAME])] += round(n * weight)
    for (profile, name), n in (flood.most_common(max_names) if len(flood) > max_names else flood.items()):
        names[(hour, profile, text(name) if isinstance(name, bytes) else name)] += n
