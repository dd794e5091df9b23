"""OpenWrt UCI files: a parser that accepts what libuci accepts.

It follows libuci's file.c (the `uci` command runs in strict mode): commands
`package`/`config`/`option`/`list` (or `p`/`c`/`o`/`l`), several per line with `;`, `#`
comments, 'single' quotes (no escapes), "double" quotes and bare words (a backslash takes
the next character literally, and a backslash at the end of a line continues it), adjacent
pieces joined ('a'"b"c is `abc`), quoted values spanning lines. Names of options and
sections are [A-Za-z0-9_]; types are printable ASCII without spaces. Every error carries the
line it was found on, so the init script can say where /etc/config/dnsfilter is wrong.

Pure: text in, sections out; reading the file is the caller's job. `dnsfilter.router.uci` renders
the sections of /etc/config/dnsfilter into dnsfilter's config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

Value = str | list[str]


class UciError(ValueError):
    def __init__(self, line: int, why: str) -> None:
        super().__init__(f"line {line}: {why}" if line else why)
        self.line = line
        self.why = why


@dataclass
class Section:
    type: str
    name: str | None  # None: an anonymous section (uci calls it cfgXXXXXX)
    line: int
    options: dict[str, Value] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)  # option -> line where it was last set
    # where each command sits, as (first, last) physical lines, for the TOML->UCI writer
    # (dnsfilter.router.uci_write): the `config` line(s), and every option/list line of an option
    head: tuple[int, int] = (0, 0)
    spans: dict[str, list[tuple[int, int]]] = field(default_factory=dict)


_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_PACKAGE = re.compile(r"^[A-Za-z0-9_-]+$")
_TYPE = re.compile(r"^[\x21-\x7e]+$")
_COMMANDS = {"p": "package", "package": "package", "c": "config", "config": "config",
             "o": "option", "option": "option", "l": "list", "list": "list"}


class _Reader:
    """libuci's line buffer: `buf` holds the logical line being parsed and `pos` the parse
    position; a continuation (quote left open, backslash at the end) appends the next
    physical line at `pos`, as uci_getln(ctx, pos) does."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines(keepends=True)
        self.next = 0
        self.buf = ""
        self.pos = 0

    @property
    def line(self) -> int:
        return self.next

    def getln(self, at: int) -> bool:
        if self.next >= len(self.lines):
            self.buf = self.buf[:at]
            return False
        self.buf = self.buf[:at] + self.lines[self.next]
        self.next += 1
        return True

    def cur(self) -> str:
        return self.buf[self.pos] if self.pos < len(self.buf) else ""

    def skip_space(self) -> None:
        while self.cur() and self.cur().isspace():
            self.pos += 1

    def backslash(self) -> bool:
        """At a backslash: skip it; True if the next character is to be taken literally,
        False if it ended the line (the next line has been joined on)."""
        self.pos += 1
        rest = self.buf[self.pos:]
        if rest in ("", "\n", "\r\n"):
            self.getln(self.pos)
            return False
        return True

    def quoted(self, quote: str) -> str:
        out: list[str] = []
        self.pos += 1
        while True:
            c = self.cur()
            if c == quote:
                self.pos += 1
                return "".join(out)
            if c == "":
                if not self.getln(self.pos):
                    raise UciError(self.line, f"EOF with unterminated {quote}")
                continue
            if c == "\\" and quote == '"':
                if not self.backslash():
                    continue
                c = self.cur()
            out.append(c)
            self.pos += 1

    def word(self) -> str:
        """One argument (parse_str): pieces until whitespace, `#` (comment) or `;`."""
        out: list[str] = []
        while True:
            c = self.cur()
            if c in ("'", '"'):
                out.append(self.quoted(c))
            elif c == "#":
                self.buf, c = self.buf[:self.pos], ""
                break
            elif c == "" or c == ";":
                break
            elif c == "\\":
                if not self.backslash():
                    if not self.cur() or self.cur().isspace():
                        break
                    continue
                out.append(self.cur())
                self.pos += 1
            else:
                out.append(c)
                self.pos += 1
            if not self.cur() or self.cur().isspace():
                break
        if self.cur() and self.cur() != ";":
            self.pos += 1  # the whitespace that ended the word
        return "".join(out)

    def arg(self) -> str:
        self.skip_space()
        if self.cur() == ";":
            self.pos += 1
            return ""
        return self.word()

    def command(self) -> str | None:
        """The command word (strtok on space and tab), or None at the end of the line."""
        while self.cur() in (" ", "\t"):
            self.pos += 1
        start = self.pos
        while self.cur() and self.cur() not in " \t":
            self.pos += 1
        word = self.buf[start:self.pos]
        if self.cur():
            self.pos += 1
        return word or None


def parse(text: str) -> list[Section]:
    """Parse a UCI file; raise UciError (with its line) where libuci would refuse it."""
    r = _Reader(text)
    sections: list[Section] = []
    named: dict[str, Section] = {}
    current: Section | None = None
    while r.getln(0):
        r.pos = 0
        r.skip_space()
        while True:
            first = r.line
            word = r.command()
            if word is None or word.startswith("#") or word in ("\n", "\r\n"):
                break
            cmd = _COMMANDS.get(word)
            if cmd is None:
                raise UciError(r.line, f"invalid command {word.strip()!r}")
            if cmd == "package":
                name = _required(r, "package without name")
                if not _PACKAGE.match(name):
                    raise UciError(r.line, "invalid character in name field")
                _eol(r)
            elif cmd == "config":
                current = _config(r, sections, named)
                if current.head == (0, 0):
                    current.head = (first, r.line)
            else:
                if current is None:
                    raise UciError(r.line, "option/list command found before the first section")
                name = _option(r, current, cmd == "list")
                current.spans.setdefault(name, []).append((first, r.line))
            if r.cur() == "":
                break
    return sections


def _required(r: _Reader, why: str) -> str:
    value = r.arg()
    if not value:
        raise UciError(r.line, f"insufficient arguments ({why})")
    return value


def _eol(r: _Reader) -> None:
    r.skip_space()
    if r.cur() == ";":
        r.pos += 1
        return
    if r.word():
        raise UciError(r.line, "too many arguments")


def _config(r: _Reader, sections: list[Section], named: dict[str, Section]) -> Section:
    line = r.line
    stype = _required(r, "config without type")
    if not _TYPE.match(stype):
        raise UciError(line, "invalid character in type field")
    name = r.arg()
    if name and not _NAME.match(name):
        raise UciError(line, "invalid character in name field")
    _eol(r)
    if not name:
        sec = Section(stype, None, line)
        sections.append(sec)
        return sec
    if name in named:
        sec = named[name]
        if sec.type != stype:
            raise UciError(line, "section of different type overwrites prior section with same name")
        return sec  # uci merges a repeated section into the first one
    sec = Section(stype, name, line)
    sections.append(sec)
    named[name] = sec
    return sec


def _option(r: _Reader, sec: Section, is_list: bool) -> str:
    line = r.line
    name = _required(r, "option without name")
    if not _NAME.match(name):
        raise UciError(line, "invalid character in name field")
    value = r.arg()
    _eol(r)
    if any(ord(c) < 32 and c not in "\t\n\r" for c in value):
        raise UciError(line, f"option {name!r}: control character in value")
    old = sec.options.get(name)
    if is_list:
        # uci turns an option into a one-element list before appending to it
        sec.options[name] = ([old] if isinstance(old, str) else list(old or [])) + [value]
    elif value:
        sec.options[name] = value
    else:
        sec.options.pop(name, None)  # `option x ''` deletes x, as uci_set with an empty value does
    sec.lines[name] = line
    return name
