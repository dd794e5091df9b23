"""The query log's rings: preallocated parallel lists written in place, one for fast-path
replays and one for the slow path's answers (core/querylog.py), and the spans a take hands
to the writer.

A record is three stores into lists that exist already (time, who asked, LogInfo), so an
answer logged allocates no record of its own: a burst of new names costs no new heap for
the log between drains, and nothing short-lived is interleaved with the tables' long-lived
entries (a per-answer tuple in a deque did both, and left its memory fragmented after the
burst). A ring made with `join` (the slow ring) keeps a fourth list, the names: its infos
are then shared descriptions without the name (one per profile, type, outcome and reason),
and `join` puts the names back only when the writer reads records whose names it needs (see
querylog.QueryLog.answer). "Who asked" is an object with `.ip` and `.device`: the fast
path's client Slot, or for the slow path a `Who` kept per address (`Whos`).

What a ring holds between takes is bounded: `small` records while nothing floods it, `size`
after a take finds it more than half full, `small` again after a calm minute. Beyond that
the oldest records of the span are overwritten; the take reports it (`full`, and `replayed`:
how many answers the span stood for), and the writer estimates the rollups of every answer
from what is left (core/logbatch.py `batch`). Nothing is lost silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

CALM_TAKES: Final = 30  # takes without a flood (a minute) before the spare ring lists are freed

Lists = tuple[list[float], list[Any], list[Any]]  # times, who, LogInfo
Join = Callable[[list[Any], list[Any]], list[Any]]  # (shared infos, names) -> the records' own infos


class Who:
    """The client of a slow-path record: its address and device, as a Slot has them."""

    __slots__ = ("ip", "device")

    def __init__(self, ip: str, device: str) -> None:
        self.ip = ip
        self.device = device


class Whos:
    """One Who per client address, reused by every record of that client (a new one when its
    device changes). Bounded: a flood from many addresses starts the map afresh."""

    def __init__(self, limit: int = 65536) -> None:
        self.by_ip: dict[str, Who] = {}
        self.limit = limit

    def __call__(self, ip: str, device: str) -> Who:
        w = self.by_ip.get(ip)
        if w is None or w.device != device:
            if len(self.by_ip) >= self.limit:
                self.by_ip.clear()
            w = self.by_ip[ip] = Who(ip, device)
        return w


class Ring:
    """`times[j], slots[j], infos[j]` with `j = pos & mask`, written in place by whoever logs
    (the UDP loop keeps a local copy of the lists, the mask and pos per batch, and stores pos
    back; `put` does the same for one record). A take reads only positions written since the
    last one. Sizes are powers of two."""

    def __init__(self, size: int, small: int | None = None, join: Join | None = None) -> None:
        self.small = size if small is None else min(small, size)
        assert not size & (size - 1) and not self.small & (self.small - 1), "the ring's sizes are powers of two"
        self.size = size
        self.mask = self.small - 1
        self.times: list[float] = [0.0] * self.small
        self.slots: list[Any] = [None] * self.small  # .ip and .device: a fastpath.Slot or a Who
        self.infos: list[Any] = [None] * self.small  # LogInfo
        self.join = join
        self.names: list[Any] | None = None if join is None else [None] * self.small  # with `join` only
        self.pos = 0  # records ever written
        self.drained = 0
        # Lists a flood's take handed over, given back by the writer when it is done with them
        # (Span.release). Reusing them keeps the ring's lists old: a fresh 16k-entry list is
        # young, and every young collection walks all its entries while it lives, on whichever
        # thread trips it, the UDP loop included. One set is enough (the writer gives a set back
        # before the next take), and it is freed after CALM_TAKES takes without a flood.
        self.spare: list[tuple[Lists, list[Any] | None]] = []
        self.calm = 0  # takes since the last flood

    def resize(self, size: int, small: int) -> None:
        """A new bound (powers of two): empty lists larger than it are replaced now; lists
        holding records are replaced at the next take (see take_span)."""
        self.size, self.small = size, min(small, size)
        if self.mask + 1 > size and self.pos == self.drained:
            self.spare.clear()
            self._use(self.small)

    def put(self, now: float, who: Any, info: Any, name: Any = None) -> None:
        """One record (`name` is kept only by a ring made with `join`)."""
        j = self.pos & self.mask
        self.times[j] = now
        self.slots[j] = who
        self.infos[j] = info
        if self.names is not None:
            self.names[j] = name
        self.pos += 1

    def take_span(self) -> Span:
        """Everything written since the last take. Called on the event loop, so it copies few
        references: the new span is sliced out of the three lists, or, beyond a quarter of the
        ring, the lists are handed over whole (`Span.whole`) and the ring gets others (the
        spare set, or fresh ones: the full size if it was more than half full)."""
        pos, start, size = self.pos, self.drained, self.mask + 1
        replayed = pos - start  # answers since the last take, overwritten ones too
        full = replayed > size
        if full:
            start = pos - size
        self.drained = pos
        if pos - start > size // 4:  # a flood: hand the lists over whole; the writer reads them in place
            self.calm = 0
            own, names, at = (self.times, self.slots, self.infos), self.names, start & self.mask
            self._use(self.size if pos - start > size // 2 else min(size, self.size))  # (size: a reload lowered it)
            return Span(*own, full, replayed, (at, pos - start), self._give_back, names, self.join)
        self.calm += 1
        t: list[float] = []
        sl: list[Any] = []
        inf: list[Any] = []
        nm: list[Any] | None = None if self.names is None else []
        if pos > start:
            a, b = start & self.mask, pos & self.mask
            t, sl, inf = _span(self.times, a, b), _span(self.slots, a, b), _span(self.infos, a, b)
            _clear(self.infos, a, b)
            if self.names is not None:
                nm = _span(self.names, a, b)
                _clear(self.names, a, b)
        if self.calm >= CALM_TAKES:
            self.spare.clear()
            if size > self.small:
                self._use(self.small)  # read out above: the next record lands at pos of these
        return Span(t, sl, inf, full, replayed, names=nm, join=self.join)

    def _use(self, n: int) -> None:
        """Lists of `n` records for the ring (a spare set if it has that size). The UDP loop
        reads the lists and the mask anew at each batch, and takes run between batches."""
        if self.spare and len(self.spare[0][0][0]) == n:
            (self.times, self.slots, self.infos), self.names = self.spare.pop()
        else:
            self.spare.clear()  # another size: of no use any more
            self.times, self.slots, self.infos = [0.0] * n, [None] * n, [None] * n
            self.names = None if self.join is None else [None] * n
        self.mask = n - 1

    def _give_back(self, lists: Lists, names: list[Any] | None) -> None:
        # from the writer's thread: list.append is atomic; stale entries in them are harmless
        # (a take reads only the span written since the last one)
        if not self.spare and len(lists[0]) == self.mask + 1:
            self.spare.append((lists, names))


def _span(ring: list[Any], a: int, b: int) -> list[Any]:
    """Positions a..b of a ring list (a == b: one full turn)."""
    return ring[a:b] if a < b else ring[a:] + ring[:b]


def _cut(ring: list[Any], a: int, b: int) -> list[Any]:
    """Positions a..b of a span's own list (not a ring's)."""
    return ring[a:b]


def _clear(ring: list[Any], a: int, b: int) -> None:
    """Drop the ring's references at positions a..b once read: a record left in place kept its
    LogInfo and the name's bytes alive until overwritten (after a burst of new names, 3.5 MB
    of them in the rings' live and spare lists: a one-off tracemalloc reading)."""
    if a < b:
        ring[a:b] = [None] * (b - a)
    else:
        ring[a:] = [None] * (len(ring) - a)
        ring[:b] = [None] * b


