"""feeds.sync: fetch → verify → compile aside → safety checks → promote, against a local HTTP
server on 127.0.0.1 (port 0). Every failure must keep the last good compiled set in force."""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from dnsfilter import cli
from dnsfilter import config as config_mod
from dnsfilter.config import ConfigError
from dnsfilter.shell.lists import load_matcher, missing_remote
from feeds.compile_rules import compile_feed, load_feed
from feeds.sync import (
    FIRST_SYNC_DELAY,
    RETRY_AFTER_FAILURE,
    FeedStatus,
    _examples,
    due_feeds,
    jitter,
    next_due,
    set_path,
    status_path,
    sync_feed,
    verify_minisign,
)
from tests.support.feedserver import (
    FAST,
    FeedServer,
    Route,
    blocks,
    feed_cfg,
    in_force,
    make_cfg,
    names,
    sync,
)
from tests.support.signing import new_signer

# ------------------------------------------------------------------ fetch outcomes


def test_first_sync_then_304_keeps_the_set(server: FeedServer, session: requests.Session, tmp_path: Path) -> None:
    server.routes["/l"] = Route(names("a", 100), etag='"v1"')
    cfg = feed_cfg(tmp_path, server.url("/l"))
    st = sync(cfg, session)
    assert (st.result, st.error, st.entries, st.etag) == ("new", "", 100, '"v1"')
    digest, mtime = in_force(cfg), set_path(cfg, cfg.feeds[0]).stat().st_mtime_ns
    st2 = sync_feed(cfg, cfg.feeds[0], session=session, fetch_options=FAST, now=time.time() + 60)
    assert st2.result == "unchanged" and st2.entries == 100
    assert server.codes("/l") == [200, 304]
    assert in_force(cfg) == digest and set_path(cfg, cfg.feeds[0]).stat().st_mtime_ns == mtime
    assert st2.last_success > st.last_success and st2.last_change == st.last_change


def test_a_set_the_status_does_not_describe_is_downloaded_again(server: FeedServer, session: requests.Session,
                                                                 tmp_path: Path) -> None:
    # A sync killed after promoting its set but before writing its status leaves the old
    # status (and its ETag) beside another set: that ETag must not make the server's 304
    # keep the wrong set in force for good.
    server.routes["/l"] = Route(names("b", 100), etag='"b"')
    cfg = feed_cfg(tmp_path, server.url("/l"))
    assert sync(cfg, session).result == "new"
    src = tmp_path / "a.txt"
    src.write_bytes(names("a", 100))
    compile_feed(src, "domains", set_path(cfg, cfg.feeds[0]))  # the killed sync's set, status untouched
    assert blocks(cfg, "a1.example.com")
    st = sync(cfg, session)
    assert (st.result, st.etag) == ("new", '"b"') and server.codes("/l") == [200, 200]
    assert blocks(cfg, "b1.example.com") and not blocks(cfg, "a1.example.com")


def test_changed_feed_replaces_the_set(server: FeedServer, session: requests.Session, tmp_path: Path) -> None:
    server.routes["/l"] = Route(names("a", 100), etag='"v1"')
    cfg = feed_cfg(tmp_path, server.url("/l"))
    sync(cfg, session)
    server.routes["/l"] = Route(names("a", 100) + b"new.example.org\n", etag='"v2"')
    st = sync(cfg, session)
    assert (st.result, st.entries, st.etag) == ("new", 101, '"v2"')
    assert blocks(cfg, "x.new.example.org") and not blocks(cfg, "other.example.org")


