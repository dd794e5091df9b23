"""The query log's SQLite store on real files: rows and rollups written together, the
dashboard read from rollups, tail filters, retention and the size cap, CSV/JSON export."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dnsfilter.core.logbatch import batch
from dnsfilter.core.querylog import log_info
from dnsfilter.storage.logstore import FILE, LogStore, write_export

NOW = 1_750_000_000.0  # 2025-06-15 15:06:40 UTC; 20:06 in Asia/Almaty (UTC+5)


def rec(ts: float, device: str, name: str, outcome: str = "resolved", profile: str = "Kids",
        category: str = "", feed: str = ""):
    kind = "category" if outcome == "blocked" else ""
    return (ts, "10.0.0." + device[-1], device, log_info(profile, name, 1, outcome, kind, category, feed, ""))


def fill(store: LogStore, records, privacy=None) -> None:
    store.write(batch(records, 0.0, privacy or {}))


@pytest.fixture
def store(tmp_path: Path):
    s = LogStore(tmp_path / FILE)
    yield s
    s.close()


def test_dashboard_comes_from_rollups_written_with_the_rows(store):
    fill(store, [rec(NOW - 60, "dev1", "ads.test", "blocked", category="ads", feed="ads"),
                 rec(NOW - 50, "dev1", "ads.test", "blocked", category="ads", feed="ads"),
                 rec(NOW - 40, "dev2", "porn.test", "blocked", category="adult", feed="adult"),
                 rec(NOW - 30, "dev2", "www.example.test"),
                 rec(NOW - 86400, "dev2", "yesterday.test")])
    s = store.summary(NOW, "Asia/Almaty")
    assert (s["queries"], s["blocked"], s["percent_blocked"]) == (4, 3, 75.0)
    assert s["top_blocked_names"][0] == {"name": "ads.test", "count": 2}
    assert [c["category"] for c in s["top_blocked_categories"]] == ["ads", "adult"]
    assert {d["device"]: (d["queries"], d["blocked"]) for d in s["devices"]} == {"dev1": (2, 2), "dev2": (2, 1)}
    # the rollup, not the rows: deleting every row leaves the dashboard as it was
    store.db.execute("DELETE FROM queries")
    assert store.summary(NOW, "Asia/Almaty")["queries"] == 4


def test_series_24h_and_7d_include_empty_buckets(store):
    fill(store, [rec(NOW - 10, "dev1", "a.test"), rec(NOW - 3 * 3600, "dev1", "b.test", "blocked", category="ads"),
                 rec(NOW - 2 * 86400, "dev1", "c.test"), rec(NOW - 30 * 86400, "dev1", "old.test")])
    h = store.series("24h", NOW, "Asia/Almaty")
    assert len(h) == 24 and h[-1]["queries"] == 1 and h[-4]["blocked"] == 1 and sum(x["queries"] for x in h) == 2
    d = store.series("7d", NOW, "Asia/Almaty")
    assert len(d) == 7 and [x["queries"] for x in d] == [0, 0, 0, 0, 1, 0, 2]
    assert store.series("24h", NOW, "UTC", device="nobody") == [{"start": x["start"], "queries": 0, "blocked": 0}
                                                                 for x in store.series("24h", NOW, "UTC")]
    with pytest.raises(ValueError):
        store.series("1y", NOW)


def test_tail_filters_by_device_name_and_outcome(store):
    fill(store, [rec(NOW - i, f"dev{i % 2}", f"n{i}.example.test", "blocked" if i % 3 == 0 else "resolved")
                 for i in range(30)])
    rows = store.tail(5)
    assert [r["name"] for r in rows] == [f"n{i}.example.test" for i in range(5)]  # newest first
    assert all(r["device"] == "dev1" for r in store.tail(100, device="dev1")) and len(store.tail(100, device="dev1")) == 15
    assert {r["outcome"] for r in store.tail(100, outcome="blocked")} == {"blocked"}
    assert [r["name"] for r in store.tail(10, name="n2")] == [f"n{i}.example.test" for i in (2, *range(20, 29))]
    assert store.tail(10, name="%") == []  # LIKE wildcards in the filter are literal
    assert len(store.tail(100, before=NOW - 9)) == 20  # strictly older: i = 10..29


def test_retention_drops_old_rows_and_rollups(store):
    fill(store, [rec(NOW - 8 * 86400, "dev1", "old.test"), rec(NOW - 100, "dev1", "new.test")])
    assert store.prune(NOW, 7, 1 << 30) == 1
    assert [r["name"] for r in store.tail()] == ["new.test"]
    assert store.db.execute("SELECT count(*) FROM rollup").fetchone()[0] == 1


def test_size_cap_drops_the_oldest_rows_first(store):
    fill(store, [rec(NOW - 10_000 + i * 0.1, "dev1", f"{'x' * 60}{i}.example.test") for i in range(20_000)])
    before = store.used_bytes()
    cap = before // 2
    deleted = store.prune(NOW, 7, cap)
    assert deleted > 0 and store.used_bytes() <= cap
    oldest = store.db.execute("SELECT min(ts) FROM queries").fetchone()[0]
    assert oldest > NOW - 10_000 + deleted * 0.1 - 1  # the oldest went first
    assert store.tail(1)[0]["name"].endswith("19999.example.test")


def test_export_csv_and_json_with_filters(store):
    fill(store, [rec(NOW - 20, "dev1", "a.test"), rec(NOW - 10, "dev2", "b.test", "blocked", category="ads")])
    out = io.StringIO()
    assert write_export(store.export(), out, "csv") == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["name"] for r in rows] == ["a.test", "b.test"] and rows[0]["ts"] == "2025-06-15T15:06:20Z"
    out = io.StringIO()
    write_export(store.export(device="dev2"), out, "json")
    [line] = out.getvalue().splitlines()
    assert json.loads(line)["outcome"] == "blocked"
    out = io.StringIO()
    assert write_export(store.export(since=NOW - 15), out, "json") == 1
    with pytest.raises(ValueError):
        write_export(store.export(), io.StringIO(), "xml")


def test_cli_export(tmp_path: Path):
    data = tmp_path / "var"
    data.mkdir()
    s = LogStore(data / FILE)
    fill(s, [rec(NOW - 20, "dev1", "a.test"), rec(NOW - 10, "dev2", "b.test")])
    s.close()
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[storage]\ndata_dir = "{data}"\n')
    run = [sys.executable, "-m", "dnsfilter", "logs", "export", "-c", str(cfg)]
    p = subprocess.run([*run, "--format", "json", "--device", "dev2"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert [json.loads(x)["name"] for x in p.stdout.splitlines()] == ["b.test"]
    p = subprocess.run([*run, "--since", "2025-06-15T15:06:25+00:00"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and p.stdout.splitlines()[1:] and "b.test" in p.stdout and "a.test" not in p.stdout
    p = subprocess.run([*run, "--since", "yesterday"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2 and "--since" in p.stderr and "Traceback" not in p.stderr


def test_writer_drains_the_engine_ring_under_the_config_privacy(tmp_path: Path):
    import asyncio

    from dnsfilter import config as config_mod
    from dnsfilter.shell.querylog_writer import QueryLogWriter
    from tests.support.engine import CLIENT, ask, make, q

    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text(f'[storage]\ndata_dir = "{tmp_path / "var"}"\nlog_mode = "ram"\n\n'
                        '[[profiles]]\nname = "Default"\nprivacy = "counts"\n\n'
                        '[[profiles]]\nname = "Off"\nprivacy = "off"\n')
    cfg = config_mod.load(str(cfg_file))
    eng = make()
    eng.wall_offset = time.time()  # records carry the monotonic clock (1.0 below); rows the wall clock

    async def run() -> QueryLogWriter:
        w = QueryLogWriter(lambda: cfg, lambda: eng)
        w.start(asyncio.get_running_loop())
        assert eng.qlog.off == frozenset({"Off"})
        ask(eng, q("tracker.test"), 1.0)
        await w.stop()  # ram mode: nothing written until the stop
        return w

    w = asyncio.run(run())
    assert w.answers == {"blocked": 1} and w.written == 0  # counts: no rows
    s = LogStore(tmp_path / "var" / FILE, readonly=True)
    assert s.tail() == []
    [(device, outcome, n)] = s.db.execute("SELECT device, outcome, n FROM rollup").fetchall()
    assert (outcome, n) == ("blocked", 1) and device in (CLIENT, "")
    s.close()
