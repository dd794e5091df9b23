"""The parent's notification addresses (Apprise URLs) kept with the admin's secrets:
`data_dir/webui/notify.json`, readable by the appliance's user only (they hold passwords and
tokens). The web UI writes them (webui/secrets_store.py); the daemon reads them when it sends.
They are never shown back in full: `masked` keeps the scheme and host.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

FILE = "notify.json"
MAX_URLS = 16
MAX_URL = 2000


def path_of(data_dir: Path) -> Path:
    return data_dir / "webui" / FILE


def read_urls(data_dir: Path) -> list[str]:
    """The stored addresses; none when the file is missing or damaged (nothing is sent then)."""
    try:
        data = json.loads(path_of(data_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    urls = data.get("urls") if isinstance(data, dict) else None
    return [u for u in urls if isinstance(u, str)][:MAX_URLS] if isinstance(urls, list) else []


def check_url(url: str) -> str | None:
    """Why `url` cannot be a notification address (None: it can)."""
    if len(url) > MAX_URL or any(c.isspace() for c in url):
        return "too long or with spaces"
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme or not scheme.replace("+", "").isalnum() or not rest:
        return "not an address of the form scheme://…"
    return None


def write_urls(data_dir: Path, urls: list[str]) -> None:
    """Replace the stored addresses in one rename, readable by this user only."""
    for u in urls:
        problem = check_url(u)
        if problem:
            raise ValueError(f"{masked(u)}: {problem}")
    if len(urls) > MAX_URLS:
        raise ValueError(f"at most {MAX_URLS} addresses")
    path = path_of(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"urls": urls}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def masked(url: str) -> str:
    """What may be shown of an address: its scheme and its host when that is a server's name or
    address, never a user, password or token (many Apprise URLs carry a token where the host
    goes, `tgram://TOKEN/CHAT`: a host without a dot is not shown)."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        host = ""
    scheme = url.partition("://")[0]
    return f"{scheme}://{host}/…" if "." in host or ":" in host else f"{scheme}://…"
