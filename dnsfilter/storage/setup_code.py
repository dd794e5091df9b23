"""The one-time setup code of the web UI.

Until the admin password is set, anyone who reaches the setup page could set it. As routers
do, setup therefore asks for a code that only someone at the appliance can read: the daemon
prints it in its log at start (`journalctl -u dnsfilter`, `logread` on OpenWrt) and
`dnsfilter setup-code -c FILE` prints it for an installer. It lives in
`data_dir/webui/setup-code` (mode 0600) and is deleted when setup is done.

Stdlib only: the daemon reads it without importing the web UI (Flask).
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
from pathlib import Path

FILE = "setup-code"
DIGITS = 9  # typed on a phone: digits only, shown as 123-456-789 (about 30 bits; setup is throttled)


def webui_dir(data_dir: Path) -> Path:
    return data_dir / "webui"


def is_set_up(data_dir: Path) -> bool:
    """The admin exists (webui/secrets_store.py keeps it in `admin.json`)."""
    return (webui_dir(data_dir) / "admin.json").exists()


def shown(code: str) -> str:
    return "-".join(code[i:i + 3] for i in range(0, len(code), 3))


def ensure(data_dir: Path) -> str | None:
    """The code, made on first use; None once setup is done (nothing to protect)."""
    if is_set_up(data_dir):
        return None
    path = webui_dir(data_dir) / FILE
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    code = f"{secrets.randbelow(10 ** DIGITS):0{DIGITS}d}"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # the daemon and the UI (or an installer) race: the first one's code stays
        return read(data_dir)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(code + "\n")
    _give_to_owner(data_dir, path)
    return code


def _give_to_owner(data_dir: Path, path: Path) -> None:
    """Run as root (an installer) in a service's state folder: the file and its folder go to
    the folder's owner, or the service (its own user) could not read the code it must check."""
    if os.geteuid() != 0:
        return
    st = data_dir.stat()
    if st.st_uid != 0:
        for p in (path.parent, path):
            with contextlib.suppress(OSError):
                os.chown(p, st.st_uid, st.st_gid)


def read(data_dir: Path) -> str | None:
    try:
        code = (webui_dir(data_dir) / FILE).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return code if len(code) == DIGITS and code.isdigit() else None


def matches(data_dir: Path, given: str) -> bool:
    """Whether `given` (spaces and dashes allowed) is the code; never without a code on disk."""
    code = read(data_dir)
    typed = "".join(c for c in given[:64] if c not in " -")
    return code is not None and hmac.compare_digest(typed.encode("ascii", "replace"), code.encode("ascii"))


def clear(data_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (webui_dir(data_dir) / FILE).unlink()
