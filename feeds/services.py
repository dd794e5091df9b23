"""The blocked-services catalog (feeds/services.toml): which domains each service uses.

A profile names services (`block_services = ["tiktok"]`), schedules and budgets name them too;
the policy needs each service's domains. A listed domain covers itself and every name below it.
A label may hold `*`: inside a label it stands for any characters within that label
(`tiktokcdn-*.com`); a label that is only `*` stands for one or more whole labels. This is the
same reading as dnsfilter.core.policy.rulesets, which compiles these domains at run time; `covers`
below is the reference implementation the tests check the catalog with.

Entries may write `{a,b,c}` once per domain as shorthand (`pinterest.{com,de,co.uk}`); it is
expanded on load. Errors in the file raise CatalogError naming the file, line and entry.
Only the standard library is used: dnsfilter.config imports this module.
"""

from __future__ import annotations

import difflib
import functools
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from feeds.catalog import CatalogError as UnknownEntry  # an unknown id, with suggestions

SERVICES_PATH = Path(__file__).with_name("services.toml")
# Service groups. video/social/games/dating share their names with feed categories, so a
# parent who blocks "games" sees one word for both.
GROUPS = ("video", "social", "games", "messaging", "streaming", "dating", "ai", "adult", "shopping")
_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_LABEL = re.compile(r"^(?:\*|[a-z0-9*](?:[a-z0-9*-]{0,61}[a-z0-9*])?)$")
_BRACES = re.compile(r"\{([^{}]*)\}")
_FIELDS = ("title", "group", "domains")


class CatalogError(ValueError):
    """A bad entry in a bundled or user catalog file: where it is and what is wrong.

    Not to be confused with feeds.catalog.CatalogError (an unknown feed-catalog id)."""

    def __init__(self, path: Path | str, line: int | None, why: str) -> None:
        self.path = str(path)
        self.line = line
        self.why = why
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {why}")


class UnknownServiceError(UnknownEntry):
    """A service or group id that the catalog does not have; `suggestions` are close ids."""

    def __str__(self) -> str:
        hint = f" (did you mean {', '.join(map(repr, self.suggestions))}?)" if self.suggestions else ""
        return f"unknown service {self.wanted!r}{hint}"


@dataclass(frozen=True, slots=True)
class Service:
    id: str
    title: str
    group: str
    domains: tuple[str, ...]


def domain_problem(name: str, wildcard: bool = True) -> str | None:
    """Why `name` is not a usable catalog domain (lower-case, at least two labels, no
    trailing dot, LDH labels of 1..63 octets, 253 octets in all), or None when it is.
    With `wildcard`, `*` may appear in any label but the last (the TLD is always spelled out)."""
    if not name or name != name.strip():
        return "empty or padded with spaces"
    if name != name.lower():
        return "must be lower-case"
    if name.endswith("."):
        return "must not end with a dot"
    if len(name) > 253:
        return "longer than 253 characters"
    labels = name.split(".")
    if len(labels) < 2:
        return "needs at least two labels (a whole TLD is never listed)"
    for lab in labels:
        if not _LABEL.match(lab) or len(lab) > 63:
            return f"bad label {lab!r}"
        if "*" in lab and not wildcard:
            return "wildcards are not allowed here"
    if "*" in labels[-1]:
        return "the last label must not hold a wildcard"
    if labels[0] == "*" and "*" not in ".".join(labels[1:]):
        return "write the domain without '*.': a domain already covers every name below it"
    if "*" in labels[-2] and len(labels[-2].replace("*", "")) < 3:
        return "the label before the TLD needs at least three characters besides '*'"
    return None


@functools.cache
def _pattern(domain: str) -> re.Pattern[str]:
    parts = [".+" if lab == "*" else re.escape(lab).replace(r"\*", "[^.]*") for lab in domain.split(".")]
    return re.compile(r"(?:^|\.)" + r"\.".join(parts) + "$")


def covers(domain: str, name: str) -> bool:
    """True when catalog `domain` (maybe with `*`) covers `name`: the name itself or below it."""
    name = name.rstrip(".").lower()
    if "*" not in domain:
        return name == domain or name.endswith("." + domain)
    return _pattern(domain).search(name) is not None


