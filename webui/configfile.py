"""Edits of the config file that keep the operator's comments and layout.

Every edit goes: parse with tomlkit → change → validate the whole result with
`dnsfilter.config.from_dict` → write atomically (temp file, fsync, rename; the old file kept
as `<name>.bak`) → ask the daemon to reload. A ConfigError stops it before anything is
written, so a bad edit can never leave a half-changed file or a daemon on a broken config.
On a managed router an edit that touches what the provider's bundle locks is refused the same
way (`check_locked`): the loader would ignore it, so the UI says so instead of saving it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dnsfilter import config as config_mod
from dnsfilter.config import Config, ConfigError
from dnsfilter.config.values import N_, read_text, toml_position
from webui import control

if TYPE_CHECKING:
    from tomlkit.toml_document import TOMLDocument

# tomlkit is imported at the first edit, not with the UI: pages that only read the config
# (with tomllib, through dnsfilter.config) never need its ~0.8 MB (scripts/bench_footprint.py).
Edit = Callable[["TOMLDocument"], None]
LOCKED = N_("set by your provider: it cannot be changed here")
# a hand-written layout tomlkit cannot change in place; the detail is tomlkit's English, which
# the Russian and Kazakh messages leave out (the parent cannot act on it; the log and en keep it)
LAYOUT = N_("the config file's layout does not allow this edit: %(detail)s")
_lock = threading.Lock()  # one writer per process: waitress serves requests from several threads


@dataclass(frozen=True, slots=True)
class Saved:
    config: Config
    reloaded: bool
    reload_message: str


def read(path: Path) -> TOMLDocument:
    """The file for an edit; ConfigError (with the message ids of dnsfilter.config.load, so the
    page says it in its language) when it cannot be read or parsed."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    try:
        text = read_text(path)
    except FileNotFoundError:
        return tomlkit.document()  # first run without a file: the edit creates it
    try:
        return tomlkit.parse(text)
    except TOMLKitError as e:
        raise ConfigError("", config_mod.BROKEN_TOML, path=str(path), **toml_position(e, text)) from None


def validate(doc: TOMLDocument, path: Path) -> Config:
    data = doc.unwrap()
    try:
        return config_mod.from_dict(data, str(path))
    except ConfigError as e:
        name_items(e, data)
        raise


def name_items(e: ConfigError, data: dict[str, Any]) -> None:
    """Give the error the names of the document's profiles, devices and block lists, so the
    page says "Profile “Kids”" rather than "Profile 2" (webui/errortext.py)."""
    names: dict[str, list[str]] = {}
    for section in ("profiles", "devices", "feeds"):
        items = data.get(section)
        if isinstance(items, list):
            names[section] = [str(i.get("name", "")) if isinstance(i, dict) else "" for i in items]
    e.item_names = names  # type: ignore[attr-defined]  # read by webui.error_text


def apply(path: Path, edit: Edit, *, reload: bool = True) -> Saved:
    """Apply `edit` to the file at `path`. Raises ConfigError (naming the key) and writes
    nothing when the edit or the resulting config is invalid."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    with _lock:
        doc = read(path)
        before = doc.unwrap()
        try:
            edit(doc)
        except (TOMLKitError, TypeError) as e:
            raise ConfigError("", LAYOUT, detail=str(e)) from None
        cfg = validate(doc, path)
        check_locked(cfg, before, path)
        text = tomlkit.dumps(doc)
        if tomlkit.parse(text).unwrap() != doc.unwrap():  # what is written must read back as validated
            raise ConfigError("", LAYOUT, detail="it would not read back the same")
        write_config(path, text, doc.unwrap())
    if not reload:
        return Saved(cfg, False, "")
    reply = control.send(cfg.data_path() / "control.sock", "reload")
    return Saved(cfg, reply.ok, reply.reason)


def check_locked(cfg: Config, before: dict[str, Any], path: Path) -> None:
    """Refuse a change the provider's bundle locks: a household value the merge now refuses that
    it did not refuse before, or a change to [provider] itself while a bundle is in force."""
    if not cfg.managed.refused and not (before.get("provider") and cfg.provider is None):
        return
    try:
        old = config_mod.from_dict(before, str(path))
    except ConfigError:
        old = None
    if old is not None and old.provider is not None and old.managed.serial and old.provider != cfg.provider:
        raise ConfigError("provider", LOCKED)
    known = {k for k, _why in old.managed.refused} if old is not None else set()
    for key, _why in cfg.managed.refused:
        if key not in known:
            raise ConfigError(key, LOCKED)


def write_config(path: Path, text: str, data: dict[str, Any]) -> None:
    """Write the validated config. When the file in force was rendered from OpenWrt's UCI file
    (its mark names it: dnsfilter.router.uci.source_of), the change goes into that file first,
    so the next start renders it again; the TOML becomes that rendering."""
    from dnsfilter.router.uci import source_of

    try:
        uci = source_of(read_text(path))
    except FileNotFoundError:
        uci = None
    if uci is not None:
        text = write_back(Path(uci), data, path)
    write_atomic(path, text)


def write_back(uci: Path, data: dict[str, Any], path: Path) -> str:
    """Patch the UCI file so that it renders `data`; returns the TOML it renders. ConfigError
    (nothing written) when a setting has no UCI form or the file cannot be read or written."""
    from dnsfilter.router.uci import UciError, parse, render, to_toml
    from dnsfilter.router.uci_write import UciWriteError, write

    try:
        old = read_text(uci)
        new = write(old, data, str(path))
        if new != old:
            # no .bak beside it: every file in /etc/config is a UCI package to `uci show`
            write_atomic(uci, new, backup=False)
        return to_toml(render(parse(new)), str(uci))
    except (UciError, UciWriteError) as e:
        raise ConfigError("", LAYOUT, detail=str(e)) from None
    except OSError as e:
        raise ConfigError("", LAYOUT, detail=f"{uci}: {e.strerror or e}") from None


def write_atomic(path: Path, text: str, *, backup: bool = True) -> None:
    """Replace `path` in one step; the previous version becomes `path.bak` (unless not `backup`)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        if path.exists() and backup:
            bak = path.with_name(path.name + ".bak")
            # a hard link keeps the old version without a moment where `path` is missing
            with contextlib.suppress(FileNotFoundError):
                bak.unlink()
            os.link(path, bak)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)


# ---------------------------------------------------------------- helpers for edits


def table(doc: TOMLDocument, name: str) -> Any:
    """The top-level table `name`, created at the end when missing."""
    if name not in doc:
        doc[name] = new_table()
    return doc[name]


def new_table() -> Any:
    import tomlkit

    return tomlkit.table()


def array_of_tables(doc: TOMLDocument, name: str) -> Any:
    import tomlkit

    if name not in doc:
        doc[name] = tomlkit.aot()
    return doc[name]


def string_array(values: list[str]) -> Any:
    import tomlkit

    arr = tomlkit.array()
    arr.extend(values)
    return arr