@pytest.mark.parametrize("route,why", [
    (Route(b"", status=404), "HTTP 404"),
    (Route(names("b", 500), truncate=True), "cannot fetch"),
    (Route(names("b", 500), slow=3.0), "timeout"),
    (Route(names("b", 5000)), "cap"),  # about 90 KB against max_bytes = 64KB
])
def test_failures_keep_the_last_good_set(server: FeedServer, session: requests.Session, tmp_path: Path,
                                         route: Route, why: str) -> None:
    server.routes["/l"] = Route(names("a", 100), etag='"v1"')
    cfg = feed_cfg(tmp_path, server.url("/l"), 'max_bytes = "64KB"')
    good = sync(cfg, session)
    before = in_force(cfg)
    server.routes["/l"] = route
    st = sync(cfg, session)
    assert st.result == "failed" and why in st.error and "keeping the last good version" in st.error
    assert in_force(cfg) == before and st.entries == 100
    assert st.last_success == good.last_success and st.etag == '"v1"'
    on_disk = json.loads(status_path(cfg, cfg.feeds[0]).read_text())
    assert on_disk["error"] == st.error and on_disk["result"] == "failed"
    assert not [p.name for p in set_path(cfg, cfg.feeds[0]).parent.iterdir() if p.name.endswith((".part", ".new"))]
    # after a failure validators are not sent: the next sync downloads in full and recovers
    server.routes["/l"] = Route(names("a", 100), etag='"v1"')
    assert sync(cfg, session).result in ("new", "unchanged")
    assert server.codes("/l")[-1] == 200


def test_shrink_beyond_max_shrink_is_rejected(server: FeedServer, session: requests.Session, tmp_path: Path) -> None:
    server.routes["/l"] = Route(names("a", 100), etag='"v1"')
    cfg = feed_cfg(tmp_path, server.url("/l"))
    sync(cfg, session)
    server.routes["/l"] = Route(names("a", 40), etag='"v2"')
    st = sync(cfg, session)
    assert st.result == "rejected" and "shrank from 100 to 40" in st.error and "max_shrink = 0.5" in st.error
    assert len(load_feed(set_path(cfg, cfg.feeds[0]))) == 100 and st.entries == 100
    server.routes["/l"] = Route(names("a", 60), etag='"v3"')  # 40 % smaller: within the default 50 %
    assert sync(cfg, session).result == "new"
    assert len(load_feed(set_path(cfg, cfg.feeds[0]))) == 60


def test_min_entries_rejects_even_a_first_version(server: FeedServer, session: requests.Session,
                                                  tmp_path: Path) -> None:
    server.routes["/l"] = Route(names("a", 10))
    cfg = feed_cfg(tmp_path, server.url("/l"), "min_entries = 50")
    st = sync(cfg, session)
    assert st.result == "rejected" and "below min_entries = 50" in st.error
    assert not set_path(cfg, cfg.feeds[0]).exists()
    assert "f" not in load_matcher(cfg).sets
    server.routes["/l"] = Route(names("a", 50))
    assert sync(cfg, session).result == "new"


def test_remote_feeds_are_not_downloaded_on_load(server: FeedServer, tmp_path: Path) -> None:
    server.routes["/l"] = Route(names("a", 10))
    cfg = feed_cfg(tmp_path, server.url("/l"))
    assert missing_remote(cfg) == [cfg.feeds[0]]
    assert "f" not in load_matcher(cfg).sets
    assert server.log == []


def test_local_feed_recompiles_only_when_its_file_or_settings_change(tmp_path: Path) -> None:
    src = tmp_path / "list.txt"
    src.write_bytes(names("a", 20))
    cfg = feed_cfg(tmp_path, "list.txt")
    assert sync_feed(cfg, cfg.feeds[0]).result == "new"
    assert sync_feed(cfg, cfg.feeds[0]).result == "unchanged"
    src.write_bytes(names("a", 25))
    assert sync_feed(cfg, cfg.feeds[0]).entries == 25
    cfg2 = feed_cfg(tmp_path, "list.txt", fmt="auto")  # same file, other settings: recompiled
    assert sync_feed(cfg2, cfg2.feeds[0]).result == "new"
    assert "f" in load_matcher(cfg).sets


def test_unknown_format_fails_and_keeps_nothing_half_written(tmp_path: Path) -> None:
    (tmp_path / "list.txt").write_text("??? !!!\n")
    cfg = feed_cfg(tmp_path, "list.txt", fmt="auto")
    st = sync_feed(cfg, cfg.feeds[0])
    assert st.result == "failed" and st.error
    assert not set_path(cfg, cfg.feeds[0]).exists()


