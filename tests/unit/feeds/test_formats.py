"""Rule formats (adblock/AdGuard, dnsmasq, RPZ, CSV dumps, sha256), detection, and the real feeds."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from feeds.formats import RULE_PARSERS, detect, parse_file, parse_lines
from feeds.formats.adblock import badfilters
from feeds.formats.sha256 import sha256_name
from feeds.parsers import ParseResult, stream_names
from feeds.rules import Rule, RuleCounts, compile_regex, decide, regex_problem, suffix_digests
from tests.support.paths import SHARED_DATA

DATA = SHARED_DATA
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared reference data not found at {DATA}")


def rules(fmt: str, text: str, **options: object) -> tuple[list[Rule], RuleCounts]:
    counts = RuleCounts()
    return list(parse_lines(text.splitlines(), fmt, counts, **options)), counts


def one(fmt: str, line: str, **options: object) -> Rule:
    got, counts = rules(fmt, line, **options)
    assert len(got) == 1, (line, counts)
    return got[0]


def blocked(rs: list[Rule], qname: str, qtype: str | None = "A", ip: str | None = None,
            client_name: str | None = None) -> bool:
    winner = decide(rs, qname, qtype, ip, client_name)
    return winner is not None and winner.action == "block"


# ---------------------------------------------------------------- adblock


@pytest.mark.parametrize(("line", "name", "scope"), [
    ("||example.org^", "example.org", "subtree"),
    ("||Example.ORG^|", "example.org", "subtree"),
    ("|exact.example.org^", "exact.example.org", "exact"),
    ("://exact.example.org^", "exact.example.org", "exact"),
    ("plain.example.org", "plain.example.org", "exact"),  # AdGuard: a bare name is that name only
    (".below.example.org^", "below.example.org", "below"),
    ("||пример.испытание^", "xn--e1afmkfd.xn--80akhbyknj4f", "subtree"),
])
def test_adblock_name_patterns(line: str, name: str, scope: str) -> None:
    rule = one("adblock", line)
    assert (rule.name, rule.scope, rule.action, rule.regex, rule.line) == (name, scope, "block", None, 1)
    assert rule.exact == (scope == "exact") and rule.subdomains_only == (scope == "below")


def test_adblock_scopes_decide_as_documented() -> None:
    rs, _ = rules("adblock", "||sub.example^\n|exact.example^\n.below.example^\nbare.example")
    assert blocked(rs, "sub.example") and blocked(rs, "a.b.sub.example") and not blocked(rs, "xsub.example")
    assert blocked(rs, "exact.example") and not blocked(rs, "www.exact.example")
    assert not blocked(rs, "below.example") and blocked(rs, "www.below.example")
    assert blocked(rs, "bare.example") and not blocked(rs, "www.bare.example")


def test_adblock_skips_and_counts() -> None:
    text = "\n".join([
        "[Adblock Plus 2.0]", "! comment", "# comment", "",
        "example.org##.banner", "example.org#@#.banner", "example.org#$#body { color: red }",
        "||example.org/ads/banner.js", "||example.org:8080^", "||example.org^$third-party",
        "||example.org^$dnsrewrite=1.2.3.4", "||192.0.2.10^", "192.0.2.1 rewritten.example",
        "||bad name.example^", "||example.org^$important=yes", "||example.org^$dnstype=A B",
        "||x.example^$client='unterminated", "||x.example^$denyallow=~y.example",
        "||ok.example^",
    ])
    got, c = rules("adblock", text)
    assert [r.name for r in got] == ["ok.example"]
    assert (c.lines, c.skipped, c.skipped_cosmetic, c.skipped_unsupported, c.invalid) == (19, 4, 3, 6, 5)
    assert c.not_applied == 3  # $dnsrewrite, an IP rule and a hosts rewrite: AdGuard applies them, we do not
    assert c.first_unsupported_lines == [8, 9, 10, 11, 12, 13] and c.first_invalid_lines == [14, 15, 16, 17, 18]


def test_adblock_hosts_lines_block_exactly_their_names() -> None:
    got, c = rules("adblock", "0.0.0.0 a.example b.example # two\n127.0.0.1 c.example")
    assert [(r.name, r.scope) for r in got] == [("a.example", "exact"), ("b.example", "exact"), ("c.example", "exact")]
    assert c.rules == 3


def test_adblock_modifiers() -> None:
    r = one("adblock", "@@||cdn.example^$important,dnstype=A|AAAA")
    assert (r.action, r.important, r.dnstypes, r.exclude_dnstypes) == ("allow", True, frozenset({"A", "AAAA"}), None)
    r = one("adblock", "||t.example^$dnstype=~a|~cname")
    assert r.dnstypes is None and r.exclude_dnstypes == frozenset({"A", "CNAME"})
    r = one("adblock", "||k.example^$client=192.168.1.7/24|~10.0.0.5|'0:0000::1'")
    assert r.clients == ("192.168.1.0/24", "::1/128") and r.exclude_clients == ("10.0.0.5/32",)
    # A client name is an AdGuard Home persistent client: not applied, skipped and counted.
    got, c = rules("adblock", r"||k.example^$client=192.168.1.0/24|'Kid\'s tablet, new'" + "\n||m.example^$client=~Mom")
    assert got == [] and (c.skipped_unsupported, c.not_applied, c.invalid) == (2, 2, 0)
    r = one("adblock", "*$denyallow=Net|com|xn--p1ai")
    assert r.denyallow == ("com", "net", "xn--p1ai") and r.regex is None and r.any_name


def test_important_and_exception_precedence() -> None:
    rs, _ = rules("adblock", "\n".join([
        "||a.example^", "@@||a.example^",  # exception beats a plain block
        "||b.example^$important", "@@||b.example^",  # important block beats a plain exception
        "||c.example^$important", "@@||c.example^$important",  # important exception beats both
        "@@||d.example^", "||x.d.example^",  # an exception on the parent covers the child
    ]))
    assert not blocked(rs, "a.example") and blocked(rs, "b.example") and not blocked(rs, "c.example")
    assert not blocked(rs, "x.d.example") and decide(rs, "free.example") is None
    assert decide(rs, "b.example").important and decide(rs, "c.example").action == "allow"


def test_dnstype_client_and_denyallow_conditions() -> None:
    rs, _ = rules("adblock", "\n".join([
        "||v6.example^$dnstype=AAAA",
        "||kids.example^$client=192.168.1.0/24|~192.168.1.7",
        "||wide.example^$denyallow=ok.wide.example|fine.example",
    ]))
    assert blocked(rs, "v6.example", "AAAA") and not blocked(rs, "v6.example", "A") and not blocked(rs, "v6.example", None)
    assert blocked(rs, "kids.example", ip="192.168.1.20") and not blocked(rs, "kids.example", ip="192.168.1.7")
    assert not blocked(rs, "kids.example", ip="10.0.0.1")
    assert blocked(rs, "wide.example") and blocked(rs, "x.wide.example")
    assert not blocked(rs, "ok.wide.example") and not blocked(rs, "a.ok.wide.example")


def test_badfilter_disables_the_identical_rule_even_before_it() -> None:
    text = "\n".join([
        "||gone.example^", "||typed.example^$dnstype=A", "||kept.example^$dnstype=AAAA", "wykop.example",
        "||gone.example^$badfilter", "||typed.example^$badfilter,dnstype=A", "||kept.example^$badfilter",
        "wykop.example$badfilter", "||later.example^$badfilter", "||later.example^",
    ])
    got, c = rules("adblock", text)  # a list is scanned for badfilters first
    assert [r.name for r in got] == ["kept.example"]
    assert (c.badfilter, c.badfiltered, c.rules) == (5, 4, 1)
    # From a one-shot iterator only the rules after their badfilter can go, unless the keys are passed.
    c2 = RuleCounts()
    assert len(list(RULE_PARSERS["adblock"](iter(text.splitlines()), c2))) == 4 and c2.badfiltered == 1
    keys = badfilters(text.splitlines())
    c3 = RuleCounts()
    assert [r.name for r in RULE_PARSERS["adblock"](iter(text.splitlines()), c3, badfilter=keys)] == ["kept.example"]


def test_badfilter_applies_through_parse_file(tmp_path: Path) -> None:
    src = tmp_path / "list.txt"
    src.write_text("! Title: t\n||one.example^\n||two.example^\n||one.example^$badfilter\n", encoding="utf-8")
    counts = RuleCounts()
    assert [r.name for r in parse_file(src, "auto", counts)] == ["two.example"] and counts.badfiltered == 1


def test_regex_rules_are_kept_only_when_safe() -> None:
    text = "\n".join([
        r"/^ads?[0-9]*\.example\.com$/", r"@@/^ok\.example\.com$/$important", r"/^x\.(a|b)\.example$/$dnstype=A",
        r"/(a+)+$/", r"/(a|aa)*b/", r"/(.)\1/", r"/(?=a)b/", r"/.*a.*b.*c/", "/" + "a" * 257 + "/", r"/[/",
        r"/(a?){30}a{30}/",
    ])
    got, c = rules("adblock", text)
    assert (c.regex, c.regex_rejected, c.rules) == (3, 8, 3)
    assert blocked(got, "ad7.example.com") and blocked(got, "AD.example.com") and not blocked(got, "bad.example.com")
    assert decide(got, "ok.example.com").action == "allow" and not blocked(got, "x.a.example", "AAAA")


@pytest.mark.parametrize(("src", "why"), [
    (r"(a+)+", "nested quantifier"), (r"(?:a*b)*", "nested quantifier"), (r"((a)b+){2,}", "nested quantifier"), (r"((a)b+)c{2,}", None),
    (r"(x|y)+", "alternation under an unbounded quantifier"), (r"(\w)\1", "backreference"),
    (r"(?<=a)b", "lookaround, named group, conditional or inline flag"), (r"(?i)a", "lookaround, named group, conditional or inline flag"),
    (r".*.*.*x", "more than 2 unbounded quantifiers"), (r"(a", "unbalanced parenthesis"), (r"a)", "unbalanced parenthesis"),
    (r"[(+]+x", None), (r"(https?:\/\/)?a.{1,100}", None), (r"(ab){2}c", None), (r"(x|y){1,3}", None),
])
def test_regex_safety_caps(src: str, why: str | None) -> None:
    assert regex_problem(src) == why


def test_accepted_regexes_stay_fast_on_hostile_names() -> None:
    hostile = ["a" * 253, ("a." * 126) + "a", "x-" * 126 + "x"]
    for src in (r".*a.*x$", r"[a-z]+[a-z0-9]*x", r"^(mon|tue)\d{1,2}\.\w{2}\d{1,6}\w{4}\.com$", r"(https?:\/\/)?a.{10,}y"):
        compiled, why = compile_regex(src)
        assert compiled is not None, why
        started = time.perf_counter()
        for name in hostile:
            compiled.search(name)
        assert time.perf_counter() - started < 0.2, src  # worst measured ~5 ms; 3+ unbounded cost ~340 ms


def test_wildcards_and_partial_anchors_keep_adguard_semantics() -> None:
    rs, c = rules("adblock", "\n".join([
        "||ads*.example.com^", "||tracker.", "vk.example^", "-ad123-", "||direct.example", "||a*a*a*a*a*a*b^",
    ]))
    assert c.wildcards == 6 and c.regex == 0 and all(r.regex is not None and r.compiled for r in rs)
    assert blocked(rs, "ads1.example.com") and blocked(rs, "x.adsfoo.example.com") and not blocked(rs, "badsx.example.com")
    assert not blocked(rs, "ads1.example.com.evil")
    assert blocked(rs, "tracker.example.net") and blocked(rs, "a.tracker.io") and not blocked(rs, "mytracker.io")
    assert blocked(rs, "vk.example") and blocked(rs, "xvk.example") and not blocked(rs, "vk.example.org")
    assert blocked(rs, "foo-ad123-bar.example")
    assert blocked(rs, "direct.example") and blocked(rs, "direct.example.co") and not blocked(rs, "indirect.example")
    started = time.perf_counter()
    assert not blocked(rs, "a" * 60 + "." + "a" * 60 + "." + "a" * 60 + ".example")
    assert time.perf_counter() - started < 0.05  # atomic groups: no backtracking blow-up


# ---------------------------------------------------------------- dnsmasq


def test_dnsmasq_lines() -> None:
    got, c = rules("dnsmasq", "\n".join([
        "# blocklist", "address=/a.example/b.example/0.0.0.0", "address=/c.example/", "address=/d.example/::",
        "address=/e.example/#", "address=/f.example/192.0.2.1", "server=/g.example/", "local=/h.example/",
        "server=/ok.g.example/#", "server=/i.example/192.0.2.53", "address=/*.j.example/0.0.0.0",
        "address=/#/0.0.0.0", "conf-file=/etc/other.conf", "address=nonsense", "address=/Bücher.example/127.0.0.1",
    ]))
    assert [(r.name, r.action, r.scope) for r in got] == [
        ("a.example", "block", "subtree"), ("b.example", "block", "subtree"), ("c.example", "block", "subtree"),
        ("d.example", "block", "subtree"), ("e.example", "block", "subtree"), ("g.example", "block", "subtree"),
        ("h.example", "block", "subtree"), ("ok.g.example", "allow", "subtree"), ("j.example", "block", "below"),
        ("xn--bcher-kva.example", "block", "subtree"),
    ]
    assert (c.skipped, c.skipped_unsupported, c.invalid) == (1, 3, 2)
    assert not blocked(got, "x.ok.g.example") and blocked(got, "x.g.example") and not blocked(got, "j.example")


# ---------------------------------------------------------------- RPZ

RPZ = """\
$TTL 300
@ IN SOA ns.rpz.example. admin.rpz.example. (
        2026081501 ; serial
        3600 600 86400 300 )
  IN NS localhost.
