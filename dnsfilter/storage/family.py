"""The family's records: the parents' expiring allows and blocks ("overrides") and the
children's requests with their answers, in `state_dir/family.db` (`Config.state_path`).

They are apart from the runtime store (`data_dir/dnsfilter.db`: devices seen, minutes used
per day) because of where each must live on a router: data_dir is RAM there, so the daemon's
sightings every few seconds cost no flash, while state_dir is flash, kept across reboots and
sysupgrade. A parent's "allow for an hour" and a child's open request must survive a reboot;
a device's last sighting need not. family.db is written only when a parent or a child acts,
with a rollback journal (no WAL or shared-memory file that would be written on every read).

An older version kept these tables in dnsfilter.db: the first open of a new family.db moves
their rows over (once, in one transaction per file).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dnsfilter.config import Config

log = logging.getLogger("dnsfilter.storage.family")

RUNTIME_DB = "dnsfilter.db"
FAMILY_DB = "family.db"
VERSION = 1
TABLES = ("overrides", "requests")  # what an older dnsfilter.db held that moves here

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS overrides (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,       -- device:<id> or profile:<name>
    name TEXT NOT NULL,         -- a host name; covers its subdomains
    action TEXT NOT NULL,       -- allow | block
    until REAL,                 -- epoch seconds; NULL: until removed
    created REAL NOT NULL,
    source TEXT NOT NULL DEFAULT 'admin'
)""",
    """CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL,       -- as the resolver names it: the MAC when known, else the address
    label TEXT NOT NULL,        -- the device's name for people ([[devices]] name, hostname, address)
    profile TEXT NOT NULL,
    kind TEXT NOT NULL,         -- site | time
    name TEXT NOT NULL,         -- a host name (site) or a budget item (time)
    reason TEXT NOT NULL,       -- why it was blocked, when asked
    category TEXT NOT NULL,
    wanted TEXT NOT NULL,       -- the duration the child asked for
    state TEXT NOT NULL,        -- open | approved | denied | expired
    created REAL NOT NULL,
    answered REAL,
    answered_by TEXT,           -- admin (web) | api:<token> | cli:<user>
    duration TEXT,              -- what the parent gave: 15m | 1h | today | always
    until REAL,                 -- when the approval ends (NULL: always)
    scope TEXT                  -- device | profile
)""",
    "CREATE INDEX IF NOT EXISTS requests_device ON requests(device, created)",
    "CREATE INDEX IF NOT EXISTS requests_state ON requests(state)",
)


class StoreError(RuntimeError):
    """A store this version must not touch (a newer schema) or cannot open."""


def runtime_db(cfg: Config) -> Path:
    return cfg.data_path() / RUNTIME_DB


def family_db(cfg: Config) -> Path:
    return cfg.state_path() / FAMILY_DB


def connect(path: Path, runtime: Path | None = None) -> sqlite3.Connection:
    """The family database at `path`, created (with an older `runtime` store's rows moved in)
    when new. An unreadable file is moved aside, not deleted: a parent's records may be
    recovered from it by hand, and the filter keeps running on a new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _connect(path, runtime)
    except StoreError:
        raise
    except sqlite3.DatabaseError as e:
        aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        log.error("%s is unreadable (%s): moved to %s, starting a new one", path, e, aside)
        for suffix in ("", "-journal"):
            if Path(f"{path}{suffix}").exists():
                os.replace(f"{path}{suffix}", f"{aside}{suffix}")
        return _connect(path, None)


def checked_version(db: sqlite3.Connection, path: Path, known: int) -> int:
    """The database's schema version, after refusing a newer one than `known` (StoreError) and
    an unreadable one (sqlite3.DatabaseError, which the caller sets aside)."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > known:
        raise StoreError(f"{path} has schema version {version}, newer than this dnsfilter knows "
                         f"({known}); not touching it")
    check = db.execute("PRAGMA quick_check").fetchone()[0]
    if check != "ok":
        raise sqlite3.DatabaseError(f"integrity check failed: {check}")
    return version


def _connect(path: Path, runtime: Path | None) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=5.0, check_same_thread=False, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=DELETE")
        version = checked_version(db, path, VERSION)
        if version < VERSION:
            _create(db, runtime if runtime is not None and runtime.exists() else None)
        return db
    except BaseException:
        db.close()
        raise


def _create(db: sqlite3.Connection, runtime: Path | None) -> None:
    if runtime is not None:
        try:
            db.execute("ATTACH DATABASE ? AS rt", (str(runtime),))
            db.execute("SELECT count(*) FROM rt.sqlite_master").fetchone()
        except sqlite3.DatabaseError as e:  # an unreadable runtime store: nothing to move (it is set aside itself)
            log.warning("not moving older records from %s: %s", runtime, e)
            if any(r[1] == "rt" for r in db.execute("PRAGMA database_list")):
                db.execute("DETACH DATABASE rt")
            runtime = None
    try:
        db.execute("BEGIN IMMEDIATE")  # two processes opening a new file: one creates, one waits
        try:
            if db.execute("PRAGMA user_version").fetchone()[0] < VERSION:
                for stmt in _SCHEMA:
                    db.execute(stmt)
                moved = _move_from(db) if runtime is not None else 0
                db.execute(f"PRAGMA user_version = {VERSION}")
                if moved:
                    log.info("moved %d parents' and children's records from %s", moved, runtime)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    finally:
        if runtime is not None:
            db.execute("DETACH DATABASE rt")


def _move_from(db: sqlite3.Connection) -> int:
    moved = 0
    for table in TABLES:
        if db.execute("SELECT 1 FROM rt.sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone():
            cols = ", ".join(r[1] for r in db.execute(f"PRAGMA main.table_info({table})"))
            moved += db.execute(f"INSERT INTO main.{table} ({cols}) SELECT {cols} FROM rt.{table}").rowcount
            db.execute(f"DELETE FROM rt.{table}")
    return moved
