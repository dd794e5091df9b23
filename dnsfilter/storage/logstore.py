"""The query log on disk: SQLite (WAL) at `data_dir/querylog.db`.

Rows are written in batches by the daemon's writer (shell/querylog_writer.py), together
with hourly rollups per device, profile, category and outcome and a per-hour count of
blocked names, in the same transaction. The dashboard reads only the rollups, so it stays
fast however many rows the log holds. The web UI and `dnsfilter logs export` read through
the functions here (tail, summary, series, export).

Hours are unix hours (ts // 3600); a local day is the hours from local midnight, exact for
time zones with whole-hour offsets.
"""

from __future__ import annotations

import csv
import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from dnsfilter.core.logbatch import Batch

FILE = "querylog.db"
COLUMNS = ("ts", "device", "ip", "profile", "name", "qtype", "outcome", "kind", "category", "feed", "service")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS queries(ts REAL NOT NULL, device TEXT, ip TEXT, profile TEXT, name TEXT, qtype INTEGER,
    outcome TEXT, kind TEXT, category TEXT, feed TEXT, service TEXT);
CREATE INDEX IF NOT EXISTS queries_ts ON queries(ts);
CREATE INDEX IF NOT EXISTS queries_device ON queries(device, ts);
CREATE TABLE IF NOT EXISTS rollup(hour INTEGER NOT NULL, device TEXT NOT NULL, profile TEXT NOT NULL,
    category TEXT NOT NULL, outcome TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY(hour, device, profile, category, outcome)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blocked_names(hour INTEGER NOT NULL, profile TEXT NOT NULL, name TEXT NOT NULL,
    n INTEGER NOT NULL, PRIMARY KEY(hour, profile, name)) WITHOUT ROWID;
"""
_CHUNK = 50_000  # rows deleted per statement, so a prune never holds the write lock for long


class LogStore:
    def __init__(self, path: str | Path, readonly: bool = False) -> None:
        self.path = Path(path)
        if readonly:
            self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=10.0,
                                      check_same_thread=False)
            return
        self.db = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False)
        # auto_vacuum must be chosen before the first table: deleted rows then give pages back
        self.db.execute("PRAGMA auto_vacuum=INCREMENTAL")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")  # WAL: a power cut loses the last batch at most
        # 512 KiB of page cache, not SQLite's 2 MB: a week of a family's log (21 MB) grew the
        # writer by 2 MB with the default, 0.2 MB with this, and its writes took 0.7 ms longer
        self.db.execute("PRAGMA cache_size=-512")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------ writing

    def write(self, b: Batch) -> None:
        with self.db:
            if b.rows:
                self.db.executemany("INSERT INTO queries VALUES (?,?,?,?,?,?,?,?,?,?,?)", b.rows)
            if b.rollup:
                self.db.executemany(
                    "INSERT INTO rollup VALUES (?,?,?,?,?,?) ON CONFLICT DO UPDATE SET n = n + excluded.n",
                    [(*k, n) for k, n in b.rollup.items()])
            if b.names:
                self.db.executemany(
                    "INSERT INTO blocked_names VALUES (?,?,?,?) ON CONFLICT DO UPDATE SET n = n + excluded.n",
                    [(*k, n) for k, n in b.names.items()])

    def used_bytes(self) -> int:
        pages = self.db.execute("PRAGMA page_count").fetchone()[0] - self.db.execute("PRAGMA freelist_count").fetchone()[0]
        return int(pages * self.db.execute("PRAGMA page_size").fetchone()[0])

    def prune(self, now: float, days: float, max_bytes: int) -> int:
        """Drop rows and rollups older than `days`, then the oldest rows until the file's used
        size is under `max_bytes`. Returns the number of log rows deleted."""
        cutoff = now - days * 86400
        deleted = 0
        while True:
            with self.db:
                n = self.db.execute("DELETE FROM queries WHERE rowid IN (SELECT rowid FROM queries WHERE ts < ? "
                                    "ORDER BY ts LIMIT ?)", (cutoff, _CHUNK)).rowcount
            deleted += n
            if n < _CHUNK:
                break
        with self.db:
            self.db.execute("DELETE FROM rollup WHERE hour < ?", (int(cutoff // 3600),))
            self.db.execute("DELETE FROM blocked_names WHERE hour < ?", (int(cutoff // 3600),))
        while self.used_bytes() > max_bytes:
            total = self.db.execute("SELECT count(*) FROM queries").fetchone()[0]
            if total == 0:
                break
            with self.db:  # the oldest tenth (rowids grow with time)
                n = self.db.execute("DELETE FROM queries WHERE rowid IN (SELECT rowid FROM queries ORDER BY rowid "
                                    "LIMIT ?)", (max(total // 10, 1),)).rowcount
            deleted += n
        if deleted:
            self.db.execute("PRAGMA incremental_vacuum")
        return deleted

    # ------------------------------------------------------------ reading

    def tail(self, limit: int = 100, *, device: str | None = None, name: str | None = None,
             outcome: str | None = None, since: float | None = None, before: float | None = None,
             older_than: tuple[float, int] | None = None,
             newer_than: tuple[float, int] | None = None) -> list[dict[str, Any]]:
        """The newest rows, newest first, each with its `id` (the rowid). `name` matches a part of
        the name; `before` pages back by time. Keyset paging: `older_than=(ts, id)` gives the rows
        just below that row, `newer_than=(ts, id)` the `limit` rows just above it (still newest
        first). The order is (ts, id), so rows of the same instant are neither lost nor repeated
        between pages, and the `ts` bound keeps each page an index range scan."""
        where, args = _filters(device=device, outcome=outcome, since=since, before=before)
        if name:
            where.append("name LIKE ? ESCAPE '\\'")
            args.append("%" + name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        order = "DESC"
        if older_than is not None:
            where.append("ts <= ? AND (ts < ? OR rowid < ?)")
            args += [older_than[0], older_than[0], older_than[1]]
        elif newer_than is not None:
            where.append("ts >= ? AND (ts > ? OR rowid > ?)")
            args += [newer_than[0], newer_than[0], newer_than[1]]
            order = "ASC"  # the rows just above the cursor, turned newest first below
        cols = ", ".join(COLUMNS)
        sql = f"SELECT rowid, {cols} FROM queries {_where(where)} ORDER BY ts {order}, rowid {order} LIMIT ?"
        found = [{"id": r[0], **dict(zip(COLUMNS, r[1:], strict=True))}
                 for r in self.db.execute(sql, [*args, int(limit)])]
        return found[::-1] if order == "ASC" else found

    def export(self, *, since: float | None = None, device: str | None = None) -> Iterator[dict[str, Any]]:
        """Every row (oldest first) matching the filters, streamed."""
        where, args = _filters(device=device, since=since)
        cur = self.db.execute(f"SELECT {', '.join(COLUMNS)} FROM queries {_where(where)} ORDER BY ts", args)
        for r in cur:
            yield dict(zip(COLUMNS, r, strict=True))

    def summary(self, now: float | None = None, tz: str = "UTC", top: int = 10) -> dict[str, Any]:
        """Today's dashboard: queries, blocks, % blocked, top blocked names and categories,
        activity per device (all from the rollups)."""
        now = time.time() if now is None else now
        start = _local_midnight(now, tz)
        h0 = int(start // 3600)
        q = self.db.execute
        total, blocked = q("SELECT coalesce(sum(n), 0), coalesce(sum(CASE WHEN outcome = 'blocked' THEN n END), 0) "
                           "FROM rollup WHERE hour >= ?", (h0,)).fetchone()
        names = q("SELECT name, sum(n) AS c FROM blocked_names WHERE hour >= ? GROUP BY name ORDER BY c DESC LIMIT ?",
                  (h0, top)).fetchall()
        cats = q("SELECT category, sum(n) AS c FROM rollup WHERE hour >= ? AND outcome = 'blocked' GROUP BY category "
                 "ORDER BY c DESC LIMIT ?", (h0, top)).fetchall()
        devices = q("SELECT device, sum(n), coalesce(sum(CASE WHEN outcome = 'blocked' THEN n END), 0), max(hour) "
                    "FROM rollup WHERE hour >= ? GROUP BY device ORDER BY 2 DESC", (h0,)).fetchall()
        return {
            "since": start,
            "queries": total,
            "blocked": blocked,
            "percent_blocked": round(100.0 * blocked / total, 1) if total else 0.0,
            "top_blocked_names": [{"name": n, "count": c} for n, c in names],
            "top_blocked_categories": [{"category": k, "count": c} for k, c in cats],
            "devices": [{"device": d, "queries": t, "blocked": b, "last_hour": h * 3600} for d, t, b, h in devices],
        }

    def series(self, span: str = "24h", now: float | None = None, tz: str = "UTC",
               device: str | None = None) -> list[dict[str, Any]]:
        """Queries and blocks per hour for the last 24 h (`24h`) or per local day for 7 days
        (`7d`), oldest first, with empty buckets included."""
        now = time.time() if now is None else now
        if span == "24h":
            h_now = int(now // 3600)
            edges: list[float] = [(h_now - 23 + i) * 3600.0 for i in range(25)]
        elif span == "7d":
            zone, day = ZoneInfo(tz), datetime.fromtimestamp(_local_midnight(now, tz), ZoneInfo(tz))
            edges = [(day - timedelta(days=6 - i)).replace(tzinfo=zone).timestamp() for i in range(8)]
        else:
            raise ValueError(f"span must be 24h or 7d, not {span!r}")
        where = ["hour >= ?", "hour < ?"]
        args: list[Any] = [int(edges[0] // 3600), int(-(-edges[-1] // 3600))]
        if device is not None:
            where.append("device = ?")
            args.append(device)
        rows = self.db.execute("SELECT hour, sum(n), coalesce(sum(CASE WHEN outcome = 'blocked' THEN n END), 0) "
                               f"FROM rollup {_where(where)} GROUP BY hour", args).fetchall()
        out = [{"start": edges[i], "queries": 0, "blocked": 0} for i in range(len(edges) - 1)]
        j = 0
        for hour, n, b in sorted(rows):
            ts = hour * 3600
            while j + 1 < len(out) and ts >= edges[j + 1]:
                j += 1
            if edges[j] <= ts < edges[j + 1]:
                out[j]["queries"] += n
                out[j]["blocked"] += b
        return out


def _filters(**kw: Any) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    for key, op in (("device", "device = ?"), ("outcome", "outcome = ?"), ("since", "ts >= ?"),
                    ("before", "ts < ?")):
        v = kw.get(key)
        if v is not None:
            where.append(op)
            args.append(v)
    return where, args


def _where(where: list[str]) -> str:
    return ("WHERE " + " AND ".join(where)) if where else ""


def _local_midnight(now: float, tz: str) -> float:
    d = datetime.fromtimestamp(now, ZoneInfo(tz))
    return d.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def write_export(rows: Iterator[dict[str, Any]], out: IO[str], fmt: str = "csv") -> int:
    """CSV with a header line, or JSON Lines; times as ISO 8601 UTC. Returns the row count."""
    n = 0
    if fmt == "csv":
        w = csv.writer(out)
        w.writerow(COLUMNS)
        for r in rows:
            r["ts"] = _iso(r["ts"])
            w.writerow([r[c] for c in COLUMNS])
            n += 1
    elif fmt == "json":
        for r in rows:
            r["ts"] = _iso(r["ts"])
            out.write(json.dumps(r, ensure_ascii=False) + "\n")
            n += 1
    else:
        raise ValueError(f"format must be csv or json, not {fmt!r}")
    return n


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
