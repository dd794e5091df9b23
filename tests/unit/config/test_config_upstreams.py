"""The [dns] upstream keys: bootstrap, upstream_policy, tls_ca_file, and the mixed-upstreams
warning. CA files are made with the openssl CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from dnsfilter import config
from dnsfilter.config import ConfigError, from_dict, load
from tests.support.paths import REPO
from tests.support.unbound import make_certs


def dns(**keys: object) -> config.Dns:
    return from_dict({"dns": keys}).dns


def test_defaults() -> None:
    d = from_dict({}).dns
    assert [b.text for b in d.bootstrap] == ["9.9.9.9", "149.112.112.112"]
    assert d.upstream_policy == "any" and d.tls_ca_file == ""


def test_example_config_shows_the_new_keys_with_their_defaults() -> None:
    text = (REPO / "config.example.toml").read_text()
    for line in ('bootstrap = ["9.9.9.9", "149.112.112.112"]', 'upstream_policy = "any"', 'tls_ca_file = ""'):
        assert f"\n{line}\n" in text, line
    d = load(REPO / "config.example.toml").dns
    assert d.bootstrap == from_dict({}).dns.bootstrap and d.upstream_policy == "any" and d.tls_ca_file == ""


@pytest.mark.parametrize(("keys", "where", "says"), [
    ({"upstream_policy": "strict"}, "dns.upstream_policy", "encrypted-only"),
    ({"upstream_policy": "encrypted-only", "upstreams": ["tls://9.9.9.9#dns.quad9.net", "1.1.1.1"]},
     "dns.upstreams[1]", "plain DNS"),
    ({"bootstrap": ["tls://9.9.9.9"]}, "dns.bootstrap[0]", "plain DNS"),
    ({"bootstrap": ["dns.google"]}, "dns.bootstrap[0]", "IP address"),
    ({"bootstrap": ["127.0.0.1:5353"]}, "dns.bootstrap[0]", "own address"),
    ({"bootstrap": ["127.0.0.1:53"], "listen": ["0.0.0.0:53"]}, "dns.bootstrap[0]", "own address"),
    ({"bootstrap": [], "upstreams": ["https://dns.quad9.net/dns-query"]}, "dns.bootstrap", "#tls-name"),
    ({"bootstrap": "9.9.9.9"}, "dns.bootstrap", "must be a list"),
    ({"tls_ca_file": "/nonexistent/ca.pem"}, "dns.tls_ca_file", "no such file"),
])
def test_bad_values_name_their_key(keys: dict, where: str, says: str) -> None:
    with pytest.raises(ConfigError) as e:
        dns(**keys)
    assert e.value.key == where and says in str(e.value), str(e.value)


def test_good_combinations() -> None:
    assert dns(bootstrap=[], upstreams=["https://9.9.9.9/dns-query#dns.quad9.net"]).bootstrap == ()
    d = dns(upstream_policy="encrypted-only", upstreams=["tls://1.1.1.1#one.one.one.one", "https://dns.quad9.net/"])
    assert d.upstream_policy == "encrypted-only" and [u.kind for u in d.upstreams] == ["tls", "https"]
    assert dns(bootstrap=["9.9.9.9:53"], listen=["0.0.0.0:53"]).bootstrap[0].host == "9.9.9.9"  # not our own


def test_tls_ca_file_must_hold_a_ca_certificate(tmp_path: Path) -> None:
    ca, server, key = make_certs(tmp_path)
    assert dns(tls_ca_file=str(ca)).tls_ca_file == str(ca)
    cfg = tmp_path / "config.toml"
    cfg.write_text('[dns]\ntls_ca_file = "ca.pem"\n')
    assert load(cfg).dns.tls_ca_file == str(tmp_path / "ca.pem")  # relative to the config file
    for bad, says in ((key, "no certificate"), (server, "no CA certificate"), (tmp_path, "cannot read")):
        with pytest.raises(ConfigError, match=says) as e:
            dns(tls_ca_file=str(bad))
        assert e.value.key == "dns.tls_ca_file" and e.value.params  # translatable in the web UI


def test_mixed_upstreams_are_warned_about() -> None:
    mixed = dns(upstreams=["tls://1.1.1.1#one.one.one.one", "9.9.9.9"]).upstreams
    [w] = config.upstream_warnings(mixed)
    assert "tls://1.1.1.1#one.one.one.one" in w and "9.9.9.9" in w and "encrypted-only" in w
    assert config.upstream_warnings(dns(upstreams=["9.9.9.9", "1.1.1.1"]).upstreams) == []
    assert config.upstream_warnings(dns(upstreams=["tls://1.1.1.1", "https://9.9.9.9/#dns.quad9.net"]).upstreams) == []


def test_config_check_prints_the_warning_and_passes(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[dns]\nupstreams = ["tls://1.1.1.1#one.one.one.one", "9.9.9.9"]\n')
    import sys

    r = subprocess.run([sys.executable, "-m", "dnsfilter", "config", "check", "-c", str(cfg)], capture_output=True,
                       text=True, cwd=REPO, timeout=30)
    assert r.returncode == 0 and ": OK (" in r.stdout
    assert r.stderr.startswith("dnsfilter: warning: dns.upstreams: encrypted (tls://1.1.1.1#one.one.one.one)")
