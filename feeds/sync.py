"""Sync one feed: fetch → verify → compile aside → safety checks → promote, with a status file.

Files per feed in `data_dir/feeds/`:
- `NAME.src`          the last download (feeds.sources renames it into place only when complete);
                      for an xfr:// feed, the zone as last transferred (feeds/xfr.py);
- `NAME.good`         the source of the set in force (a hard link to the `NAME.src` it was compiled
                      from): what `dnsfilter rpz export` writes out, never a rejected version;
- `NAME.dset`         the compiled set in force: only ever replaced by os.replace of a complete,
                      fsynced, self-checked file, so a kill -9 or power cut at any moment leaves the
                      old set or the new one, never a torn or empty one;
- `NAME.dset.new`     the candidate while it is checked (left over only by a kill; never loaded);
- `NAME.status.json`  what happened last, written atomically after the set is promoted;
- `NAME.lock`         flock held during a sync: the daemon's periodic sync, each worker's reload
                      and `dnsfilter feeds sync` may run at once and must not share temp files.
                      Opened read-only (flock needs no more), so a lock file another user
                      created, e.g. root running the CLI, does not stop the daemon's syncs.

A feed that fails at any step keeps its last good set and records why. That includes an
OSError on the feed's own files (a file another user left unreadable, a full disk): it is that
feed failing, logged once with the file's name, never an exception out of `sync_feed` that
would stop a reload or the daemon's start. Hashed (sha256) feeds
never have a name in clear in their status: only counts and line numbers.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # feeds.sources imports it when it fetches: never on the daemon's query path
    import requests

    from feeds.xfr import XfrResult  # dnspython: imported in the sync child only

from dnsfilter.config import Config, Feed
from dnsfilter.core.policy.matcher import MatcherError
from feeds.authority import audited, source_sha256
from feeds.authority import fetched as record_fetched
from feeds.authority import rejected as record_rejected
from feeds.compile_rules import FeedStats, compile_feed, load_feed
from feeds.files import (  # noqa: F401 (the names feeds.sync has always offered)
    FeedStatus,
    feeds_dir,
    file_error,
    log_result,
    read_status,
    safe_url,
    set_path,
    status_path,
    write_status,
)
from feeds.minisign import verify_minisign
from feeds.report import warnings
from feeds.schedule import (  # noqa: F401 (the names feeds.sync has always offered)
    FIRST_SYNC_DELAY,
    RETRY_AFTER_FAILURE,
    _digest,
    due_feeds,
    jitter,
    next_due,
)
from feeds.sources import FetchResult, fetch

log = logging.getLogger("dnsfilter.feeds")

SIG_MAX_BYTES = 16 << 10
EXAMPLES = 5
# feeds.sources.fetch settings (timeouts, retries, back-off); tests pass shorter ones
FETCH_DEFAULTS: dict[str, Any] = {"connect_timeout": 10.0, "read_timeout": 30.0, "retries": 3, "backoff": 2.0}


def source_url(cfg: Config, feed: Feed) -> str:
    """What to fetch: the URL, or the local file (builtin lists, relative paths resolved)."""
    if feed.url.startswith("builtin:"):
        return str(resources.files("dnsfilter") / "data" / f"{feed.url[len('builtin:'):]}.txt")
    local = cfg.feed_source(feed)
    return str(local) if local is not None else feed.url


def fingerprint(feed: Feed) -> str:
    """What the compiled set depends on besides the source bytes."""
    key = repr((feed.format, feed.kind, feed.csv, feed.signature_url, feed.public_key))
    if feed.format in ("rpz", "auto"):
        key += "|rpz-actions"  # policy zones compile their actions since: recompile sets made before
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@contextlib.contextmanager
def _locked(cfg: Config, feed: Feed) -> Iterator[None]:
    path = feeds_dir(cfg) / f"{feed.name}.lock"
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel if this process is killed
        yield
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ------------------------------------------------------------------ minisign


def _check_signature(cfg: Config, feed: Feed, src: Path, opts: dict[str, Any]) -> str:
    assert feed.signature_url is not None and feed.public_key is not None
    sig_feed = Feed(feed.name, feed.signature_url)
    dest = feeds_dir(cfg) / f"{feed.name}.minisig"
    r = fetch(source_url(cfg, sig_feed), dest, max_bytes=SIG_MAX_BYTES, **opts)
    if r.status == "failed" or r.path is None:
        raise ValueError(f"cannot fetch the signature: {r.error}")
    return verify_minisign(src, r.path.read_text(encoding="utf-8", errors="replace"), feed.public_key)


# ------------------------------------------------------------------ sync


def sync_feed(cfg: Config, feed: Feed, *, now: float | None = None, session: requests.Session | None = None,
              force: bool = False, fetch_options: dict[str, Any] | None = None) -> FeedStatus:
    """Bring one feed up to date. Never raises for feed problems: the returned (and persisted)
    status says what happened, and on any failure the last good set stays in force.
    `force` downloads and compiles even when the source looks unchanged."""
    opts = {**FETCH_DEFAULTS, **(fetch_options or {}), "session": session}
    now = time.time() if now is None else now
    try:
        feeds_dir(cfg).mkdir(parents=True, exist_ok=True)
        with _locked(cfg, feed):
            return _sync_locked(cfg, feed, now, opts, force)
    except OSError as e:  # the feed's own files: this feed fails, the others and the daemon go on
        return _failed_on_file(cfg, feed, now, e)


def _failed_on_file(cfg: Config, feed: Feed, now: float, e: OSError) -> FeedStatus:
    st = read_status(cfg, feed)
    st.last_attempt, st.result = now, "failed"
    st.error = f"{file_error(e)}; keeping the last good version"
    with contextlib.suppress(OSError):  # recorded when it can be: the cause may be the status file
        write_status(cfg, st)
    log_result(st)
    return st


def _sync_locked(cfg: Config, feed: Feed, now: float, opts: dict[str, Any], force: bool) -> FeedStatus:
    started = time.monotonic()
    st = read_status(cfg, feed)
    st.last_attempt = now
    out = set_path(cfg, feed)
    src = feeds_dir(cfg) / f"{feed.name}.src"
    hashed = feed.format == "sha256" or st.hashed
    before = st.error

    def finish(result: str, error: str = "") -> FeedStatus:
        st.result, st.error = result, _scrub(error, hashed)
        if audited(feed) and result in ("failed", "rejected") and st.error != before:
            # a version refused, or a new reason for failing: not every retry of the same failure
            with contextlib.suppress(OSError):
                got = source_sha256(src) if r.status == "new" and src.exists() else ""
                record_rejected(cfg, feed, safe_url(feed.url), result, st.error, got)
        st.duration = round(time.monotonic() - started, 3)
        if result in ("new", "unchanged"):
            st.last_success = now
        write_status(cfg, st)
        log_result(st)
        return st

    # Validators only when the last attempt succeeded and its set still loads: after a failure
    # (or a rejected version still sitting in NAME.src), or when the set in force cannot be
    # used (corrupt, or written by an older dnsfilter in a format this one refuses), the feed
    # is downloaded again in full and recompiled, so an upgrade never leaves a feed unloaded.
    # The validators describe the set the status recorded: a sync killed between replacing the
    # set and writing the status leaves another set in force, which they must not vouch for.
    trust = not st.error and not force and st.fingerprint == fingerprint(feed) and _digest(out) == st.digest
    x = None
    if feed.xfr is not None:
        r, x = _transfer(cfg, feed, src, st, now, opts)
    else:
        r = fetch(source_url(cfg, feed), src, max_bytes=feed.max_bytes, **opts,
                  etag=st.etag if trust else None, last_modified=st.last_modified if trust else None,
                  mtime=st.source_mtime if trust else None, size=st.source_size if trust else None)
    if r.status == "failed":
        return finish("failed", f"{r.error}; keeping the last good version")
    if r.status == "unchanged" and trust:
        st.etag, st.last_modified = r.etag, r.last_modified
        if not good_source(cfg, feed).exists():  # a set compiled before sources were kept
            keep_source(src, good_source(cfg, feed))
        return finish("unchanged")
    if r.path is None:
        return finish("failed", "nothing downloaded")
    new = out.with_name(out.name + ".new")
    key_id = ""
    try:
        if feed.signature_url:
            key_id = _check_signature(cfg, feed, src, opts)
        stats, how = None, "full"
        if x is not None and x.from_serial is not None:  # an IXFR: its differences, when the set allows
            stats, how = _incremental(feed, st, x, out, new, trust)
        if stats is None:
            stats = compile_feed(src, feed.format, new, options=feed.compile_options(), allow=feed.kind == "allow")
        hashed = hashed or stats.hashed or stats.format == "sha256"
        load_feed(new)  # the candidate maps and verifies, as the daemon will map it
    except (OSError, ValueError, MatcherError) as e:
        new.unlink(missing_ok=True)
        return finish("failed", f"{e}; keeping the last good version")
    old = _entries(out)
    why = _rejected(feed, _entries(new), old)
    if why:
        new.unlink(missing_ok=True)
        return finish("rejected", f"{why}; keeping the last good version ({old} entries)")
    if audited(feed) and stats.digest != _digest(out):  # recorded (fsynced) before it can be in force
        try:
            rec = record_fetched(cfg, feed, src, new, out, safe_url(feed.url), key_id, stats.version, st.serial + 1)
        except (OSError, MatcherError) as e:
            new.unlink(missing_ok=True)
            return finish("failed", f"cannot write the audit log: {e}; keeping the last good version")
        st.serial, st.sha256 = rec["serial"], rec["sha256"]
    os.replace(new, out)
    keep_source(src, good_source(cfg, feed))
    _fsync_dir(out.parent)
    st.key_id, st.published, st.networks = key_id, stats.version, stats.networks
    st.zone_serial = st.xfr_serial if feed.xfr is not None else None
    st.compiled = how
    st.format, st.hashed, st.fingerprint = stats.format, hashed, fingerprint(feed)
    st.entries, st.rules, st.exceptions, st.regex = stats.entries, stats.rules, stats.exceptions, stats.regex
    st.invalid, st.first_invalid_lines = stats.invalid, list(stats.first_invalid_lines)[:10]
    st.skipped, st.urls_skipped, st.urls_reduced = stats.skipped, stats.urls_skipped, stats.urls_reduced
    st.not_applied, st.warnings = stats.not_applied, warnings(stats, cfg.dns.allowed_clients)
    st.skipped_examples = _examples(src, stats, hashed)
    st.bytes, st.digest, st.last_change = r.bytes or src.stat().st_size, stats.digest, now
    st.etag, st.last_modified, st.source_mtime, st.source_size = r.etag, r.last_modified, r.mtime, r.size
    return finish("new")


def _transfer(cfg: Config, feed: Feed, src: Path, st: FeedStatus, now: float,
              opts: dict[str, Any]) -> tuple[FetchResult, XfrResult]:
    """An xfr:// feed's "download": the zone transfer (feeds/xfr.py, dnspython imported here
    only, in the sync child), with the fetch's read timeout per message and total deadline."""
    from feeds.xfr import LIFETIME, transfer

    x = transfer(cfg, feed, src, timeout=opts["read_timeout"], lifetime=opts.get("total_timeout", LIFETIME))
    if x.status != "failed":
        st.last_contact, st.xfr_serial, st.transfer = now, x.serial, x.kind
        st.soa_refresh, st.soa_retry, st.soa_expire = x.soa[:3]
    return FetchResult(x.status, src if src.exists() else None, bytes=x.wire_bytes, error=x.error), x


