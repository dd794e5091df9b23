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
import functools
import hashlib
import json
import logging
import os
import time
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:  # feeds.sources imports it when it fetches: never on the daemon's query path
    import requests

from dnsfilter.config import Config, Feed
from dnsfilter.core.policy.matcher import MatcherError
from feeds.authority import audited, source_sha256
from feeds.authority import fetched as record_fetched
from feeds.authority import rejected as record_rejected
from feeds.compile_rules import compile_feed, load_feed
from feeds.minisign import verify_minisign
from feeds.report import warnings
from feeds.sources import FetchResult, fetch

log = logging.getLogger("dnsfilter.feeds")

SIG_MAX_BYTES = 16 << 10
EXAMPLES = 5
RETRY_AFTER_FAILURE = 900.0  # a failed feed is retried sooner than its interval, but not hammered
FIRST_SYNC_DELAY = 2.0  # never-synced remote feeds: shortly after start, once listeners are up
# feeds.sources.fetch settings (timeouts, retries, back-off); tests pass shorter ones
FETCH_DEFAULTS: dict[str, Any] = {"connect_timeout": 10.0, "read_timeout": 30.0, "retries": 3, "backoff": 2.0}


@dataclass
class FeedStatus:
    name: str
    category: str = ""
    kind: str = "block"
    url: str = ""  # without credentials or query (may hold a token)
    format: str = ""
    result: str = ""  # new | unchanged | failed | rejected (failed: kept the last good version)
    last_attempt: float = 0.0
    last_success: float = 0.0  # last sync that left the feed up to date (a 304 counts)
    last_change: float = 0.0  # when the set in force was last replaced
    entries: int = 0
    rules: int = 0
    exceptions: int = 0
    regex: int = 0
    invalid: int = 0
    first_invalid_lines: list[int] = field(default_factory=list)
    skipped: int = 0
    skipped_examples: list[list[Any]] = field(default_factory=list)  # [line, text]; no text if hashed
    not_applied: int = 0  # of the skipped: DNS-level rules AdGuard would apply ($dnsrewrite, $ctag…)
    warnings: list[str] = field(default_factory=list)  # feeds.report: rules that cannot do what they say
    urls_skipped: int = 0
    urls_reduced: int = 0
    bytes: int = 0
    etag: str | None = None
    last_modified: str | None = None
    source_mtime: float | None = None
    source_size: int | None = None
    digest: str = ""
    fingerprint: str = ""  # of the settings the set was compiled with: a change forces a recompile
    duration: float = 0.0
    error: str = ""
    hashed: bool = False
    networks: int = 0  # response-IP ranges in the set (registry IP entries, RPZ rpz-ip)
    published: str = ""  # the version the list declares about itself (a registry dump's updateTime)
    serial: int = 0  # authority lists: versions accepted so far (the audit log's `serial`)
    sha256: str = ""  # authority lists: of the source the set in force was compiled from
    key_id: str = ""  # signed feeds: the minisign key id that signed the version in force
    # xfr:// feeds: the zone's SOA serial of the version in force and of the last one transferred,
    # the SOA timers that drive syncs, and the last time the primary answered (for expire).
    zone_serial: int | None = None
    xfr_serial: int | None = None
    transfer: str = ""  # axfr | ixfr | up to date
    soa_refresh: int = 0
    soa_retry: int = 0
    soa_expire: int = 0
    last_contact: float = 0.0

    def stale(self, now: float) -> bool:
        """An xfr feed whose primary has not answered for longer than the zone's SOA expire:
        its last good version stays in force, and status and metrics say so."""
        return bool(self.soa_expire and self.last_contact and now - self.last_contact > self.soa_expire)

    def public(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------ paths and status files


def feeds_dir(cfg: Config) -> Path:
    return cfg.data_path() / "feeds"


def set_path(cfg: Config, feed: Feed) -> Path:
    return feeds_dir(cfg) / f"{feed.name}.dset"


def status_path(cfg: Config, feed: Feed) -> Path:
    return feeds_dir(cfg) / f"{feed.name}.status.json"


def source_url(cfg: Config, feed: Feed) -> str:
    """What to fetch: the URL, or the local file (builtin lists, relative paths resolved)."""
    if feed.url.startswith("builtin:"):
        return str(resources.files("dnsfilter") / "data" / f"{feed.url[len('builtin:'):]}.txt")
    local = cfg.feed_source(feed)
    return str(local) if local is not None else feed.url


def log_result(st: FeedStatus) -> None:
    """The daemon's lines for a sync (run here, or in its child and read back from disk)."""
    log.log(logging.WARNING if st.error else logging.INFO, "feed %s: %s%s", st.name, st.result,
            f": {st.error}" if st.error else "")
    if st.result == "new":
        for w in st.warnings:
            log.warning("feed %s: %s", st.name, w)


def read_status(cfg: Config, feed: Feed) -> FeedStatus:
    try:
        data = json.loads(status_path(cfg, feed).read_text())
        known = {f.name for f in fields(FeedStatus)}
        st = FeedStatus(**{k: v for k, v in data.items() if k in known})
    except (OSError, ValueError, TypeError):
        st = FeedStatus(feed.name)
    st.name, st.category, st.kind, st.url = feed.name, feed.category, feed.kind, safe_url(feed.url)
    return st


def write_status(cfg: Config, st: FeedStatus) -> None:
    p = feeds_dir(cfg) / f"{st.name}.status.json"
    tmp = p.with_name(p.name + ".tmp")
    with contextlib.suppress(FileNotFoundError):  # a leftover of a killed writer, maybe another user's
        tmp.unlink()
    with open(tmp, "x") as f:
        json.dump(st.public(), f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, p)


def safe_url(url: str) -> str:
    if "://" not in url:
        return url
    try:
        p = urlsplit(url)
        host = p.hostname or ""
        port = f":{p.port}" if p.port else ""
        return urlunsplit((p.scheme, (f"[{host}]" if ":" in host else host) + port, p.path, "", ""))
    except ValueError:
        return "<bad url>"


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


def file_error(e: OSError) -> str:
    """An OSError as one line naming the file, and for a permission problem who owns it and who
    asked (a root-run command may have left the file behind)."""
    what = e.strerror or str(e)
    if e.filename is None:
        return what
    text = f"{os.fsdecode(e.filename)}: {what}"
    if isinstance(e, PermissionError):
        with contextlib.suppress(OSError):
            owner = os.stat(e.filename).st_uid
            text += f" (owned by {_user(owner)}, this process runs as {_user(os.geteuid())})"
    return text


def _user(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


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
    if feed.xfr is not None:
        r = _transfer(cfg, feed, src, st, now, opts)
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
    st.format, st.hashed, st.fingerprint = stats.format, hashed, fingerprint(feed)
    st.entries, st.rules, st.exceptions, st.regex = stats.entries, stats.rules, stats.exceptions, stats.regex
    st.invalid, st.first_invalid_lines = stats.invalid, list(stats.first_invalid_lines)[:10]
    st.skipped, st.urls_skipped, st.urls_reduced = stats.skipped, stats.urls_skipped, stats.urls_reduced
    st.not_applied, st.warnings = stats.not_applied, warnings(stats, cfg.dns.allowed_clients)
    st.skipped_examples = _examples(src, stats, hashed)
    st.bytes, st.digest, st.last_change = r.bytes or src.stat().st_size, stats.digest, now
    st.etag, st.last_modified, st.source_mtime, st.source_size = r.etag, r.last_modified, r.mtime, r.size
    return finish("new")


def _transfer(cfg: Config, feed: Feed, src: Path, st: FeedStatus, now: float, opts: dict[str, Any]) -> FetchResult:
    """An xfr:// feed's "download": the zone transfer (feeds/xfr.py, dnspython imported here
    only, in the sync child), with the fetch's read timeout per message and total deadline."""
    from feeds.xfr import LIFETIME, transfer

    x = transfer(cfg, feed, src, timeout=opts["read_timeout"], lifetime=opts.get("total_timeout", LIFETIME))
    if x.status != "failed":
        st.last_contact, st.xfr_serial, st.transfer = now, x.serial, x.kind
        st.soa_refresh, st.soa_retry, st.soa_expire = x.soa[:3]
    return FetchResult(x.status, src if src.exists() else None, bytes=x.wire_bytes, error=x.error)


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


def _loads(path: Path) -> bool:
    return _digest(path) is not None


def _digest(path: Path) -> str | None:
    """The digest of the compiled set at `path` (hex), or None when it does not load."""
    try:
        return load_feed(path).digest.hex()
    except MatcherError:
        return None


def _loads_unchanged(path: Path) -> bool:
    """`_loads`, checked once per version of the file: the schedule asks every round."""
    try:
        f = path.stat()
    except OSError:
        return False
    return _loads_version(str(path), f.st_mtime_ns, f.st_size, f.st_ino)


@functools.lru_cache(maxsize=64)
def _loads_version(path: str, _mtime_ns: int, _size: int, _ino: int) -> bool:
    return _loads(Path(path))


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


def jitter(feed: Feed, last_attempt: float) -> float:
    """A factor in [0.9, 1.1], fixed for one (feed, attempt) so every wake-up agrees on when
    the feed is due, yet feeds synced together drift apart (no thundering herd on a server)."""
    seed = zlib.crc32(f"{feed.name}:{last_attempt:.3f}".encode())
    return 0.9 + 0.2 * (seed / 0xFFFFFFFF)


def next_due(cfg: Config, feed: Feed, started: float, st: FeedStatus | None = None) -> float:
    """When `feed` should next be synced (epoch seconds)."""
    st = st or read_status(cfg, feed)
    if not st.last_attempt:
        # never synced: remote feeds shortly after start; local ones were compiled at start-up
        return started + FIRST_SYNC_DELAY if feed.remote else started + feed.interval * jitter(feed, started)
    if feed.remote and st.last_attempt < started and not _loads_unchanged(set_path(cfg, feed)):
        # not tried since start and its set cannot be used (gone, corrupt, or an older format
        # after an upgrade): the feed is not in force, so sync it now rather than at its interval
        return started + FIRST_SYNC_DELAY
    ok = st.result in ("new", "unchanged", "")
    if feed.xfr is not None and st.soa_refresh:
        # the zone's SOA refresh and retry drive a transfer feed (interval is the longest wait)
        wait = min(feed.interval, float(st.soa_refresh if ok or st.result == "rejected" else st.soa_retry))
    else:
        wait = feed.interval if ok else min(feed.interval, RETRY_AFTER_FAILURE)
    return st.last_attempt + wait * jitter(feed, st.last_attempt)


def due_feeds(cfg: Config, now: float, started: float) -> tuple[list[Feed], float]:
    """The enabled feeds due at `now`, and when the next one (of the rest) falls due."""
    due: list[Feed] = []
    wake = now + 3600.0
    for feed in cfg.feeds:
        if not feed.enabled:
            continue
        at = next_due(cfg, feed, started)
        if at <= now:
            due.append(feed)
        else:
            wake = min(wake, at)
    return due, wake


