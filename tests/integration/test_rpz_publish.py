"""`dnsfilter rpz publish` into a real Knot DNS primary configured by deploy/rpz/knot.conf, in
its two modes (docs/rpz.md, "Publishing"):

- `publish = "reload"` with `reload_command = "knotc zone-reload {zones}"`: only the zones that
  changed are written, and only those are named to Knot;
- `publish = "update"`: the difference goes to Knot as a DNS UPDATE signed with the update key,
  then the file is written (a plain list's zone patched from its last version: the file is what
  a full `rpz export` writes); refused without that key (or with another), and then nothing changes:
  neither what Knot serves nor the file, so the next publish sends the same difference again.

After each, what Knot serves (read by AXFR with the transfer key) is exactly the zone file, and
stays so across a Knot restart (the journal and the file agree).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.name
import dns.query
import dns.rdatatype
import dns.tsig
import dns.zone
import pytest

from tests.support.daemon import cli
from tests.support.rpzservers import (
    KEY_NAME,
    SECRET,
    UPDATE_KEY_NAME,
    UPDATE_SECRET,
    KnotPrimary,
    need,
    wait_until,
)

pytestmark = pytest.mark.integration

ADS, ADULT = "ads.rpz.dnsfilter", "adult.rpz.dnsfilter"


@dataclass
class Publisher:
    dir: Path
    knot: KnotPrimary

    def config(self, extra: str = "") -> str:
        path = self.dir / "config.toml"
        path.write_text(
            '[storage]\ndata_dir = "var"\n'
            '[[feeds]]\nname = "ads"\nurl = "ads.txt"\nformat = "domains"\ncategory = "ads"\n'
            '[[feeds]]\nname = "adult"\nurl = "adult.txt"\nformat = "domains"\ncategory = "adult"\n'
            f'[dns]\nblock_mode = "nxdomain"\n[rpz]\nout_dir = "{self.knot.storage}"\n{extra}')
        return str(path)

    def publish(self, extra: str) -> tuple[int, dict, str]:
        cfg = self.config(extra)
        r = cli("feeds", "sync", "-c", cfg, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        r = cli("rpz", "publish", "-c", cfg, "--json", timeout=60)
        return r.returncode, json.loads(r.stdout) if r.stdout.strip() else {}, r.stderr

    def served(self, zone: str) -> set[str]:
        """The zone as Knot serves it (AXFR with the transfer key): `owner TYPE data` lines, as
        the export writes them, the apex's SOA and NS left out."""
        key = dns.tsig.Key(KEY_NAME, SECRET, "hmac-sha256")
        z = dns.zone.from_xfr(dns.query.xfr("127.0.0.1", zone, port=self.knot.port, keyring={key.name: key},
                                            keyname=key.name, lifetime=20))
        return {f"{name} {dns.rdatatype.to_text(rds.rdtype)} {rd.to_text()}" for name, rds in z.iterate_rdatasets()
                if name != dns.name.empty for rd in rds}

    def on_disk(self, zone: str) -> set[str]:
        text = (self.knot.storage / f"{zone}.zone").read_text()
        return {line for line in text.splitlines() if line[:1] not in (";", "$", "@", "")}