def expand(entry: str) -> list[str]:
    """`a.{b,c.d}` → [`a.b`, `a.c.d`]; at most one brace group per entry."""
    groups = _BRACES.findall(entry)
    if not groups:
        if "{" in entry or "}" in entry:
            raise ValueError("unbalanced braces")
        return [entry]
    if len(groups) > 1:
        raise ValueError("only one {…} group per entry")
    alternatives = [a.strip() for a in groups[0].split(",")]
    if any(not a for a in alternatives):
        raise ValueError("empty alternative in {…}")
    head, _, tail = entry.partition("{" + groups[0] + "}")
    if "{" in head + tail or "}" in head + tail:
        raise ValueError("unbalanced braces")
    return [head + a + tail for a in alternatives]


def _header_lines(text: str) -> dict[str, int]:
    """Line number of each `[id]` table header, for error messages (tomllib gives none)."""
    found: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), 1):
        m = re.match(r"\s*\[\s*\"?([^\]\"]+)\"?\s*\]", line)
        if m:
            found.setdefault(m.group(1).strip(), n)
    return found


def read_text(path: Path) -> str:
    """A catalog file's text; CatalogError when it cannot be read or is not UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise CatalogError(path, None, f"cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise CatalogError(path, None, "not UTF-8 text") from None


def load_toml(path: Path) -> tuple[dict[str, object], dict[str, int]]:
    """The TOML tables of a catalog file and the line of each table header."""
    text = read_text(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+)", str(e))
        raise CatalogError(path, int(m.group(1)) if m else None, f"not valid TOML: {e}") from None
    return data, _header_lines(text)


def parse_services(path: Path) -> dict[str, Service]:
    data, lines = load_toml(path)
    out: dict[str, Service] = {}
    owner: dict[str, str] = {}  # domain -> service: the run-time index keeps one service per name
    for ident, table in data.items():
        line = lines.get(ident)

        def fail(why: str, ident: str = ident, line: int | None = line) -> CatalogError:
            return CatalogError(path, line, f"[{ident}] {why}")

        if not isinstance(table, dict):
            raise CatalogError(path, None, f"{ident!r}: every service is a [table]")
        if not _ID.match(ident):
            raise fail("id must be lower-case letters, digits and '_' (starting with a letter)")
        if ident in GROUPS:
            raise fail("id must not be a group name")
        extra = sorted(set(table) - set(_FIELDS))
        if extra:
            raise fail(f"unknown key {extra[0]!r} (known: {', '.join(_FIELDS)})")
        title, group, raw = table.get("title"), table.get("group"), table.get("domains")
        if not isinstance(title, str) or not title.strip():
            raise fail("title: missing or not a string")
        if group not in GROUPS:
            raise fail(f"group: {group!r} is not one of {', '.join(GROUPS)}")
        if not isinstance(raw, list) or not raw:
            raise fail("domains: missing or not a non-empty list")
        domains: list[str] = []
        for i, entry in enumerate(raw):
            if not isinstance(entry, str):
                raise fail(f"domains[{i}]: not a string")
            try:
                names = expand(entry)
            except ValueError as e:
                raise fail(f"domains[{i}] {entry!r}: {e}") from None
            for name in names:
                why = domain_problem(name)
                if why:
                    raise fail(f"domains[{i}] {name!r}: {why}")
                if name in owner:
                    other = owner[name]
                    raise fail(f"domains[{i}] {name!r} is listed twice"
                               + ("" if other == ident else f" (also in [{other}])"))
                owner[name] = ident
                domains.append(name)
        out[ident] = Service(ident, title.strip(), group, tuple(domains))
    if not out:
        raise CatalogError(path, None, "no services")
    return out


@functools.cache
def _bundled() -> Mapping[str, Service]:
    return parse_services(SERVICES_PATH)


def load_services(path: Path | None = None) -> dict[str, Service]:
    """Every service by id: the bundled catalog (read once per process) or the file at `path`.
    Raises CatalogError with file, line and entry on bad input."""
    return dict(_bundled()) if path is None else parse_services(Path(path))


def service_names(ids: Iterable[str], services: Mapping[str, Service] | None = None) -> tuple[str, ...]:
    """The domains of the given services, sorted and without duplicates. An id may also be a
    group (`games`): every service of that group. Unknown ids raise UnknownServiceError."""
    catalog = _bundled() if services is None else services
    out: set[str] = set()
    for sid in ids:
        if sid in catalog:
            out.update(catalog[sid].domains)
        elif sid in GROUPS:
            out.update(d for s in catalog.values() if s.group == sid for d in s.domains)
        else:
            known = [*catalog, *GROUPS]
            raise UnknownServiceError(sid, difflib.get_close_matches(sid, known, n=3, cutoff=0.6))
    return tuple(sorted(out))
