"""The family's records (overrides, children's requests) live in state_dir/family.db, apart
from the runtime store in data_dir: on a router data_dir is RAM, state_dir flash. They
outlive the loss of data_dir, move over once from an older dnsfilter.db, and the daemon's
routine writes (sightings, budget minutes, pruning with nothing to prune) never touch the
family's file."""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from dnsfilter.storage import family
from dnsfilter.storage.child_requests import RequestStore
from dnsfilter.storage.store import DeviceStore, Observation, StoreError

MAC = "02:aa:bb:cc:dd:01"


def _dirs(tmp_path: Path) -> tuple[Path, Path]:
    ram, flash = tmp_path / "ram", tmp_path / "flash"
    ram.mkdir()
    return ram / family.RUNTIME_DB, flash / family.FAMILY_DB


def _stamp(path: Path) -> tuple[int, int, bytes]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size, path.read_bytes()


def test_the_family_records_outlive_the_runtime_store(tmp_path: Path) -> None:
    runtime, fam = _dirs(tmp_path)
    now = time.time()
    devices = DeviceStore(runtime, family=fam)
    devices.observe_many([Observation(MAC, now, mac=MAC, ip="192.168.1.20")])
    allow = devices.add_override(f"device:{MAC}", "games.example", "allow", now + 3600, now=now)
    devices.close()
    requests = RequestStore(runtime, family=fam)
    asked, _new = requests.create(device=MAC, label="Tablet", profile="Kids", kind="site", name="wiki.example",
                                  now=now)
    requests.record_budget_days([("2026-12-07", MAC, "Kids", "youtube", 30, 60)])
    requests.close()

    shutil.rmtree(runtime.parent)  # a reboot: RAM is empty
    runtime.parent.mkdir()
    devices = DeviceStore(runtime, family=fam)
    requests = RequestStore(runtime, family=fam)
    try:
        assert devices.overrides(now) == [allow] and devices.get(MAC) is None  # seen again, later
        assert requests.get(asked.id) == asked and requests.budget_days("2026-12-01", "2026-12-31") == []
    finally:
        devices.close()
        requests.close()


def test_routine_writes_leave_the_family_file_alone(tmp_path: Path) -> None:
    runtime, fam = _dirs(tmp_path)
    now = time.time()
    devices = DeviceStore(runtime, family=fam)
    devices.add_override("profile:Kids", "games.example", "block", now + 3600, now=now)
    requests = RequestStore(runtime, family=fam)
    requests.create(device=MAC, label="Tablet", profile="Kids", kind="site", name="wiki.example", now=now)
    before = _stamp(fam)
    time.sleep(0.02)  # a write now would move the mtime
    devices.observe_many([Observation(MAC, now + 5, mac=MAC, ip="192.168.1.20")])
    assert devices.prune_overrides(now + 60) == 0  # the daemon's minute tick, nothing expired
    requests.record_budget_days([("2026-12-07", MAC, "Kids", "youtube", 31, 60)])
    assert len(requests.find(now=now + 60)) == 1 and requests.open_count(now + 60) == 1
    assert devices.overrides(now + 60) != []
    devices.close()
    requests.close()
    assert _stamp(fam) == before
    assert sorted(p.name for p in fam.parent.iterdir()) == [family.FAMILY_DB]  # no journal, WAL or shm left


