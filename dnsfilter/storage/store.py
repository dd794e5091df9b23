"""SQLite runtime store (`data_dir/dnsfilter.db`): the devices seen on the network; and,
through a second connection to the family's database (`state_dir/family.db`,
storage/family.py), the expiring allows and blocks ("overrides", core/policy/overrides.py)
that parents make.

The daemon collects sightings in memory and writes them here in batches every few seconds
(never per query); the web UI reads the same file. WAL mode lets it read while the daemon
writes. A file that is not a readable database is moved aside and a fresh one is created:
device records are rebuilt from traffic, so losing them is better than not starting.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnsfilter.core.household.macaddr import normalise_mac
from dnsfilter.core.policy.overrides import ACTIONS, MAX_OVERRIDES, Override
from dnsfilter.storage.family import FAMILY_DB, StoreError, checked_version, family_db, runtime_db
from dnsfilter.storage.family import connect as connect_family

if TYPE_CHECKING:
    from dnsfilter.config import Config

__all__ = ["Device", "DeviceStore", "Observation", "StoreError", "open_devices"]

log = logging.getLogger("dnsfilter.storage.store")

SCHEMA_VERSION = 2  # 2: the overrides table (since moved to family.db: an old one is emptied there)
MAX_IPS = 8  # addresses kept per device, most recent first (IPv6 privacy addresses rotate)
MAX_DEVICES = 10000  # the least recently seen beyond this are dropped (randomised MACs pile up)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
    id TEXT PRIMARY KEY,        -- the MAC when known, else the address
    mac TEXT,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    ips TEXT NOT NULL,          -- JSON list, most recent first, at most MAX_IPS
    hostname TEXT,
    vendor TEXT,
    random INTEGER NOT NULL DEFAULT 0,
    profile TEXT
);
CREATE INDEX IF NOT EXISTS devices_last_seen ON devices(last_seen);
"""
_COLUMNS = "id, mac, first_seen, last_seen, ips, hostname, vendor, random, profile"


@dataclass(frozen=True, slots=True)
class Observation:
    """One device seen by the daemon since the last batch."""

    device: str  # the MAC when known, else the address
    seen: float  # Unix time of the latest query
    mac: str | None = None
    ip: str | None = None
    profile: str | None = None
    hostname: str | None = None
    vendor: str | None = None
    random: bool = False

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any]) -> Observation:
        return cls(device=str(m["device"]), seen=float(m["seen"]), mac=m.get("mac"), ip=m.get("ip"),
                   profile=m.get("profile"), hostname=m.get("hostname"), vendor=m.get("vendor"),
                   random=bool(m.get("random", False)))


@dataclass(frozen=True, slots=True)
class Device:
    id: str
    mac: str | None
    first_seen: float
    last_seen: float
    ips: tuple[str, ...] = field(default_factory=tuple)
    hostname: str | None = None
    vendor: str | None = None
    random: bool = False
    profile: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ips"] = list(self.ips)
        return d


def _device(row: tuple[Any, ...]) -> Device:
    ident, mac, first, last, ips, host, vendor, random, profile = row
    try:
        addresses = tuple(str(a) for a in json.loads(ips))
    except (ValueError, TypeError):
        addresses = ()  # a hand-edited row: the next sighting rewrites it
    return Device(ident, mac, first, last, addresses, host, vendor, bool(random), profile)


def _merge(old: Device | None, obs: Observation) -> Device:
    """The record after one more sighting: known facts are kept when the sighting lacks them."""
    if old is None:
        return Device(obs.device, obs.mac, obs.seen, obs.seen, (obs.ip,) if obs.ip else (), obs.hostname,
                      obs.vendor, obs.random, obs.profile)
    newer = obs.seen >= old.last_seen
    ips = old.ips
    if obs.ip and newer:
        ips = (obs.ip,) + tuple(ip for ip in old.ips if ip != obs.ip)
    elif obs.ip and obs.ip not in old.ips:  # an older sighting (out-of-order batch): append
        ips = old.ips + (obs.ip,)
    return Device(old.id, obs.mac or old.mac, min(old.first_seen, obs.seen), max(old.last_seen, obs.seen), ips[:MAX_IPS],
                  (obs.hostname if newer else None) or old.hostname or obs.hostname,
                  obs.vendor or old.vendor, obs.random if obs.mac else old.random,
                  (obs.profile if newer else None) or old.profile or obs.profile)


