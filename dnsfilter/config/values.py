"""Reading typed values out of TOML tables, with errors that name the key at fault."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict


def N_(message: str) -> str:
    """Marks a ConfigError message for the web UI's catalogs (`pybabel extract -k N_`, see
    docs/webui.md); it stays plain English here, so dnsfilter/ needs no gettext."""
    return message


class ConfigError(ValueError):
    """`key` names the setting (`profiles[1].deny[0]`). `why` is English text; when `params`
    are given it is a %-format message id (marked with N_) that the web UI translates and
    fills in (`message`, `params`), and `why` is it filled in. `words` names the parameters
    that are message ids themselves (a type's name), translated before they go in."""

    def __init__(self, key: str, why: str, *, words: tuple[str, ...] = (), **params: object) -> None:
        self.key = key
        self.message = why
        self.params = params
        self.words = words
        self.why = why % params if params else why
        super().__init__(f"{key}: {self.why}" if key else self.why)


def read_text(path: Path) -> str:
    """The config file's text, or ConfigError saying why it cannot be read. FileNotFoundError
    is left to the caller: the CLI refuses to run, the web UI's first edit starts a new file."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise
    except PermissionError:  # the usual case (a file made by root, a UI run as another user): in words
        raise ConfigError("", N_("%(path)s: cannot read: permission denied"), path=str(path)) from None
    except OSError as e:
        raise ConfigError("", N_("%(path)s: cannot read: %(reason)s"), path=str(path),
                          reason=e.strerror or type(e).__name__) from None
    except UnicodeDecodeError:
        raise ConfigError("", N_("%(path)s: not UTF-8 text"), path=str(path)) from None


_AT = re.compile(r"\s*\(?at (?:line (\d+),? col(?:umn)? (\d+)|end of document)\)?\.?\s*$")


class TomlPosition(TypedDict):
    """toml_position's result, the parameters of BROKEN_TOML-like messages. Its keys are
    known, so it can be spread into ConfigError(**...) without one landing on `words`."""

    detail: str
    line: int
    column: int


def toml_position(e: Exception, text: str) -> TomlPosition:
    """Where tomllib or tomlkit stopped reading `text`: {detail, line, column}, counted from 1.
    `detail` is the parser's English; the Russian and Kazakh messages leave it out and give the
    line and column only (words a parent can act on), the English ones keep it for the CLI."""
    detail = str(e)
    m = _AT.search(detail)
    line, col = getattr(e, "line", None), getattr(e, "col", None)
    if isinstance(line, int) and isinstance(col, int):  # tomlkit: columns from 0
        line, col = max(line, 1), col + 1
    elif m and m.group(1):
        line, col = int(m.group(1)), int(m.group(2))
    else:  # tomllib's "at end of document"
        last = text.split("\n")
        line, col = len(last), len(last[-1]) + 1
    return {"detail": _AT.sub("", detail).rstrip(". "), "line": line, "column": col}


# What a TOML value's Python type is called in an error (each an N_ message id the web UI
# translates): "must be a whole number, not text" says it in the parent's words.
TYPE_WORDS = {
    "str": N_("a string"), "int": N_("an integer"), "float": N_("a number"), "bool": N_("a boolean (true or false)"),
    "list": N_("a list"), "dict": N_("a table"), "datetime": N_("a date and time"), "date": N_("a date"),
    "time": N_("a time of day"),
}


def type_word(kind: type) -> str:
    return TYPE_WORDS.get(kind.__name__, kind.__name__)


@dataclass(frozen=True, slots=True)
class Listen:
    host: str
    port: int
    # "lan" or an interface name: the daemon binds that interface's addresses as they come and go
    interface: str = ""

    def __str__(self) -> str:
        if self.interface:
            return f"{self.interface}:{self.port}"
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class BlockMode:
    kind: str  # null | nxdomain | refused | ip
    ipv4: str | None = None
    ipv6: str | None = None


class Section:
    """Typed access to one TOML table that remembers which keys were read."""

    def __init__(self, prefix: str, data: Any) -> None:
        if not isinstance(data, dict):
            raise ConfigError(prefix, N_("must be a table, not %(actual)s"), actual=type_word(type(data)),
                              words=("actual",))
        self.prefix, self.data, self.seen = prefix, data, set[str]()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def get(self, name: str, kind: type | tuple[type, ...], default: Any) -> Any:
        self.seen.add(name)
        if name not in self.data:
            return default
        value = self.data[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, float)):
            actual = type_word(type(value))
            if isinstance(kind, tuple):
                raise ConfigError(self.key(name), N_("must be %(expected)s or %(other)s, not %(actual)s"),
                                  expected=type_word(kind[0]), other=type_word(kind[1]), actual=actual,
                                  words=("expected", "other", "actual"))
            raise ConfigError(self.key(name), N_("must be %(expected)s, not %(actual)s"), expected=type_word(kind),
                              actual=actual, words=("expected", "actual"))
        return value

    def int_in(self, name: str, default: int, lo: int, hi: int) -> int:
        value = self.get(name, int, default)
        if not lo <= value <= hi:
            raise ConfigError(self.key(name), N_("must be between %(lo)s and %(hi)s"), lo=lo, hi=hi)
        return value

    def float_in(self, name: str, default: float, lo: float, hi: float) -> float:
        value = self.get(name, float, default)
        if not lo <= value <= hi:
            raise ConfigError(self.key(name), N_("must be between %(lo)s and %(hi)s"), lo=lo, hi=hi)
        return value

    def strings(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.get(name, list, list(default))
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise ConfigError(f"{self.key(name)}[{i}]", N_("must be a string"))
        return tuple(value)

    def done(self) -> None:
        extra = sorted(set(self.data) - self.seen)
        if extra:
            raise ConfigError(self.key(extra[0]), N_("unknown key"))


def parse_listen(text: str, key: str, default_port: int = 53) -> Listen:
    host, port = text, default_port
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise ConfigError(key, N_("%(value)r: missing ']'"), value=text)
        if rest:
            if not rest.startswith(":") or not (rest[1:].isascii() and rest[1:].isdigit()):
                raise ConfigError(key, N_("%(value)r: expected [address]:port"), value=text)
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, p = text.split(":")
        if not (p.isascii() and p.isdigit()):
            raise ConfigError(key, N_("%(value)r: the port must be a number"), value=text)
        port = int(p)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if default_port == 53:
            raise ConfigError(key, N_("%(value)r: expected an IP address with an optional port, `lan` or an "
                                      "interface name (br-lan, eth0)"), value=text) from None
        raise ConfigError(key, N_("%(value)r: expected an IP address with an optional port"), value=text) from None
    if not 0 <= port <= 65535:
        raise ConfigError(key, N_("%(value)r: port out of range"), value=text)
    return Listen(host, port)


def parse_dns_listen(text: str, key: str, default_port: int = 53) -> Listen:
    """Like parse_listen, and also `lan`, `IFNAME`, `lan:PORT`, `IFNAME:PORT`."""
    name, sep, port = text.partition(":")
    # a bare word like `localhost` is a host name by mistake, not an interface: interface names
    # other than `lan` need a digit or one of -._ (br-lan, eth0, wlan0, enp3s0, lan1)
    looks_like_if = name == "lan" or any(c.isdigit() or c in "-._" for c in name)
    if name and ":" not in port and not name[0].isdigit() and not name.startswith("[") and looks_like_if:
        check_ifname(name, key)
        if sep and not (port.isascii() and port.isdigit() and 0 <= int(port) <= 65535):
            raise ConfigError(key, N_("%(value)r: the port must be a number up to 65535"), value=text)
        return Listen("", int(port) if sep else default_port, name)
    return parse_listen(text, key, default_port)


def parse_block_mode(text: str, key: str) -> BlockMode:
    if text in ("null", "nxdomain", "refused"):
        return BlockMode(text)
    if text.startswith("ip:"):
        v4 = v6 = None
        for part in text[3:].split(","):
            try:
                ip = ipaddress.ip_address(part.strip())
            except ValueError:
                raise ConfigError(key, N_("%(value)r is not an IP address"), value=part.strip()) from None
            if ip.version == 4:
                v4 = str(ip)
            else:
                v6 = str(ip)
        return BlockMode("ip", v4, v6)
    raise ConfigError(key, N_("%(value)r: expected null, nxdomain, refused or ip:ADDR[,ADDR6]"), value=text)


def check_name(name: str, key: str, wildcard: bool = False) -> str:
    n = name.strip().rstrip(".").lower()
    if wildcard and n.startswith("*."):
        n = n[2:]
    try:
        n = n.encode("idna").decode("ascii")
    except UnicodeError:
        raise ConfigError(key, N_("%(name)r is not a valid domain name"), name=name) from None
    labels = n.split(".")
    if not n or len(n) > 253 or any(not 0 < len(lab) < 64 for lab in labels) or not all(
            c.isalnum() or c in "-_" for c in n.replace(".", "")):
        raise ConfigError(key, N_("%(name)r is not a valid domain name"), name=name)
    return n


def check_ifname(name: str, key: str) -> str:
    """A Linux interface name (IFNAMSIZ): it ends up quoted inside nft rules, so keep it plain."""
    if not (0 < len(name) <= 15 and name.isascii() and all(c.isalnum() or c in "_.-" for c in name)):
        raise ConfigError(key, N_("%(value)r is not an interface name (1-15 letters, digits, '_', '.', '-')"), value=name)
    return name


def network(value: str, key: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ConfigError(key, N_("%(value)r is not an address or network"), value=value) from None
    return value


def networks(values: tuple[str, ...], key: str) -> tuple[str, ...]:
    for i, v in enumerate(values):
        network(v, f"{key}[{i}]")
    return values