def _incremental(feed: Feed, st: FeedStatus, x: XfrResult, out: Path, new: Path,
                 trust: bool) -> tuple[FeedStats | None, str]:
    """The set after an IXFR, written to `new` from the set in force and the IXFR's differences
    (feeds/rpz_delta.py) when that set is the one compiled from the zone the IXFR started from;
    None to compile in full. With how it was compiled, for the status (why not incremental)."""
    from feeds.rpz_delta import Delta, NotIncremental, Previous, apply_delta

    if not trust or st.zone_serial != x.from_serial or feed.kind == "allow" or feed.format not in ("rpz", "auto"):
        return None, "full (the set in force is not the one compiled from the zone the IXFR started from)"
    assert feed.xfr is not None
    prev = Previous(st.rules, st.exceptions, st.invalid, st.skipped, st.not_applied, st.networks,
                    bool(st.first_invalid_lines or st.skipped_examples))
    try:
        stats = apply_delta(out, Delta(feed.xfr.zone.rstrip(".") + ".", x.deleted, x.added), prev, new)
    except NotIncremental as e:
        return None, f"full ({e})"
    return stats, f"incremental ({len(x.deleted)} records deleted, {len(x.added)} added)"


def good_source(cfg: Config, feed: Feed) -> Path:
    return feeds_dir(cfg) / f"{feed.name}.good"


