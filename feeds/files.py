"""A feed's files in data_dir as the daemon reads them: the compiled set (mapped), the status
file, and their paths. Apart from feeds.sync (fetching and compiling, which imports the
parsers, the formats and the authority checks) so the daemon, which only maps sets and reads
statuses (syncs run in a child process), does not load that code: about 0.8 MB of a router's
daemon (docs/deploy.md)."""

from __future__ import annotations

import contextlib
import json
import logging
import mmap
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from dnsfilter.config import Config, Feed
from dnsfilter.core.policy.feedset import FeedSet, FeedSetError

log = logging.getLogger("dnsfilter.feeds")
StrPath = str | os.PathLike[str]


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
    # how the last new version was compiled: "incremental (…)" (an IXFR's differences applied to
    # the set in force, feeds/rpz_delta.py) or "full" (with why, after an IXFR)
    compiled: str = ""
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


def load_feed(path: StrPath, *, verify: bool = True) -> FeedSet:
    """Map a compiled feed read-only (pages shared by every worker). Raises FeedSetError for a
    missing, unreadable or corrupt file, so the caller keeps its last good set."""
    try:
        with open(path, "rb") as f:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as e:
        raise FeedSetError(f"cannot map compiled feed {os.fspath(path)!r}: {e}") from e
    try:
        return FeedSet.from_buffer(mapped, verify=verify)
    except FeedSetError as e:
        raise FeedSetError(f"{Path(path).name}: {e}") from e
