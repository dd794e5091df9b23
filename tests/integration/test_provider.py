"""The provider's signed bundle end to end, over a real HTTPS server on loopback whose CA is made
by the test and given to the client (`[provider] ca_file`): accepted when signed, newer and valid
with the household's file; a bad signature, a replayed older serial and a bundle that fails
`config check` each keep the last good bundle and say why (status, audit, metrics); a bundle
that drops a locked authority list wins over a household trying to re-add it; the household's
profiles and devices survive every change; the running daemon applies a new bundle."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dnsfilter import config as config_mod
from dnsfilter.authority import audit
from dnsfilter.authority.bundle import read_state, sync_bundle
from tests.support.daemon import REPO, DaemonProcess, ede
from tests.support.feedserver import FeedServer, Route, serve_feeds
from tests.support.scripted import Scripted
from tests.support.signing import Signer, make_ca, new_signer

pytestmark = pytest.mark.integration


@pytest.fixture
def https(tmp_path: Path) -> Iterator[tuple[FeedServer, Path]]:
    ca, cert, key = make_ca(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv, httpd = serve_feeds(ctx)
    try:
        yield srv, ca
    finally:
        srv.stop.set()
        httpd.shutdown()
        httpd.server_close()


HOUSEHOLD = """[provider]
bundle_url = "{url}"
public_key = "{key}"
interval = "1h"
ca_file = "{ca}"

[storage]
data_dir = "var"

[defaults]
profile = "Kids"

[[profiles]]
name = "Kids"
block_categories = ["adult"]

[[profiles]]
name = "Adults"
block_categories = []

[[devices]]
name = "tablet"
mac = "aa:bb:cc:dd:ee:01"
profile = "Kids"

