"""What a sync of an authority list (category "authority") records besides its status: the
audit events (dnsfilter/authority/audit.py) and the previous compiled set, kept as
`NAME.prev.dset` so that the self-test can probe the entries added since the previous version.

A `fetched` event is written, fsynced, before the new set replaces the old one: the log never
shows a version in force that it does not show fetched first (a kill between the two leaves a
`fetched` for a version that the next sync fetches again).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import Any

from dnsfilter.authority import audit
from dnsfilter.config import Config, Feed
from dnsfilter.core.model import AUTHORITY_CATEGORY, list_version
from dnsfilter.core.policy.matcher import FeedSet, MatcherError
from feeds.compile_rules import load_feed

CHUNK = 1 << 14  # keys compared per slice when counting the difference of two sets


def audited(feed: Feed) -> bool:
    return feed.category == AUTHORITY_CATEGORY and feed.kind == "block"


def prev_path(out: Path) -> Path:
    """The set in force before the current one (authority lists only)."""
    return out.with_name(out.name.removesuffix(".dset") + ".prev.dset")


def source_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def diff_counts(old: FeedSet | None, new: FeedSet) -> tuple[int, int]:
    """(added, removed) keys between two compiled sets: a merge of their sorted keys, whole
    slices compared at once where they agree (a new version mostly repeats the old one)."""
    if old is None:
        return len(new), 0
    a, b = old.keys(), new.keys()
    i = j = added = removed = 0
    na, nb = len(a), len(b)
    while i < na and j < nb:
        if na - i >= CHUNK and nb - j >= CHUNK and a[i : i + CHUNK] == b[j : j + CHUNK]:
            i, j = i + CHUNK, j + CHUNK
            continue
        x, y = a[i], b[j]
        if x == y:
            i, j = i + 1, j + 1
        elif x < y:
            removed, i = removed + 1, i + 1
        else:
            added, j = added + 1, j + 1
    return added + nb - j, removed + na - i


def _nets(fs: FeedSet | None) -> int:
    return len(fs.nets) if fs is not None and fs.nets is not None else 0


def fetched(cfg: Config, feed: Feed, src: Path, new: Path, out: Path, url: str, key_id: str,
            published: str, serial: int) -> dict[str, Any]:
    """Before `new` replaces `out`: keep `out` as the previous set, and record the version."""
    new_set = load_feed(new)
    old_set: FeedSet | None = None
    with contextlib.suppress(MatcherError):
        old_set = load_feed(out)
    added, removed = diff_counts(old_set, new_set)
    if old_set is not None:
        tmp = prev_path(out).with_name(prev_path(out).name + ".tmp")
        tmp.unlink(missing_ok=True)
        os.link(out, tmp)  # the old set itself, not a copy; replaced in one step
        os.replace(tmp, prev_path(out))
    return audit.append(cfg.audit_path(), "fetched", feed=feed.name, url=url,
                        sha256=source_sha256(src), key_id=key_id, version=list_version(new_set.digest),
                        serial=serial, published=published, entries=len(new_set), networks=_nets(new_set),
                        added=added, removed=removed)


def rejected(cfg: Config, feed: Feed, url: str, result: str, reason: str, sha256: str = "") -> None:
    audit.append(cfg.audit_path(), "rejected", feed=feed.name, url=url, result=result,
                 reason=reason, sha256=sha256)
