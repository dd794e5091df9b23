"""Forced DNS rules: the [firewall] config, rule rendering, `nft -c` on every variant, the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dnsfilter import cli
from dnsfilter.config import ConfigError, from_dict
from dnsfilter.router.firewall import parse_address_list, plan, render, render_remove, render_sets

LAN = {"dns": {"listen": ["192.168.1.2:5353"]}}


def cfg(**fw: object):
    return from_dict({**LAN, "firewall": fw})


# ------------------------------------------------------------ config


def test_defaults_follow_the_listen_port():
    c = from_dict(LAN)
    assert c.firewall.interfaces == ("br-lan",)
    r = plan(c)
    assert r.port == 5353 and r.reject_853_tcp and r.reject_853_udp
    assert "1.1.1.1" in r.doh4 and "2606:4700:4700::1111" in r.doh6
    assert plan(cfg(port=53)).port == 53


@pytest.mark.parametrize("fw, key", [
    ({"interfaces": []}, "firewall.interfaces"),
    ({"interfaces": ["br-lan", 'x" accept']}, "firewall.interfaces[1]"),
    ({"interfaces": ["averyveryverylongname"]}, "firewall.interfaces[0]"),
    ({"port": 70000}, "firewall.port"),
    ({"doh_addresses": ["1.1.1.1", "dns.google"]}, "firewall.doh_addresses[1]"),
    ({"block_dot": "yes"}, "firewall.block_dot"),
    ({"extra": 1}, "firewall.extra"),
])
def test_bad_values_name_their_key(fw, key):
    with pytest.raises(ConfigError) as e:
        cfg(**fw)
    assert e.value.key == key and "\n" not in str(e.value)


# ------------------------------------------------------------ rendering


def test_sets_are_merged_and_split_by_family():
    r = plan(cfg(doh_addresses=["10.0.0.0/8", "10.1.2.3", "192.0.2.1", "2001:db8::/32", "2001:db8::1"]),
             ["192.0.2.0/24"])
    assert r.doh4 == ("10.0.0.0/8", "192.0.2.0/24")
    assert r.doh6 == ("2001:db8::/32",)


def test_table_variant_replaces_itself_and_only_matches_lan():
    text = render(plan(cfg(interfaces=["br-lan", "wlan0"])))
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[:3] == ["table inet dnsfilter", "delete table inet dnsfilter", "table inet dnsfilter {"]
    rules = [ln for ln in lines if any(w in ln for w in ("redirect ", "reject", "drop"))]
    assert rules and all(ln.startswith('iifname { "br-lan", "wlan0" }') for ln in rules)
    assert 'meta l4proto { tcp, udp } th dport 53 redirect to :5353' in text
    assert "tcp dport 853 reject with tcp reset" in text and "udp dport 853 reject" in text
    assert "ip daddr @doh4 meta l4proto { tcp, udp } th dport 443 drop" in text
    assert "ip6 daddr @doh6 meta l4proto { tcp, udp } th dport 443 drop" in text
    assert "hook output" not in text  # the appliance's own upstream traffic is never matched


def test_switches_and_empty_sets():
    text = render(plan(cfg(block_dot=False, block_doq=False, doh_addresses=[])))
    assert "853" not in text and "elements" not in text
    doq_only = render(plan(cfg(block_dot=False)))
    assert "udp dport 853 reject" in doq_only and "tcp dport 853" not in doq_only


def test_fw4_variant_lives_inside_fw4s_table():
    text = render(plan(cfg()), "fw4")
    assert not any(ln.startswith("table") for ln in text.splitlines())
    assert "set dnsfilter_doh4 {" in text and "chain dnsfilter_redirect_dns {" in text
    assert "@dnsfilter_doh6" in text
    assert render_sets(plan(cfg()), "fw4").startswith("flush set inet fw4 dnsfilter_doh4\n")
    with pytest.raises(ValueError, match="unknown variant"):
        render(plan(cfg()), "iptables")


def test_sets_refresh_touches_only_the_sets():
    text = render_sets(plan(cfg(doh_addresses=["192.0.2.1"])))
    assert text == ("flush set inet dnsfilter doh4\nadd element inet dnsfilter doh4 { 192.0.2.1 }\n"
                    "flush set inet dnsfilter doh6\n")


def test_address_list_file():
    assert parse_address_list("# resolvers\n192.0.2.1  # one\n\n2001:db8::/48\n", "l") == ["192.0.2.1", "2001:db8::/48"]
    with pytest.raises(ValueError, match=r"^l:2: 'dns\.google' is not an address"):
        parse_address_list("192.0.2.1\ndns.google\n", "l")


# ------------------------------------------------------------ nft -c


def nft_check(script: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("nft") is None:
        pytest.skip("nft is not installed (make test installs nftables when run as root)")
    if os.geteuid() != 0:
        pytest.skip("nft -c needs root (CAP_NET_ADMIN) to open its netlink socket")
    return subprocess.run(["nft", "-c", "-f", "-"], input=script, capture_output=True, text=True, timeout=30)


VARIANTS = {
    "defaults": {},
    "two interfaces": {"interfaces": ["br-lan", "wlan0"], "port": 53},
    "no 853, empty sets": {"block_dot": False, "block_doq": False, "doh_addresses": []},
    "doq only, v4 only": {"block_dot": False, "doh_addresses": ["192.0.2.0/24"]},
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_every_variant_passes_nft_check(name):
    rules = plan(cfg(**VARIANTS[name]))
    table = render(rules)
    out = nft_check(table)
    assert out.returncode == 0, out.stderr
    # the set refresh is checked against the table it refills
    out = nft_check(table + render_sets(rules))
    assert out.returncode == 0, out.stderr
    # OpenWrt fw4 includes table-post files inside `table inet fw4 { ... }`
    out = nft_check("table inet fw4 {\n" + render(rules, "fw4") + "}\n" + render_sets(rules, "fw4"))
    assert out.returncode == 0, out.stderr
    assert nft_check(render_remove()).returncode == 0


def test_nft_check_does_reject_a_broken_script():
    out = nft_check(render(plan(cfg())).replace("redirect to", "redirect too"))
    assert out.returncode != 0


# ------------------------------------------------------------ CLI


def test_cli_render(tmp_path: Path, capsys):
    lst = tmp_path / "doh.txt"
    lst.write_text("203.0.113.7\n")
    conf = tmp_path / "c.toml"
    conf.write_text('[dns]\nlisten = ["10.0.0.1:5300"]\n[firewall]\ninterfaces = ["lan0"]\ndoh_list = "doh.txt"\n')
    assert cli.main(["firewall", "render", "-c", str(conf)]) == 0
    out = capsys.readouterr().out
    assert "redirect to :5300" in out and "203.0.113.7" in out and '"lan0"' in out
    assert cli.main(["firewall", "render", "-c", str(conf), "--variant", "fw4", "--sets"]) == 0
    assert capsys.readouterr().out.startswith("flush set inet fw4 dnsfilter_doh4")


def test_cli_bad_list_is_one_line_and_changes_nothing(tmp_path: Path, capsys):
    (tmp_path / "doh.txt").write_text("1.1.1.1\nnot-an-ip\n")
    conf = tmp_path / "c.toml"
    conf.write_text('[firewall]\ndoh_list = "doh.txt"\n')
    for sub in ("render", "apply", "refresh"):  # fails before nft is ever run
        with pytest.raises(SystemExit) as e:
            cli.main(["firewall", sub, "-c", str(conf)])
        assert e.value.code == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "doh.txt:2: 'not-an-ip' is not an address" in err
    conf.write_text('[firewall]\ninterfaces = ["a b"]\n')
    with pytest.raises(SystemExit) as e:
        cli.main(["firewall", "apply", "-c", str(conf)])
    assert e.value.code == 2 and "firewall.interfaces[0]" in capsys.readouterr().err


# ------------------------------------------------------------ the redirect must reach a listener


@pytest.mark.parametrize("listen, addresses, ok", [
    (["127.0.0.1:5353", "[::1]:5353"], None, False),  # the installer's old default with --firewall
    (["eth1:5353", "127.0.0.1:5353"], None, True),
    (["lan:5353"], None, True),
    (["0.0.0.0:5353"], None, True),
    (["[::]:5353"], None, True),
    (["eth2:5353"], None, False),  # another interface
    (["127.0.0.1:5353", "eth1:53"], None, False),  # the right interface, another port than listen[0]'s
    (["192.168.1.2:5353"], {"eth1": ["192.168.1.2", "fe80::1"]}, True),
    (["192.168.1.2:5353"], {"eth1": ["10.0.0.1"]}, False),  # not that interface's address
    (["192.168.1.2:5353"], None, True),  # addresses unknown: not refused
    (["192.168.1.2:5353"], {"wlan0": ["10.0.0.1"]}, True),  # eth1's unknown (not there yet): not refused
    (["[fe80::1%eth1]:5353"], {"eth1": ["fe80::1"]}, True),
])
def test_the_redirect_must_reach_a_listener(listen, addresses, ok):
    from dnsfilter.router.firewall import unanswered

    c = from_dict({"dns": {"listen": listen}, "firewall": {"interfaces": ["eth1"]}})
    why = unanswered(c, addresses)
    assert (why == "") == ok, why
    if not ok:
        assert why.startswith("LAN DNS on eth1 would be redirected to port 5353") and '"eth1:5353"' in why


def test_the_redirect_port_can_be_set_apart_from_listen():
    from dnsfilter.router.firewall import unanswered

    c = from_dict({"dns": {"listen": ["127.0.0.1:5353", "eth1:53"]},
                   "firewall": {"interfaces": ["eth1", "wlan0"], "port": 53}})
    assert unanswered(c, None).startswith("LAN DNS on wlan0 would be redirected to port 53")
