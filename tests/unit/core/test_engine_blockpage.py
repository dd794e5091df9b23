"""Block pages in the engine: a block_page profile's blocked A/AAAA answer with the portal's
address on the interface the query came in on; other profiles and types keep their answer; the
fast path holds such an answer only when it is the same on every interface."""

from __future__ import annotations

from dnsfilter.core.dns.blockpage import BlockPage
from tests.support.engine import ask, ede, make, q, reply_of

PROFILES = [{"name": "Kids", "block_categories": ["adult"], "block_page": True}, {"name": "Adults"}]
DEVICES = [{"name": "tab", "ip": "192.168.1.2", "profile": "Kids"},
           {"name": "tab2", "ip": "192.168.2.9", "profile": "Kids"},
           {"name": "pc", "ip": "192.168.1.3", "profile": "Adults"}]


def kids_engine(bp: BlockPage):
    eng = make(profiles=PROFILES, devices=DEVICES, portal={"listen": ["192.168.1.1:80"]},
               defaults={"profile": "Adults"})
    eng.set_block_page(bp)
    return eng


def addresses(r) -> list[str]:
    return [str(rr.rdata) for rr in r.rr]


def test_blocked_a_of_a_block_page_profile_points_at_the_portal_of_that_interface() -> None:
    bp = BlockPage(["Kids"], {"192.168.1.1": ("192.168.1.1", "fd00:1::1"), "192.168.2.1": ("192.168.2.1", None)})
    eng = kids_engine(bp)
    r = reply_of(ask(eng, q("adult.test"), local_addr="192.168.1.1"))
    assert addresses(r) == ["192.168.1.1"]
    assert ede(r)[0] == 17  # the EDE still says why
    r6 = reply_of(ask(eng, q("adult.test", "AAAA"), local_addr="192.168.1.1"))
    assert addresses(r6) == ["fd00:1::1"]
    other = reply_of(ask(eng, q("adult.test"), ip="192.168.2.9", local_addr="192.168.2.1"))
    assert addresses(other) == ["192.168.2.1"]
    # no IPv6 portal address on that interface: AAAA has no data (never ::), so the A is used
    none6 = reply_of(ask(eng, q("adult.test", "AAAA"), ip="192.168.2.9", local_addr="192.168.2.1"))
    assert none6.rr == [] and none6.header.rcode == 0 and ede(none6)[0] == 17


def test_other_profiles_and_types_keep_the_usual_block() -> None:
    bp = BlockPage(["Kids"], {"192.168.1.1": ("192.168.1.1", None)})
    eng = kids_engine(bp)
    pc = reply_of(ask(eng, q("ads.test"), ip="192.168.1.3", local_addr="192.168.1.1"))
    assert addresses(pc) == ["0.0.0.0"]
    https = reply_of(ask(eng, q("adult.test", "HTTPS"), local_addr="192.168.1.1"))
    assert https.rr == [] and ede(https)[0] == 17
    # an authority block too points at the page, which shows its legal basis
    gov = reply_of(ask(eng, q("banned.test"), local_addr="192.168.1.1"))
    assert addresses(gov) == ["192.168.1.1"] and ede(gov)[0] == 16


def test_a_forwarded_query_goes_by_the_device_s_network() -> None:
    """dnsmasq on the router asks on 127.0.0.1 for a LAN device: the page must be on its LAN."""
    bp = BlockPage(["Kids"], {"127.0.0.1": ("127.0.0.1", None)},
                   nets=[("192.168.1.0/24", ("192.168.1.1", None)), ("192.168.2.0/24", ("192.168.2.1", None))])
    eng = kids_engine(bp)
    r = reply_of(ask(eng, q("adult.test"), ip="192.168.2.9", local_addr="127.0.0.1"))
    assert addresses(r) == ["192.168.2.1"]
    # a wildcard listener: by the device's network too
    r = reply_of(ask(eng, q("adult.test"), ip="192.168.1.2", local_addr="0.0.0.0"))
    assert addresses(r) == ["192.168.1.1"]


def test_the_fast_path_holds_the_page_answer_only_when_it_is_the_same_everywhere() -> None:
    one = kids_engine(BlockPage(["Kids"], {"192.168.1.1": ("192.168.1.1", None)}))
    ask(one, q("adult.test"), local_addr="192.168.1.1")
    assert one.fast.entries == 1
    two = kids_engine(BlockPage(["Kids"], {"192.168.1.1": ("192.168.1.1", None), "192.168.2.1": ("192.168.2.1", None)}))
    ask(two, q("adult.test"), local_addr="192.168.1.1")
    assert two.fast.entries == 0  # another interface's device of this profile must not replay it
    ask(two, q("ads.test"), ip="192.168.1.3", local_addr="192.168.1.1")
    assert two.fast.entries == 1  # Adults' blocks are the usual ones, the same everywhere


def test_new_portal_addresses_drop_the_answers_built_with_the_old_ones() -> None:
    eng = kids_engine(BlockPage(["Kids"], {"192.168.1.1": ("192.168.1.1", None)}))
    ask(eng, q("adult.test"), local_addr="192.168.1.1")
    eng.set_block_page(BlockPage(["Kids"], {"192.168.1.1": ("192.168.1.254", None)}))
    assert eng.fast.entries == 0
    r = reply_of(ask(eng, q("adult.test"), local_addr="192.168.1.1"))
    assert addresses(r) == ["192.168.1.254"]
    eng.set_block_page(None)
    assert addresses(reply_of(ask(eng, q("adult.test"), local_addr="192.168.1.1"))) == ["0.0.0.0"]


def test_no_portal_address_at_all_keeps_the_usual_block() -> None:
    eng = kids_engine(BlockPage(["Kids"], {}))
    assert eng.block_page is None  # an empty plan is no plan
    assert addresses(reply_of(ask(eng, q("adult.test"), local_addr="192.168.1.1"))) == ["0.0.0.0"]


def test_the_hot_loop_leaves_a_block_page_profile_s_first_sights_to_the_full_path() -> None:
    """The UDP loop's first sight writes the usual block from the bytes: never for a profile
    whose blocks point at the portal (it would answer 0.0.0.0 where the page was promised)."""
    from tests.support.engine import hot_loop

    eng = kids_engine(BlockPage(["Kids"], {"192.168.1.1": ("192.168.1.1", None)}))
    ask(eng, q("www.example.com"), ip="192.168.1.2", local_addr="192.168.1.1")  # the tablet's fast slot
    ask(eng, q("www.example.com"), ip="192.168.1.3", local_addr="192.168.1.1")  # the pc's
    assert eng.first_sight(eng.fast.clients["192.168.1.2"], q("adult.test")[2:], 0.0) is None
    assert addresses(reply_of(ask(eng, q("adult.test"), ip="192.168.1.2", local_addr="192.168.1.1"))) \
        == ["192.168.1.1"]
    out = hot_loop(eng, q("ads.test"), "192.168.1.3")  # Adults: no page, the loop answers
    assert out is not None
