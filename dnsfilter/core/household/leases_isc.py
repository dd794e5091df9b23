"""ISC dhcpd `dhcpd.leases` (dhcpd.leases(5)): a log of declarations, the last one for an
address being the current one.

    lease 192.168.1.23 {
      starts 4 2024/03/07 10:00:00;     # weekday, then UTC date and time
      ends 4 2024/03/07 22:00:00;       # or "ends never;" or "ends epoch 1709848800;"
      binding state active;
      hardware ethernet 3c:22:fb:01:02:03;
      client-hostname "arus-ipad";
    }

`host NAME { hardware ethernet ...; fixed-address IP; }` declarations (written for hosts
added over OMAPI) give a name and address too. DHCPv6 `ia-na` blocks are skipped.
"""

from __future__ import annotations

import calendar
import re
import time

from dnsfilter.core.household.lease import Lease, canonical_ip, clean_hostname
from dnsfilter.core.household.macaddr import normalise_mac

# Quoted strings (with escapes), braces and semicolons, bare words; comments are matched so
# that they can be dropped.
_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[{};]|[^\s{};"#]+')
_ESCAPE = re.compile(r"\\([0-7]{1,3}|.)")
INACTIVE = frozenset({"free", "backup", "abandoned", "expired", "released", "reset"})


def _unquote(token: str) -> str:
    if not (len(token) >= 2 and token[0] == token[-1] == '"'):
        return token

    def one(m: re.Match[str]) -> str:
        s = m.group(1)
        return chr(int(s, 8) & 0xFF) if s[0] in "01234567" else s

    return _ESCAPE.sub(one, token[1:-1])


def _tokens(text: str) -> list[tuple[str, int]]:
    """(token, line number) pairs, comments left out."""
    out = []
    line, pos = 1, 0
    for m in _TOKEN.finditer(text):
        line += text.count("\n", pos, m.start())
        pos = m.start()
        tok = m.group()
        if tok[0] != "#":
            out.append((tok, line))
    return out


def _date(words: list[str]) -> float | None:
    """`W YYYY/MM/DD HH:MM:SS` (UTC), `never` or `epoch N`. Raises ValueError."""
    if words == ["never"]:
        return None
    if len(words) == 2 and words[0] == "epoch":
        return float(int(words[1]))
    if len(words) == 3:
        parsed = time.strptime(f"{words[1]} {words[2]}", "%Y/%m/%d %H:%M:%S")
        return float(calendar.timegm(parsed))
    raise ValueError(f"bad date {' '.join(words)!r}")


class _Block:
    """The statements of one declaration, read from the token list."""

    def __init__(self, kind: str, name: str, line: int) -> None:
        self.kind, self.name, self.line = kind, name, line
        self.statements: list[list[str]] = []


def _blocks(tokens: list[tuple[str, int]], problems: list[str]) -> list[_Block]:
    """Top-level declarations with their direct statements; nested blocks (`on expiry {...}`)
    are stepped over. An unterminated declaration is reported."""
    blocks: list[_Block] = []
    current: _Block | None = None
    depth = 0
    words: list[str] = []
    for tok, line in tokens:
        if tok == "{":
            depth += 1
            if depth == 1:
                kind = words[0] if words else ""
                current = _Block(kind, _unquote(words[1]) if len(words) > 1 else "", line)
            words = []
        elif tok == "}":
            if depth == 0:
                problems.append(f"line {line}: '}}' without a matching '{{'")
                continue
            depth -= 1
            if depth == 0 and current is not None:
                blocks.append(current)
                current = None
            words = []
        elif tok == ";":
            if depth == 1 and current is not None and words:
                current.statements.append(words)
            words = []
        else:
            words.append(tok)
    if depth:
        where = current.line if current is not None else 0
        problems.append(f"line {where}: declaration not closed at the end of the file")
    return blocks


def _lease(block: _Block) -> tuple[str, Lease, bool]:
    """(address, lease, active) of a `lease` block. Raises ValueError."""
    ip = canonical_ip(block.name)
    mac = host = None
    ends: float | None = None
    active = True  # files of old servers have no binding states
    for words in block.statements:
        key = words[0]
        if key == "ends":
            ends = _date(words[1:])
        elif key == "binding" and len(words) == 3 and words[1] == "state":
            active = words[2] not in INACTIVE
        elif key == "hardware" and len(words) == 3 and words[1] == "ethernet":
            mac = normalise_mac(words[2])
        elif key == "client-hostname" and len(words) == 2:
            host = clean_hostname(_unquote(words[1]))
    return ip, Lease(mac, (ip,), host, ends, None), active


def _host(block: _Block) -> Lease | None:
    mac = None
    ips: list[str] = []
    for words in block.statements:
        if words[0] == "hardware" and len(words) == 3 and words[1] == "ethernet":
            mac = normalise_mac(words[2])
        elif words[0] == "fixed-address" and len(words) >= 2:
            for w in words[1:]:
                try:
                    ips.append(canonical_ip(w.rstrip(",")))
                except ValueError:
                    pass  # a DNS name: dhcpd resolves it, we do not
    if mac is None and not ips:
        return None
    return Lease(mac, tuple(ips), clean_hostname(block.name), None, None)


def parse_isc(text: str) -> tuple[list[Lease], int, list[str]]:
    """(leases, number of declarations skipped, samples of why). Later declarations for an
    address replace earlier ones; only active leases are returned."""
    problems: list[str] = []
    leases: dict[str, tuple[Lease, bool]] = {}
    hosts: list[Lease] = []
    for block in _blocks(_tokens(text), problems):
        try:
            if block.kind == "lease":
                ip, lease, active = _lease(block)
                leases.pop(ip, None)  # keep file order: the latest declaration goes last
                leases[ip] = (lease, active)
            elif block.kind == "host":
                host = _host(block)
                if host is not None:
                    hosts.append(host)
        except ValueError as e:
            problems.append(f"line {block.line}: {block.kind} {block.name}: {e}")
    out = [lease for lease, active in leases.values() if active]
    return out + hosts, len(problems), problems
