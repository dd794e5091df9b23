"""How much memory a process holds, read from /proc, for scripts/bench_footprint.py: RSS, PSS,
USS, the physical pages it maps (to count pages two processes share once) and where its
resident pages are (Python's heap, the interpreter, TLS libraries, the compiled lists...)."""

from __future__ import annotations

import os
import struct
from collections import Counter
from dataclasses import dataclass, field

PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Mem:
    rss_kb: int
    pss_kb: int
    uss_kb: int  # Private_Clean + Private_Dirty: what ending this process alone would free
    threads: int
    pages: frozenset[int]  # the physical page frames it maps (root: /proc/PID/pagemap)
    by_group: dict[str, frozenset[int]] = field(default_factory=dict)  # those frames by group
    parts: Counter[str] = field(default_factory=Counter)  # resident kB by group (smaps)
    tls: bool = False  # libssl mapped: the ssl module was imported

    def distinct_kb(self) -> int:
        """Its resident pages (without root, RSS: the same count for one process)."""
        return len(self.pages) * PAGE // 1024 if self.pages else self.rss_kb

    def group_kb(self, name: str, besides: frozenset[int] = frozenset()) -> int:
        """Resident kB of one group, leaving out the pages in `besides` (another process's)."""
        if not self.pages:
            return self.parts[name]
        return len(self.by_group.get(name, frozenset()) - besides) * PAGE // 1024


NONE = Mem(0, 0, 0, 0, frozenset())

# Where a resident page is, by the mapping's file name (first match).
GROUPS = (
    ("TLS: libssl, libcrypto, _ssl, _hashlib", ("libssl", "libcrypto", "_ssl.", "_hashlib.")),
    ("the interpreter: python3, libpython", ("libpython", "/python3")),
    ("SQLite: libsqlite3, _sqlite3", ("libsqlite3", "_sqlite3.")),
    ("compiled lists (.dset, mapped)", (".dset",)),
    ("other shared libraries (libc, libm, libz, modules' .so...)", (".so",)),
)
HEAP = "Python's heap and other anonymous memory"
OTHER = "other files and stacks"


def group(path: str) -> str:
    if not path or path.startswith("[heap]") or path.startswith("[anon"):
        return HEAP
    for name, marks in GROUPS:
        if any(m in path for m in marks):
            return name
    return OTHER


def parts(pid: int) -> Counter[str]:
    """Resident kB by group (smaps' Rss: a page shared with another process counts here too)."""
    out: Counter[str] = Counter()
    where = HEAP
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = line.split(maxsplit=5)
            if "-" in head[0] and not head[0].endswith(":"):
                where = group(head[5].strip() if len(head) > 5 else "")
            elif head[0] == "Rss:":
                out[where] += int(head[1])
    return out


def mem(pid: int) -> Mem:
    rss = threads = pss = uss = 0
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            rss = int(line.split()[1])
        elif line.startswith("Threads"):
            threads = int(line.split()[1])
    for line in open(f"/proc/{pid}/smaps_rollup"):
        if line.startswith("Pss:"):
            pss = int(line.split()[1])
        elif line.startswith(("Private_Clean:", "Private_Dirty:")):
            uss += int(line.split()[1])
    by = frames(pid)
    with open(f"/proc/{pid}/maps") as maps:
        tls = "libssl" in maps.read()
    return Mem(rss, pss, uss, threads, frozenset().union(*by.values()), by, parts(pid), tls)


def frames(pid: int) -> dict[str, frozenset[int]]:
    """The page frame numbers of every resident page of the process, by group (empty without
    root: the kernel hides them). The union over dnsfilter's processes counts each page of RAM
    they hold once, whoever else maps it: RSS counts a shared page in each process, PSS divides
    it among every process that maps it, on this machine other Pythons too."""
    out: dict[str, set[int]] = {}
    try:
        with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pm:
            for line in maps:
                head = line.split(maxsplit=5)
                lo, hi = (int(x, 16) for x in head[0].split("-"))
                if lo >= 1 << 47:  # [vsyscall]: not in the pagemap
                    continue
                into = out.setdefault(group(head[5].strip() if len(head) > 5 else ""), set())
                pm.seek(lo // PAGE * 8)
                for (e,) in struct.iter_unpack("<Q", pm.read((hi - lo) // PAGE * 8)):
                    if e >> 63 and e & (1 << 55) - 1:  # present, with its frame number shown
                        into.add(e & (1 << 55) - 1)
    except OSError:
        return {}
    return {k: frozenset(v) for k, v in out.items() if v}


@dataclass
class Reading:
    """One moment: the daemon and, when it runs, the UI process (the daemon's child)."""
    daemon: Mem
    ui: Mem

    def all(self) -> tuple[Mem, Mem]:
        return self.daemon, self.ui

    def distinct_kb(self) -> int:
        """The pages the two hold, each counted once (without root: the RSS sum, which counts
        the pages both map twice)."""
        if self.daemon.pages:
            return len(self.daemon.pages | self.ui.pages) * PAGE // 1024
        return self.daemon.rss_kb + self.ui.rss_kb


def children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            kids += [int(x) for x in f.read().split()]
    return kids


def ui_pid(pid: int) -> int | None:
    """The daemon's UI process (`python -m webui.server`), if it runs; a feed sync's child is not it."""
    for kid in children(pid):
        try:
            with open(f"/proc/{kid}/cmdline", "rb") as f:
                if b"webui.server" in f.read():
                    return kid
        except OSError:
            continue
    return None


def reading(pid: int) -> Reading:
    ui = ui_pid(pid)
    return Reading(mem(pid), mem(ui) if ui is not None else NONE)


def io(pid: int) -> dict[str, int]:
    out = {}
    for line in open(f"/proc/{pid}/io"):
        k, v = line.split(":")
        out[k] = int(v)
    return out