# ------------------------------------------------------------------ status


def test_status_json_fields_and_skipped_examples(tmp_path: Path) -> None:
    (tmp_path / "list.adb").write_text("! comment\n||ads.example^\n@@||ok.ads.example^\nexample.org##.banner\n"
                                       "||x.example^$third-party\n/banner/ad.gif\n")
    (tmp_path / "list.txt").write_text("good.example\nbad_name..example\nother.example\n256.1.1\n")
    cfg = make_cfg(tmp_path, '[[feeds]]\nname = "f"\nurl = "list.adb"\nformat = "adblock"\n'
                             '[[feeds]]\nname = "g"\nurl = "list.txt"\n')
    sync_feed(cfg, cfg.feeds[0])
    data = json.loads(status_path(cfg, cfg.feeds[0]).read_text())
    for key in ("last_attempt", "last_success", "entries", "rules", "exceptions", "invalid",
                "first_invalid_lines", "skipped", "skipped_examples", "bytes", "etag", "last_modified",
                "duration", "error", "hashed"):
        assert key in data, key
    assert data["exceptions"] == 1 and data["hashed"] is False and data["error"] == ""
    assert data["skipped"] >= 2 and [5, "||x.example^$third-party"] in data["skipped_examples"]
    assert data["bytes"] == (tmp_path / "list.adb").stat().st_size and data["result"] == "new"
    g = sync_feed(cfg, cfg.feeds[1])
    assert (g.format, g.entries, g.invalid, g.first_invalid_lines) == ("domains", 2, 2, [2, 4])


def test_hashed_feed_status_holds_no_name(tmp_path: Path) -> None:
    secret = ["secret-one.example", "secret-two.example"]
    body = "".join(hashlib.sha256(n.encode()).hexdigest() + "\n" for n in secret)
    (tmp_path / "list.sha").write_text(body + "cleartext-leak.example\n")
    cfg = feed_cfg(tmp_path, "list.sha", fmt="sha256")
    st = sync_feed(cfg, cfg.feeds[0])
    assert st.hashed and st.entries == 2 and st.invalid == 1
    text = status_path(cfg, cfg.feeds[0]).read_text()
    assert "secret" not in text and "cleartext-leak" not in text
    # skipped examples of a hashed feed are line numbers only; of a clear feed, line and text
    src = set_path(cfg, cfg.feeds[0]).with_suffix(".src")
    fake = SimpleNamespace(first_skipped_lines=[3, 1])
    assert _examples(src, fake, hashed=True) == [[1], [3]]
    assert _examples(src, fake, hashed=False) == [[1, body.split()[0]], [3, "cleartext-leak.example"]]


# ------------------------------------------------------------------ signatures



@pytest.mark.parametrize("prehashed", [True, False], ids=["ED-prehashed", "Ed-legacy"])
def test_signed_feed(server: FeedServer, session: requests.Session, tmp_path: Path, prehashed: bool) -> None:
    signer = new_signer()
    pub = signer.public_key
    body = names("a", 100)
    server.routes["/l"] = Route(body)
    server.routes["/l.minisig"] = Route(signer.sign(body, prehashed=prehashed).encode())
    cfg = feed_cfg(tmp_path, server.url("/l"), f'signature_url = "{server.url("/l.minisig")}"\npublic_key = "{pub}"')
    st = sync(cfg, session)
    assert st.result == "new" and st.key_id == signer.key_id_hex
    before = in_force(cfg)
    # the feed changes but the signature is the old one: rejected, old set kept
    server.routes["/l"] = Route(body + b"evil.example.com\n")
    st = sync(cfg, session)
    assert st.result == "failed" and "signature does not verify" in st.error
    assert in_force(cfg) == before
    # signed by another key (another key id): rejected too
    server.routes["/l.minisig"] = Route(new_signer().sign(body + b"evil.example.com\n", prehashed=prehashed).encode())
    st = sync(cfg, session)
    assert st.result == "failed" and "another key" in st.error and in_force(cfg) == before