def names(n: int, tag: str) -> list[str]:
    rng = random.Random(tag)
    return [f"{tag}{rng.randrange(10**9)}-{i}.example" for i in range(n)]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Publisher]:
    need("knotd", "knotc")
    ads, adult = names(300, "ad"), names(200, "nsfw")
    (tmp_path / "ads.txt").write_text("\n".join(ads) + "\n")
    (tmp_path / "adult.txt").write_text("\n".join(adult) + "\n")
    knot = KnotPrimary([ADS, ADULT], {})
    pub = Publisher(tmp_path, knot)
    cfg = pub.config()
    for args in (["feeds", "sync"], ["rpz", "export", "--out", str(knot.storage)]):
        r = cli(*args, "-c", cfg, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
    with knot:
        yield pub


def change_ads(pub: Publisher) -> tuple[str, str]:
    """One name of the ads list removed and one added: (removed, added)."""
    lines = (pub.dir / "ads.txt").read_text().split()
    removed, added = lines[0], "freshly-published.example"
    (pub.dir / "ads.txt").write_text("\n".join(lines[1:] + [added]) + "\n")
    return removed, added


def serves(pub: Publisher, name: str) -> bool:
    return f"{name} CNAME ." in pub.served(ADS)


def test_reload_names_only_the_zones_that_changed(world: Publisher) -> None:
    adult_file = world.knot.storage / f"{ADULT}.zone"
    before = adult_file.stat().st_mtime_ns
    removed, added = change_ads(world)
    code, out, err = world.publish(f'reload_command = "{world.knot.reload_command()}"\n')
    assert code == 0, err
    assert out["reload"]["ok"], out["reload"]
    assert out["reload"]["zones"] == [ADS]  # `{zones}`: the changed zone only
    assert out["reload"]["command"].endswith(f"zone-reload {ADS}")
    assert adult_file.stat().st_mtime_ns == before  # an unchanged zone is not written again
    wait_until(lambda: serves(world, added), 20, "Knot serves the reloaded zone")
    assert not serves(world, removed)
    assert world.served(ADS) == world.on_disk(ADS)


def _update(world: Publisher, key: str) -> str:
    # reload_command fails if run: an UPDATE publish must not need it
    return (f'publish = "update"\nupdate_server = "127.0.0.1:{world.knot.port}"\nreload_command = "false"\n'
            + key)


def _key(world: Publisher, name: str, secret: str) -> str:
    (world.dir / "update.secret").write_text(secret + "\n")
    return f'update_key = {{ name = "{name}", algorithm = "hmac-sha256", secret_file = "update.secret" }}\n'


def test_update_sends_the_difference_and_keeps_the_file_in_step(world: Publisher) -> None:
    serial = world.knot.serial(ADS)
    adult_served = world.served(ADULT)
    removed, added = change_ads(world)
    code, out, err = world.publish(_update(world, _key(world, UPDATE_KEY_NAME, UPDATE_SECRET)))
    assert code == 0, err
    ads = next(z for z in out["zones"] if z["zone"] == ADS)
    assert ads["updated"] == 4 and ads["changed"]  # `name` and `*.name` of each: 2 deleted, 2 added
    assert ads["how"] == "patched"  # from the last version and the list it came from, not every name
    assert next(z for z in out["zones"] if z["zone"] == ADULT)["how"] == "kept"  # its inputs did not change
    assert "reload" not in out  # the UPDATE needed no reload (reload_command = "false" would fail)
    assert serves(world, added) and not serves(world, removed)  # applied when the UPDATE was answered
    assert (world.knot.serial(ADS) or 0) > (serial or 0)
    assert world.served(ADS) == world.on_disk(ADS)
    assert world.served(ADULT) == adult_served
    # Knot restarted: its journal and the file still agree (difference-no-serial finds nothing)
    world.knot.stop()
    world.knot.start(timeout=20)
    assert world.served(ADS) == world.on_disk(ADS)
    assert serves(world, added) and not serves(world, removed)


@pytest.mark.parametrize("key", ["none", "transfer key", "wrong secret"])
def test_update_refused_without_the_key_changes_nothing(world: Publisher, key: str) -> None:
    file = world.knot.storage / f"{ADS}.zone"
    text, served = file.read_text(), world.served(ADS)
    removed, added = change_ads(world)
    wrong = {"none": "", "transfer key": _key(world, KEY_NAME, SECRET),
             "wrong secret": _key(world, UPDATE_KEY_NAME, SECRET)}[key]
    code, out, err = world.publish(_update(world, wrong))
    assert code == 1
    assert len(out["errors"]) == 1 and out["errors"][0].startswith("UPDATE of ads.rpz.dnsfilter. to 127.0.0.1:"), out
    print(f"\n{key}: {out['errors'][0]}")
    assert file.read_text() == text  # the last good file
    assert world.served(ADS) == served  # and what Knot serves
    # the same difference goes with the right key, still from the last version (its record kept)
    code, out, err = world.publish(_update(world, _key(world, UPDATE_KEY_NAME, UPDATE_SECRET)))
    assert code == 0, err
    assert [(z["how"], z["updated"]) for z in out["zones"] if z["zone"] == ADS] == [("patched", 4)]
    assert serves(world, added) and not serves(world, removed)
    assert world.served(ADS) == world.on_disk(ADS)


def _fresh_export(world: Publisher, tmp: Path) -> list[str]:
    """The ads zone as a full `rpz export` of the same config writes it (serial left out)."""
    r = cli("rpz", "export", "-c", str(world.dir / "config.toml"), "--out", str(tmp), timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = (tmp / f"{ADS}.zone").read_text().splitlines()
    return lines[:3] + lines[4:]


def test_update_publishes_each_change_as_its_difference(world: Publisher, tmp_path: Path) -> None:
    """Publish after publish, each a change of 600 names (2400 records: three UPDATE messages),
    then none: Knot answers with each, the file is what a full export writes."""
    update = _update(world, _key(world, UPDATE_KEY_NAME, UPDATE_SECRET))
    listed = (world.dir / "ads.txt").read_text().split()
    for step in range(2):
        gone, fresh = listed[:300], names(300, f"step{step}-")
        listed = listed[300:] + fresh
        (world.dir / "ads.txt").write_text("\n".join(listed) + "\n")
        serial = world.knot.serial(ADS) or 0
        code, out, err = world.publish(update)
        assert code == 0, err
        ads = next(z for z in out["zones"] if z["zone"] == ADS)
        assert (ads["how"], ads["updated"], ads["records"]) == ("patched", 4 * 300, 2 * len(listed))
        assert (world.knot.serial(ADS) or 0) > serial
        assert serves(world, fresh[0]) and not serves(world, gone[0])
        assert world.served(ADS) == world.on_disk(ADS)
        on_disk = (world.knot.storage / f"{ADS}.zone").read_text().splitlines()
        assert on_disk[:3] + on_disk[4:] == _fresh_export(world, tmp_path / f"fresh{step}")
    code, out, err = world.publish(update)
    assert code == 0, err
    assert [(z["how"], z["changed"], z["updated"]) for z in out["zones"]] == [("kept", False, None)] * 2
