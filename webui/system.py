"""Settings of the whole appliance: upstream resolvers, how blocked names are answered, time
zone, the UI language, and backup/restore of the config file.

A restore is validated as a whole with `dnsfilter.config.from_dict` before it replaces
anything; the file it replaces stays as `config.toml.bak` (configfile.write_atomic).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnsfilter import config as config_mod
from dnsfilter.config import Config, ConfigError
from dnsfilter.config.upstreams import mixed
from dnsfilter.config.values import N_, toml_position
from dnsfilter.core.dns.upstream_spec import parse_upstream
from webui import configfile
from webui.configfile import Edit, string_array, table

if TYPE_CHECKING:
    from tomlkit.toml_document import TOMLDocument

BLOCK_MODES = ("null", "nxdomain", "refused", "ip")
MAX_UPSTREAMS = 8
MAX_RESTORE = 200 * 1024  # a household config is a few kB; the app refuses bodies over 256 kB anyway


@dataclass(frozen=True, slots=True)
class General:
    upstreams: list[str]
    block_mode: str  # one of BLOCK_MODES
    block_ip: str  # "ADDR[,ADDR6]" when block_mode is "ip"
    timezone: str

    def mode_text(self) -> str:
        return f"ip:{self.block_ip}" if self.block_mode == "ip" else self.block_mode


def general_of(cfg: Config) -> General:
    bm = cfg.dns.block_mode
    ips = ",".join(a for a in (bm.ipv4, bm.ipv6) if a) if bm.kind == "ip" else ""
    return General([u.text for u in cfg.dns.upstreams], bm.kind, ips, cfg.general.timezone)


# The form's fields and the config keys they write: a locked one is not written back unchanged.
GENERAL_KEYS = {"upstreams": "dns.upstreams", "block_mode": "dns.block_mode", "timezone": "general.timezone"}


def current(load: Any) -> Config | None:
    """The config in force for an edit's lock check, or None when the file is broken (the edit
    then says what is wrong with it, in tomlkit's words)."""
    try:
        return load()  # type: ignore[no-any-return]
    except ConfigError:
        return None


def locked_fields(cfg: Config) -> set[str]:
    """The settings fields the provider's bundle sets: shown read-only, as set by the provider."""
    return {f for f, key in GENERAL_KEYS.items() if cfg.managed.is_locked(key)}


def set_general(g: General, cfg: Config | None = None) -> Edit:
    """The settings edit. With `cfg`, a field the provider locks is left alone when it keeps its
    value (the page shows it read-only); a changed one is written, and refused by the check."""
    if not g.upstreams:
        raise ConfigError("upstreams", N_("give at least one upstream resolver"))
    if len(g.upstreams) > MAX_UPSTREAMS:
        raise ConfigError("upstreams", N_("at most %(n)s upstream resolvers"), n=MAX_UPSTREAMS)
    if g.block_mode not in BLOCK_MODES:
        raise ConfigError("block_mode", N_("%(value)r: choose one of %(modes)s"), value=g.block_mode[:20],
                          modes=", ".join(BLOCK_MODES))
    if g.block_mode == "ip" and not g.block_ip.strip():
        raise ConfigError("block_ip", N_("give the address blocked names should point to"))

    keep = set()
    if cfg is not None:
        cur = general_of(cfg)
        same = {"upstreams": cur.upstreams == g.upstreams, "block_mode": cur.mode_text() == g.mode_text(),
                "timezone": cur.timezone == g.timezone}
        keep = {f for f in locked_fields(cfg) if same[f]}

    def edit(doc: TOMLDocument) -> None:
        dns = table(doc, "dns")
        if "upstreams" not in keep:
            dns["upstreams"] = string_array(g.upstreams)
        if "block_mode" not in keep:
            dns["block_mode"] = g.mode_text()
        if "timezone" not in keep:
            table(doc, "general")["timezone"] = g.timezone
    return edit


def restore(cfg_path: Path, data: bytes) -> Config:
    """Replace the config file with `data` once it is known to be a valid config. Raises
    ConfigError (and writes nothing) otherwise; the replaced file is kept as `.bak`."""
    if not data.strip():
        raise ConfigError("file", N_("the file is empty"))
    if len(data) > MAX_RESTORE:
        raise ConfigError("file", N_("the file is larger than %(kb)s kB: not a dnsfilter config"), kb=MAX_RESTORE // 1024)
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    try:
        text = data.decode("utf-8")
        parsed = tomllib.loads(text)
        tomlkit.parse(text)  # later edits need tomlkit to read it too
    except UnicodeDecodeError:
        raise ConfigError("file", N_("the file is not text (UTF-8): not a dnsfilter config")) from None
    except (tomllib.TOMLDecodeError, TOMLKitError) as e:  # a damaged or wrong file: where, not the parser's words
        raise ConfigError("file", N_("not a valid TOML file: %(detail)s (line %(line)s, column %(column)s)"),
                          **toml_position(e, text)) from None
    try:
        cfg = config_mod.from_dict(parsed, str(cfg_path))  # relative paths resolve as for the real file
    except ConfigError as e:
        configfile.name_items(e, parsed)  # "Profile “Kids”": the uploaded file's names, not the old one's
        raise
    try:
        current = tomllib.loads(cfg_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        current = {}  # a broken or missing file: nothing locked to keep
    configfile.check_locked(cfg, current, cfg_path)  # a restore cannot undo what the provider locks
    with configfile._lock:
        configfile.write_config(cfg_path, text, parsed)  # on OpenWrt: into /etc/config/dnsfilter too
    return cfg


def unencrypted_fallback(upstreams: list[str]) -> list[str]:
    """The plain resolvers that take over when the encrypted ones in the same list fail (the
    Settings page warns about them); [] when the list is all of one kind."""
    specs = []
    for text in upstreams:
        try:
            specs.append(parse_upstream(text))
        except ValueError:  # a field with a mistake says so itself
            continue
    both = mixed(tuple(specs))
    return both[1] if both else []


def general_from_form(form: Any) -> General:
    ups = [w.strip() for w in form.get("upstreams", "").replace(",", "\n").splitlines() if w.strip()]
    return General(ups, form.get("block_mode", ""), form.get("block_ip", "").strip()[:100],
                   form.get("timezone", ""))
