"""Compiling lists into DomainSet files, loading them by mmap, and the real feeds in ../shared/data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dnsfilter.core.matcher import DomainSet, MatcherError, compile_names
from dnsfilter.core.wire import text_to_wire as w
from feeds.compiler import compile_file, load_set, write_atomic

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared reference data not found at {DATA}")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_compile_dedupes_and_drops_covered_names(tmp_path: Path) -> None:
    src = write(tmp_path / "list.txt", "\n".join([
        "# header",
        "example.com", "www.example.com", "a.b.example.com", "example.com",  # covered ×2, dup ×1
        "www.example.com",  # a duplicate of a covered name: counted once, as a duplicate
        "ads.other.org", "x.ads.other.org", "other.org.evil",  # covered by ads.other.org ×1
        "notexample.com",  # shares a suffix string only: kept
        "1.2.3.4", "bad..name",
    ]) + "\n")
    out = tmp_path / "list.set"
    stats = compile_file(src, "domains", out)
    assert (stats.entries, stats.duplicates, stats.covered, stats.invalid) == (4, 2, 3, 2)
    assert stats.first_invalid_lines == (11, 12) and stats.skipped == 1 and stats.lines == 12
    assert stats.format == "domains" and stats.size == out.stat().st_size == 56 + 4 * 8
    ds = load_set(out)
    assert len(ds) == 4 and ds.digest.hex() == stats.digest
    assert ds.match(w("a.b.example.com")) == 4
    assert w("www.example.com") not in ds  # dropped: its parent blocks it anyway
    assert ds.match(w("x.ads.other.org")) == 2
    assert ds.match(w("notexample.com")) == 0
    assert ds.match(w("other.org")) == -1
    ds.close()
    assert not (tmp_path / "list.set.tmp").exists()


def test_auto_format_and_bom(tmp_path: Path) -> None:
    src = tmp_path / "hosts"
    src.write_bytes("\ufeff0.0.0.0 first.example\n127.0.0.1 localhost\n0.0.0.0 b\xfcad.example\n".encode()
                    + b"0.0.0.0 bad\xff.example\n")
    stats = compile_file(src, "auto", tmp_path / "h.set")
    assert stats.format == "hosts" and stats.entries == 2 and stats.skipped == 1
    assert stats.invalid == 1 and stats.first_invalid_lines == (4,)  # undecodable byte -> U+FFFD
    ds = load_set(tmp_path / "h.set")
    assert w("first.example") in ds and w("xn--bad-hoa.example") in ds


def test_failed_compile_keeps_the_old_file(tmp_path: Path) -> None:
    out = tmp_path / "x.set"
    compile_file(write(tmp_path / "a.txt", "keep.example\n"), "domains", out)
    before = out.read_bytes()
    with pytest.raises(ValueError, match="unknown list format"):
        compile_file(tmp_path / "a.txt", "nope", out)
    with pytest.raises(ValueError, match="cannot detect"):
        compile_file(write(tmp_path / "b.txt", "||adblock.example^\n"), "auto", out)
    with pytest.raises(OSError):
        compile_file(tmp_path / "missing.txt", "domains", out)
    assert out.read_bytes() == before


def test_write_atomic_replaces_and_cleans_up(tmp_path: Path) -> None:
    out = tmp_path / "f.set"
    write_atomic(out, b"one")
    write_atomic(out, b"two")
    assert out.read_bytes() == b"two" and os.listdir(tmp_path) == ["f.set"]
    with pytest.raises(TypeError):
        write_atomic(out, "not bytes")  # type: ignore[arg-type]
    assert out.read_bytes() == b"two" and os.listdir(tmp_path) == ["f.set"]


def test_load_set_rejects_bad_files(tmp_path: Path) -> None:
    good = compile_names([w("example.com")])
    cases = {  # file name: (content, expected message)
        "missing": (None, "No such file"),
        "empty": (b"", "empty file"),
        "magic": (b"NOTASET!" + good[8:], "not a compiled domain set"),
        "truncated": (good[:-4], "size"),
        "flipped": (good[:-1] + bytes([good[-1] ^ 0x40]), "checksum"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(MatcherError, match=message):
            load_set(path)
    (tmp_path / "ok").write_bytes(good)
    ds = load_set(tmp_path / "ok")
    assert isinstance(ds, DomainSet) and ds.match(w("www.example.com")) == 4
    ds.close()  # unmaps: the mapping is closed without "exported pointers exist"


# ---------------------------------------------------------------- real feeds


@pytest.fixture(scope="module")
def outdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sets")


@needs_data
def test_stevenblack_hosts(outdir: Path) -> None:
    stats = compile_file(DATA / "stevenblack" / "hosts", "auto", outdir / "sb.set")
    assert stats.format == "hosts" and stats.invalid == 0
    # The file states "Number of unique domains: 138,002"; www.X beside X is folded into X.
    assert stats.entries >= 50_000 and stats.entries + stats.covered + stats.duplicates == 138_002
    ds = load_set(outdir / "sb.set")
    assert ds.match(w("ck.getcookiestxt.com")) == 0
    assert ds.match(w("deep.sub.ck.getcookiestxt.com")) == 9
    for preamble in ("localhost", "localhost.localdomain", "0.0.0.0", "broadcasthost", "ip6-localhost"):
        assert w(preamble) not in ds
    assert ds.match(w("example.com")) == -1
    ds.close()


# Peak RSS in KiB. Linux carries ru_maxrss across fork+exec (the child would report pytest's
# size), so prefer this process's own high-water mark, VmHWM, where /proc has it.
_MEASURE = """
import json, resource, sys, time
from feeds.compiler import compile_file