$ORIGIN rpz.example.
bad.example CNAME .
*.bad.example CNAME .
below.example 600 IN CNAME .   ; a TTL and a class
*.below.example CNAME .
ok.bad.example CNAME rpz-passthru.
drop.example CNAME rpz-drop.
nodata.example CNAME *.
sink.example A 0.0.0.0
abs.example.rpz.example. CNAME .
walled.example CNAME garden.example.
32.1.2.0.192.rpz-ip CNAME .
ns.example.rpz-nsdname CNAME .
txt.example TXT "hello"
@ CNAME .
$ORIGIN sub.rpz.example.
x CNAME .
"""


def test_rpz_records() -> None:
    got, c = rules("rpz", RPZ)
    assert [(r.name, r.action, r.scope, r.rpz) for r in got] == [
        ("bad.example", "block", "exact", "nxdomain"), ("bad.example", "block", "below", "nxdomain"),
        ("below.example", "block", "exact", "nxdomain"), ("below.example", "block", "below", "nxdomain"),
        ("ok.bad.example", "allow", "exact", "passthru"), ("drop.example", "block", "exact", "drop"),
        ("nodata.example", "block", "exact", "nodata"), ("sink.example", "block", "exact", "local"),
        ("abs.example", "block", "exact", "nxdomain"), ("walled.example", "block", "exact", "local"),
        ("192.0.2.1/32", "block", "subtree", "nxdomain"),  # the IP trigger: a response-IP rule
        ("txt.example", "block", "exact", "local"), ("x.sub", "block", "exact", "nxdomain"),
    ]
    assert [r.network for r in got].count(True) == 1
    local = {r.name: r.data for r in got if r.rpz == "local"}
    assert local == {"sink.example": ((1, bytes(4)),),
                     "walled.example": ((5, b"\x06garden\x07example\x00"),),
                     "txt.example": ((16, b"\x05hello"),)}
    # skipped: $TTL, the SOA over three lines, NS, two $ORIGIN; `@ CNAME .` names the apex: invalid;
    # the rpz-nsdname trigger is unsupported and counted on its own
    assert (c.skipped, c.skipped_unsupported, c.invalid, c.rpz_ns) == (7, 1, 1, 1)
    assert not blocked(got, "ok.bad.example") and blocked(got, "a.bad.example") and blocked(got, "bad.example")
    assert not blocked(got, "sub.nodata.example")


# ---------------------------------------------------------------- CSV registry dumps

CSV = "\n".join([
    "Updated: 2026-11-28 12:00:00 +0000",
    "192.0.2.1;domain-only.example;;Суд;1-DOM;2026-01-01",
    "192.0.2.2 | 192.0.2.3;page.example;http://page.example/a.html | https://page.example:8443/b;Суд;2-URL;2026-01-01",
    "192.0.2.4;*.mask.example;http://mask.example/x.html;Суд;3-DOM;2026-01-01",
    "192.0.2.5;root.example;http://root.example/;Суд;4-DOM;2026-01-01",
    "192.0.2.6;ПРИМЕР.испытание | UPPER.EXAMPLE;;Суд;5-DOM;2026-01-01",
    "192.0.2.7;198.51.100.9;;Суд;6-IP;2026-01-01",
    "192.0.2.8;;;Суд;7-IP;2026-01-01",
    "192.0.2.9;;http://urlonly.example/page?id=1 | http://203.0.113.5/x;Суд;8-URL;2026-01-01",
    "192.0.2.10;bad..name;;Суд;9-DOM;2026-01-01",
]) + "\n"


def test_csv_dump_default_skips_url_only_entries() -> None:
    lines = CSV.encode("cp1251").splitlines(keepends=True)  # bytes are decoded with `encoding`
    counts = RuleCounts()
    got = list(RULE_PARSERS["csv"](lines, counts))
    assert [(r.name, r.scope) for r in got] == [
        ("domain-only.example", "subtree"), ("mask.example", "subtree"), ("root.example", "subtree"),
        ("xn--e1afmkfd.xn--80akhbyknj4f", "subtree"), ("upper.example", "subtree"),
    ]
    assert (counts.urls_skipped, counts.urls_reduced, counts.ips_ignored, counts.invalid) == (2, 0, 1, 1)
    assert counts.skipped == 4 and counts.lines == 10  # Updated line, IP-only ×2, bad name only


def test_csv_dump_url_policy_host_reduces_to_exact_hosts() -> None:
    got, c = rules("csv", CSV, url_policy="host")
    assert ("page.example", "exact") in [(r.name, r.scope) for r in got]
    assert ("urlonly.example", "exact") in [(r.name, r.scope) for r in got]
    assert (c.urls_skipped, c.urls_reduced) == (0, 2) and c.rules == 7  # the IP host of a URL is not a name


def test_csv_dump_other_layouts_and_bad_options() -> None:
    text = 'name\tnote\n"quoted.example"\t"a\tb"\nother.example\tx\n'
    got, c = rules("csv", text, columns={"domain": 1}, delimiter="\t", quotechar='"', skip_lines=1)
    assert [r.name for r in got] == ["quoted.example", "other.example"]
    with pytest.raises(ValueError, match="url_policy"):
        rules("csv", CSV, url_policy="block")
    with pytest.raises(ValueError, match="columns"):
        rules("csv", CSV, columns={"url": 3})


# ---------------------------------------------------------------- sha256


def test_sha256_name_normalises_before_hashing() -> None:
    plain = hashlib.sha256(b"example.com").hexdigest()
    assert sha256_name("Example.COM.") == plain == sha256_name("example.com")
    assert sha256_name("пример.испытание") == hashlib.sha256(b"xn--e1afmkfd.xn--80akhbyknj4f").hexdigest()
    with pytest.raises(ValueError) as err:
        sha256_name("secret-site")  # not a usable name (one label)
    assert "secret" not in str(err.value)  # the rejected name is never echoed
    assert suffix_digests("a.b.example.com") == [sha256_name(n) for n in ("a.b.example.com", "b.example.com", "example.com")]


def test_sha256_lists() -> None:
    d1, d2 = sha256_name("hidden.example"), sha256_name("other.example")
    got, c = rules("sha256", f"# hashed\n{d1.upper()}\n{d2}  # inline comment\nnot-a-digest\n{d1[:-1]}\n")
    assert [r.name for r in got] == [d1, d2] and all(r.hashed for r in got)
    assert (c.rules, c.invalid, c.first_invalid_lines, c.skipped) == (2, 2, [4, 5], 1)
    assert blocked(got, "hidden.example") and blocked(got, "www.hidden.example") and not blocked(got, "example")
    assert not blocked(got, "nothidden.example") and "hidden" not in repr(got)


# ---------------------------------------------------------------- detection and the names adapter


@pytest.mark.parametrize(("text", "fmt"), [
    ("[Adblock Plus 2.0]\nexample.org\n", "adblock"),
    ("! c\n||a.example^\n||b.example^\nplain.example\n", "adblock"),
    ("$TTL 300\na.example CNAME .\n*.a.example CNAME .\n", "rpz"),
    ("address=/a.example/0.0.0.0\nserver=/b.example/\n", "dnsmasq"),
    (f"{'ab' * 32}\n{'CD' * 32}\n", "sha256"),
    ("Updated: x\n192.0.2.1;a.example;http://a.example/x;auth;1;2026\n", "csv"),
    ("0.0.0.0 a.example\n0.0.0.0 b.example\n", "hosts"),
    ("a.example\nb.example\n", "domains"),
])
def test_detect(text: str, fmt: str) -> None:
    assert detect(text.splitlines()) == fmt


def test_detect_refuses_noise() -> None:
    with pytest.raises(ValueError, match="cannot detect"):
        detect(["<html>", "<body>", "not a list"])


def test_names_adapter_wraps_hosts_and_domains() -> None:
    got, c = rules("hosts", "127.0.0.1 localhost\n0.0.0.0 a.example b.example\n0.0.0.0 bad..x\n")
    assert [(r.name, r.scope, r.action) for r in got] == [("a.example", "subtree", "block"), ("b.example", "subtree", "block")]
    assert (c.rules, c.lines, c.invalid, c.first_invalid_lines) == (2, 3, 1, [3])
    with pytest.raises(ValueError, match="unknown feed format"):
        parse_lines([], "yaml", RuleCounts())


# ---------------------------------------------------------------- the real feeds


@needs_data
def test_real_adguard_dns_filter() -> None:
    path = DATA / "adguard" / "adguard_dns_filter.txt"
    exceptions = sum(1 for line in path.open(encoding="utf-8") if line.startswith("@@"))
    counts = RuleCounts()
    started = time.perf_counter()
    got = list(parse_file(path, "auto", counts))
    seconds = time.perf_counter() - started
    print(f"\nAdGuard DNS filter: {counts.lines} lines, {counts.rules} rules, {counts.exceptions} exceptions, "
          f"{counts.regex} regex, {counts.wildcards} wildcard, {counts.important} important, "
          f"{counts.badfilter} badfilter ({counts.badfiltered} disabled), {counts.skipped_unsupported} unsupported, "
          f"{counts.skipped_cosmetic} cosmetic, {counts.invalid} invalid, {counts.regex_rejected} regex rejected; "
          f"parsed in {seconds:.2f} s")
    assert counts.rules == len(got) >= 100_000
    assert counts.exceptions == exceptions >= 1 and counts.regex >= 1 and counts.important == 5
    assert counts.badfilter == 5 and counts.invalid < 10
    assert counts.rules + counts.skipped + counts.skipped_unsupported + counts.invalid + counts.badfilter \
        + counts.badfiltered + counts.regex_rejected == counts.lines
    assert blocked(got, "adsrvmedia.adk2.co")  # $important
    assert not blocked(got, "ad.10010.com")  # @@ exception


@needs_data
def test_real_hagezi_adblock_and_domains_give_the_same_names() -> None:
    counts = RuleCounts()
    adblock = list(parse_file(DATA / "hagezi" / "multi.adblock.txt", "auto", counts))
    assert {r.scope for r in adblock} == {"subtree"} and {r.action for r in adblock} == {"block"}
    with (DATA / "hagezi" / "multi.onlydomains.txt").open(encoding="utf-8") as f:
        domains = set(stream_names(f, "domains", ParseResult()))
    assert {r.name for r in adblock} == domains and len(domains) == 181_570


@needs_data
def test_real_hagezi_rpz() -> None:
    counts = RuleCounts()
    got = list(parse_file(DATA / "hagezi" / "pro.mini.rpz.txt", "auto", counts))
    names = {r.name for r in got}
    assert counts.rules == 108_608 and len(names) == 54_304 and counts.invalid == 0
    assert {(r.scope) for r in got} == {"exact", "below"}  # each name as `name` and `*.name`


@needs_data
def test_real_registry_dump_sample() -> None:
    path = DATA / "formats" / "registry-dump.sample.csv"
    opts = {"columns": {"domain": 2, "url": 3}, "delimiter": ";", "encoding": "cp1251", "skip_lines": 1}
    rows = [line.split(";") for line in path.read_text(encoding="cp1251").splitlines()[1:]]
    ip_only = sum(1 for row in rows if not row[1] and not row[2])
    skip = RuleCounts()
    kept = list(parse_file(path, "csv", skip, **opts))
    host = RuleCounts()
    reduced = list(parse_file(path, "auto", host, url_policy="host", **opts))
    print(f"\nregistry sample: {len(rows)} entries; skip: {skip.rules} rules, {skip.urls_skipped} URL-only skipped; "
          f"host: {host.rules} rules, {host.urls_reduced} reduced; {ip_only} IP-only")
    assert len(rows) == 2000 and ip_only == 61 and skip.invalid == host.invalid == 0
    assert skip.urls_skipped == host.urls_reduced > 500 and host.urls_skipped == skip.urls_reduced == 0
    assert skip.rules + skip.urls_skipped + ip_only == 2000
    assert any(r.name.startswith("xn--") or ".xn--" in r.name for r in kept)
    assert all(r.name == r.name.lower() for r in reduced) and len(reduced) > len(kept)


@needs_data
def test_real_names_as_a_sha256_list(tmp_path: Path) -> None:
    with (DATA / "hagezi" / "doh.domains.txt").open(encoding="utf-8") as f:
        names = sorted(set(stream_names(f, "domains", ParseResult())))
    hashed = tmp_path / "doh.sha256"
    hashed.write_text("# sha256 of normalised names\n" + "".join(sha256_name(n) + "\n" for n in names))
    text = hashed.read_text()
    assert not any(n in text for n in names[:200])
    counts = RuleCounts()
    got = list(parse_file(hashed, "auto", counts))
    assert counts.rules == len(names) > 3000 and counts.invalid == 0
    assert blocked(got[:50], "www." + names[0]) and names[0] not in repr(got[:50])
