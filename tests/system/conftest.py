"""`make test-system` only: a Debian 12 machine under a real systemd (tests/system/machine.py).
It needs root, debootstrap, systemd-nspawn and the Debian mirror apt uses, and takes a few
minutes, so `make test` (and a bare `pytest`) skip it unless DNSFILTER_SYSTEM_TEST=1."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("DNSFILTER_SYSTEM_TEST") == "1":
        return
    skip = pytest.mark.skip(reason="a Debian 12 machine under systemd: run it with `make test-system`")
    for item in items:
        if "tests/system/" in str(item.fspath):
            item.add_marker(skip)
