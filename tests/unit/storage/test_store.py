"""The device store on a real SQLite file in a temporary directory."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

import pytest

from dnsfilter.storage.store import MAX_IPS, SCHEMA_VERSION, DeviceStore, Observation, StoreError

MAC = "3c:22:fb:01:02:03"


@pytest.fixture
def store(tmp_path: Path) -> DeviceStore:
    s = DeviceStore(tmp_path / "dnsfilter.db")
    yield s
    s.close()


def test_created_with_schema_version_and_wal(tmp_path: Path) -> None:
    path = tmp_path / "dnsfilter.db"
    DeviceStore(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_observe_and_read(store: DeviceStore) -> None:
    n = store.observe_many([
        Observation(MAC, 100.0, mac=MAC, ip="192.168.1.23", profile="Kids", hostname="arus-ipad", vendor="Apple"),
        {"device": "192.168.1.50", "mac": None, "ip": "192.168.1.50", "profile": "Adults", "seen": 105.0,
         "hostname": None, "vendor": None, "random": False},
    ])
    assert n == 2
    d = store.get(MAC.upper())
    assert d is not None
    assert (d.first_seen, d.last_seen, d.ips, d.hostname, d.vendor, d.profile) == \
        (100.0, 100.0, ("192.168.1.23",), "arus-ipad", "Apple", "Kids")
    assert store.get("192.168.1.50").mac is None
    assert store.get("aa:aa:aa:aa:aa:aa") is None
    listed = store.list_devices()
    assert [d["id"] for d in listed] == ["192.168.1.50", MAC]  # most recent first
    assert listed[1]["ips"] == ["192.168.1.23"]


def test_merge_keeps_history(store: DeviceStore) -> None:
    store.observe_many([Observation(MAC, 100.0, mac=MAC, ip="192.168.1.23", hostname="arus-ipad", profile="Kids")])
    # a later batch: new IPv6 address, no hostname known this time, random flag set
    store.observe_many([Observation(MAC, 200.0, mac=MAC, ip="fd00::17", profile="Kids", random=True)])
    d = store.get(MAC)
    assert d.first_seen == 100.0 and d.last_seen == 200.0
    assert d.ips == ("fd00::17", "192.168.1.23")
    assert d.hostname == "arus-ipad" and d.random is True
    # an older sighting arriving late does not move last_seen or the address order
    store.observe_many([Observation(MAC, 150.0, mac=MAC, ip="192.168.1.99", hostname="old-name")])
    d = store.get(MAC)
    assert d.last_seen == 200.0 and d.ips == ("fd00::17", "192.168.1.23", "192.168.1.99")
    assert d.hostname == "arus-ipad"


def test_ips_are_bounded(store: DeviceStore) -> None:
    for i in range(MAX_IPS + 5):
        store.observe_many([Observation(MAC, 100.0 + i, mac=MAC, ip=f"fd00::{i:x}")])
    d = store.get(MAC)
    assert len(d.ips) == MAX_IPS and d.ips[0] == f"fd00::{MAX_IPS + 4:x}"


def test_batch_with_repeats_keeps_every_address_latest_first(store: DeviceStore) -> None:
    store.observe_many([Observation(MAC, 300.0, mac=MAC, ip="10.0.0.3"), Observation(MAC, 200.0, mac=MAC, ip="10.0.0.2")])
    d = store.get(MAC)
    assert d.ips == ("10.0.0.3", "10.0.0.2") and d.last_seen == 300.0 and d.first_seen == 200.0
    assert store.observe_many([]) == 0


def test_device_count_is_bounded(tmp_path: Path) -> None:
    s = DeviceStore(tmp_path / "d.db", max_devices=10)
    s.observe_many([Observation(f"02:00:00:00:00:{i:02x}", float(i), random=True) for i in range(25)])
    ids = [d["id"] for d in s.list_devices()]
    assert len(ids) == 10 and ids[0] == "02:00:00:00:00:18"
    s.close()


def test_set_profile(store: DeviceStore) -> None:
    store.observe_many([Observation(MAC, 1.0, mac=MAC)])
    assert store.set_profile(MAC, "Teens") and store.get(MAC).profile == "Teens"
    assert not store.set_profile("aa:aa:aa:aa:aa:aa", "Teens")


def test_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "dnsfilter.db"
    s = DeviceStore(path)
    s.observe_many([Observation(MAC, 1.0, mac=MAC, hostname="x")])
    s.close()
    s = DeviceStore(path)
    assert s.get(MAC).hostname == "x"
    s.close()


def test_garbage_file_is_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "dnsfilter.db"
    path.write_bytes(b"this is not a database at all\x00" * 200)
    with caplog.at_level(logging.ERROR, logger="dnsfilter.storage.store"):
        s = DeviceStore(path)
    assert "moved to" in caplog.text and "starting a new device store" in caplog.text
    aside = list(tmp_path.glob("dnsfilter.db.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not")
    s.observe_many([Observation(MAC, 1.0, mac=MAC)])
    assert s.get(MAC) is not None
    s.close()


def test_damaged_pages_are_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "dnsfilter.db"
    s = DeviceStore(path)
    s.observe_many([Observation(f"00:16:3e:00:{i // 256:02x}:{i % 256:02x}", float(i), hostname="h" * 50)
                    for i in range(2000)])
    s.close()
    raw = bytearray(path.read_bytes())
    page = 4096
    for off in range(2 * page, len(raw), page):  # scribble over every page after the schema
        raw[off : off + 64] = b"\xff" * 64
    path.write_bytes(bytes(raw))
    s = DeviceStore(path)
    assert list(tmp_path.glob("dnsfilter.db.corrupt-*"))
    assert s.list_devices() == []
    s.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dnsfilter.db"
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StoreError, match="newer than this dnsfilter knows"):
        DeviceStore(path)
    assert path.exists() and not list(tmp_path.glob("*.corrupt-*"))


def test_writes_from_a_worker_thread(store: DeviceStore) -> None:
    t = threading.Thread(target=store.observe_many, args=([Observation(MAC, 5.0, mac=MAC)],))
    t.start()
    t.join()
    assert store.get(MAC).last_seen == 5.0


def test_a_reader_sees_writes_while_open(tmp_path: Path) -> None:
    path = tmp_path / "dnsfilter.db"
    s = DeviceStore(path)
    reader = sqlite3.connect(path)
    s.observe_many([Observation(MAC, 1.0, mac=MAC)])
    assert reader.execute("SELECT count(*) FROM devices").fetchone()[0] == 1
    reader.close()
    s.close()


def test_overrides_are_kept_replaced_pruned_and_bounded(tmp_path):
    from dnsfilter.storage.store import DeviceStore

    s = DeviceStore(tmp_path / "d.db")
    a = s.add_override("device:aa:bb:cc:dd:ee:01", "tiktok.com", "allow", 1000.0, now=100.0)
    b = s.add_override("profile:Kids", "games.example", "block", None, now=100.0)
    again = s.add_override("device:aa:bb:cc:dd:ee:01", "tiktok.com", "allow", 2000.0, now=200.0)
    assert [o.id for o in s.overrides()] == [b.id, again.id] and again.id != a.id  # the later hour replaces
    assert [o.name for o in s.overrides(now=3000.0)] == ["games.example"]  # ended ones do not hold
    assert s.prune_overrides(3000.0) == 1 and len(s.overrides()) == 1
    assert s.remove_override(b.id) and not s.remove_override(b.id)
    for bad in (("nobody", "x.test", "allow"), ("device:x", "x.test", "maybe"), ("device:x", "", "allow")):
        with pytest.raises(ValueError):
            s.add_override(*bad, None)
    s.close()


def test_a_version_1_store_gains_the_overrides_table(tmp_path):
    import sqlite3

    from dnsfilter.storage.store import DeviceStore

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE devices (id TEXT PRIMARY KEY, mac TEXT, first_seen REAL NOT NULL, "
                     "last_seen REAL NOT NULL, ips TEXT NOT NULL, hostname TEXT, vendor TEXT, "
                     "random INTEGER NOT NULL DEFAULT 0, profile TEXT); "
                     "INSERT INTO devices VALUES ('10.0.0.5', NULL, 1, 2, '[\"10.0.0.5\"]', NULL, NULL, 0, NULL);"
                     "PRAGMA user_version = 1;")
    db.close()
    s = DeviceStore(path)
    assert s.get("10.0.0.5") is not None  # the devices are kept
    assert s.add_override("device:10.0.0.5", "x.test", "allow", None).id >= 1
    s.close()
