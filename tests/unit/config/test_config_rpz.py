"""The keys of issue 20: `xfr://` feeds with a TSIG key, and the `[rpz]` section."""

from __future__ import annotations

from pathlib import Path

import pytest

from dnsfilter.config import ConfigError, from_dict, load
from dnsfilter.config.feeds import Tsig, XfrSource


def feed(**kw: object) -> dict:
    return {"feeds": [{"name": "isp", **kw}]}


def test_xfr_feed() -> None:
    cfg = from_dict(feed(url="xfr://192.0.2.53/RPZ.Example.", tsig={"name": "K1.", "secret_file": "k1.secret"}))
    f = cfg.feeds[0]
    assert (f.format, f.remote, f.xfr, f.tsig) == ("rpz", True, XfrSource("192.0.2.53", 53, "rpz.example"),
                                                  Tsig("k1", "hmac-sha256", "k1.secret"))
    assert from_dict(feed(url="xfr://[2001:db8::53]:5300/z.example")).feeds[0].xfr == XfrSource("2001:db8::53", 5300,
                                                                                                "z.example")


@pytest.mark.parametrize(("entry", "key", "words"), [
    ({"url": "xfr://primary.example/z.example"}, "feeds[0].url", "must be an IP address"),
    ({"url": "xfr://192.0.2.53/"}, "feeds[0].url", "expected xfr://ADDRESS[:PORT]/ZONE"),
    ({"url": "xfr://192.0.2.53/a..b"}, "feeds[0].url", "not a DNS name"),
    ({"url": "xfr://192.0.2.53/z.example", "format": "domains"}, "feeds[0].format", 'format = "rpz"'),
    ({"url": "https://x.example/l", "tsig": {"name": "k", "secret_file": "f"}}, "feeds[0].tsig", "only for"),
    ({"url": "xfr://192.0.2.53/z", "tsig": {"name": "k", "algorithm": "hmac-md5", "secret_file": "f"}},
     "feeds[0].tsig.algorithm", "unknown algorithm"),
    ({"url": "xfr://192.0.2.53/z", "tsig": {"name": "k"}}, "feeds[0].tsig.secret_file", "base64 secret"),
    ({"url": "xfr://192.0.2.53/z", "tsig": {"name": "k", "secret_file": "f", "secret": "x"}}, "feeds[0].tsig.secret",
     "unknown key"),
])
def test_bad_xfr_feeds(entry: dict, key: str, words: str) -> None:
    with pytest.raises(ConfigError) as e:
        from_dict(feed(name="isp", **entry))
    assert e.value.key == key and words in str(e.value)


def test_tsig_secret_read_from_its_file_never_shown(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[[feeds]]\nname = "isp"\nurl = "xfr://192.0.2.53/z.example"\n'
        'tsig = { name = "k1", secret_file = "k1.secret" }\n')
    cfg = load(tmp_path / "config.toml")
    with pytest.raises(ValueError, match="k1.secret: No such file"):
        cfg.tsig_secret(cfg.feeds[0])
    (tmp_path / "k1.secret").write_text("not base64 at all!\n")
    with pytest.raises(ValueError, match="not a base64 secret") as e:
        cfg.tsig_secret(cfg.feeds[0])
    assert "at all" not in str(e.value)
    # what tsig-keygen prints around it is fine: the last word is the secret
    (tmp_path / "k1.secret").write_text("c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0\n")
    assert cfg.tsig_secret(cfg.feeds[0]) == b"secretsecretsecretsecret"


def test_rpz_section() -> None:
    r = from_dict({"rpz": {"out_dir": "zones", "reload_command": "knotc zone-reload", "suffix": "RPZ.Isp.Example.",
                           "profile_zones": True, "ttl": 30}}).rpz
    assert (r.out_dir, r.reload_command, r.suffix, r.profile_zones, r.ttl, r.refresh) == (
        "zones", "knotc zone-reload", "rpz.isp.example", True, 30, 600)
    for bad, key in (({"suffix": "a b"}, "rpz.suffix"), ({"reload_command": "knotc 'zone"}, "rpz.reload_command"),
                     ({"ttl": -1}, "rpz.ttl"), ({"outdir": "x"}, "rpz.outdir")):
        with pytest.raises(ConfigError) as e:
            from_dict({"rpz": bad})
        assert e.value.key == key


def test_rpz_publish_by_update() -> None:
    r = from_dict({"rpz": {"publish": "update", "update_server": "127.0.0.1:5300",
                           "update_key": {"name": "Upd.", "secret_file": "u.secret"}}}).rpz
    assert (r.publish, r.update_server, r.update_key) == (
        "update", XfrSource("127.0.0.1", 5300, "update"), Tsig("upd", "hmac-sha256", "u.secret"))
    assert from_dict({"rpz": {"update_server": "[2001:db8::53]"}}).rpz.update_server == XfrSource(
        "2001:db8::53", 53, "update")
    assert from_dict({}).rpz.publish == "reload"
    for bad, key in (({"publish": "nsupdate"}, "rpz.publish"), ({"publish": "update"}, "rpz.update_server"),
                     ({"update_server": "primary.example"}, "rpz.update_server"),
                     ({"update_key": {"name": "k"}}, "rpz.update_key.secret_file")):
        with pytest.raises(ConfigError) as e:
            from_dict({"rpz": bad})
        assert e.value.key == key
