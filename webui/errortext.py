"""Errors in the page's language: a ConfigError's key path in plain words ("Profile 2, blocked
sites, entry 1") before its translated reason, and a block list's sync error in words.

dnsfilter/ raises English with an N_-marked message id and parameters (config_values.N_,
upstream_spec.N_); the catalogs translate the id here, then the parameters go in. Feed sync
errors are stored as English text in each feed's status file (feeds/sync.py, read by the CLI
too), so they are recognised by their shape; anything not recognised keeps its English detail
after a translated sentence rather than being hidden.
"""

from __future__ import annotations

import re

from flask_babel import gettext as _

from dnsfilter.config.values import N_, ConfigError

# Tables and arrays of tables: a numbered item of an array ("Profile 2"), or a section's name.
ITEMS = {"profiles": N_("Profile %(n)s"), "devices": N_("Device %(n)s"), "feeds": N_("Block list %(n)s"),
         "schedules": N_("quiet hours %(n)s")}
ENTRY = N_("entry %(n)s")
# Keys a parent meets on the pages, the config's sections, and the UI's own form fields.
WORDS = {
    "general": N_("General settings"), "dns": N_("DNS settings"), "storage": N_("Storage"),
    "web": N_("Web page settings"), "filter": N_("Whole household"), "protection": N_("Protection"),
    "defaults": N_("Defaults"), "network": N_("Network"), "firewall": N_("Forced DNS"),
    "profiles": N_("Profiles"), "devices": N_("Devices"), "feeds": N_("Block lists"), "schedules": N_("quiet hours"),
    "hostname": N_("name of the appliance"), "timezone": N_("time zone"), "listen": N_("addresses"),
    "upstreams": N_("upstream resolvers"), "block_mode": N_("what blocked sites get"),
    "bootstrap": N_("servers that find encrypted resolvers"), "upstream_policy": N_("encryption of lookups"),
    "tls_ca_file": N_("extra certificate authorities"),
    "block_ip": N_("address for blocked sites"), "allowed_clients": N_("allowed clients"),
    "name": N_("name"), "url": N_("web address"), "format": N_("format"), "category": N_("category"),
    "kind": N_("kind"), "enabled": N_("on or off"), "catalog": N_("catalog"), "interval": N_("update interval"),
    "allow": N_("allowed sites"), "deny": N_("blocked sites"), "always_allow": N_("always allowed sites"),
    "block_categories": N_("blocked categories"), "block_services": N_("blocked services"),
    "safe_search": N_("safe search"), "block_bypass": N_("blocking of filter bypasses"),
    "allow_only": N_("only allowed sites"), "budgets": N_("daily limits"), "privacy": N_("query log privacy"),
    "days": N_("days"), "start": N_("start"), "end": N_("end"), "block": N_("what to block"),
    "mac": N_("MAC address"), "ip": N_("IP address"), "cidr": N_("network"), "profile": N_("profile"),
    "file": N_("file"), "device": N_("device"), "level": N_("protection level"),
}
NO_PREFIX = {"", "form", "file"}  # about a whole form or a restored file: the message says it all
_PART = re.compile(r"([^.\[\]]+)((?:\[\d+\])*)")


NAMED = {"profiles": N_("Profile “%(n)s”"), "devices": N_("Device “%(n)s”"), "feeds": N_("Block list “%(n)s”"),
         "schedules": N_("quiet hours “%(n)s”")}  # the item by its name, when the file names it


def where(key: str, names: dict[str, list[str]] | None = None) -> str:
    """`profiles[1].deny[0]` → "Profile Kids, blocked sites, entry 1" in the page's language
    (the item's name from `names` when known, else its number: people count from 1); a part
    with no words of its own (an unknown key the parent wrote) is quoted as written."""
    parts: list[str] = []
    for name, indexes in _PART.findall(key):
        numbers = [int(i) + 1 for i in re.findall(r"\d+", indexes)]
        if numbers and name in ITEMS:
            index = numbers.pop(0)
            known = (names or {}).get(name) or []
            named = known[index - 1] if 0 < index <= len(known) and known[index - 1] else None
            parts.append(_(NAMED[name], n=named) if named else _(ITEMS[name], n=index))
            names = None if name == "profiles" else names  # nested lists (schedules) are not looked up
        else:
            parts.append(_(WORDS[name]) if name in WORDS else f"“{name}”")
        parts += [_(ENTRY, n=n) for n in numbers]
    text = ", ".join(parts)
    return text[:1].upper() + text[1:]


def config_error_text(e: ConfigError, names: dict[str, list[str]] | None = None) -> str:
    params = {k: (_(v) if k in e.words and isinstance(v, str) else v) for k, v in e.params.items()}
    why = _(e.message, **params) if params else _(e.message)
    return why if e.key in NO_PREFIX else f"{where(e.key, names)}: {why}"


# Feed sync errors (feeds/sources.py, feeds/parsers.py, feeds/sync.py) by their shape → message id.
_KEEPING = re.compile(r";? ?keeping the last good version(?: \(\d+ entries\))?$")
_FEED_ERRORS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"cannot detect the list format from (?P<n>\d+) sample lines"),
     N_("this is not a list of sites in a format dnsfilter reads (%(n)s lines looked at)")),
    (re.compile(r"^HTTP (?P<code>\d+) from "), N_("the server answered with error %(code)s")),
    (re.compile(r"^timeout fetching "), N_("the server did not answer in time")),
    (re.compile(r"^cannot fetch "), N_("the server could not be reached")),
    (re.compile(r"over the (?P<n>\d+)-byte cap"), N_("the list is larger than its limit of %(n)s bytes")),
    (re.compile(r"^only (?P<n>\d+) entries, below min_entries = (?P<min>\d+)"),
     N_("the new version has only %(n)s sites, fewer than the %(min)s required")),
    (re.compile(r"^shrank from (?P<old>\d+) to (?P<new>\d+) entries"),
     N_("the new version shrank from %(old)s to %(new)s sites, too much at once")),
    (re.compile(r"signature|signed with another key"),
     N_("the list's signature does not match: it may have been changed")),
    (re.compile(r"No such file or directory|FileNotFoundError"), N_("the list's file does not exist")),
]


def feed_error_text(error: str) -> str:
    """A feed status's error in the page's language (the page says separately that the last
    good list is still used, so that part of the English text is dropped)."""
    detail = _KEEPING.sub("", error.strip()).strip()
    for pattern, message in _FEED_ERRORS:
        m = pattern.search(detail)
        if m:
            return _(message, **m.groupdict())
    return _("the list could not be used (%(detail)s)", detail=detail)
