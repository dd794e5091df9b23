"""What `dnsfilter feeds sync` and `feeds status` tell an admin about a feed, as a user runs
them: counts that add up (never negative), the skipped count, and warnings for rules that
cannot do what their author meant ($badfilter that disables nothing, every rule for clients
that never ask, AdGuard DNS features that are not applied)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.daemon import cli

pytestmark = pytest.mark.integration


def setup(tmp_path: Path, text: str, fmt: str = "adblock", dns: str = "") -> str:
    (tmp_path / "feed.txt").write_text(text)
    conf = tmp_path / "config.toml"
    conf.write_text(f'{dns}\n[storage]\ndata_dir = "var"\n[[feeds]]\nname = "f"\nurl = "feed.txt"\n'
                    f'format = "{fmt}"\n')
    return str(conf)


def sync(conf: str) -> str:
    out = cli("feeds", "sync", "-c", conf)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stderr == ""  # said once, on stdout, not again by the daemon's log lines
    return out.stdout


def status(conf: str) -> tuple[str, dict]:  # type: ignore[type-arg]
    text = cli("feeds", "status", "-c", conf)
    js = cli("feeds", "status", "-c", conf, "--json")
    assert text.returncode == js.returncode == 0, text.stderr + js.stderr
    return text.stdout, json.loads(js.stdout)[0]


def test_a_hosts_preamble_counts_as_skipped_never_as_negative_rules(tmp_path: Path) -> None:
    conf = setup(tmp_path, "::1 localhost ip6-localhost ip6-loopback\n", "hosts")
    assert sync(conf).startswith("f: 0 entries from 0 rules (0 invalid, 3 skipped) [hosts]")
    conf = setup(tmp_path, "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n"
                           "0.0.0.0 a.example b.example\n", "hosts")
    assert sync(conf).startswith("f: 2 entries from 2 rules (0 invalid, 4 skipped) [hosts]")
    text, js = status(conf)
    assert (js["rules"], js["skipped"], js["warnings"]) == (2, 4, [])
    assert "      2 entries       0 invalid       4 skipped  synced" in text


def test_warnings_for_rules_that_cannot_do_what_they_say(tmp_path: Path) -> None:
    conf = setup(tmp_path, "[Adblock Plus 2.0]\n||ads.example^\n||ads.example^$badfilter\n"
                           "||gone.example^$badfilter\n||x.example^$client=127.0.0.1|::,badfilter\n"
                           "||x.example^$client=::|127.0.0.1\n||r.example^$dnsrewrite=1.2.3.4\n"
                           "||t.example^$ctag=device_pc\n||third.example^$third-party\n")
    out = sync(conf)
    assert out.startswith("f: 0 entries from 0 rules (0 invalid, 4 skipped) [adblock]"), out  # + the header
    want = ["f: warning: 1 $badfilter rule disables nothing: this feed holds no rule it names (line 4)",
            "f: warning: 2 rules use AdGuard DNS features dnsfilter does not apply ($dnsrewrite, $ctag, $client by "
            "name, IP-address rules, hosts lines with a real address): skipped"]
    assert [line for line in out.splitlines() if "warning" in line] == want
    text, js = status(conf)
    assert js["not_applied"] == 2 and js["skipped"] == 4
    assert [w.removeprefix("f: warning: ") for w in want] == js["warnings"]
    assert "      4 skipped" in text and "\n    warning: 1 $badfilter rule disables nothing" in text


def test_a_feed_for_clients_that_never_ask_says_so(tmp_path: Path) -> None:
    rules = "||a.example^$client=8.8.8.8\n||b.example^$client=203.0.113.0/24|8.8.8.8\n"
    conf = setup(tmp_path, rules)
    out = sync(conf)
    assert ("f: warning: every rule of this feed is for clients that never ask: 203.0.113.0/24, 8.8.8.8/32 lie "
            "outside dns.allowed_clients, so the feed blocks nothing") in out, out
    # One client that may ask, or one rule for everyone, and the feed can block: no warning.
    for dns, text in [('[dns]\nallowed_clients = ["127.0.0.0/8", "8.8.8.0/24"]', rules),
                      ("", rules + "||c.example^$client=192.168.1.9\n"),
                      ("", rules + "||d.example^\n")]:
        conf = setup(tmp_path, text, dns=dns)
        assert "warning" not in sync(conf), (dns, text)
