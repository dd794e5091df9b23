"""`dnsfilter authority selftest` against the real daemon: every entry of an authority list (a
registry dump and a plain list) is asked over DNS and must come back blocked with EDE 16 naming
the list, its version and its legal basis; a daemon still answering with an older version misses
the entries added since (exit 1, and they are probed even in sample mode); a legal basis the
daemon does not send is a miss; hashed lists are said to be unprobeable unless they ship probe
names; results reach the audit log (counts, never names) and the metrics; the daemon runs it on
its own schedule; the rate bound holds."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dnsfilter.authority import audit
from tests.support.daemon import REPO, DaemonProcess
from tests.support.paths import REPO as ROOT

pytestmark = pytest.mark.integration

SAMPLE = ROOT / "tests" / "data" / "registry" / "sample.xml"


def config(tmp_path: Path, extra: str = "") -> str:
    shutil.copy(SAMPLE, tmp_path / "registry.xml")
    (tmp_path / "gov.txt").write_text("".join(f"gov{i}.example\n" for i in range(40)))
    return ('[dns]\nlisten = ["127.0.0.1:{port}"]\nupstreams = ["127.0.0.1:9"]\nupstream_timeout = 0.2\n\n'
            '[[feeds]]\nname = "registry"\nurl = "registry.xml"\nformat = "registry-xml"\ncategory = "authority"\n'
            'legal_basis = "Federal Law 149-FZ, art. 15.1 — Федеральный закон"\n'
            'appeal_url = "https://appeal.example/"\n\n'
            '[[feeds]]\nname = "gov"\nurl = "gov.txt"\nformat = "domains"\ncategory = "authority"\n'
            'legal_basis = "Decree 7"\nmax_shrink = 1.0\n' + extra)


def selftest(d: DaemonProcess, *args: str) -> tuple[int, dict]:
    done = subprocess.run([sys.executable, "-m", "dnsfilter", "authority", "selftest", "-c", str(d.config_path),
                           "--json", *args], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return done.returncode, json.loads(done.stdout)


def by_feed(out: dict) -> dict[str, dict]:
    return {f["feed"]: f for f in out["feeds"]}


def test_every_entry_is_blocked_with_ede_16_and_the_legal_basis(tmp_path: Path) -> None:
    d = DaemonProcess(tmp_path, config(tmp_path)).start()
    try:
        code, out = selftest(d, "--all")
        assert code == 0 and out["ok"] and out["misses"] == 0, out
        f = by_feed(out)
        assert f["registry"]["entries_probed"] == 6 and f["registry"]["misses"] == 0  # the sample's 6 names
        assert f["registry"]["networks"] == 4  # its networks: counted, not probed (no name is known in them)
        assert f["gov"]["entries_probed"] == 40 and f["gov"]["version"] == f["gov"]["version"][:12]
        assert list(f["gov"]["versions_seen"]) == [f"gov {f['gov']['version']}"]
        assert f["gov"]["fetch_to_effective"] is not None and f["gov"]["fetch_to_effective"] >= 0
        # the audit log has the run, by counts; no name of the lists is written in it
        log = (tmp_path / "var" / audit.FILE).read_text()
        assert '"event":"selftest"' in log and "gov1.example" not in log and "casino" not in log
        metrics = subprocess.run([sys.executable, "-m", "dnsfilter", "ctl", "metrics", "-c", str(d.config_path)],
                                 cwd=REPO, capture_output=True, text=True, timeout=30).stdout
        assert f'dnsfilter_authority_list_selftest_misses{{feed="gov",version="{f["gov"]["version"]}"}} 0' in metrics
        assert 'dnsfilter_authority_list_entries{feed="registry"} 6' in metrics
        assert 'dnsfilter_authority_list_serial{feed="gov"' in metrics
    finally:
        assert d.stop() == 0


def test_a_daemon_behind_the_list_misses_the_added_entries_until_it_reloads(tmp_path: Path) -> None:
    d = DaemonProcess(tmp_path, config(tmp_path)).start()
    try:
        # a new version on disk, compiled by a sync, which the daemon has not taken yet
        (tmp_path / "gov.txt").write_text("".join(f"gov{i}.example\n" for i in range(40))
                                          + "".join(f"new{i}.example\n" for i in range(5)))
        sync = subprocess.run([sys.executable, "-m", "dnsfilter", "feeds", "sync", "-c", str(d.config_path),
                               "--feed", "gov"], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert sync.returncode == 0, sync.stdout
        code, out = selftest(d, "--sample", "3", "--seed", "7")
        gov = by_feed(out)["gov"]
        assert code == 1 and not out["ok"]
        assert gov["added_probed"] == 5 and gov["entries_probed"] == 8  # the sample, plus every added entry
        assert gov["misses"] == 5 and sorted(gov["miss_examples"]) == [f"new{i}.example" for i in range(5)]
        assert gov["fetch_to_effective"] is None  # this version is not in force yet
        text = subprocess.run([sys.executable, "-m", "dnsfilter", "authority", "selftest", "-c",
                               str(d.config_path), "--sample", "3"], cwd=REPO, capture_output=True, text=True,
                              timeout=120)
        assert text.returncode == 1 and "MISS: new0.example" in text.stdout
        reload = subprocess.run([sys.executable, "-m", "dnsfilter", "ctl", "reload", "-c", str(d.config_path)],
                                cwd=REPO, capture_output=True, text=True, timeout=30)
        assert reload.returncode == 0
        code, out = selftest(d, "--sample", "3", "--seed", "7")
        gov = by_feed(out)["gov"]
        assert code == 0 and gov["misses"] == 0 and gov["added_probed"] == 5
        assert gov["fetch_to_effective"] is not None and gov["fetch_to_effective"] > 0
    finally:
        assert d.stop() == 0
    recs = list(audit.records(tmp_path / "var" / audit.FILE))
    gov_events = [(r["event"], r.get("version")) for r in recs if r.get("feed") == "gov"]
    versions = [v for e, v in gov_events if e == "fetched"]
    assert len(versions) == 2 and ("effective", versions[1]) in gov_events
    assert gov_events.index(("fetched", versions[1])) < gov_events.index(("effective", versions[1]))
    assert audit.verify(tmp_path / "var" / audit.FILE).ok


def test_a_legal_basis_the_daemon_does_not_send_is_a_miss(tmp_path: Path) -> None:
    d = DaemonProcess(tmp_path, config(tmp_path)).start()
    try:
        # the config now says another legal basis, but the running daemon was not reloaded
        d.config_path.write_text(d.config_path.read_text().replace('legal_basis = "Decree 7"', 'legal_basis = "Decree 8"'))
        code, out = selftest(d, "--all")
        f = by_feed(out)
        assert code == 1 and f["gov"]["misses"] == 40 and f["registry"]["misses"] == 0
    finally:
        assert d.stop() == 0


def test_hashed_lists_need_probe_names(tmp_path: Path) -> None:
    import hashlib

    digests = "".join(hashlib.sha256(f"secret{i}.example".encode()).hexdigest() + "\n" for i in range(5))
    (tmp_path / "hashed.txt").write_text(digests)
    (tmp_path / "probed.txt").write_text("# probe: secret0.example\n# probe: secret1.example\n" + digests)
    extra = "".join(f'\n[[feeds]]\nname = "{n}"\nurl = "{n}.txt"\nformat = "sha256"\ncategory = "authority"\n'
                    for n in ("hashed", "probed"))
    d = DaemonProcess(tmp_path, config(tmp_path, extra)).start()
    try:
        code, out = selftest(d, "--all")
        f = by_feed(out)
        assert code == 0
        assert f["hashed"]["entries_probed"] == 0 and "cannot be probed" in f["hashed"]["note"]
        assert f["probed"]["entries_probed"] == 2 and f["probed"]["misses"] == 0
        assert f["probed"]["miss_examples"] == []
    finally:
        assert d.stop() == 0


def test_the_rate_bound_holds_and_loopback_is_the_default(tmp_path: Path) -> None:
    d = DaemonProcess(tmp_path, config(tmp_path)).start()
    try:
        t0 = time.monotonic()
        code, out = selftest(d, "--all", "--rate", "20")  # 46 names at 20 a second: at least ~2.2 s
        assert code == 0 and out["server"] == f"127.0.0.1:{d.port}"
        assert time.monotonic() - t0 >= 45 / 20
        lan = tmp_path / "lan.toml"  # a router answering on its LAN addresses only
        lan.write_text('[dns]\nlisten = ["lan:53"]\nupstreams = ["127.0.0.1:9"]\n[[feeds]]\nname = "g"\n'
                       'url = "gov.txt"\ncategory = "authority"\n')
        done = subprocess.run([sys.executable, "-m", "dnsfilter", "authority", "selftest", "-c", str(lan)],
                              cwd=REPO, capture_output=True, text=True, timeout=30)
        assert done.returncode == 2 and "no loopback address" in done.stderr
    finally:
        assert d.stop() == 0


def test_the_daemon_runs_the_selftest_on_its_schedule(tmp_path: Path) -> None:
    d = DaemonProcess(tmp_path, config(tmp_path, '\n[authority]\nselftest_interval = "2s"\nselftest_sample = 5\n'))
    d.start()
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            runs = [r for r in audit.records(tmp_path / "var" / audit.FILE) if r["event"] == "selftest"]
            if len({r["feed"] for r in runs}) == 2 and "authority self-test: no misses" in d.log():
                break
            time.sleep(0.3)
        else:
            pytest.fail("no scheduled self-test:\n" + d.log())
        assert all(r["misses"] == 0 and r["mode"].startswith("sample 5") for r in runs)
        assert "authority self-test: no misses" in d.log()
    finally:
        assert d.stop() == 0


def test_a_list_taken_out_of_force_is_withdrawn_in_the_audit_log(tmp_path: Path) -> None:
    d = DaemonProcess(tmp_path, config(tmp_path)).start()
    try:
        d.config_path.write_text(d.config_path.read_text().replace('name = "gov"\n', 'name = "gov"\nenabled = false\n'))
        assert subprocess.run([sys.executable, "-m", "dnsfilter", "ctl", "reload", "-c", str(d.config_path)],
                              cwd=REPO, capture_output=True, timeout=30).returncode == 0
        assert not d.query("gov1.example").answer or "0.0.0.0" not in d.query("gov1.example").to_text()
    finally:
        assert d.stop() == 0
    recs = [(r["event"], r.get("feed"), r.get("reason")) for r in audit.records(tmp_path / "var" / audit.FILE)]
    assert ("effective", "gov", "start") in recs and ("withdrawn", "gov", "reload") in recs
    assert recs.index(("effective", "gov", "start")) < recs.index(("withdrawn", "gov", "reload"))
