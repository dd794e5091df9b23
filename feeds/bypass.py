"""The bypass list (feeds/bypass.txt): names used to get around the filter — encrypted-DNS
endpoints of public resolvers, VPN and proxy services, Tor, iCloud Private Relay.

A profile with `block_bypass = true` blocks these (each name and everything below it). The
file is ours and small, so it is validated strictly: a bad line fails the tests, not a device.
"""

from __future__ import annotations

import functools
from pathlib import Path

from feeds.services import CatalogError, domain_problem, read_text

BYPASS_PATH = Path(__file__).with_name("bypass.txt")


def parse_bypass(path: Path) -> tuple[str, ...]:
    """The names of a bypass file: one per line, `#` comments, blank lines ignored. A bad or
    repeated name raises CatalogError with its line."""
    text = read_text(path)
    names: list[str] = []
    seen: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), 1):
        name = line.split("#", 1)[0].strip()
        if not name:
            continue
        why = domain_problem(name, wildcard=False)
        if why:
            raise CatalogError(path, n, f"{name!r}: {why}")
        if name in seen:
            raise CatalogError(path, n, f"{name!r} is listed twice (first on line {seen[name]})")
        seen[name] = n
        names.append(name)
    if not names:
        raise CatalogError(path, None, "no names")
    return tuple(names)


@functools.cache
def _bundled() -> tuple[str, ...]:
    return parse_bypass(BYPASS_PATH)


def load_bypass(path: Path | None = None) -> tuple[str, ...]:
    """The bundled bypass names (read once per process), or those of the file at `path`."""
    return _bundled() if path is None else parse_bypass(Path(path))