def peak():
    try:
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

before = peak()
started = time.perf_counter()
stats = compile_file(sys.argv[1], "auto", sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - started, "entries": stats.entries, "size": stats.size,
                  "rss_before": before, "rss_peak": peak()}))
"""


@needs_data
def test_hagezi_multi_domains_with_measurements(outdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = DATA / "hagezi" / "multi.onlydomains.txt"
    out = outdir / "hagezi.set"
    # A fresh process, so that the peak RSS is the compile's own, not earlier tests'.
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", _MEASURE, str(src), str(out)], cwd=root,
                          capture_output=True, text=True, check=True, timeout=120)
    m = json.loads(proc.stdout)
    stats = compile_file(src, "domains", out)
    assert stats.format == "domains" and stats.invalid == 0 and m["entries"] == stats.entries
    assert stats.entries == sum(1 for line in src.open() if line.strip() and not line.startswith("#"))
    ds = load_set(out)
    assert ds.match(w("analytics.004gmbh.de")) == 0 and ds.match(w("x.cdn.007moms.com")) == 2
    ds.close()
    with capsys.disabled():
        print(f"\n[measure] hagezi multi.onlydomains: {m['entries']} entries, compile {m['seconds']:.2f}s, "
              f"file {m['size'] / 1e6:.2f} MB, peak RSS {m['rss_peak'] / 1024:.1f} MiB "
              f"({m['rss_before'] / 1024:.1f} MiB after imports, before compiling)")


@needs_data
def test_ut1_gambling_reports_bare_ips_as_invalid(outdir: Path) -> None:
    src = DATA / "ut1" / "gambling.domains"
    bare_ips = [i for i, line in enumerate(src.open(), 1)
                if line.strip().replace(".", "").isdigit() and line.count(".") == 3]
    assert len(bare_ips) >= 10
    stats = compile_file(src, "domains", outdir / "ut1.set")
    assert stats.invalid >= len(bare_ips)
    assert list(stats.first_invalid_lines) == bare_ips[:10]
    ds = load_set(outdir / "ut1.set")
    assert w("0-casino.info") in ds and w("159.153.253.16") not in ds
    assert len(ds) == stats.entries > 30_000
    ds.close()