@dataclass(slots=True)
class Span:
    """One ring's records of a take as three parallel lists (time, who, LogInfo) in the order
    they were written. After a flood the lists are the ring's own, handed over whole
    (`whole`): they are read in place, never copied whole, and `release` gives them back to
    the ring's spares."""

    times: list[float]
    slots: list[Any]
    infos: list[Any]
    full: bool = False  # the ring overflowed: the oldest records were overwritten
    replayed: int = 0  # the answers these stand for: more than len() after an overflow
    whole: tuple[int, int] | None = None  # (start, count) when the lists are the ring's own
    give_back: Callable[[Lists, list[Any] | None], None] | None = None
    names: list[Any] | None = None  # a `join` ring's names, parallel to infos
    join: Join | None = None

    def __len__(self) -> int:
        return self.whole[1] if self.whole is not None else len(self.infos)

    def part(self, lo: int, hi: int, named: bool = True) -> Lists:
        """Copies of records lo..hi (positions in written order); `named=False`: the infos as
        stored (a `join` ring's shared ones, without the names), for counting."""
        hi = min(hi, len(self))
        if lo >= hi:
            return [], [], []
        if self.whole is None:
            b, e, at = lo, hi, _cut
        else:
            a, mask = self.whole[0], len(self.infos) - 1
            b, e, at = (a + lo) & mask, (a + hi) & mask, _span
        infos = at(self.infos, b, e)
        if named and self.join is not None and self.names is not None:
            infos = self.join(infos, at(self.names, b, e))
        return at(self.times, b, e), at(self.slots, b, e), infos

    def pick(self, js: Iterable[int], named: bool = True) -> tuple[list[Any], list[Any]]:
        """The whos and LogInfos of the records at positions `js` (`named`: as in `part`)."""
        if self.whole is None:
            at = list(js)
        else:
            a, mask = self.whole[0], len(self.infos) - 1
            at = [(a + j) & mask for j in js]
        infos = list(map(self.infos.__getitem__, at))
        if named and self.join is not None and self.names is not None:
            infos = self.join(infos, list(map(self.names.__getitem__, at)))
        return list(map(self.slots.__getitem__, at)), infos

    def _bounds(self) -> tuple[int, int]:
        """The span's positions in the ring's own lists (whole spans)."""
        assert self.whole is not None
        a, n = self.whole
        return a, (a + n) & (len(self.infos) - 1)

    def last_time(self) -> float:
        n = len(self)
        if not n:
            return 0.0
        if self.whole is None:
            return self.times[-1]
        return self.times[(self.whole[0] + n - 1) & (len(self.times) - 1)]

    def records(self, k: int) -> list[tuple[float, str, str, Any]]:
        """The first k records as (time, ip, device, info) tuples."""
        t, sl, inf = self.part(0, k)
        return [(t, s.ip, s.device, i) for t, s, i in zip(t, sl, inf, strict=True)]

    def release(self) -> None:
        """Done with the records: the ring's own lists go back to its spares."""
        if self.whole is not None and self.give_back is not None:
            _clear(self.infos, *self._bounds())  # in the writer's thread: the lists are not the ring's now
            if self.names is not None:
                _clear(self.names, *self._bounds())
            self.give_back((self.times, self.slots, self.infos), self.names)
        self.times, self.slots, self.infos, self.whole, self.give_back = [], [], [], None, None
        self.names = None
