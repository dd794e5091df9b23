"""The audit trail: an append-only log of authority-list and provider-bundle events, one JSON
object a line, each carrying the SHA-256 of the line before it (`prev`), so that an edited,
removed or reordered line breaks the chain and `dnsfilter audit verify` says where.

Writers: the sync child (a list version fetched or rejected; a bundle fetched or rejected), the
daemon (a version effective: the moment it began answering with it; withdrawn), the self-test.
Each append takes an exclusive flock on the file, reads the last line, writes the new line with
one write() on an O_APPEND descriptor and fsyncs before returning: an event is on disk before
what it reports takes effect, and a kill -9 at any point leaves the chain whole. A power cut can
still leave a torn last line (no newline): the next append terminates it and records a `torn`
event that links to the last complete line and names the fragment's hash, and `verify` reports
it (never drops it silently). Truncation exactly at a line boundary cannot be seen from the file
alone: `verify` prints the head (line count and last hash) to be kept elsewhere.

No query data is ever written here: no client, no device, no name anybody asked for.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FILE = "audit.jsonl"  # in data_dir, unless [authority] audit_log says where (Config.audit_path)
GENESIS = "0" * 64
TAIL_BLOCK = 64 << 10
MAX_LINE = 1 << 20  # a longer "line" is not ours: verify reports it


def line_hash(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def _now_iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _tail(fd: int) -> tuple[bytes | None, bytes]:
    """(the last complete line without its newline or None, a torn fragment after it or b"")."""
    size = os.fstat(fd).st_size
    block = TAIL_BLOCK
    while True:
        start = max(0, size - block)
        data = os.pread(fd, size - start, start)
        end = data.rfind(b"\n")
        torn = data[end + 1 :] if end >= 0 else (data if start == 0 else b"")
        if end < 0:
            if start == 0:
                return None, torn
            block *= 2
            continue
        prev = data.rfind(b"\n", 0, end)
        if prev >= 0 or start == 0:
            return data[prev + 1 : end], torn
        block *= 2


def append(path: Path, event: str, now: float | None = None, **fields: Any) -> dict[str, Any]:
    """Append one event (fsynced before this returns); the record as written."""
    ts = time.time() if now is None else now
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel if this process is killed
        last, torn = _tail(fd)
        prev_hash, seq = GENESIS, 0
        if last is not None:
            prev_hash = line_hash(last)
            with contextlib.suppress(ValueError, TypeError, AttributeError):
                seq = int(json.loads(last)["seq"]) + 1
        out = b""
        if torn:
            # a write cut short (power cut): end it, and say so in the chain
            mark = {"seq": seq, "time": _now_iso(ts), "ts": round(ts, 3), "event": "torn", "bytes": len(torn),
                    "torn_sha256": line_hash(torn), "prev": prev_hash}
            line = _encode(mark)
            out += b"\n" + line + b"\n"
            prev_hash, seq = line_hash(line), seq + 1
        record = {"seq": seq, "time": _now_iso(ts), "ts": round(ts, 3), "event": event, **fields, "prev": prev_hash}
        out += _encode(record) + b"\n"
        os.write(fd, out)
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the lock
    return record


def records(path: Path, since: float | None = None) -> Iterator[dict[str, Any]]:
    """The readable records, oldest first (lines that are not JSON objects are left out: `verify`
    is the one that judges the file)."""
    with contextlib.suppress(FileNotFoundError), open(path, "rb") as f:
        for raw in f:
            try:
                rec = json.loads(raw)
            except ValueError:
                continue
            if isinstance(rec, dict) and (since is None or float(rec.get("ts", 0)) >= since):
                yield rec


@dataclass
class Report:
    lines: int = 0
    head: str = GENESIS  # hash of the last complete line: anchor it elsewhere to detect truncation
    problems: list[str] = field(default_factory=list)  # a broken chain: exit 1
    torn: list[str] = field(default_factory=list)  # writes cut short, detected and recorded

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(path: Path) -> Report:
    """Check the chain line by line."""
    rep = Report()
    prev_hash = GENESIS
    fragment: tuple[int, bytes] | None = None  # an unreadable line, until a `torn` record explains it
    expect_seq: int | None = 0
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return rep
    with f:
        for no, raw in enumerate(f, 1):
            rep.lines = no
            body = raw[:-1] if raw.endswith(b"\n") else raw
            rec = _record(body)
            if rec is None:
                if not raw.endswith(b"\n"):
                    rep.torn.append(f"line {no}: the last line is torn ({len(body)} bytes without a newline: "
                                    "a write cut short); the next event will record it")
                elif fragment is not None:
                    rep.problems.append(f"line {fragment[0]}: not a record and not explained by a torn event")
                    fragment = (no, body)
                else:
                    fragment = (no, body)
                continue
            if fragment is not None:
                if (rec.get("event") == "torn" and rec.get("torn_sha256") == line_hash(fragment[1])
                        and rec.get("prev") == prev_hash):
                    rep.torn.append(f"line {fragment[0]}: a write cut short ({len(fragment[1])} bytes), "
                                    f"recorded by the torn event on line {no}")
                else:
                    rep.problems.append(f"line {fragment[0]}: not a record (edited, or a torn write with no "
                                        "torn event after it)")
                fragment = None
            elif rec.get("event") == "torn":
                rep.problems.append(f"line {no}: a torn event without the torn line it names before it (removed)")
            elif rec.get("prev") != prev_hash:
                rep.problems.append(f"line {no}: does not follow the line before it (a line was edited, removed "
                                    "or reordered)")
            seq = rec.get("seq")
            if expect_seq is not None and seq != expect_seq and not rep.problems:
                rep.problems.append(f"line {no}: sequence number {seq}, expected {expect_seq}")
            expect_seq = seq + 1 if isinstance(seq, int) else None
            prev_hash = line_hash(body)
            rep.head = prev_hash
    if fragment is not None:
        rep.problems.append(f"line {fragment[0]}: not a record")
    return rep


def _record(body: bytes) -> dict[str, Any] | None:
    if len(body) > MAX_LINE:
        return None
    try:
        rec = json.loads(body)
    except ValueError:
        return None
    return rec if isinstance(rec, dict) and "prev" in rec else None
