"""AdGuard's DNS filtering rules syntax, row by row, as a user runs it: each feed is synced
(feeds.sync.sync_feed: the real download-compile-promote path, from a local file) and every
row asked through `dnsfilter check --json` in a subprocess.

The rows are written from AdGuard's published documentation ("DNS filtering rules syntax",
KB) and, for the expected outcomes, from AdGuard's own engine tests: urlfilter's
rules/network_rule_test.go (NR) and dnsengine_test.go (DE), and AdGuard Home's
internal/filtering/filtering_internal_test.go TestMatching (AGH). Where dnsfilter decides
otherwise on purpose, `adguard` holds AdGuard's decision and docs/feeds.md says why; every
other row is AdGuard's decision. Names of one label (AdGuard's tests use `host1`) are given
two here: a feed name of one label is a substring pattern for both engines.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

import pytest

from dnsfilter import config as config_mod
from feeds.sync import sync_feed
from tests.support.daemon import cli

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Row:
    rules: str  # the whole feed
    name: str
    want: str  # "block" | "allow": dnsfilter's decision
    qtype: str = "A"
    client: str = "127.0.0.1"
    source: str = "KB"
    adguard: str | None = None  # AdGuard's decision where it differs (docs/feeds.md, "AdGuard syntax")


def rows(rules: str, source: str, *cases: tuple[str, str] | tuple[str, str, str] | tuple[str, str, str, str],
         adguard: dict[str, str] | None = None) -> list[Row]:
    """Rows of one feed: (name, want[, qtype[, client]])."""
    out = []
    for case in cases:
        name, want, *rest = case
        qtype = rest[0] if rest else "A"
        client = rest[1] if len(rest) > 1 else "127.0.0.1"
        out.append(Row(rules, name, want, qtype, client, source, (adguard or {}).get(name)))
    return out


B, A = "block", "allow"

TABLE: list[Row] = [
    # ---- basic patterns (KB "Basic examples", "Special characters"; AGH TestMatching)
    *rows("||example.org^", "KB, AGH",
          ("example.org", B), ("www.example.org", B), ("test.test.example.org", B), ("testexample.org", A),
          ("onemoreexample.org", A), ("example.org.ru", A), ("example.org", B, "AAAA"), ("example.org", B, "HTTPS")),
    *rows("||example.org^\n@@||test.example.org", "AGH allowlist",
          ("example.org", B), ("test.example.org", A), ("test.test.example.org", A), ("testexample.org", A)),
    *rows("@@||example.org^\n||test.example.org^$important", "AGH important",
          ("example.org", A), ("test.example.org", B), ("test.test.example.org", B), ("onemoreexample.org", A)),
    *rows("/example\\.org/\n@@||test.example.org^", "AGH regex",
          ("example.org", B), ("test.example.org", A), ("test.test.example.org", A), ("testexample.org", B),
          ("onemoreexample.org", B)),
    *rows("test*.example.org^\nexam*.com", "AGH mask",
          ("test.example.org", B), ("test2.example.org", B), ("example.com", B), ("exampleeee.com", B),
          ("onemoreexamsite.com", B), ("example.org", A), ("testexample.org", A), ("example.co.uk", A)),
    *rows("example.org", "KB: a bare name blocks that name only", ("example.org", B), ("www.example.org", A)),
    *rows("ample.org|", "KB `|` at the end", ("example.org", B), ("example.org.com", A)),
    *rows("|example", "KB `|` at the start", ("example.org", B), ("test.example", A)),
    *rows("||example.org", "KB `||` without `^`",
          ("example.org", B), ("test.example.org", B), ("testexample.org", A), ("example.org.uk", B)),
    *rows("|example.org^", "KB `|` both ends", ("example.org", B), ("www.example.org", A)),
    *rows("://example.org", "DE TestHostLevelNetworkRuleWithProtocol", ("example.org", B)),
    *rows("! comment\n# comment\nexample.org##.banner\n[Adblock Plus 2.0]", "KB comments; cosmetic rules",
          ("example.org", A)),
    # ---- paths: AdGuard reads `/*` as `^`; a bare `/` is our reading (docs/feeds.md)
    *rows("||example.org/*", "DE TestDNSEngineMatchHostname (||example2.org/*)",
          ("example.org", B), ("www.example.org", B), ("example.com", A)),
    *rows("||example.org/", "an empty path", ("example.org", B), ("www.example.org", B),
          adguard={"example.org": A, "www.example.org": A}),
    *rows("||example.org/ads/*\n||example.net:8080^", "URL rules are not DNS rules", ("example.org", A),
          ("example.net", A)),
    # ---- regular expressions (KB; DE TestRegexp)
    *rows("/example.*/", "KB", ("example.org", B), ("www.example.net", B), ("test.org", A)),
    *rows("||example.org^$important\n@@/example.*/$important", "KB: an important exception wins",
          ("example.org", A)),
    *rows("/^stats?\\./", "DE TestRegexp", ("stats.test.com", B), ("stat.test.com", B), ("www.stats.test.com", A)),
    *rows("||stats.test.com^\n@@/^stats?\\./", "DE TestRegexp", ("stats.test.com", A)),
    # ---- $important (KB)
    *rows("||example.org^$important\n@@||example.org^", "KB", ("example.org", B), ("www.example.org", B)),
    *rows("||example.org^$important\n@@||example.org^$important", "KB", ("example.org", A)),
    # ---- $client (KB; DE TestClient; NR TestNetworkRule_MatchClients)
    *rows("||example.org^$client=127.0.0.1", "KB, DE host0; a feed of conditional rules only",
          ("example.org", B), ("www.example.org", B), ("example.org", A, "A", "127.0.0.2"), ("example.net", A)),
    *rows("||example.org^$client=~127.0.0.1", "DE host1",
          ("example.org", A), ("example.org", B, "A", "127.0.0.2")),
    *rows("||example.org^$client=127.0.0.0/8", "NR; conditional only",
          ("example.org", B, "A", "127.1.1.1"), ("example.org", A, "A", "126.0.0.0")),
    *rows("||example.org^$client=192.168.0.0/24", "KB",
          ("example.org", B, "A", "192.168.0.77"), ("example.org", A, "A", "192.168.1.1")),
    *rows("||example.org^$client=2001::0:00c0:ffee", "NR (IPv6, another spelling); conditional only",
          ("example.org", B, "A", "2001::c0:ffee"), ("example.org", A, "A", "2001::c0:ffef")),
    *rows("||example.org^$client=~2001::c0:ffee", "DE host3",
          ("example.org", A, "A", "2001::c0:ffee"), ("example.org", B, "A", "2001::c0:ffef")),
    *rows("||example.org^$client=2001::c0:ffee/120", "DE host6; an IPv6 network, conditional only",
          ("example.org", B, "A", "2001::c0:ff07"), ("example.org", A, "A", "2001::c0:feee")),
    *rows("||example.org^$client=::1", "the issue: `::1` alone", ("example.org", B, "A", "::1"),
          ("example.org", A)),
    *rows("||example.org^$client=127.0.0.1,dnstype=AAAA", "DE simple_client",
          ("example.org", B, "AAAA"), ("example.org", A, "AAAA", "127.0.0.2"), ("example.org", A, "A")),
    *rows("||example.org^\n@@||*^$client=127.0.0.1", "KB: `@@||*^$client=127.0.0.1` unblocks everything for it",
          ("example.org", A), ("example.org", B, "A", "127.0.0.2")),
    *rows("*$client=127.0.0.1", "the issue: block everything for one client",
          ("example.org", B), ("anything.test", B, "AAAA"), ("example.org", A, "A", "127.0.0.2")),
    # client names are AdGuard Home's persistent clients: rules naming them are skipped (counted);
    # a client known by its address only is not blocked by them in AdGuard either
    *rows("||example.org^$client='Frank\\'s laptop'\n||example.net^$client=~Mom|~Dad|Kids", "KB",
          ("example.org", A), ("example.net", A)),
    # ---- $denyallow (KB; NR TestNetworkRule_Denyallow)
    *rows("*$denyallow=com|net", "KB", ("example.org", B), ("example.com", A), ("sub.example.net", A),
          ("ads.example.kz", B, "AAAA")),
    *rows("||example.org^\n||example.com^\n@@*$denyallow=com|net", "KB: unblock everything save for com, net",
          ("example.org", A), ("example.com", B)),
    *rows("||example.org^$denyallow=sub.example.org", "KB", ("example.org", B), ("www.example.org", B),
          ("sub.example.org", A), ("a.sub.example.org", A)),
    *rows("*^$denyallow=org", "NR denyallow_unblock_tld; the issue", ("example.org", A), ("example.net", B)),
    *rows("*^$denyallow=example.org", "NR denyallow_found / _not_found; the issue",
          ("example.org", A), ("sub.example.org", A), ("example.net", B)),
    *rows("*^$denyallow=example.org|example.net", "NR denyallow_found_multiple_domains",
          ("example.org", A), ("example.net", A), ("example.com", B)),
    *rows("*$denyallow=com", "the issue", ("example.com", A), ("example.org", B)),
    *rows("*^$denyallow=~example.org\n*^$denyallow", "NR denyallow_invalid_inversion / _empty",
          ("example.net", A), ("example.org", A)),
    # ---- $dnstype (KB; DE TestDNSEngine_MatchRequest_dnsType; AGH dnstype; NR Match_dnsType)
    *rows("||example.org^$dnstype=AAAA\n@@||test.example.org^", "KB, AGH dnstype",
          ("example.org", A, "A"), ("example.org", B, "AAAA"), ("test.example.org", A, "AAAA"),
          ("onemoreexample.org", A, "AAAA")),
    *rows("||example.org^$dnstype=aaaa", "DE simple_case", ("example.org", B, "AAAA"), ("example.org", A, "A")),
    *rows("||example.org^$dnstype=~AAAA", "DE reverse", ("example.org", A, "AAAA"), ("example.org", B, "A")),
    *rows("||example.org^$dnstype=A|AAAA", "DE multiple", ("example.org", B, "A"), ("example.org", B, "AAAA"),
          ("example.org", A, "CNAME")),
    *rows("||example.org^$dnstype=~A|~AAAA", "DE multiple_reverse", ("example.org", A, "A"),
          ("example.org", A, "AAAA"), ("example.org", B, "CNAME")),
    *rows("||example.org^$dnstype=~A|AAAA", "DE multiple_different; KB: same as AAAA",
          ("example.org", B, "AAAA"), ("example.org", A, "A"), ("example.org", A, "CNAME")),
    *rows("||example.org^$dnstype=~A|~CNAME", "KB", ("example.org", A, "A"), ("example.org", A, "CNAME"),
          ("example.org", B, "AAAA"), ("example.org", B, "TXT")),
    *rows("||example.org^$dnstype=TXT|AAAA", "NR; the issue: conditional only",
          ("example.org", B, "AAAA"), ("example.org", B, "TXT"), ("example.org", A, "A")),
    *rows("$dnstype=AAAA", "NR `$dnstype=AAAA`; the issue: every name for that type",
          ("example.org", B, "AAAA"), ("anything.test", B, "AAAA"), ("example.org", A, "A")),
    *rows("||example.org^$client=127.0.0.1\n||example.org^$client=127.0.0.1,dnstype=AAAA", "DE priority",
          ("example.org", B, "AAAA"), ("example.org", B, "A")),
    *rows("||example.org^$dnstype=INVALIDTYPE\n||example.org^$dnstype=\n||example.org^$dnstype=TXT|",
          "NR parse_errors: invalid rules", ("example.org", A, "TXT")),
    *rows("||canon.example.com^$dnstype=~CNAME", "KB", ("canon.example.com", B), ("canon.example.com", A, "CNAME")),
    # ---- $dnsrewrite and $ctag: AdGuard applies them, dnsfilter skips them (counted)
    *rows("||example.com^$dnsrewrite=1.2.3.4\n||example.net^$dnsrewrite=NXDOMAIN;;", "KB",
          ("example.com", A), ("example.net", A), adguard={"example.com": "rewrite", "example.net": "rewrite"}),
    *rows("$dnstype=AAAA,denyallow=example.org,dnsrewrite=NOERROR;;", "KB", ("example.com", A, "AAAA"),
          adguard={"example.com": "rewrite"}),
    # a client without tags: AdGuard does not apply a $ctag rule to it either
    *rows("||example.org^$ctag=device_pc|device_phone\n||example.net^$ctag=~device_phone", "KB",
          ("example.org", A), ("example.net", A), adguard={"example.net": B}),
    # ---- $badfilter (KB; NR TestNetworkRule_BadfilterRule; DE TestBadfilterRules, TestClientTags)
    *rows("||example.com\n||example.com$badfilter", "KB", ("example.com", A)),
    *rows("||example.org^\n@@||example.org^\n@@||example.org^$badfilter", "KB", ("example.org", B)),
    # (`||other.example^` keeps each feed consulted even where the matcher used to skip feeds of
    # conditional rules only, so that these rows test $badfilter alone)
    *rows("||other.example^\n||example.org^$client=::|127.0.0.1\n||example.org^$client=127.0.0.1|::,badfilter",
          "NR; the issue",
          ("example.org", A)),
    *rows("||other.example^\n||example.org^$client=::\n||example.org^$client=0:0000::0,badfilter", "NR; the issue",
          ("example.org", A, "A", "::")),
    *rows("||other.example^\n||example.org^$dnstype=A|AAAA\n||example.org^$dnstype=AAAA|A,badfilter", "the issue",
          ("example.org", A, "AAAA")),
    *rows("||other.example^\n||example.org^$client=127.0.0.1/8|10.0.0.0/8\n"
          "||example.org^$client=10.0.0.0/8|127.0.0.1/8,badfilter",
          "NR", ("example.org", A)),
    *rows("||other.example^\n||example.org^$client=fe01::/16|127.0.0.1|1::/16\n"
          "||example.org^$client=127.0.0.1|1::/16|fe01::/16,badfilter", "NR", ("example.org", A)),
    *rows("||example.org^$client=::/64\n||example.org^$client=::/63,badfilter", "NR: not the same rule",
          ("example.org", B, "A", "::1")),
    *rows("||example.org^$client=127.0.0.1\n||example.org^$client=127.0.0.2,badfilter", "NR: not the same rule",
          ("example.org", B)),
    *rows("||example.org^$important\n||example.org^$badfilter", "not the same rule", ("example.org", B)),
    *rows("||example.org^$client=127.0.0.1\n||example.org^\n||example.org^$badfilter", "DE host6",
          ("example.org", B), ("example.org", A, "A", "127.0.0.2")),
    *rows("||example.org/*\n||example.org^$badfilter", "AdGuard compares `||example.org^`", ("example.org", A)),
    # ---- modifiers of browser rules: AdGuard ignores the whole rule (KB "must be ignored")
    *rows("||example.org^$third-party\n||example.net^$domain=example.com\n||example.com^$script\n"
          "||example.kz^$popup\n||example.ru^$match-case", "KB", ("example.org", A), ("example.net", A),
          ("example.com", A), ("example.kz", A), ("example.ru", A)),
    # ---- accept-all patterns without a condition (NR TestNetworkRule_InvalidRule: "too wide")
    *rows("*\n*^\n*$important\n|\n||", "NR: too wide, invalid", ("example.org", A)),
    *rows("||*^", "NR: `||*^` is long enough for AdGuard: every name", ("example.org", B)),
    # ---- /etc/hosts lines in an adblock list (KB; DE TestDNSEngineMatchHostname)
    *rows("0.0.0.0 block.com\n:: v6.com\n127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback", "KB",
          ("block.com", B), ("block.com", B, "AAAA"), ("www.block.com", A), ("v6.com", B, "AAAA"), ("localhost.test", A)),
    *rows("1.2.3.4 example.org", "KB: a rewrite", ("example.org", A), adguard={"example.org": "rewrite"}),
    *rows("||192.0.2.10^", "IP rules match answers in AdGuard", ("example.org", A)),
]


def _groups() -> list[list[Row]]:
    return [list(g) for _, g in groupby(TABLE, key=lambda r: r.rules)]


CONFIG = """
[dns]
allowed_clients = ["0.0.0.0/0", "::/0"]

