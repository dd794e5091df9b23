"""The UCI parser against libuci's grammar, and /etc/config/dnsfilter rendered to a config
that dnsfilter's own loader accepts."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from dnsfilter import config
from dnsfilter.router.uci import UciError, parse, settings, to_dict, uci_to_toml

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_UCI = ROOT / "deploy/openwrt/files/dnsfilter.config"


def one(text: str):
    (sec,) = parse(text)
    return sec


def test_basic_file_with_comments_and_both_quote_styles():
    secs = parse(
        "# a comment\n"
        "package dnsfilter\n"
        "\n"
        "config dnsfilter 'main'   # trailing comment\n"
        "\toption mode \"forward\"\n"
        "\toption hostname dns.lan\n"
        "\tlist upstream '9.9.9.9'\n"
        "\tlist upstream \"1.1.1.1\"\n"
        "config feed\n"
        "\toption url 'builtin:starter'\n"
    )
    assert [(s.type, s.name) for s in secs] == [("dnsfilter", "main"), ("feed", None)]
    assert secs[0].options == {"mode": "forward", "hostname": "dns.lan", "upstream": ["9.9.9.9", "1.1.1.1"]}
    assert secs[0].lines["mode"] == 5


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("option v 'a b'", "a b"),
        ("option v 'it'\\''s'", "it's"),  # uci export's own escape of a single quote
        ('option v "say \\"hi\\""', 'say "hi"'),
        ("option v 'a\\b'", "a\\b"),  # no escapes inside single quotes
        ("option v a\\ b", "a b"),  # a backslash takes the next character literally
        ("option v 'a'\"b\"c", "abc"),  # adjacent pieces are joined
        ("option v x#not-a-value", "x"),  # '#' starts a comment even inside a bare word
        ("option v 'x#y'", "x#y"),
        ("o v short", "short"),  # one-letter commands
    ],
)
def test_values(line, value):
    assert one("config t 's'\n" + line + "\n").options["v"] == value


def test_multiline_values_and_continuations():
    sec = one("config t\n\toption a 'one\ntwo'\n\toption b long\\\nword\n\toption c \"x\\\ny\"\n")
    assert sec.options == {"a": "one\ntwo", "b": "longword", "c": "xy"}


def test_semicolons_split_commands():
    sec = one("config t 'n'; option a 1; list b x; list b y\n")
    assert sec.options == {"a": "1", "b": ["x", "y"]}


def test_option_then_list_becomes_a_list_and_empty_option_deletes():
    sec = one("config t\n option a 1\n list a 2\n option b 3\n option b ''\n list c ''\n")
    assert sec.options == {"a": ["1", "2"], "c": [""]}


def test_repeated_named_section_merges():
    (sec,) = parse("config t 'n'\n option a 1\nconfig t 'n'\n option b 2\n")
    assert sec.options == {"a": "1", "b": "2"}


@pytest.mark.parametrize(
    ("text", "line", "why"),
    [
        ("option a 1\n", 1, "before the first section"),
        ("config t\n frob a 1\n", 2, "invalid command"),
        ("config t\n option a-b 1\n", 2, "invalid character in name field"),
        ("config t 'my-name'\n", 1, "invalid character in name field"),
        ("config 't y'\n", 1, "invalid character in type field"),
        ("config t\n option a 1 2\n", 2, "too many arguments"),
        ("config t\n option a 'open\n\n", 3, "unterminated '"),
        ('config t\n option a "open\n', 2, 'unterminated "'),
        ("config t 'n'\nconfig u 'n'\n", 2, "different type"),
        ("config t\n option\n", 2, "invalid command"),  # strtok keeps the newline: not `option`
        ("config t\n option '' x\n", 2, "insufficient arguments"),
        ("config t 'n' extra\n", 1, "too many arguments"),
        ("package 'a b'\n", 1, "invalid character"),
        ("config t\n option a 'x\x01'\n", 2, "control character"),
    ],
)
def test_rejected_like_uci(text, line, why):
    with pytest.raises(UciError) as e:
        parse(text)
    assert e.value.line == line
    assert why in str(e.value)


def test_default_uci_file_renders_to_a_valid_config(tmp_path):
    text = uci_to_toml(DEFAULT_UCI.read_text())
    path = tmp_path / "config.toml"
    path.write_text(text)
    cfg = config.load(path)
    assert [str(x) for x in cfg.dns.listen] == ["127.0.0.1:5353", "[::1]:5353"]
    assert [f.name for f in cfg.feeds] == ["starter", "blocklistproject-tracking", "hagezi-tif-medium", "ut1-phishing"]
    # every category blocked by default has a list (none "not enforced"), the smaller catalog ones
    from dnsfilter.config.profiles import unenforced

    assert cfg.defaults.block_categories == ("ads", "trackers", "malware", "phishing")
    assert unenforced(cfg.defaults.block_categories, {f.category for f in cfg.feeds if f.enabled}) == ()
    assert cfg.network.trusted_forwarders == ("127.0.0.1/32", "::1/128")
    assert cfg.network.lease_files == ("/tmp/dhcp.leases",)
    assert cfg.storage.data_dir == "/var/lib/dnsfilter"
    assert cfg.firewall.redirect_port(cfg.dns) == 53
    assert cfg.dns.cache_size == 2500 and cfg.dns.fastpath_size == 5000  # docs/deploy.md: the 40 MB budget
    assert cfg.storage.log_ring == 2048  # the query log's rings: docs/deploy.md, the same budget


FULL = """
config dnsfilter 'main'
	option mode 'replace'
	option timezone 'Asia/Almaty'
	option hostname 'filter.lan'
	option web_listen '192.168.1.1:8080'
	option block_mode 'nxdomain'
	list upstream 'tls://1.1.1.1#cloudflare-dns.com'
	list deny 'example.org'
	list always_allow 'helpline.example'
	option default_profile 'Adults'