def keep_source(src: Path, good: Path) -> None:
    """Keep the source of the set just put in force as `good`: a hard link (no copy: the next
    download replaces `src` by rename, so `good` keeps this version), or a copy where the file
    system has no links."""
    tmp = good.with_name(good.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        import shutil

        shutil.copyfile(src, tmp)
    os.replace(tmp, good)


def _entries(path: Path) -> int:
    """Names and response-IP ranges in the compiled set at `path` (what the safety checks count)."""
    try:
        fs = load_feed(path)
        return len(fs) + (len(fs.nets) if fs.nets is not None else 0)
    except MatcherError:
        return 0  # missing or corrupt: nothing to protect, any valid set is better


def _rejected(feed: Feed, entries: int, old: int) -> str:
    if entries < feed.min_entries:
        return f"only {entries} entries, below min_entries = {feed.min_entries}"
    if old and entries < old * (1.0 - feed.max_shrink):
        return (f"shrank from {old} to {entries} entries ({100 * (old - entries) // old}%), "
                f"more than max_shrink = {feed.max_shrink:g}")
    return ""


def _examples(src: Path, stats: Any, hashed: bool) -> list[list[Any]]:
    """The first skipped lines as [line, text] (text cut to 200 characters), or [line] only
    for hashed feeds: a skipped line there may be a name the list meant to keep secret."""
    given = getattr(stats, "skipped_examples", None)
    if given is not None:
        pairs = [[n, t] for n, t in list(given)[:EXAMPLES]]
        return [[n] for n, _ in pairs] if hashed else [[n, str(t)[:200]] for n, t in pairs]
    wanted = sorted(getattr(stats, "first_skipped_lines", []))[:EXAMPLES]
    if hashed or not wanted:
        return [[n] for n in wanted]
    out: list[list[Any]] = []
    with contextlib.suppress(OSError), open(src, encoding="utf-8", errors="replace") as f:
        for no, line in enumerate(f, 1):
            if no == wanted[len(out)]:
                out.append([no, line.rstrip("\r\n")[:200]])
                if len(out) == len(wanted):
                    break
    return out


def _scrub(error: str, hashed: bool) -> str:
    error = " ".join(error.split())[:500]
    if hashed and error and "line" in error.lower():
        # a parse error may quote the offending line, which could be a name in clear
        return "the hashed feed has an unreadable line (details withheld: hashed feeds never show names)"
    return error


# ------------------------------------------------------------------ schedule