def test_tampered_trusted_comment_is_rejected(tmp_path: Path) -> None:
    signer = new_signer()
    pub = signer.public_key
    data = tmp_path / "f"
    data.write_bytes(b"x.example\n")
    sig = signer.sign(data.read_bytes())
    assert verify_minisign(data, sig, pub) == signer.key_id_hex
    with pytest.raises(ValueError, match="does not verify"):
        verify_minisign(data, sig.replace("timestamp:1700000000", "timestamp:1900000000"), pub)
    with pytest.raises(ValueError, match="minisign format"):
        verify_minisign(data, "untrusted comment: x\nnot base64!\n", pub)


def test_missing_cryptography_fails_the_feed_clearly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.asymmetric.ed25519", None)
    (tmp_path / "list.txt").write_bytes(names("a", 5))
    (tmp_path / "list.txt.minisig").write_text("untrusted comment: x\n")
    pub = base64.b64encode(b"Ed" + bytes(40)).decode()
    cfg = feed_cfg(tmp_path, "list.txt", f'signature_url = "list.txt.minisig"\npublic_key = "{pub}"')
    st = sync_feed(cfg, cfg.feeds[0])
    assert st.result == "failed" and "'cryptography'" in st.error and "not installed" in st.error
    assert not set_path(cfg, cfg.feeds[0]).exists()


# ------------------------------------------------------------------ schedule


def test_schedule_first_sync_interval_jitter_and_retry(tmp_path: Path) -> None:
    cfg = make_cfg(tmp_path, '[[feeds]]\nname = "r"\nurl = "http://127.0.0.1:9/x"\ninterval = "1h"\n'
                             '[[feeds]]\nname = "l"\nurl = "l.txt"\ninterval = "30m"\n'
                             '[[feeds]]\nname = "off"\nurl = "http://127.0.0.1:9/y"\nenabled = false\n')
    remote, local, _ = cfg.feeds
    started = 1_000_000.0
    assert next_due(cfg, remote, started) == started + FIRST_SYNC_DELAY
    assert 0.9 * 1800 <= next_due(cfg, local, started) - started <= 1.1 * 1800
    due, wake = due_feeds(cfg, started + FIRST_SYNC_DELAY, started)
    assert due == [remote] and wake > started + FIRST_SYNC_DELAY
    ok = FeedStatus("r", result="unchanged", last_attempt=started + 5)
    assert 0.9 * 3600 <= next_due(cfg, remote, started, ok) - ok.last_attempt <= 1.1 * 3600
    failed = FeedStatus("r", result="failed", last_attempt=started + 5)
    assert next_due(cfg, remote, started, failed) - failed.last_attempt <= 1.1 * min(3600, RETRY_AFTER_FAILURE)
    factors = {round(jitter(remote, started + i), 6) for i in range(50)}
    assert len(factors) > 40 and all(0.9 <= f <= 1.1 for f in factors)
    assert jitter(remote, 5.0) == jitter(remote, 5.0) != jitter(local, 5.0)


# ------------------------------------------------------------------ command line


