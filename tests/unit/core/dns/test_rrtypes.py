"""The RR type table agrees with dnspython's (an independent copy of IANA's registry)."""

from __future__ import annotations

import dns.rdatatype

from dnsfilter.core.dns.rrtypes import RR_TYPES, rr_type


def test_every_type_dnspython_knows_has_the_same_number() -> None:
    theirs = {t.name.replace("_", "-"): int(t) for t in dns.rdatatype.RdataType if t.name != "TYPE0"}
    # The few dnspython lacks or we lack are listed, so that a new registry entry is noticed.
    assert set(theirs) <= set(RR_TYPES)
    assert set(RR_TYPES) - set(theirs) == {"EID", "NIMLOC", "ATMA", "SINK", "RKEY", "TALINK", "UINFO", "UID",
                                           "GID", "DOA"}
    assert all(RR_TYPES[n] == v for n, v in theirs.items() if n in RR_TYPES)


def test_names_and_numbers() -> None:
    assert (rr_type("aaaa"), rr_type(" HTTPS "), rr_type("TYPE65"), rr_type("TYPE65536")) == (28, 65, 65, None)
    assert rr_type("INVALIDTYPE") is None and rr_type("NONE") is None and rr_type("") is None