config feed
	option name 'hagezi'
	option catalog 'hagezi-pro'
	option enabled '0'
	option interval '12h'

config profile 'kids'
	option name 'Kids'
	list block_category 'ads'
	list block_category 'adult'
	list block_service 'tiktok'
	option safe_search 'yes'
	option youtube 'moderate'
	list budget 'youtube=60m'
	list budget 'games=2h'

config profile 'Adults'

config schedule
	option profile 'kids'
	option name 'bedtime'
	list day 'weekdays'
	option start '21:00'
	option end '07:00'

config schedule
	option profile 'Kids'
	option start '13:00'
	option end '14:00'
	list block 'games'

config device
	option name 'Tablet'
	option mac 'AA-BB-CC-DD-EE-FF'
	option profile 'kids'
"""


def test_full_config_round_trips_through_toml_and_the_loader():
    text = uci_to_toml(FULL)
    data = tomllib.loads(text)
    cfg = config.from_dict(data, "/etc/dnsfilter/config.toml")
    assert [str(x) for x in cfg.dns.listen] == ["lan:53", "127.0.0.1:53", "[::1]:53"]
    assert cfg.network.trusted_forwarders == ()
    assert cfg.general.timezone == "Asia/Almaty" and cfg.web and cfg.web.listen == "192.168.1.1:8080"
    kids = cfg.profiles[0]
    assert kids.name == "Kids" and kids.safe_search and kids.youtube == "moderate"
    assert dict(kids.budgets) == {"youtube": 60, "games": 120}
    assert [s.name for s in kids.schedules] == ["bedtime", "schedule 2"]
    assert kids.schedules[1].block == ("games",)
    assert cfg.devices[0].profile == "Kids" and cfg.devices[0].mac == "aa:bb:cc:dd:ee:ff"
    assert cfg.feeds[0].enabled is False and cfg.feeds[0].interval == 12 * 3600
    assert cfg.filter.deny == ("example.org",) and cfg.defaults.profile == "Adults"
    assert settings(parse(FULL)) == {"enabled": True, "mode": "replace", "port": 53, "force_dns": False,
                                     "web_listen": "192.168.1.1:8080"}


def test_awkward_strings_survive_toml():
    data = to_dict("config dnsfilter 'main'\n option hostname 'a\"b\\\\c'\n list allow 'x.example'\n")
    assert tomllib.loads(uci_to_toml("config dnsfilter 'main'\n option timezone 'Europe/Berlin'\n"))
    assert data["general"]["hostname"] == 'a"b\\\\c'
    from dnsfilter.router.uci import to_toml

    assert tomllib.loads(to_toml(data))["general"]["hostname"] == 'a"b\\\\c'


def test_control_characters_survive_toml():
    """The fuzzer's find (tests/fuzz/regressions/uci/del-character-in-a-value): JSON's escapes
    leave DEL (U+007F) as it is and TOML forbids it, so a value holding one made TOML that the
    config loader refused instead of the value the file holds."""
    from dnsfilter.router.uci import to_toml

    odd = "a\x7fb\u2028c"  # the grammar refuses the C0 controls, like uci
    data = to_dict(f"config dnsfilter 'main'\n option hostname '{odd}'\n")
    assert tomllib.loads(to_toml(data))["general"]["hostname"] == odd
    data["profiles"] = [{"name": "K", "services": {odd: odd}}]
    assert tomllib.loads(to_toml(data))["profiles"][0]["services"] == {odd: odd}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("config dnsfilter 'main'\n option mode 'both'\n", "must be forward or replace"),
        ("config dnsfilter 'main'\n option port '99999'\n", "between 1 and 65535"),
        ("config dnsfilter 'main'\n option force_dns 'maybe'\n", "not a boolean"),
        ("config dnsfilter 'main'\n option cache_size 'lots'\n", "not a whole number"),
        ("config dnsfilter 'main'\n option colour 'blue'\n", "unknown option"),
        ("config dnsfilter 'main'\n list mode 'forward'\n", "must be an option, not a list"),
        ("config dnsfilter 'a'\nconfig dnsfilter 'b'\n", "only one"),
        ("config widget\n", "unknown section type"),
        ("config feed\n option url 'builtin:starter'\n", "needs a name"),
        ("config profile 'p'\n list budget 'youtube'\n", "ID=DURATION"),
        ("config schedule\n option profile 'nobody'\n option start '1:00'\n option end '2:00'\n",
         "no profile named"),
    ],
)
def test_render_errors_name_the_line(text, why):
    with pytest.raises(UciError) as e:
        to_dict(text)
    assert why in str(e.value)
    assert e.value.line >= 1


def test_values_the_loader_rejects_are_reported_by_it():
    data = to_dict("config dnsfilter 'main'\n list upstream 'ftp://nope'\n")
    with pytest.raises(config.ConfigError) as e:
        config.from_dict(data)
    assert e.value.key == "dns.upstreams[0]"


def test_doh_feed_options_reach_the_firewall_section():
    text = "config dnsfilter 'main'\n option force_dns '1'\n option doh_feed 'https://lists.example/doh.txt'\n" \
           " option doh_refresh '3600'\n"
    cfg = config.from_dict(tomllib.loads(uci_to_toml(text)), "/var/etc/dnsfilter/config.toml")
    assert cfg.firewall.doh_feed == "https://lists.example/doh.txt" and cfg.firewall.doh_refresh == 3600
    plain = config.from_dict(tomllib.loads(uci_to_toml("config dnsfilter 'main'\n")), "/x/config.toml")
    assert plain.firewall.doh_feed == "" and plain.firewall.doh_refresh == 21600
    with pytest.raises(config.ConfigError, match="doh_refresh"):
        config.from_dict(tomllib.loads(uci_to_toml(text.replace("'3600'", "'1'"))), "/x/config.toml")


def test_encrypted_upstream_options_reach_the_dns_section(tmp_path):
    from tests.support.unbound import make_certs

    ca = make_certs(tmp_path)[0]
    text = ("config dnsfilter 'main'\n list upstream 'https://dns.quad9.net/dns-query'\n"
            " option upstream_policy 'encrypted-only'\n list bootstrap '9.9.9.10'\n list bootstrap '149.112.112.10'\n"
            f" option tls_ca_file '{ca}'\n")
    cfg = config.from_dict(tomllib.loads(uci_to_toml(text)), "/var/etc/dnsfilter/config.toml")
    assert cfg.dns.upstream_policy == "encrypted-only" and cfg.dns.tls_ca_file == str(ca)
    assert [b.text for b in cfg.dns.bootstrap] == ["9.9.9.10", "149.112.112.10"]
    plain = config.from_dict(tomllib.loads(uci_to_toml("config dnsfilter 'main'\n")), "/x/config.toml")
    assert plain.dns.bootstrap == config.Dns().bootstrap and plain.dns.upstream_policy == "any"
    with pytest.raises(config.ConfigError) as e:  # plain DNS with encrypted-only: named by its TOML key
        config.from_dict(tomllib.loads(uci_to_toml(text + " list upstream '9.9.9.9'\n")), "/x/config.toml")
    assert e.value.key == "dns.upstreams[1]"


MANAGED = """config dnsfilter 'main'
	option data_dir '/var/lib/dnsfilter'

