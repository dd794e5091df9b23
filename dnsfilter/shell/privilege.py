"""Root running the command line against a state folder another user owns.

On Debian the service runs as the system user `dnsfilter`, which owns `/var/lib/dnsfilter`.
A command root runs there (`sudo dnsfilter feeds sync`, `dnsfilter check`) would leave files
owned by root (a feed's lock, its status, a compiled set) that the service then cannot open,
and a reload or start would fail on them. So such a command first becomes the folder's owner
(`become_owner`); `serve`, which would need root's port 53 and the owner's identity at once,
refuses instead (`refuse_foreign_folder`). A folder root owns, or one not created yet, changes
nothing: OpenWrt's procd runs everything as root.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path


class PrivilegeError(Exception):
    """One line: why the command will not run as root here, and what to do instead."""


def _owner(folder: Path) -> os.stat_result | None:
    """The folder's stat when root runs this and another user owns it, else None."""
    if os.geteuid() != 0:
        return None
    try:
        st = folder.stat()
    except OSError:  # not there yet: what root creates is root's, and so will the folder be
        return None
    return st if st.st_uid != 0 else None


def _name(uid: int) -> str | None:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def become_owner(folder: Path) -> str | None:
    """When root runs this and `folder` belongs to another user, switch this process to that
    user for good (its uid, the folder's group, the user's own groups). Returns the name it
    switched to (None: nothing to do). Raises PrivilegeError when the switch is refused."""
    st = _owner(folder)
    if st is None:
        return None
    name = _name(st.st_uid)
    who = name or f"uid {st.st_uid}"
    try:
        if name is not None:
            os.initgroups(name, st.st_gid)
        else:
            os.setgroups([])
        os.setgid(st.st_gid)
        os.setuid(st.st_uid)
    except OSError as e:
        raise PrivilegeError(f"{folder} belongs to {who} and this process cannot switch to that user "
                             f"({e.strerror}): run the command as {who}") from None
    return who


def refuse_foreign_folder(folder: Path, command: str) -> None:
    """Raise PrivilegeError when root would run `command` in a folder another user owns."""
    st = _owner(folder)
    if st is None:
        return
    who = _name(st.st_uid) or f"uid {st.st_uid}"
    raise PrivilegeError(
        f"{command} as root: the state folder {folder} belongs to {who}, and files root wrote there "
        f"would stop {who}'s service from using them; start the service (systemctl start dnsfilter) "
        f"or run this as {who}")
