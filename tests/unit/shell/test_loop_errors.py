"""What asyncio would log with a traceback (Daemon._loop_error): a peer's reset is one
rate-limited line, a bug one warning naming where it was raised; never a traceback, and a
flood of them stays a few lines."""

from __future__ import annotations

import asyncio
import logging

import pytest

from dnsfilter.config import from_dict
from dnsfilter.shell.daemon import Daemon


def raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as e:  # with its traceback, as asyncio hands it over
        return e


def test_peer_errors_and_bugs_become_single_rate_limited_lines(caplog: pytest.LogCaptureFixture) -> None:
    d = Daemon(from_dict({}))
    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.DEBUG, logger="dnsfilter"):
            for _ in range(100):
                d._loop_error(loop, {"message": "Unhandled exception in client_connected_cb",
                                     "exception": raised(ConnectionResetError(104, "Connection reset by peer"))})
            d._loop_error(loop, {"message": "Exception in callback", "exception": raised(KeyError("x"))})
    finally:
        loop.close()
    lines = [r for r in caplog.records if r.name == "dnsfilter"]
    assert all(r.exc_info is None and "Traceback" not in r.getMessage() for r in lines)
    peer = [r.getMessage() for r in lines if r.getMessage().startswith("peer:")]
    assert len(peer) == 5 and "ConnectionResetError" in peer[0]  # five per window, the rest counted
    [bug] = [r for r in lines if r.getMessage().startswith("internal:")]
    assert bug.levelno == logging.WARNING and "KeyError" in bug.getMessage()
    assert "test_loop_errors.py:" in bug.getMessage()  # where it was raised

