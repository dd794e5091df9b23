"""Managed routers: `[provider]` (where the signed bundle comes from) and the merge of the bundle
in force with the household's own file.

The bundle is TOML with the config's own keys (feeds, `[dns]` upstreams, defaults, protection…)
plus `serial` and `locked`. Merge order: the bundle, then the household's file on top of it, key
by key (`[[feeds]]` by name). A household value at a locked path is refused: it is left out of
the merged config and recorded, with the reason, in `Managed.refused` (`config check` prints it,
the daemon logs it, the web UI refuses such an edit and shows the item read-only). Refusing
rather than failing keeps a router running when its provider locks a key its household had set.

Locked paths: a section (`dns`), a key of one (`dns.upstreams`), all feeds (`feeds`) or one feed
by name (`feeds.NAME`: the household can neither change, disable, remove nor re-add it).

The bundle accepted last is `data_dir/provider/bundle.toml` (written by the sync child,
dnsfilter/authority/bundle.py, only after its signature, serial and this merge were checked).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dnsfilter.config.values import N_, ConfigError, Section

# What a bundle may hold: the settings a provider sets. Never the household's own profiles,
# devices, storage or web UI, nor another [provider].
BUNDLE_SECTIONS = ("general", "dns", "feeds", "filter", "protection", "defaults", "firewall", "network",
                   "authority")
BUNDLE_FILE = "bundle.toml"
MAX_BUNDLE = 1 << 20
DEFAULT_INTERVAL = 3600.0


@dataclass(frozen=True, slots=True)
class Provider:
    bundle_url: str
    public_key: str
    interval: float = DEFAULT_INTERVAL
    ca_file: str = ""  # a CA bundle (PEM) the provider's HTTPS server is checked against; "": the system's
    # where the bundle in force and its state are kept; "": data_dir/provider. Must survive a reboot
    # (on a router whose data_dir is in RAM): the last accepted serial is what refuses a replay.
    state_dir: str = ""

    @property
    def signature_url(self) -> str:
        return self.bundle_url + ".minisig"  # as `minisign -S -m bundle.toml` names it


@dataclass(frozen=True, slots=True)
class Managed:
    """What the bundle in force decided: its serial, its locked paths, the feeds it brought and
    the household values refused (key path, why)."""

    serial: int = 0
    locked: tuple[str, ...] = ()
    feeds: frozenset[str] = frozenset()
    refused: tuple[tuple[str, str], ...] = ()

    def is_locked(self, path: str) -> bool:
        """Whether `path` (`dns.upstreams`, `feeds.NAME`) or a section holding it is locked."""
        return any(path == lk or path.startswith(lk + ".") for lk in self.locked)


REFUSED = N_("set by your provider (bundle serial %(serial)s): the household's setting is ignored")


def bundle_path(directory: Path) -> Path:
    """The bundle in force, in the provider's state folder (Config.provider_dir)."""
    return directory / BUNDLE_FILE


def parse_provider(s: Section) -> Provider:
    from dnsfilter.config.feeds import _check_public_key, _interval

    url = s.get("bundle_url", str, "").strip()
    if not url.lower().startswith(("https://", "http://", "file://", "/")):
        raise ConfigError(s.key("bundle_url"), N_("must be a web address starting with https:// (or a file path)"))
    key = s.get("public_key", str, "")
    _check_public_key(key, s.key("public_key"))
    interval = _interval(s.get("interval", (str, int), "1h"), s.key("interval"))
    if interval < 60:
        raise ConfigError(s.key("interval"), N_("must be at least 1m: the provider's server is shared by many"))
    prov = Provider(url, key.strip(), interval, s.get("ca_file", str, ""), s.get("state_dir", str, ""))
    s.done()
    return prov


def read_bundle(directory: Path) -> dict[str, Any] | None:
    """The bundle in force, or None when none was accepted yet."""
    p = bundle_path(directory)
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError("provider", N_("the provider bundle in force (%(path)s) cannot be read: %(reason)s"),
                          path=str(p), reason=str(e)[:200]) from None


def check_bundle(bundle: dict[str, Any]) -> tuple[int, tuple[str, ...]]:
    """(serial, locked) of a bundle; ConfigError for a bundle of the wrong shape."""
    for k in bundle:
        if k not in (*BUNDLE_SECTIONS, "serial", "locked"):
            raise ConfigError(f"bundle.{k}", N_("not something a provider bundle can set"))
    serial = bundle.get("serial")
    if not isinstance(serial, int) or isinstance(serial, bool) or serial < 1:
        raise ConfigError("bundle.serial", N_("needs a whole number of at least 1"))
    locked = bundle.get("locked", [])
    if not isinstance(locked, list) or not all(isinstance(x, str) for x in locked):
        raise ConfigError("bundle.locked", N_("must be a list of key paths"))
    for i, path in enumerate(locked):
        if path.split(".", 1)[0] not in BUNDLE_SECTIONS or not all(path.split(".")):
            raise ConfigError(f"bundle.locked[{i}]", N_("%(value)r is not a key path of the config (e.g. "
                                                        "dns.upstreams or feeds.NAME)"), value=path)
    return serial, tuple(locked)


def merge(bundle: dict[str, Any], household: dict[str, Any]) -> tuple[dict[str, Any], Managed]:
    """The household's settings on top of the bundle's (see the module doc)."""
    serial, locked = check_bundle(bundle)
    m = Managed(serial, locked)
    refused: list[tuple[str, str]] = []
    why = REFUSED % {"serial": serial}
    out: dict[str, Any] = {k: _copy(v) for k, v in bundle.items() if k not in ("serial", "locked")}
    bundle_feeds = {f.get("name"): f for f in bundle.get("feeds", []) if isinstance(f, dict)}
    for section, value in household.items():
        if section == "feeds" and isinstance(value, list):
            feeds = out.setdefault("feeds", [])
            for i, f in enumerate(value):
                name = f.get("name") if isinstance(f, dict) else None
                path = f"feeds.{name}" if isinstance(name, str) else f"feeds[{i}]"
                if m.is_locked(path) or (name is None and m.is_locked("feeds")):
                    if bundle_feeds.get(name) != f:
                        refused.append((path, why))
                    continue
                at = next((j for j, g in enumerate(feeds) if isinstance(g, dict) and g.get("name") == name), None)
                if at is None or name is None:
                    feeds.append(_copy(f))
                else:
                    feeds[at] = _copy(f)
        elif section in BUNDLE_SECTIONS and isinstance(value, dict) and isinstance(out.get(section, {}), dict):
            target = out.setdefault(section, {})
            for k, v in value.items():
                if m.is_locked(f"{section}.{k}"):
                    if target.get(k) != v:
                        refused.append((f"{section}.{k}", why))
                    continue
                target[k] = _copy(v)
        elif m.is_locked(section) and section in BUNDLE_SECTIONS:
            if out.get(section) != value:
                refused.append((section, why))
        else:
            out[section] = _copy(value)
    return out, Managed(serial, locked, frozenset(n for n in bundle_feeds if isinstance(n, str)), tuple(refused))


def _copy(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _copy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_copy(x) for x in v]
    return v
