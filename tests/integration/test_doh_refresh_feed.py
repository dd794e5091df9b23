"""The DoH feed's fetch-and-judge step on its own (no namespace, no nft, no root): a local list
file as the feed, through the same feeds.sources.fetch the daemon uses."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from dnsfilter import config
from dnsfilter.router import doh_refresh
from dnsfilter.router import firewall_apply as fa


def make(tmp_path: Path, feed: str) -> config.Config:
    path = tmp_path / "config.toml"
    path.write_text(textwrap.dedent(f"""
        [storage]
        data_dir = "var"

        [firewall]
        doh_addresses = ["192.0.2.99"]
        doh_feed = "{feed}"
    """))
    return config.load(path)


def test_a_good_list_is_kept_and_used(tmp_path: Path) -> None:
    (tmp_path / "doh.txt").write_text("# list\n198.51.100.1\n2001:db8::1\n")
    cfg = make(tmp_path, "doh.txt")  # relative: the config's folder
    st = doh_refresh.sync_feed(cfg)
    assert (st.result, st.entries, st.error) == ("new", 2, "")
    rules = fa.load_rules(cfg)
    assert rules.doh4 == ("192.0.2.99", "198.51.100.1") and rules.doh6 == ("2001:db8::1",)
    again = doh_refresh.sync_feed(cfg)  # same mtime and size: not read again
    assert again.result == "unchanged" and again.last_success >= st.last_success
    saved = json.loads(doh_refresh.state_path(cfg).read_text())
    assert saved["result"] == "unchanged" and saved["entries"] == 2


@pytest.mark.parametrize("text, why", [("198.51.100.2\nexample.org\n", "'example.org' is not an address"),
                                       ("# nothing left\n", "no addresses"),
                                       (b"\xff\xfe1.2.3.4\n", "codec")])
def test_a_broken_list_keeps_the_last_good_one(tmp_path: Path, text: str | bytes, why: str) -> None:
    feed = tmp_path / "doh.txt"
    feed.write_text("198.51.100.1\n")
    cfg = make(tmp_path, str(feed))
    assert doh_refresh.sync_feed(cfg).result == "new"
    good = fa.doh_feed_path(cfg).read_bytes()
    feed.write_bytes(text.encode() if isinstance(text, str) else text)
    os.utime(feed, (1, 1))  # a different mtime, as an edit would give
    st = doh_refresh.sync_feed(cfg)
    assert st.result == "rejected" and why in st.error
    assert fa.doh_feed_path(cfg).read_bytes() == good and st.entries == 1
    assert fa.load_rules(cfg).doh4 == ("192.0.2.99", "198.51.100.1")
    # the same broken file is judged again next time (validators dropped), not skipped as unchanged
    assert doh_refresh.sync_feed(cfg).result == "rejected"


def test_an_unreachable_feed_fails_and_adds_nothing(tmp_path: Path) -> None:
    cfg = make(tmp_path, str(tmp_path / "missing.txt"))
    st = doh_refresh.sync_feed(cfg)
    assert st.result == "failed" and st.error
    assert not fa.doh_feed_path(cfg).exists() and fa.load_rules(cfg).doh4 == ("192.0.2.99",)


def test_no_feed_configured_leaves_rules_alone(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[storage]\ndata_dir = "var"\n[firewall]\ndoh_addresses = ["192.0.2.99"]\n')
    cfg = config.load(path)
    (tmp_path / "var").mkdir()
    fa.doh_feed_path(cfg).write_text("203.0.113.1\n")  # a leftover copy is not used without doh_feed
    assert fa.load_rules(cfg).doh4 == ("192.0.2.99",)