def _old_runtime_store(path: Path, now: float) -> None:
    """dnsfilter.db as versions before family.db wrote it: devices, overrides, requests, budget days."""
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE devices (id TEXT PRIMARY KEY, mac TEXT, first_seen REAL NOT NULL, last_seen REAL NOT NULL,
            ips TEXT NOT NULL, hostname TEXT, vendor TEXT, random INTEGER NOT NULL DEFAULT 0, profile TEXT);
        CREATE INDEX devices_last_seen ON devices(last_seen);
        CREATE TABLE overrides (id INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL, name TEXT NOT NULL,
            action TEXT NOT NULL, until REAL, created REAL NOT NULL, source TEXT NOT NULL DEFAULT 'admin');
        CREATE TABLE requests (id INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL, label TEXT NOT NULL,
            profile TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, reason TEXT NOT NULL,
            category TEXT NOT NULL, wanted TEXT NOT NULL, state TEXT NOT NULL, created REAL NOT NULL,
            answered REAL, answered_by TEXT, duration TEXT, until REAL, scope TEXT);
        CREATE TABLE budget_days (day TEXT NOT NULL, device TEXT NOT NULL, profile TEXT NOT NULL,
            item TEXT NOT NULL, used INTEGER NOT NULL, limit_min INTEGER NOT NULL,
            PRIMARY KEY (day, device, item)) WITHOUT ROWID;
        PRAGMA user_version = 2;
    """)
    db.execute("INSERT INTO devices VALUES (?,?,?,?,?,?,?,?,?)", (MAC, MAC, now, now, "[]", None, None, 0, "Kids"))
    db.execute("INSERT INTO overrides VALUES (7, ?, 'games.example', 'allow', ?, ?, 'request:3')",
               (f"device:{MAC}", now + 3600, now))
    db.execute("INSERT INTO requests VALUES (3, ?, 'Tablet', 'Kids', 'site', 'games.example', '', 'games', '1h', "
               "'approved', ?, ?, 'admin', '1h', ?, 'device')", (MAC, now, now, now + 3600))
    db.execute("INSERT INTO budget_days VALUES ('2026-12-07', ?, 'Kids', 'youtube', 20, 60)", (MAC,))
    db.commit()
    db.close()


def test_an_older_runtime_store_moves_its_family_records_once(tmp_path: Path) -> None:
    runtime, fam = _dirs(tmp_path)
    now = time.time()
    _old_runtime_store(runtime, now)
    devices = DeviceStore(runtime, family=fam)
    [o] = devices.overrides(now)
    assert (o.id, o.name, o.source) == (7, "games.example", "request:3")  # ids kept: requests name them
    devices.close()
    requests = RequestStore(runtime, family=fam)
    r = requests.get(3)
    assert r is not None and (r.state, r.until) == ("approved", now + 3600)
    assert requests.budget_days("2026-12-07", "2026-12-07") == [("2026-12-07", MAC, "Kids", "youtube", 20, 60)]
    requests.close()
    old = sqlite3.connect(runtime)
    assert old.execute("SELECT count(*) FROM overrides").fetchone()[0] == 0  # moved, not copied
    assert old.execute("SELECT count(*) FROM requests").fetchone()[0] == 0
    assert old.execute("SELECT count(*) FROM devices").fetchone()[0] == 1  # the runtime's own rows stay
    old.close()
    again = DeviceStore(runtime, family=fam)  # a second open moves nothing twice
    assert len(again.overrides(now)) == 1
    again.close()


def test_an_unreadable_family_file_is_set_aside_and_the_runtime_one_is_not(tmp_path: Path) -> None:
    runtime, fam = _dirs(tmp_path)
    fam.parent.mkdir()
    fam.write_bytes(b"this is not a database, " * 200)
    devices = DeviceStore(runtime, family=fam)
    devices.observe_many([Observation(MAC, time.time(), mac=MAC)])
    assert devices.overrides() == []
    devices.add_override("profile:Kids", "games.example", "block", None)
    devices.close()
    assert len(list(fam.parent.glob(f"{family.FAMILY_DB}.corrupt-*"))) == 1
    assert not list(runtime.parent.glob("*.corrupt-*"))
    assert DeviceStore(runtime, family=fam).get(MAC) is not None


def test_an_unreadable_runtime_store_does_not_cost_the_family_records(tmp_path: Path) -> None:
    runtime, fam = _dirs(tmp_path)
    keep = DeviceStore(runtime, family=fam)
    keep.add_override("profile:Kids", "games.example", "block", None)
    keep.close()
    for p in runtime.parent.iterdir():
        p.unlink()
    runtime.write_bytes(b"garbage " * 500)
    devices = DeviceStore(runtime, family=fam)  # the runtime store is set aside and begun again
    try:
        assert [o.name for o in devices.overrides()] == ["games.example"]
    finally:
        devices.close()


def test_a_newer_family_schema_is_not_touched(tmp_path: Path) -> None:
    runtime, fam = _dirs(tmp_path)
    fam.parent.mkdir()
    db = sqlite3.connect(fam)
    db.execute(f"PRAGMA user_version = {family.VERSION + 1}")
    db.close()
    before = _stamp(fam)
    devices = DeviceStore(runtime, family=fam)
    with pytest.raises(StoreError, match="newer than this dnsfilter knows"):
        devices.overrides()
    devices.close()
    assert _stamp(fam) == before and os.path.exists(fam)
