"""The query log against the real daemon: answers from the UDP fast path and from the slow
path (blocked, resolved, cached, CNAME-blocked, local) all reach querylog.db with their
outcome and reason; privacy modes per profile; `ctl metrics` and `logs export`."""

from __future__ import annotations

import json
import time

import dns.message
import dns.query

from dnsfilter.storage.logstore import FILE, LogStore
from tests.support.daemon import addrs, cli

PROFILES = """
[defaults]
profile = "Adults"

[[profiles]]
name = "Adults"
block_categories = ["ads"]

[[profiles]]
name = "Kids"
block_categories = ["ads"]
privacy = "anonymous"

[[profiles]]
name = "Guests"
block_categories = ["ads"]
privacy = "off"

[[devices]]
name = "tablet"
ip = "127.0.0.2"
profile = "Kids"

[[devices]]
name = "guest"
ip = "127.0.0.3"
profile = "Guests"
"""


def ask(d, name: str, source: str = "127.0.0.1", rdtype: str = "A") -> dns.message.Message:
    q = dns.message.make_query(name, rdtype, use_edns=0)
    return dns.query.udp(q, "127.0.0.1", port=d.port, timeout=3, source=source)


def test_fast_and_slow_path_answers_are_logged_with_outcome_and_reason(upstream, make_daemon):
    d = make_daemon(upstream.addr, rest=PROFILES)
    for _ in range(3):  # the first of each goes the slow way, the others are fast-path replays
        assert addrs(ask(d, "ads.example.test")) == ["0.0.0.0"]
        assert addrs(ask(d, "www.example.test")) == ["192.0.2.10"]
    assert addrs(ask(d, "cdn.example.test")) == ["0.0.0.0"]  # CNAME to a listed name
    ask(d, "localhost")
    ask(d, "ads.example.test", "127.0.0.2")  # Kids: anonymised
    ask(d, "www.example.test", "127.0.0.3")  # Guests: nothing recorded
    ask(d, "www.example.test", "127.0.0.3")

    st = json.loads(cli("ctl", "-c", str(d.config_path), "status").stdout)
    assert st["outcomes"]["blocked"] < 4  # the engine saw only the first of the repeated ones...
    m = cli("ctl", "-c", str(d.config_path), "metrics")
    assert m.returncode == 0, m.stderr
    assert '# TYPE dnsfilter_answers_total counter' in m.stdout
    assert 'dnsfilter_upstream_latency_seconds{upstream="' in m.stdout and 'dnsfilter_feed_age_seconds{feed="ads"}' in m.stdout
    assert "dnsfilter_workers 1" in m.stdout
    d.stop()  # a stop writes what the ring still holds

    store = LogStore(d.tmp / "var" / FILE, readonly=True)
    rows = list(store.export())
    mine = [r for r in rows if r["ip"] == "127.0.0.1"]
    got = [(r["name"], r["outcome"]) for r in mine]
    # ...but every answer is in the log, replays included
    assert got.count(("ads.example.test", "blocked")) == 3
    assert got.count(("www.example.test", "resolved")) == 1 and got.count(("www.example.test", "cached")) == 2
    assert ("cdn.example.test", "blocked") in got and ("localhost", "local") in got
    ads = [r for r in mine if r["name"] == "ads.example.test"]
    assert all((r["kind"], r["category"], r["feed"], r["profile"]) == ("category", "ads", "ads", "Adults") for r in ads)
    assert all(r["device"] == "127.0.0.1" for r in mine)
    kids = [r for r in rows if r["profile"] == "Kids"]
    assert [(r["name"], r["ip"], r["device"]) for r in kids] == [("ads.example.test", "", "")]
    assert not [r for r in rows if r["profile"] == "Guests"]
    s = store.summary(time.time())
    assert s["blocked"] == 5 and {"name": "ads.example.test", "count": 4} in s["top_blocked_names"]
    store.close()
    out = cli("logs", "export", "-c", str(d.config_path), "--format", "json", "--device", "127.0.0.1")
    assert out.returncode == 0 and len(out.stdout.splitlines()) == len(mine)
