"""What every `dnsfilter` command shares: the one-line failure (exit 2 for a usage or config
mistake), loading the config (as the state folder's owner where a command writes there), and
ISO 8601 time arguments."""

from __future__ import annotations

import datetime as dt
import sys
import zoneinfo
from typing import NoReturn

from dnsfilter import config as config_mod
from dnsfilter.config import Config, ConfigError

EXIT_USAGE = 2


def fail(msg: str, code: int = EXIT_USAGE) -> NoReturn:
    print(f"dnsfilter: {msg}", file=sys.stderr)
    raise SystemExit(code)


def load(path: str) -> Config:
    try:
        return config_mod.load(path)
    except ConfigError as e:
        fail(f"config error: {e}")


def load_as_owner(path: str) -> Config:
    """The config, with this process switched to the owner of its state folder when root runs a
    command there (shell/privilege.py): what the command writes stays usable by the service."""
    from dnsfilter.shell.privilege import PrivilegeError, become_owner

    cfg = load(path)
    try:
        become_owner(cfg.data_path())
    except PrivilegeError as e:
        fail(str(e))
    return cfg


def iso_time(text: str, tz: str, flag: str, example: str) -> dt.datetime:
    """`flag`'s ISO 8601 time; without an offset, local time in `tz`."""
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        fail(f"{flag}: {text!r} is not an ISO 8601 time (e.g. {example})")
    if at.tzinfo is None:
        at = at.replace(tzinfo=zoneinfo.ZoneInfo(tz))
    return at


def since(text: str, tz: str) -> float:
    """`--since` as a timestamp; without an offset, local time in `tz`."""
    return iso_time(text, tz, "--since", "2025-06-15T08:00").timestamp()
