"""Where the family's small state lives ([storage] state_dir, `Config.state_path`): the web UI's
folder (admin account, session key, API tokens, setup code, notification addresses) and
`household.json` (pauses and budgets). On a router data_dir is RAM and state_dir is flash, so
these outlive a reboot while the compiled lists and the query log stay in RAM.

`settle` moves the state an older version kept in data_dir into state_dir, once: when state_dir
has none of it yet (an upgrade keeps the password set before it, until the next reboot wipes
data_dir).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

log = logging.getLogger("dnsfilter.storage.state_dir")

ITEMS = ("webui", "household.json")  # what state_dir holds (relative to it)


def settle(data_dir: Path, state_dir: Path) -> list[str]:
    """Move each item of ITEMS from data_dir to state_dir when only data_dir has it; returns
    what was moved. An error is logged and leaves the old copy where it is."""
    if data_dir.resolve() == state_dir.resolve():
        return []
    moved = []
    for item in ITEMS:
        old, new = data_dir / item, state_dir / item
        if not old.exists() or new.exists():
            continue
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            shutil.move(str(old), str(new))  # a copy and a delete across filesystems (tmpfs to flash)
        except OSError as e:
            log.warning("cannot move %s to %s: %s", old, new, e)
            continue
        moved.append(item)
        log.info("moved %s to state_dir %s", old, state_dir)
    return moved
