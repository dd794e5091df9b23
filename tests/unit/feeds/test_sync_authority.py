"""A sync of an authority list writes its audit events (feeds/authority.py): `fetched` with the
source's SHA-256, the signing key, the entries and the added/removed counts, before the set is
in force; `rejected` with the reason, once per reason rather than once per retry; the previous
set is kept for the self-test. Other lists write nothing there."""

from __future__ import annotations

import hashlib
from pathlib import Path

import requests

from dnsfilter.authority import audit
from dnsfilter.core.model import list_version
from feeds.authority import diff_counts, prev_path
from feeds.compile_rules import load_feed
from feeds.sync import set_path
from tests.support.feedserver import FeedServer, Route, feed_cfg, names, sync
from tests.support.signing import new_signer


def test_fetched_events_count_what_changed_and_come_before_the_set(server: FeedServer, session: requests.Session,
                                                                    tmp_path: Path) -> None:
    signer = new_signer()
    v1, v2 = names("a", 100), names("a", 90) + names("b", 25)
    server.routes["/g"] = Route(v1)
    server.routes["/g.minisig"] = Route(signer.sign(v1).encode())
    cfg = feed_cfg(tmp_path, server.url("/g"), f'category = "authority"\nsignature_url = "{server.url("/g.minisig")}"\n'
                   f'public_key = "{signer.public_key}"')
    assert sync(cfg, session).result == "new"
    first = load_feed(set_path(cfg, cfg.feeds[0]))
    server.routes["/g"] = Route(v2)
    server.routes["/g.minisig"] = Route(signer.sign(v2).encode())
    st = sync(cfg, session)
    assert st.result == "new" and st.serial == 2 and st.key_id == signer.key_id_hex
    recs = list(audit.records(cfg.audit_path()))
    assert [r["event"] for r in recs] == ["fetched", "fetched"]
    r = recs[1]
    assert (r["feed"], r["serial"], r["entries"], r["added"], r["removed"]) == ("f", 2, 115, 25, 10)
    assert r["sha256"] == hashlib.sha256(v2).hexdigest() == st.sha256 and r["key_id"] == signer.key_id_hex
    assert r["version"] == list_version(load_feed(set_path(cfg, cfg.feeds[0])).digest)
    assert r["url"] == server.url("/g")
    # the previous version is kept for the self-test (the entries added since it are probed)
    assert load_feed(prev_path(set_path(cfg, cfg.feeds[0]))).digest == first.digest
    # the same version again (no validators: downloaded and compiled again): nothing new to record
    assert sync(cfg, session).result == "new" and len(list(audit.records(cfg.audit_path()))) == 2
    assert sync(cfg, session).serial == 2


def test_rejections_are_recorded_once_per_reason(server: FeedServer, session: requests.Session, tmp_path: Path) -> None:
    server.routes["/g"] = Route(names("a", 100))
    cfg = feed_cfg(tmp_path, server.url("/g"), 'category = "authority"\nmax_shrink = 0.5')
    assert sync(cfg, session).result == "new"
    server.routes["/g"] = Route(names("a", 10))  # shrank by 90 %: rejected
    for _ in range(3):
        st = sync(cfg, session)
        assert st.result == "rejected"
    server.routes["/g"] = Route(b"", status=503)
    for _ in range(2):
        assert sync(cfg, session).result == "failed"
    recs = [r for r in audit.records(cfg.audit_path()) if r["event"] == "rejected"]
    assert [r["result"] for r in recs] == ["rejected", "failed"]
    assert "shrank from 100 to 10" in recs[0]["reason"] and recs[0]["sha256"] == hashlib.sha256(names("a", 10)).hexdigest()
    assert "HTTP 503" in recs[1]["reason"] and recs[1]["sha256"] == ""
    assert audit.verify(cfg.audit_path()).ok


def test_other_lists_write_no_audit_events(server: FeedServer, session: requests.Session, tmp_path: Path) -> None:
    server.routes["/a"] = Route(names("a", 10))
    cfg = feed_cfg(tmp_path, server.url("/a"), 'category = "ads"')
    assert sync(cfg, session).result == "new"
    assert not cfg.audit_path().exists() and not prev_path(set_path(cfg, cfg.feeds[0])).exists()


def test_diff_counts_on_large_sets_with_small_changes(tmp_path: Path) -> None:
    from dnsfilter.core.policy.feedset import B_SUB, FeedSet, build, text_key

    def fs(ns: list[str]) -> FeedSet:
        return FeedSet.from_buffer(b"".join(build((text_key(n.encode()), B_SUB) for n in ns)))

    old = [f"n{i}.example" for i in range(50_000)]
    new = old[:20_000] + old[20_100:] + [f"m{i}.example" for i in range(300)]
    assert diff_counts(fs(old), fs(new)) == (300, 100)
    assert diff_counts(None, fs(new)) == (len(new), 0)
    assert diff_counts(fs(old), fs(old)) == (0, 0)
