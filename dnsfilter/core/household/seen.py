"""Which devices asked, from which addresses, since the shell last looked: the engine notes
every query's device here and the shell drains it into the device store every few seconds."""

from __future__ import annotations

from dataclasses import dataclass

from dnsfilter.core.stages.identify import ClientState


@dataclass(slots=True)
class Seen:
    """A device as the engine saw it, drained by the shell into the device store."""

    device: str
    mac: str | None
    ips: dict[str, float]  # address -> last query from it (a few: IPv4, IPv6, privacy addresses)
    profile: str
    last: float


class SeenDevices:
    """Bounded: at most `limit` devices and 8 addresses each between two drains, so a flood of
    spoofed sources cannot grow it."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self.devices: dict[str, Seen] = {}

    def saw(self, client: ClientState, now: float) -> None:
        s = self.devices.get(client.device)
        if s is not None:
            s.last, s.profile = now, client.profile
            if client.ip in s.ips or len(s.ips) < 8:
                s.ips[client.ip] = now
        elif len(self.devices) < self.limit:
            self.devices[client.device] = Seen(client.device, client.mac, {client.ip: now}, client.profile, now)

    def drain(self) -> list[Seen]:
        out, self.devices = list(self.devices.values()), {}
        return out