config provider 'provider'
	option bundle_url 'https://acs.isp.example/dnsfilter/bundle.toml'
	option public_key 'RWQf6LRCGA9i53mlYecO4IzT51TGPpvWucNSCh1CBM0QTaLn73Y7GFO3'
	option interval '30m'

config authority 'authority'
	option selftest_interval '6h'
	option selftest_sample '200'

config feed 'national'
	option url 'https://registry.example/dump.xml'
	option format 'registry-xml'
	option category 'authority'
	option legal_basis 'Law 149, art. 15.1'
	option appeal_url 'https://registry.example/appeal'
	option url_policy 'host'
"""


def test_an_acs_or_usp_agent_provisions_a_managed_router_through_uci():
    """The four options of `config provider` are all an agent writes (docs/authority.md); the
    provider's state and the audit log go to flash, data_dir stays in RAM."""
    cfg = config.from_dict(tomllib.loads(uci_to_toml(MANAGED)), "/var/etc/dnsfilter/config.toml")
    assert cfg.provider is not None and cfg.provider.bundle_url.endswith("/bundle.toml")
    assert cfg.provider.interval == 1800 and cfg.provider.state_dir == "/etc/dnsfilter/provider"
    assert cfg.provider_dir() == Path("/etc/dnsfilter/provider")
    assert cfg.audit_path() == Path("/etc/dnsfilter/audit.jsonl")
    assert cfg.authority.selftest_interval == 6 * 3600 and cfg.authority.selftest_sample == 200
    feed = cfg.feeds[0]
    assert (feed.format, feed.category, feed.legal_basis) == ("registry-xml", "authority", "Law 149, art. 15.1")
    assert feed.appeal_url == "https://registry.example/appeal" and dict(feed.csv) == {"url_policy": "host"}
    # a provider section alone still puts the audit log on flash; `enabled 0` leaves the router unmanaged
    only = config.from_dict(tomllib.loads(uci_to_toml(MANAGED.split("config authority")[0])), "/x/config.toml")
    assert only.audit_path() == Path("/etc/dnsfilter/audit.jsonl")
    off = MANAGED.replace("option interval '30m'", "option interval '30m'\n\toption enabled '0'")
    assert config.from_dict(tomllib.loads(uci_to_toml(off)), "/x/config.toml").provider is None
    with pytest.raises(UciError, match="needs option bundle_url"):
        to_dict("config provider 'provider'\n option public_key 'x'\n")


def test_an_xfr_feed_with_its_tsig_key() -> None:
    text = uci_to_toml("""
config feed 'isp'
	option url 'xfr://192.0.2.53/isp.rpz.example'
	option category 'authority'
	option tsig_name 'k1'
	option tsig_secret_file '/etc/dnsfilter/k1.secret'
""")
    feed = config.from_dict(tomllib.loads(text), "/x/config.toml").feeds[0]
    assert (feed.format, feed.xfr.zone, feed.tsig.name, feed.tsig.algorithm, feed.tsig.secret_file) == (
        "rpz", "isp.rpz.example", "k1", "hmac-sha256", "/etc/dnsfilter/k1.secret")