class DeviceStore:
    def __init__(self, path: str | os.PathLike[str], max_devices: int = MAX_DEVICES,
                 family: str | os.PathLike[str] | None = None) -> None:
        """`family`: the family's database (default: family.db beside `path`), opened on the
        first use of the overrides."""
        self.path = Path(path)
        self.family_path = Path(family) if family is not None else self.path.with_name(FAMILY_DB)
        self.max_devices = max_devices
        self._lock = threading.Lock()  # callers may write from a worker thread (asyncio.to_thread)
        self._db = self._open()
        self._family: sqlite3.Connection | None = None

    def _fam(self) -> sqlite3.Connection:
        """The family database's connection (under the lock), opened on first use."""
        if self._family is None:
            self._family = connect_family(self.family_path, self.path)
        return self._family

    # ------------------------------------------------------------ opening and recovery

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=5.0, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: no fsync per batch (SD cards, flash)
            version = checked_version(db, self.path, SCHEMA_VERSION)
            if version < SCHEMA_VERSION:
                db.executescript(f"BEGIN; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
            return db
        except BaseException:
            db.close()
            raise

    def _open(self) -> sqlite3.Connection:
        try:
            return self._connect()
        except StoreError:
            raise
        except sqlite3.DatabaseError as e:
            self._move_aside(str(e))
            return self._connect()

    def _move_aside(self, why: str) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        log.error("%s is unreadable (%s): moved to %s, starting a new device store", self.path, why, aside)
        for suffix in ("", "-wal", "-shm"):
            src = Path(f"{self.path}{suffix}")
            if src.exists():
                os.replace(src, f"{aside}{suffix}")

    def close(self) -> None:
        with self._lock:
            self._db.close()
            if self._family is not None:
                self._family.close()

    # ------------------------------------------------------------ writes

    def observe_many(self, observations: Iterable[Observation | Mapping[str, Any]]) -> int:
        """Record a batch of sightings in one transaction; returns the number of devices
        written. A corrupt file found now is moved aside and the batch written to a new one."""
        merged: dict[str, list[Observation]] = {}
        for item in observations:
            obs = item if isinstance(item, Observation) else Observation.from_mapping(item)
            merged.setdefault(obs.device, []).append(obs)  # every address of a device counts
        if not merged:
            return 0
        with self._lock:
            try:
                return self._write(list(merged.values()))
            except sqlite3.DatabaseError as e:
                if not _is_corruption(e):
                    raise
                self._db.close()
                self._move_aside(str(e))
                self._db = self._connect()
                return self._write(list(merged.values()))

    def _write(self, batch: list[list[Observation]]) -> int:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            old = self._rows([group[0].device for group in batch])
            rows = []
            for group in batch:
                d = old.get(group[0].device)
                for obs in sorted(group, key=lambda o: o.seen):
                    d = _merge(d, obs)
                assert d is not None
                rows.append((d.id, d.mac, d.first_seen, d.last_seen, json.dumps(list(d.ips)), d.hostname, d.vendor,
                             int(d.random), d.profile))
            db.executemany(f"INSERT OR REPLACE INTO devices ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)", rows)
            if len(old) < len(batch):  # new devices: keep the table bounded
                db.execute("DELETE FROM devices WHERE id IN (SELECT id FROM devices ORDER BY last_seen DESC "
                           "LIMIT -1 OFFSET ?)", (self.max_devices,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return len(rows)

    def _rows(self, ids: list[str]) -> dict[str, Device]:
        out: dict[str, Device] = {}
        for i in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
            chunk = ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._db.execute(f"SELECT {_COLUMNS} FROM devices WHERE id IN ({marks})", chunk):
                out[row[0]] = _device(row)
        return out

    # ------------------------------------------------------------ overrides

    def add_override(self, target: str, name: str, action: str, until: float | None, source: str = "admin",
                     now: float | None = None) -> Override:
        """Record an expiring allow or block; the same target, name and action replace an
        older one (a parent who says "allow for an hour" twice means the later hour)."""
        if action not in ACTIONS:
            raise ValueError(f"override action must be allow or block, not {action!r}")
        if not target.startswith(("device:", "profile:")) or len(target) > 300 or len(name) > 253 or not name:
            raise ValueError("override target must be device:ID or profile:NAME, with a host name")
        now = time.time() if now is None else now
        with self._lock:
            db = self._fam()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("DELETE FROM overrides WHERE target = ? AND name = ? AND action = ?", (target, name, action))
                db.execute("DELETE FROM overrides WHERE until IS NOT NULL AND until <= ?", (now,))
                count = db.execute("SELECT count(*) FROM overrides").fetchone()[0]
                if count >= MAX_OVERRIDES:
                    raise ValueError(f"at most {MAX_OVERRIDES} overrides at once")
                cur = db.execute("INSERT INTO overrides (target, name, action, until, created, source) "
                                 "VALUES (?,?,?,?,?,?)", (target, name, action, until, now, source))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return Override(int(cur.lastrowid or 0), target, name, action, until, source)

    def remove_override(self, ident: int) -> bool:
        with self._lock:
            return self._fam().execute("DELETE FROM overrides WHERE id = ?", (ident,)).rowcount > 0

    def overrides(self, now: float | None = None) -> list[Override]:
        """The overrides that hold at `now` (all of them when None), oldest first."""
        with self._lock:
            rows = self._fam().execute("SELECT id, target, name, action, until, source FROM overrides "
                                    "ORDER BY id").fetchall()
        out = [Override(int(i), str(tg), str(n), str(a), None if u is None else float(u), str(s))
               for i, tg, n, a, u, s in rows if a in ACTIONS]
        return [o for o in out if now is None or o.holds(now)]

    def prune_overrides(self, now: float) -> int:
        with self._lock:
            return self._fam().execute("DELETE FROM overrides WHERE until IS NOT NULL AND until <= ?", (now,)).rowcount

    # ------------------------------------------------------------ devices

    def forget(self, device: str) -> bool:
        """Remove a device's record (the Devices page's "Forget"); its overrides go with it.
        It comes back, as new, when it next uses the network."""
        with self._lock:
            gone = self._db.execute("DELETE FROM devices WHERE id = ?", (device,)).rowcount > 0
            self._fam().execute("DELETE FROM overrides WHERE target = ?", (f"device:{device}",))
            return gone

    def set_profile(self, device: str, profile: str | None) -> bool:
        """Record the profile the UI assigned; False when the device is unknown."""
        with self._lock:
            cur = self._db.execute("UPDATE devices SET profile = ? WHERE id = ?", (profile, device))
            return cur.rowcount > 0

    # ------------------------------------------------------------ reads

    def get(self, device: str) -> Device | None:
        """A device by its MAC (any case) or, for a device without one, its address."""
        try:
            key = normalise_mac(device)
        except ValueError:
            key = device
        with self._lock:
            return self._rows([key]).get(key)

    def list_devices(self) -> list[dict[str, Any]]:
        """Every device, the most recently seen first, as JSON-ready dicts (UI, control socket)."""
        with self._lock:
            cur = self._db.execute(f"SELECT {_COLUMNS} FROM devices ORDER BY last_seen DESC")
            return [_device(row).as_dict() for row in cur]


def open_devices(cfg: Config) -> DeviceStore:
    """The config's device store: runtime in data_dir, the family's records in state_dir."""
    return DeviceStore(runtime_db(cfg), family=family_db(cfg))


def _is_corruption(e: sqlite3.DatabaseError) -> bool:
    text = str(e).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text
