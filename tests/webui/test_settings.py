"""The Settings page and /api/settings: upstreams, block mode, time zone, language, and
backup/restore of the config file (validated before it replaces anything)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from dnsfilter import config as config_mod
from tests.webui.helpers import csrf_of


def _api(client: FlaskClient) -> dict[str, str]:
    return {"X-CSRF-Token": client.get("/api/session").get_json()["csrf_token"]}


def _general(client: FlaskClient, **over: str) -> dict[str, str]:
    data = dict(csrf_token=csrf_of(client, "/settings"), action="general", upstreams="9.9.9.9\ntls://1.1.1.1",
                block_mode="nxdomain", block_ip="", timezone="Europe/Moscow", language="ru")
    data.update(over)
    return data


def test_general_settings_are_saved(client: FlaskClient, config_path: Path) -> None:
    r = client.post("/settings", data=_general(client))
    assert r.status_code == 200, r.get_data(as_text=True)
    cfg = config_mod.load(config_path)
    assert [u.text for u in cfg.dns.upstreams] == ["9.9.9.9", "tls://1.1.1.1"]
    assert cfg.dns.block_mode.kind == "nxdomain" and cfg.general.timezone == "Europe/Moscow"
    assert "# household config" in config_path.read_text()
    assert 'lang="ru"' in client.get("/settings").get_data(as_text=True)  # the language follows at once
    r = client.post("/settings", data=_general(client, block_mode="ip", block_ip="192.168.1.2"))
    assert config_mod.load(config_path).dns.block_mode.ipv4 == "192.168.1.2"


def test_bad_settings_save_nothing(client: FlaskClient, config_path: Path) -> None:
    before = config_path.read_text()
    for over, field in [({"upstreams": "not an upstream!"}, "upstreams"), ({"upstreams": ""}, "upstreams"),
                        ({"block_mode": "ip", "block_ip": "1.2.3"}, "block_ip"),
                        ({"block_mode": "silent"}, "block_mode"), ({"timezone": "Mars/Base"}, "timezone"),
                        ({"language": "xx"}, "language")]:
        r = client.post("/settings", data=_general(client, **over))
        assert r.status_code == 400, over
        assert f'id="{field}-error"' in r.get_data(as_text=True), (over, r.get_data(as_text=True)[-3000:])
        assert config_path.read_text() == before


def test_api_settings(client: FlaskClient, config_path: Path) -> None:
    h = _api(client)
    assert client.get("/api/settings").get_json()["block_mode"] == "null"
    r = client.patch("/api/settings", json={"block_mode": "refused", "upstreams": ["127.0.0.1:5353"]}, headers=h)
    assert r.status_code == 200, r.get_json()
    got = client.get("/api/settings").get_json()
    assert got["block_mode"] == "refused" and got["upstreams"] == ["127.0.0.1:5353"]
    for body, field in [({"upstreams": "9.9.9.9"}, "upstreams"), ({"colour": "red"}, "colour"),
                        ({"timezone": "Nowhere"}, "timezone"), ({"block_mode": "ip:banana"}, "block_mode")]:
        r = client.patch("/api/settings", json=body, headers=h)
        assert r.status_code == 400 and r.get_json()["field"] == field, (body, r.get_json())


def test_backup_and_restore(client: FlaskClient, config_path: Path) -> None:
    saved = client.get("/settings/backup")
    assert saved.status_code == 200 and b"# household config" in saved.data
    assert "attachment" in saved.headers["Content-Disposition"]
    changed = saved.data.replace(b'timezone = "Asia/Almaty"', b'timezone = "Asia/Tokyo"')
    assert changed != saved.data
    r = client.post("/settings", data=dict(csrf_token=csrf_of(client, "/settings"), action="restore",
                                           file=(io.BytesIO(changed), "config.toml")))
    assert r.status_code == 200, r.get_data(as_text=True)
    assert config_mod.load(config_path).general.timezone == "Asia/Tokyo"
    assert config_path.with_name("config.toml.bak").read_bytes() == saved.data  # the old one is kept


def test_hostile_restore_changes_nothing(client: FlaskClient, config_path: Path) -> None:
    before = config_path.read_text()
    for data in [b"", b"\xff\xfe\x00binary", b"[dns\nupstreams = 1", b'[dns]\nblock_mode = "silent"\n',
                 b'[general]\ntimezone = "Mars/Base"\n', b"x = '" + b"a" * 300_000 + b"'"]:
        r = client.post("/settings", data=dict(csrf_token=csrf_of(client, "/settings"), action="restore",
                                               file=(io.BytesIO(data), "config.toml")))
        assert r.status_code in (400, 413), data[:30]
        assert config_path.read_text() == before
    r = client.post("/api/settings/restore", data=b"[dns]\nupstreams = []\n", headers=_api(client))
    assert r.status_code == 400 and "upstream" in r.get_json()["error"]
    assert config_path.read_text() == before
    r = client.post("/api/settings/restore", data=before.encode(), headers=_api(client))
    assert r.status_code == 200


WARNING = {
    "en": "Encrypted and unencrypted resolvers are mixed here. Whenever the encrypted ones fail, the filter asks "
          "these without encryption: 9.9.9.9.",
    "ru": "Здесь смешаны зашифрованные и незашифрованные DNS-серверы. Когда зашифрованные не отвечают, фильтр "
          "обращается без шифрования к этим: 9.9.9.9.",
    "kk": "Мұнда шифрланған және шифрланбаған DNS серверлері аралас. Шифрланғандары жауап бермегенде, сүзгі мына "
          "серверлерге шифрсыз жүгінеді: 9.9.9.9.",
}


def _warning(html: str) -> str | None:
    m = re.search(r'<p class="warning" id="upstreams-warning" role="status">([^<]*)</p>', html)
    return m.group(1) if m else None


@pytest.mark.parametrize("lang", ["en", "ru", "kk"])
def test_mixed_upstreams_are_warned_about_in_the_page_language(client: FlaskClient, lang: str) -> None:
    """The Settings page says what `config check` says: with encrypted and plain resolvers in one
    list, a failure of the encrypted ones sends lookups in the clear (the daemon does exactly that:
    tests/integration/test_encrypted_upstreams.py)."""
    client.post("/language", data=dict(csrf_token=csrf_of(client, "/settings"), lang=lang))
    assert _warning(client.get("/settings").get_data(as_text=True)) is None  # the default: plain only
    r = client.post("/settings", data=_general(client, language=lang))  # 9.9.9.9 and tls://1.1.1.1
    assert r.status_code == 200
    text = _warning(r.get_data(as_text=True))
    assert text is not None and text.startswith(WARNING[lang]), text
    assert _warning(client.get("/settings").get_data(as_text=True)) == text  # it stays while the list does
    r = client.post("/settings", data=_general(client, language=lang,
                                               upstreams="tls://1.1.1.1\nhttps://9.9.9.9/dns-query#dns.quad9.net"))
    assert r.status_code == 200 and _warning(r.get_data(as_text=True)) is None


def test_encrypted_only_refuses_a_plain_resolver_on_the_page(client: FlaskClient, config_path: Path) -> None:
    text = config_path.read_text()
    config_path.write_text(text.replace("[dns]\n", '[dns]\nupstream_policy = "encrypted-only"\nupstreams = ["tls://1.1.1.1"]\n', 1)
                           if "[dns]\n" in text else text + '\n[dns]\nupstream_policy = "encrypted-only"\n'
                           'upstreams = ["tls://1.1.1.1"]\n')
    before = config_path.read_text()
    client.post("/language", data=dict(csrf_token=csrf_of(client, "/settings"), lang="ru"))
    r = client.post("/settings", data=_general(client))
    assert r.status_code == 400
    html = r.get_data(as_text=True).replace("&#39;", "'").replace("&#34;", '"').replace("&quot;", '"')
    assert ("'9.9.9.9' — обычный DNS без шифрования, а upstream_policy = \"encrypted-only\" это запрещает" in html), \
        html[-3000:]
    assert config_path.read_text() == before