[storage]
data_dir = "var"

[[feeds]]
name = "agh"
url = "feed.txt"
format = "adblock"
"""


@pytest.mark.parametrize("group", _groups(), ids=lambda g: g[0].rules.replace("\n", " ⏎ ")[:60])
def test_row(group: list[Row], tmp_path: Path) -> None:
    (tmp_path / "feed.txt").write_text("[Adblock Plus 2.0]\n" + group[0].rules + "\n", encoding="utf-8")
    conf = tmp_path / "config.toml"
    conf.write_text(CONFIG)
    cfg = config_mod.load(conf)
    st = sync_feed(cfg, cfg.feeds[0])
    assert st.result == "new" and not st.error, st
    wrong = []
    for (client, qtype), asked in groupby(sorted(group, key=lambda r: (r.client, r.qtype)),
                                          key=lambda r: (r.client, r.qtype)):
        batch = list(asked)
        out = cli("check", "-c", str(conf), "--client", client, "--type", qtype, "--json", *[r.name for r in batch])
        assert out.returncode == 0, out.stderr
        got = [json.loads(line) for line in out.stdout.splitlines()]
        assert [g["name"] for g in got] == [r.name for r in batch]
        for r, g in zip(batch, got, strict=True):
            if g["decision"] != r.want:
                wrong.append(f"{r.name} {qtype} from {client}: {g['decision']} ({g['reason']}), want {r.want} "
                             f"[{r.source}]")
    assert not wrong, f"feed {group[0].rules!r}:\n  " + "\n  ".join(wrong)


def test_the_table_marks_every_divergence_and_covers_every_modifier() -> None:
    """Rows where dnsfilter decides otherwise than AdGuard are few and each is explained in
    docs/feeds.md; the table touches every modifier AdGuard's DNS syntax documents."""
    differ = sorted({(r.rules, r.name) for r in TABLE if r.adguard is not None and r.adguard != r.want})
    assert len(differ) == 7, differ
    text = "\n".join(r.rules for r in TABLE)
    for mod in ("client=", "denyallow=", "dnstype=", "dnsrewrite=", "important", "badfilter", "ctag="):
        assert "$" + mod in text or "," + mod in text, mod
    assert len(TABLE) >= 170, len(TABLE)