def test_cli_sync_exit_codes_and_status(server: FeedServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setattr("feeds.sync.FETCH_DEFAULTS", dict(FAST))
    server.routes["/good"] = Route(names("a", 30))
    (tmp_path / "config.toml").write_text(
        f'[storage]\ndata_dir = "var"\n[[feeds]]\nname = "good"\nurl = "{server.url("/good")}"\n'
        f'[[feeds]]\nname = "gone"\nurl = "{server.url("/gone")}"\n')
    conf = str(tmp_path / "config.toml")
    assert cli.main(["feeds", "sync", "-c", conf, "--feed", "good"]) == 0
    assert cli.main(["feeds", "sync", "-c", conf]) == 1
    out = capsys.readouterr().out
    assert "good: 30 entries" in out and "gone: FAILED: HTTP 404" in out
    assert cli.main(["feeds", "status", "-c", conf, "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["good"]["entries"] == 30 and rows["good"]["error"] == ""
    assert "HTTP 404" in rows["gone"]["error"] and rows["gone"]["last_success"] == 0
    with pytest.raises(SystemExit) as e:
        cli.main(["feeds", "sync", "-c", conf, "--feed", "nope"])
    assert e.value.code == 2


# ------------------------------------------------------------------ config keys


def test_feed_config_keys() -> None:
    pub = base64.b64encode(b"Ed" + bytes(40)).decode()
    cfg = config_mod.from_dict({"feeds": [{
        "name": "reg", "url": "dump.csv", "format": "csv", "category": "authority", "ede": 16,
        "interval": "30m", "max_shrink": 0.2, "min_entries": 10, "max_bytes": "8MB",
        "signature_url": "dump.csv.minisig", "public_key": pub, "delimiter": ";", "encoding": "cp1251",
        "skip_lines": 1, "columns": {"domain": 2, "url": 3}, "url_policy": "host"}]})
    f = cfg.feeds[0]
    assert (f.ede, f.interval, f.max_shrink, f.min_entries, f.max_bytes) == (16, 1800.0, 0.2, 10, 8 << 20)
    assert f.compile_options() == {"delimiter": ";", "encoding": "cp1251", "skip_lines": 1,
                                   "columns": {"domain": 2, "url": 3}, "url_policy": "host"}
    d = config_mod.from_dict({"feeds": [{"name": "x", "url": "https://e.test/l"}]}).feeds[0]
    assert (d.interval, d.max_shrink, d.min_entries, d.max_bytes, d.remote) == (86400.0, 0.5, 0, 64 << 20, True)
    assert config_mod.from_dict({"feeds": [{"name": "x", "url": "l", "interval": "1s"}]}).feeds[0].interval == 1.0


@pytest.mark.parametrize("extra,key,why", [
    ({"ede": 18}, "ede", "15"),
    ({"interval": "soon"}, "interval", "duration"),
    ({"interval": "0s"}, "interval", "between"),
    ({"max_shrink": 1.5}, "max_shrink", "between"),
    ({"min_entries": -1}, "min_entries", "between"),
    ({"max_bytes": "lots"}, "max_bytes", "size"),
    ({"signature_url": "x.minisig"}, "public_key", "together"),
    ({"signature_url": "s", "public_key": "bm90IGEga2V5"}, "public_key", "minisign"),
    ({"format": "csv", "columns": {"url": 3}}, "columns.domain", "domain"),
    ({"format": "csv", "columns": {"domain": 2, "ip": 1}}, "columns.ip", "unknown"),
    ({"format": "csv", "delimiter": ";;"}, "delimiter", "one character"),
    ({"format": "csv", "encoding": "klingon"}, "encoding", "unknown encoding"),
    ({"format": "csv", "url_policy": "page"}, "url_policy", "skip"),
    ({"format": "hosts", "skip_lines": 1}, "skip_lines", "csv"),
    ({"catalog": "hagezi-pro"}, "catalog", "not both"),
    ({"refresh": "1h"}, "refresh", "unknown key"),
])
def test_feed_config_errors_name_the_key(extra: dict[str, object], key: str, why: str) -> None:
    with pytest.raises(ConfigError) as e:
        config_mod.from_dict({"feeds": [{"name": "x", "url": "l.txt", **extra}]})
    assert e.value.key == f"feeds[0].{key}" and why in e.value.why


def test_feed_ede_reaches_the_policy(tmp_path: Path) -> None:
    from dnsfilter.assemble import feed_infos
    from dnsfilter.core.model import Ede

    (tmp_path / "l.txt").write_text("x.example\n")
    cfg = make_cfg(tmp_path, '[[feeds]]\nname = "a"\nurl = "l.txt"\nede = 17\n'
                             '[[feeds]]\nname = "b"\nurl = "l.txt"\n')
    infos = {i.name: i.ede for i in feed_infos(cfg, load_matcher(cfg))}
    assert infos == {"a": Ede.FILTERED, "b": None}
