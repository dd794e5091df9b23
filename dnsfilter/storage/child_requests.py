"""Children's requests ("please open this site", "more time please") and the parent's answers,
in the family's database (`state_dir/family.db`, table `requests`, storage/family.py: it
outlives a router's reboot), and the minutes used per day in the runtime store
(`data_dir/dnsfilter.db`, table `budget_days`: written every minute, so in RAM on a router).

A request is made from the child's page or the block page (the daemon's portal), listed by the
web UI, `/api/requests` and `dnsfilter requests list`, and answered there: an approval becomes
an expiring allow (an override, core/policy/overrides.py) or a budget extension, and the
request keeps who answered, when, and for how long: the parent's audit.

The rules that keep a child from flooding a parent's phone are here, in one transaction with
the insert, so the portal, however many connections it serves, cannot pass them: at most
MAX_OPEN open requests per device, at most MAX_PER_HOUR made per device in any hour, and the
same open request (device, kind, name) is returned again rather than made twice.

`budget_days` keeps each device's minutes per budget per local day (the daemon writes today's
every minute), so the weekly report can show time used against each budget for seven days;
the daemon itself keeps only today's.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnsfilter.storage.family import FAMILY_DB, family_db, runtime_db
from dnsfilter.storage.family import connect as connect_family

if TYPE_CHECKING:
    from dnsfilter.config import Config

KINDS = ("site", "time")
STATES = ("open", "approved", "denied", "expired")
DURATIONS = ("15m", "1h", "today", "always")
MAX_OPEN = 5  # open requests per device
MAX_PER_HOUR = 10  # requests made per device in any hour (answered ones included)
OPEN_DAYS = 7  # an open request nobody answered for this long expires
KEEP_DAYS = 90  # answered requests kept for the audit this long
MAX_NAME = 253

_SCHEMA = """
CREATE TABLE IF NOT EXISTS budget_days (
    day TEXT NOT NULL,          -- local date, ISO
    device TEXT NOT NULL,
    profile TEXT NOT NULL,
    item TEXT NOT NULL,
    used INTEGER NOT NULL,      -- minutes
    limit_min INTEGER NOT NULL, -- the day's limit, extensions included
    PRIMARY KEY (day, device, item)
) WITHOUT ROWID;
"""
_COLS = ("id, device, label, profile, kind, name, reason, category, wanted, state, created, answered, "
         "answered_by, duration, until, scope")


class RequestRefused(ValueError):
    """A request that is not taken; `code` says why in a word the portal translates."""

    def __init__(self, code: str, why: str) -> None:
        super().__init__(why)
        self.code = code  # too_many_open | too_many | bad


class AnswerError(ValueError):
    """An answer that cannot be given (unknown id, already answered, bad duration)."""


@dataclass(frozen=True, slots=True)
class Request:
    id: int
    device: str
    label: str
    profile: str
    kind: str
    name: str
    reason: str
    category: str
    wanted: str
    state: str
    created: float
    answered: float | None = None
    answered_by: str | None = None
    duration: str | None = None
    until: float | None = None
    scope: str | None = None

    def active(self, now: float) -> bool:
        """An approval still in force."""
        return self.state == "approved" and (self.until is None or now < self.until)

    def as_dict(self, now: float | None = None) -> dict[str, Any]:
        d = asdict(self)
        d["active"] = self.active(time.time() if now is None else now)
        return d


class RequestStore:
    """`path`: the runtime store (budget days); `family`: the family's database (default:
    family.db beside `path`). Each is opened on its first use."""

    def __init__(self, path: str | Path, family: str | Path | None = None) -> None:
        self.path = Path(path)
        self.family_path = Path(family) if family is not None else self.path.with_name(FAMILY_DB)
        self._lock = threading.Lock()
        self._runtime: sqlite3.Connection | None = None
        self._family: sqlite3.Connection | None = None

    @property
    def _db(self) -> sqlite3.Connection:
        """The family database (requests), under the lock."""
        if self._family is None:
            self._family = connect_family(self.family_path, self.path)
        return self._family

    def _rt(self) -> sqlite3.Connection:
        if self._runtime is None:
            db = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(_SCHEMA)
            except BaseException:
                db.close()
                raise
            self._runtime = db
        return self._runtime

    def close(self) -> None:
        with self._lock:
            for db in (self._runtime, self._family):
                if db is not None:
                    db.close()

    # ------------------------------------------------------------ requests

    def create(self, *, device: str, label: str, profile: str, kind: str, name: str, reason: str = "",
               category: str = "", wanted: str = "1h", now: float | None = None) -> tuple[Request, bool]:
        """A new open request, or the same open one again (False). RequestRefused over the limits."""
        if kind not in KINDS or wanted not in DURATIONS or not device or not name or len(name) > MAX_NAME:
            raise RequestRefused("bad", "not a request this appliance takes")
        now = time.time() if now is None else now
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                self._expire(now)
                same = db.execute(f"SELECT {_COLS} FROM requests WHERE device = ? AND kind = ? AND name = ? "
                                  "AND state = 'open'", (device, kind, name)).fetchone()
                if same is not None:
                    db.execute("COMMIT")
                    return _request(same), False
                n_open = db.execute("SELECT count(*) FROM requests WHERE device = ? AND state = 'open'",
                                    (device,)).fetchone()[0]
                if n_open >= MAX_OPEN:
                    raise RequestRefused("too_many_open", f"{MAX_OPEN} requests are waiting for an answer already")
                recent = db.execute("SELECT count(*) FROM requests WHERE device = ? AND created > ?",
                                    (device, now - 3600)).fetchone()[0]
                if recent >= MAX_PER_HOUR:
                    raise RequestRefused("too_many", f"{MAX_PER_HOUR} requests in the last hour already")
                cur = db.execute("INSERT INTO requests (device, label, profile, kind, name, reason, category, "
                                 "wanted, state, created) VALUES (?,?,?,?,?,?,?,?, 'open', ?)",
                                 (device, label[:100], profile, kind, name, reason[:300], category, wanted, now))
                row = db.execute(f"SELECT {_COLS} FROM requests WHERE id = ?", (cur.lastrowid,)).fetchone()
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return _request(row), True

    def answer(self, ident: int, state: str, *, by: str, duration: str | None = None, until: float | None = None,
               scope: str = "device", now: float | None = None) -> Request:
        """Approve or deny an open request (in one step: two parents answering at once get one
        answer in, the other an AnswerError)."""
        if state not in ("approved", "denied"):
            raise AnswerError(f"an answer is approved or denied, not {state!r}")
        if state == "approved" and duration not in DURATIONS:
            raise AnswerError(f"--for must be one of {', '.join(DURATIONS)}")
        now = time.time() if now is None else now
        with self._lock:
            cur = self._db.execute(
                "UPDATE requests SET state = ?, answered = ?, answered_by = ?, duration = ?, until = ?, scope = ? "
                "WHERE id = ? AND state = 'open'",
                (state, now, by[:100], duration if state == "approved" else None,
                 until if state == "approved" else None, scope if state == "approved" else None, ident))
            row = self._db.execute(f"SELECT {_COLS} FROM requests WHERE id = ?", (ident,)).fetchone()
        if row is None:
            raise AnswerError(f"no request {ident}")
        if cur.rowcount == 0:
            r = _request(row)
            raise AnswerError(f"request {ident} was {r.state} already" +
                              (f" (by {r.answered_by})" if r.answered_by else ""))
        return _request(row)

    def get(self, ident: int) -> Request | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLS} FROM requests WHERE id = ?", (ident,)).fetchone()
        return None if row is None else _request(row)

    def find(self, *, device: str | None = None, state: str | None = None, since: float | None = None,
             limit: int = 200, now: float | None = None) -> list[Request]:
        """Requests, newest first (open ones older than OPEN_DAYS at `now` are expired first)."""
        where, args = [], []
        for col, value in (("device = ?", device), ("state = ?", state), ("created >= ?", since)):
            if value is not None:
                where.append(col)
                args.append(value)
        sql = (f"SELECT {_COLS} FROM requests {'WHERE ' + ' AND '.join(where) if where else ''} "
               "ORDER BY id DESC LIMIT ?")
        with self._lock:
            self._expire(time.time() if now is None else now)
            return [_request(r) for r in self._db.execute(sql, [*args, int(limit)])]

    def open_count(self, now: float | None = None) -> int:
        """Open requests (the web UI's badge)."""
        now = time.time() if now is None else now
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM requests WHERE state = 'open' AND created > ?",
                                        (now - OPEN_DAYS * 86400,)).fetchone()[0])

    def _expire(self, now: float) -> None:
        self._db.execute("UPDATE requests SET state = 'expired' WHERE state = 'open' AND created <= ?",
                         (now - OPEN_DAYS * 86400,))
        self._db.execute("DELETE FROM requests WHERE created <= ? AND state != 'open'", (now - KEEP_DAYS * 86400,))

    # ------------------------------------------------------------ budget days

    def record_budget_days(self, rows: Iterable[tuple[str, str, str, str, int, int]]) -> None:
        """(day, device, profile, item, used, limit) rows: today's minutes, replacing the last save."""
        rows = list(rows)
        if not rows:
            return
        with self._lock:
            db = self._rt()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany("INSERT OR REPLACE INTO budget_days VALUES (?,?,?,?,?,?)", rows)
                db.execute("DELETE FROM budget_days WHERE day < date(?, '-35 days')", (rows[0][0],))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def budget_days(self, first_day: str, last_day: str) -> list[tuple[str, str, str, str, int, int]]:
        with self._lock:
            return [tuple(r) for r in self._rt().execute(  # type: ignore[misc]
                "SELECT day, device, profile, item, used, limit_min FROM budget_days WHERE day >= ? AND day <= ? "
                "ORDER BY day", (first_day, last_day))]


def open_requests(cfg: Config) -> RequestStore:
    """The config's request store: requests in state_dir (family.db), budget days in data_dir."""
    return RequestStore(runtime_db(cfg), family=family_db(cfg))


def _request(row: tuple[Any, ...]) -> Request:
    return Request(*row)
