"""Client of the daemon's control socket (`data_dir/control.sock`): one line out, one JSON
line back. The UI never touches the daemon's memory; a stopped daemon is a normal state."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask_babel import gettext as _

from dnsfilter.config.values import N_
from dnsfilter.control_client import NOT_RUNNING as NOT_RUNNING_REPLY
from dnsfilter.control_client import ask

# This client's own reasons, as message ids: pages and /api say them in the session's language
# (`Reply.reason`). The daemon's own replies are English for the CLI too; the UI
# only sends commands it has checked, so a parent does not meet them.
NOT_RUNNING = N_("the filter is not running")
UNREADABLE = N_("the filter's answer could not be read")
INVALID = N_("invalid command")
REASONS = frozenset({NOT_RUNNING, UNREADABLE, INVALID})


@dataclass(frozen=True, slots=True)
class Reply:
    ok: bool
    message: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        """`message` in the request's language when it is this client's own reason."""
        return _(self.message) if self.message in REASONS else self.message


def send(socket_path: Path, command: str, timeout: float = 10.0) -> Reply:
    """Send one command; a daemon that is not running gives ok=False with a plain reason."""
    if "\n" in command or "\r" in command:
        return Reply(False, INVALID)
    reply = ask(socket_path, command, timeout)
    if reply == NOT_RUNNING_REPLY:
        return Reply(False, NOT_RUNNING)
    if not isinstance(reply, dict):
        return Reply(False, UNREADABLE)
    return Reply(bool(reply.get("ok")), str(reply.get("message") or ""), reply)
