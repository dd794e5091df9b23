from __future__ import annotations

from dnsfilter.core.household.seen import SeenDevices
from dnsfilter.core.stages.identify import ClientState

MAC = "02:11:22:33:44:55"


def test_a_device_is_one_entry_with_the_addresses_it_used_and_its_last_profile() -> None:
    s = SeenDevices()
    s.saw(ClientState("192.168.1.20", "Kids", None, MAC, MAC), 10.0)
    s.saw(ClientState("fd00::20", "Teens", None, MAC, MAC), 12.0)
    [d] = s.drain()
    assert (d.device, d.mac, d.profile, d.last) == (MAC, MAC, "Teens", 12.0)
    assert d.ips == {"192.168.1.20": 10.0, "fd00::20": 12.0}
    assert s.drain() == []  # drained: the next interval starts empty


def test_bounded_in_devices_and_in_addresses_per_device() -> None:
    s = SeenDevices(limit=3)
    for n in range(10):
        s.saw(ClientState(f"10.0.0.{n}", "Default", None, f"10.0.0.{n}"), float(n))
    for n in range(20):
        s.saw(ClientState(f"fd00::{n:x}", "Kids", None, MAC, MAC), float(n))
    assert len(s.devices) == 3 and MAC not in s.devices  # full: a new device waits for the drain
    s.drain()
    for n in range(20):
        s.saw(ClientState(f"fd00::{n:x}", "Kids", None, MAC, MAC), float(n))
    [d] = s.drain()
    assert len(d.ips) == 8 and d.last == 19.0
