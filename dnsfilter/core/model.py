"""The vocabulary shared by every layer: outcomes, reasons, clients and decisions.

Every reply the daemon sends carries an Outcome and a Reason: the Reason is what a parent
is shown as "why", and the EDE code is what a client sees on the wire (RFC 8914).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final


class Outcome(enum.Enum):
    RESOLVED = "resolved"  # forwarded upstream and answered
    CACHED = "cached"  # answered from the cache
    STALE = "stale"  # upstreams failed; answered from an expired cache entry (RFC 8767)
    BLOCKED = "blocked"  # sinkholed by a list, deny rule or policy
    REWRITTEN = "rewritten"  # answered with a rewrite (safe search, local CNAME)
    LOCAL = "local"  # answered by the appliance itself (localhost, own name, RFC 6303 zones)
    REFUSED = "refused"  # client not allowed, rate limited, or query class refused
    FAILED = "failed"  # SERVFAIL: upstreams failed and nothing stale was available
    INVALID = "invalid"  # FORMERR / NOTIMP for malformed or unsupported queries


class Ede(enum.IntEnum):
    """RFC 8914 Extended DNS Error codes used by the appliance."""

    STALE_ANSWER = 3
    NOT_READY = 14
    BLOCKED = 15
    CENSORED = 16
    FILTERED = 17
    PROHIBITED = 18
    NETWORK_ERROR = 23


# Categories whose blocks are "Filtered" (parental choice) rather than "Blocked" (security).
SECURITY_CATEGORIES: Final = frozenset({"ads", "trackers", "malware", "phishing"})
AUTHORITY_CATEGORY: Final = "authority"


EDE_TEXT_MAX: Final = 200  # bytes of EDE extra text sent (RFC 8914 sets no limit; a UDP answer must fit)


def fit_utf8(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes on a character boundary, "…" marking a cut."""
    raw = text.encode("utf-8")
    if len(raw) <= limit:
        return text
    return raw[: limit - 3].decode("utf-8", "ignore") + "…"


def list_version(digest: bytes) -> str:
    """A compiled list's version as the daemon names it (EDE 16, the audit log, the self-test):
    the first 12 hex digits of its set's digest, which covers every entry it holds."""
    return digest.hex()[:12]


def authority_text(feed: str, version: str = "", legal_basis: str = "") -> str:
    """A block's reason (and EDE 16 extra text) for an authority list: the list, its version and
    the legal basis, within EDE_TEXT_MAX bytes (the legal basis is what gets cut)."""
    head = f"blocked by the authority list {feed}" + (f" version {version}" if version else "")
    return fit_utf8(f"{head}: {legal_basis}" if legal_basis else head, EDE_TEXT_MAX)


def ede_for_category(category: str) -> Ede:
    if category == AUTHORITY_CATEGORY:
        return Ede.CENSORED
    if category in SECURITY_CATEGORIES or category == "custom":
        return Ede.BLOCKED
    return Ede.FILTERED


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a reply is what it is, in terms a UI can show.

    `rule` is a deny/allow entry or a local-zone name; `feed` the list that matched.
    For hashed (sha256) feeds only the feed id is recorded, never the matched name.
    """

    text: str
    category: str | None = None
    feed: str | None = None
    rule: str | None = None
    kind: str | None = None  # authority deny allow always_allow pause schedule budget allow_only
    #                          service bypass category allowlist safe_search
    service: str | None = None


@dataclass(frozen=True, slots=True)
class PolicyAction:
    """How a block from a Response Policy Zone answers, as the zone says (docs/rpz.md): kind
    "nxdomain", "nodata", "drop" (no answer at all), "tcp-only" (TC over UDP; TCP asks go
    through) or "local" (these records, as written). A Decision without one answers as
    `[dns] block_mode` says."""

    kind: str
    records: tuple[tuple[int, bytes], ...] = ()  # local data: (type, rdata in wire form)

    @property
    def cname(self) -> bytes | None:
        """The target of a local-data CNAME (a walled garden), asked in the client's stead."""
        return next((data for rtype, data in self.records if rtype == 5), None)


@dataclass(frozen=True, slots=True)
class Decision:
    """The policy's verdict for one name: allow, or block with an EDE code and a reason."""

    blocked: bool
    reason: Reason
    ede: Ede | None = None
    per_client: bool = False  # depends on the client's address, not only its profile
    exempt: bool = False  # explicitly allowed: answers are not filtered further (but by authority lists)
    rewrite: bytes | None = None  # safe search: answer with a CNAME to this wire name
    count: tuple[str, ...] = ()  # budget items this name counts toward (never answered from the fast path)
    action: PolicyAction | None = None  # a block from a policy zone: answered as the zone says

    @property
    def verdict(self) -> str:
        return "block" if self.blocked else "rewrite" if self.rewrite is not None else "allow"


ALLOW_DEFAULT: Final = Decision(False, Reason("not on any list"))


@dataclass(frozen=True, slots=True)
class Client:
    """Who is asking: the address the query came from and the profile it maps to."""

    ip: str
    profile: str
