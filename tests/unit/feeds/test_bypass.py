"""feeds/bypass.txt and feeds/bypass.py: the names used to bypass the filter."""

from __future__ import annotations

from pathlib import Path

import pytest

from feeds.bypass import load_bypass
from feeds.services import CatalogError, covers, domain_problem
from tests.support.paths import SHARED_DATA

HAGEZI = SHARED_DATA / "hagezi"
BYPASS = HAGEZI / "doh-vpn-proxy-bypass.onlydomains.txt"
DOH = HAGEZI / "doh.domains.txt"

# Names families meet in browsers and phones' settings: each must be caught (itself or below).
MUST_CATCH = (
    "dns.google", "cloudflare-dns.com", "mozilla.cloudflare-dns.com", "chrome.cloudflare-dns.com",
    "one.one.one.one", "dns.quad9.net", "doh.opendns.com", "dns.adguard-dns.com", "family.adguard-dns.com",
    "dns.nextdns.io", "firefox.dns.nextdns.io", "doh.cleanbrowsing.org", "dns.mullvad.net", "doh.xfinity.com",
    "mask.icloud.com", "mask-h2.icloud.com", "www.torproject.org", "bridges.torproject.org", "nordvpn.com",
    "api.nordvpn.com", "protonvpn.com", "engage.cloudflareclient.com",
)
# Ours on purpose although HaGeZi's bypass list leaves them out (it handles them elsewhere).
NOT_IN_HAGEZI = {
    "mask.icloud.com": "HaGeZi ships Private Relay as a separate list",
    "cloudflareclient.com": "Cloudflare WARP's endpoints (the 1.1.1.1 app's VPN mode)",
}


def _names(path: Path) -> set[str]:
    return {ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()
            if ln.strip() and not ln.startswith("#")}


def test_the_list_catches_the_well_known_bypass_names() -> None:
    names = load_bypass()
    for want in MUST_CATCH:
        assert any(covers(n, want) for n in names), want
    for harmless in ("google.com", "icloud.com", "www.icloud.com", "cloudflare.com", "proton.me", "mail.proton.me"):
        assert not any(covers(n, harmless) for n in names), harmless


def test_every_name_is_valid_and_none_is_redundant() -> None:
    names = load_bypass()
    assert len(names) == len(set(names)) >= 60
    for n in names:
        assert domain_problem(n, wildcard=False) is None, n
        above = [m for m in names if m != n and covers(m, n)]
        assert not above, f"{n} is already covered by {above}"


@pytest.mark.parametrize(("body", "expect"), [
    ("dns.google\nBad..name\n", r"b\.txt:2: 'Bad\.\.name'"),
    ("dns.google\n*.x.com\n", "wildcards are not allowed"),
    ("dns.google\n# c\ndns.google  # again\n", r"b\.txt:3: 'dns\.google' is listed twice \(first on line 1\)"),
    ("# only comments\n\n", "no names"),
])
def test_bad_files_raise_catalog_error(tmp_path: Path, body: str, expect: str) -> None:
    f = tmp_path / "b.txt"
    f.write_text(body, encoding="utf-8")
    with pytest.raises(CatalogError, match=expect):
        load_bypass(f)


def test_comments_and_blank_lines(tmp_path: Path) -> None:
    f = tmp_path / "b.txt"
    f.write_text("# head\n\ndns.google   # Google\n  one.one.one.one\n", encoding="utf-8")
    assert load_bypass(f) == ("dns.google", "one.one.one.one")


@pytest.mark.shared
@pytest.mark.skipif(not BYPASS.exists() or not DOH.exists(), reason="needs ../shared/data/hagezi")
def test_overlap_with_hagezi() -> None:
    ours = load_bypass()
    hagezi = _names(BYPASS)

    def listed(name: str) -> bool:  # HaGeZi's entries also cover their subdomains
        labels = name.split(".")
        return any(".".join(labels[i:]) in hagezi for i in range(len(labels) - 1))

    absent = sorted(n for n in ours if not listed(n))
    doh = _names(DOH)
    caught = sum(any(covers(n, d) for n in ours) for d in doh)
    print(f"ours in HaGeZi bypass: {len(ours) - len(absent)}/{len(ours)}; "
          f"HaGeZi DoH names caught by ours: {caught}/{len(doh)} ({100 * caught / len(doh):.1f} %)")
    # Ours is a short list of the big names, theirs a long one: ours should be (almost) inside it.
    assert set(absent) <= set(NOT_IN_HAGEZI), absent
    assert caught >= 50