[[feeds]]
name = "own"
url = "own.txt"
format = "domains"
category = "adult"
{extra}"""

NATIONAL = """
[[feeds]]
name = "national"
url = "{list_url}"
format = "domains"
category = "authority"
legal_basis = "Law 42, art. 7"
"""


def bundle(serial: int, *, upstreams: str = '"127.0.0.1:5300"', national: bool = True, list_url: str = "nat.txt",
           locked: str = '"dns.upstreams", "feeds.national"', extra: str = "") -> bytes:
    text = f"serial = {serial}\nlocked = [{locked}]\n\n[dns]\nupstreams = [{upstreams}]\n{extra}"
    if national:
        text += NATIONAL.format(list_url=list_url)
    return text.encode()


def publish(srv: FeedServer, signer: Signer, body: bytes, etag: str | None = None, sig_body: bytes | None = None) -> None:
    srv.routes["/bundle.toml"] = Route(body, etag=etag)
    srv.routes["/bundle.toml.minisig"] = Route(signer.sign(body if sig_body is None else sig_body).encode())


def household(tmp_path: Path, srv: FeedServer, signer: Signer, ca: Path, extra: str = "") -> Path:
    (tmp_path / "own.txt").write_text("own.example\n")
    (tmp_path / "nat.txt").write_text("banned.example\nbanned2.example\n")
    p = tmp_path / "config.toml"
    p.write_text(HOUSEHOLD.format(url=srv.url("/bundle.toml"), key=signer.public_key, ca=ca, extra=extra))
    return p


def load(p: Path) -> config_mod.Config:
    return config_mod.load(p)


def assert_household_kept(cfg: config_mod.Config) -> None:
    assert [p.name for p in cfg.profiles] == ["Kids", "Adults"] and cfg.defaults.profile == "Kids"
    assert [(d.name, d.mac, d.profile) for d in cfg.devices] == [("tablet", "aa:bb:cc:dd:ee:01", "Kids")]
    assert "own" in [f.name for f in cfg.feeds]


def events(p: Path) -> list[str]:
    return [r["event"] for r in audit.records(load(p).audit_path())]


def test_accepted_then_bad_signature_replay_and_config_failure_keep_the_last_good(
        https: tuple[FeedServer, Path], tmp_path: Path) -> None:
    srv, ca = https
    signer = new_signer()
    path = household(tmp_path, srv, signer, ca)
    assert load(path).managed.serial == 0  # nothing accepted yet: the household's file alone
    publish(srv, signer, bundle(1), etag='"b1"')
    done = subprocess.run([sys.executable, "-m", "dnsfilter", "provider", "sync", "-c", str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    cfg = load(path)
    assert cfg.managed.serial == 1 and cfg.managed.locked == ("dns.upstreams", "feeds.national")
    assert [u.text for u in cfg.dns.upstreams] == ["127.0.0.1:5300"]
    assert "national" in [f.name for f in cfg.feeds]
    assert_household_kept(cfg)
    status = json.loads(subprocess.run([sys.executable, "-m", "dnsfilter", "provider", "status", "-c", str(path),
                                        "--json"], cwd=REPO, capture_output=True, text=True, timeout=30).stdout)
    assert status["serial"] == 1 and status["key_id"] == signer.key_id_hex and status["last_check"] > 0
    assert status["last_error"] == "" and status["source"] == srv.url("/bundle.toml")
    # unchanged: a conditional GET answered 304
    assert sync_bundle(cfg).result == "unchanged" and srv.codes("/bundle.toml")[-1] == 304

    # 1. a bad signature: the body changed after signing
    publish(srv, signer, bundle(2, upstreams='"127.0.0.1:6666"'), sig_body=bundle(2))
    st = sync_bundle(load(path))
    assert (st.result, st.error_kind, st.serial) == ("rejected", "signature", 1)
    assert "does not verify" in st.last_error
    assert [u.text for u in load(path).dns.upstreams] == ["127.0.0.1:5300"]
    # ... or signed by a key that is not the provider's
    publish(srv, new_signer(), bundle(2, upstreams='"127.0.0.1:6666"'))
    st = sync_bundle(load(path))
    assert st.error_kind == "signature" and "another key" in st.last_error and load(path).managed.serial == 1

    # 2. a newer bundle, then the older one replayed (properly signed, but serial 2 is in force)
    publish(srv, signer, bundle(2, upstreams='"127.0.0.1:5301"'))
    assert sync_bundle(load(path)).result == "new" and load(path).managed.serial == 2
    publish(srv, signer, bundle(1, upstreams='"127.0.0.1:6666"'))
    st = sync_bundle(load(path))
    assert (st.result, st.error_kind, st.rejected_serial) == ("rejected", "replay", 1)
    assert "not above 2" in st.last_error and [u.text for u in load(path).dns.upstreams] == ["127.0.0.1:5301"]

    # 3. signed and newer, but the merged config fails `config check` (a default profile the household lacks)
    publish(srv, signer, bundle(3, extra='\n[defaults]\nprofile = "Nobody"\n', locked='"defaults"'))
    st = sync_bundle(load(path))
    assert (st.result, st.error_kind) == ("rejected", "config") and "Nobody" in st.last_error
    cfg = load(path)
    assert cfg.managed.serial == 2
    assert_household_kept(cfg)
    evs = events(path)
    assert evs.count("bundle_fetched") == 2 and evs.count("bundle_rejected") == 4
    assert audit.verify(cfg.audit_path()).ok
    # the CLI says it too, and exits 1
    done = subprocess.run([sys.executable, "-m", "dnsfilter", "provider", "sync", "-c", str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "REJECTED (config)" in done.stdout


def test_https_without_the_providers_ca_is_refused(https: tuple[FeedServer, Path], tmp_path: Path) -> None:
    srv, ca = https
    signer = new_signer()
    path = household(tmp_path, srv, signer, ca)
    path.write_text(path.read_text().replace(f'ca_file = "{ca}"\n', ""))  # the system's CAs only
    publish(srv, signer, bundle(1))
    st = sync_bundle(load(path), fetch_options={"retries": 0})
    assert (st.result, st.error_kind, st.serial) == ("failed", "fetch", 0)
    assert "SSL" in st.last_error or "certificate" in st.last_error.lower()


def test_a_bundle_dropping_a_locked_authority_list_wins_over_the_household_re_adding_it(
        https: tuple[FeedServer, Path], tmp_path: Path) -> None:
    srv, ca = https
    signer = new_signer()
    path = household(tmp_path, srv, signer, ca)
    publish(srv, signer, bundle(1))
    assert sync_bundle(load(path)).result == "new"
    assert "national" in [f.name for f in load(path).feeds]
    # the household tries to change the locked list (turn it off) and the locked upstreams
    path.write_text(path.read_text() + '\n[[feeds]]\nname = "national"\nurl = "nat.txt"\nformat = "domains"\n'
                    'category = "authority"\nenabled = false\n\n[dns]\nupstreams = ["127.0.0.1:9999"]\n')
    cfg = load(path)
    nat = next(f for f in cfg.feeds if f.name == "national")
    assert nat.enabled and nat.legal_basis == "Law 42, art. 7"  # the bundle's, untouched
    assert [u.text for u in cfg.dns.upstreams] == ["127.0.0.1:5300"]
    assert [k for k, _why in cfg.managed.refused] == ["feeds.national", "dns.upstreams"]
    # the provider drops the list (it stays locked); the household's copy must not bring it back
    publish(srv, signer, bundle(2, national=False))
    assert sync_bundle(load(path)).result == "new"
    cfg = load(path)
    assert "national" not in [f.name for f in cfg.feeds]
    assert ("feeds.national" in [k for k, _why in cfg.managed.refused])
    assert_household_kept(cfg)
    done = subprocess.run([sys.executable, "-m", "dnsfilter", "config", "check", "-c", str(path)], cwd=REPO,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and "feeds.national: set by your provider (bundle serial 2)" in done.stderr


def test_the_daemon_fetches_the_bundle_after_start_and_answers_with_it(
        https: tuple[FeedServer, Path], tmp_path: Path) -> None:
    srv, ca = https
    signer = new_signer()
    with Scripted(zone={"free.example": ["free.example. 300 A 192.0.2.5"]}) as up:
        publish(srv, signer, bundle(1, upstreams=f'"{up.addr}"'))
        text = household(tmp_path, srv, signer, ca).read_text()
        d = DaemonProcess(tmp_path, text.replace('[storage]\ndata_dir = "var"\n', "")
                          + '\n[dns]\nlisten = ["127.0.0.1:{port}"]\nupstreams = ["127.0.0.1:9"]\n')
        d.start()
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                r = d.query("banned.example")
                if ede(r) and ede(r)[0][0] == 16:
                    break
                time.sleep(0.2)
            else:
                pytest.fail("the bundle's authority list is not in force:\n" + d.log())
            assert "Law 42, art. 7" in ede(r)[0][1]
            assert [rd.to_text() for rs in d.query("free.example").answer for rd in rs] == ["192.0.2.5"]  # its upstream
            assert "dns.upstreams: set by your provider" in d.log()  # the household's own value, refused
            evs = events(d.config_path)
            assert "bundle_fetched" in evs and "bundle_effective" in evs and "effective" in evs
            assert evs.index("bundle_fetched") < evs.index("bundle_effective")
            metrics = subprocess.run([sys.executable, "-m", "dnsfilter", "ctl", "metrics", "-c", str(d.config_path)],
                                     cwd=REPO, capture_output=True, text=True, timeout=30).stdout
            assert "dnsfilter_provider_bundle_serial 1" in metrics
            assert 'dnsfilter_provider_bundle_rejected{reason="signature"} 0' in metrics
            assert 'dnsfilter_authority_list_entries{feed="national"} 2' in metrics
        finally:
            assert d.stop() == 0
    assert read_state(load(d.config_path).provider_dir()).serial == 1
