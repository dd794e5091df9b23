"""Compile a downloaded list into a DomainSet file, and map compiled files for the daemon.

Two streaming passes over the source keep the peak low (no list of names is ever held):
pass 1 hashes every valid name into a sorted set; pass 2 parses again and keeps only names
that no listed parent covers (a listed parent already blocks them), so the file holds the
minimal set. Counts: valid = entries + duplicates + covered.

Files are replaced atomically (tmp + fsync + rename + directory fsync): a crash or a failed
compile leaves the previous good file in place.
"""

from __future__ import annotations

import mmap
import os
import time
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from dnsfilter.core.matcher import HEADER_SIZE, DomainSet, MatcherError, compiled_parts, name_hash
from dnsfilter.core.wire import text_to_wire

from .parsers import DETECT_SAMPLE, ParseResult, detect_format, stream_names

StrPath = str | os.PathLike[str]
Buffer = bytes | bytearray | memoryview | array  # collections.abc.Buffer is 3.12+


@dataclass(frozen=True)
class CompileStats:
    format: str  # the format used (resolved when "auto" was asked)
    entries: int  # hashes in the compiled file
    invalid: int  # entries that are not usable names
    first_invalid_lines: tuple[int, ...]
    duplicates: int  # repeats of a name already seen
    covered: int  # distinct names dropped because a listed parent covers them
    skipped: int  # comments, blank lines, hosts preamble
    lines: int
    size: int  # bytes of the compiled file
    digest: str  # hex payload digest, as in the file header
    seconds: float


def _open_text(path: StrPath) -> TextIO:
    # utf-8-sig: a BOM is dropped rather than glued to the first name.
    return open(path, encoding="utf-8-sig", errors="replace", newline=None)


def _resolve_format(src_path: StrPath, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    with _open_text(src_path) as f:
        sample = []
        for line in f:
            sample.append(line)
            if len(sample) >= DETECT_SAMPLE * 4:  # headers of comments come first
                break
    return detect_format(sample)


def _wire_hashes(names: Iterator[str]) -> Iterator[tuple[bytes, int]]:
    for name in names:
        wire = text_to_wire(name)
        yield wire, name_hash(wire)


def compile_file(src_path: StrPath, fmt: str, out_path: StrPath) -> CompileStats:
    """Compile `src_path` (format `fmt` or "auto") into `out_path` atomically.

    Raises ValueError for an unknown or undetectable format, OSError for I/O failures;
    `out_path` is untouched in either case."""
    started = time.perf_counter()
    fmt = _resolve_format(src_path, fmt)

    counts = ParseResult()
    valid = 0

    def pass1() -> Iterator[int]:
        nonlocal valid
        with _open_text(src_path) as f:
            for _wire, h in _wire_hashes(stream_names(f, fmt, counts)):
                valid += 1
                yield h

    all_names = DomainSet.from_hashes(pass1())
    match = all_names.match

    def pass2() -> Iterator[int]:
        with _open_text(src_path) as f:
            for wire, h in _wire_hashes(stream_names(f, fmt, ParseResult())):
                parent = wire[wire[0] + 1 :]
                # Only a parent of two or more labels can be listed (parsers reject single
                # labels); this skips a useless lookup of the TLD for every second-level name.
                if len(parent) > parent[0] + 2 and match(parent) >= 0:
                    continue
                yield h

    head, chunks = compiled_parts(pass2())
    unique = len(all_names)
    all_names.close()  # frees its 8 bytes per name before the file is written
    entries = sum(len(chunk) for chunk in chunks)
    write_atomic(out_path, [head, *chunks])  # piece by piece: no joined copy of the payload
    return CompileStats(
        format=fmt,
        entries=entries,
        invalid=counts.invalid,
        first_invalid_lines=tuple(counts.first_invalid_lines),
        duplicates=valid - unique,
        covered=unique - entries,
        skipped=counts.skipped,
        lines=counts.lines,
        size=HEADER_SIZE + 8 * entries,
        digest=head[24:HEADER_SIZE].hex(),
        seconds=time.perf_counter() - started,
    )


def write_atomic(path: StrPath, data: Buffer | Iterable[Buffer]) -> None:
    """Replace `path` with `data` (bytes, or buffers written one after another) so that readers
    see the old file or the new one, never a mix, even across a power cut (routers lose power
    more often than servers)."""
    path = Path(path)
    parts = [data] if isinstance(data, (bytes, bytearray, memoryview)) else data
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            for part in parts:
                f.write(part)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # makes the rename itself durable
    finally:
        os.close(dir_fd)


def load_set(path: StrPath, *, verify: bool = True) -> DomainSet:
    """Map a compiled set read-only; the pages are shared by every process that maps it.

    Raises MatcherError for a missing, unreadable or corrupt file, so the caller can keep its
    last good set. Call `close()` on the set to unmap it."""
    try:
        with open(path, "rb") as f:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError) as e:  # ValueError: an empty file cannot be mapped
        raise MatcherError(f"cannot map compiled set {os.fspath(path)!r}: {e}") from e
    try:
        return DomainSet.from_buffer(mapped, verify=verify)
    except MatcherError as e:
        mapped.close()
        raise MatcherError(f"{os.fspath(path)}: {e}") from e
