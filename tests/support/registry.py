"""Synthetic registry dumps (`format = "registry-xml"`), for tests and scripts/bench_authority.py.

No real dump is public to ship, so one is generated in the register's layout: windows-1251,
one `<content>` per entry with a decision, and a mix of block types close to a real register's
(mostly domains, some masks, URL blocks and IP blocks). Names are under `.example` and
`.испытание`; addresses are from 198.18.0.0/15 (benchmarking) and 2001:db8::/32.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import IO

HEAD = ('<?xml version="1.0" encoding="windows-1251"?>\n'
        '<reg:register updateTime="{update}" updateTimeUrgently="{update}" formatVersion="2.4" '
        'xmlns:reg="http://rsoc.ru" xmlns:tns="http://rsoc.ru">\n')
TAIL = "</reg:register>\n"


def entry(i: int, kind: str, rng: random.Random) -> str:
    """One `<content>` element of entry number `i`."""
    head = (f'<content id="{i}" includeTime="2026-01-01T00:00:00" entryType="1"'
            f'{"" if kind == "default" else f" blockType={chr(34)}{kind}{chr(34)}"} hash="{i:08X}">\n'
            f'<decision date="2026-01-01" number="{i}-1/2026" org="Суд"/>\n')
    body = ""
    if kind == "domain":
        tld = "испытание" if i % 50 == 0 else "example"
        body = f"<domain><![CDATA[site{i}.{tld}]]></domain>\n<ip>198.18.{i % 256}.{i % 250 + 1}</ip>\n"
    elif kind == "domain-mask":
        body = f"<domain><![CDATA[*.mask{i}.example]]></domain>\n"
    elif kind == "default":
        body = (f"<url><![CDATA[http://forum{i}.example/t/{rng.randrange(10**6)}.html]]></url>\n"
                f"<domain><![CDATA[forum{i}.example]]></domain>\n")
    else:  # ip
        body = f"<ip>198.19.{i >> 8 & 255}.{i & 255}</ip>\n"
        if i % 7 == 0:
            body += f"<ipv6Subnet>2001:db8:{i & 0xFFFF:x}::/48</ipv6Subnet>\n"
    return head + body + "</content>\n"


KINDS = ("domain",) * 12 + ("domain-mask",) * 3 + ("default",) * 3 + ("ip",) * 2


def write_dump(out: Path | IO[bytes], entries: int, *, seed: int = 19, update: str = "2026-11-28T12:00:00+05:00",
               start: int = 0) -> None:
    """A dump of `entries` entries (numbered from `start`) to a path or a binary file."""
    rng = random.Random(seed)
    f = open(out, "wb") if isinstance(out, Path) else out  # closed below when opened here
    try:
        f.write(HEAD.format(update=update).encode("cp1251"))
        batch = []
        for i in range(start, start + entries):
            batch.append(entry(i, KINDS[i % len(KINDS)], rng))
            if len(batch) >= 1000:
                f.write("".join(batch).encode("cp1251"))
                batch = []
        f.write(("".join(batch) + TAIL).encode("cp1251"))
    finally:
        if isinstance(out, Path):
            f.close()
