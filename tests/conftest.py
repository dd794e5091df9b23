"""Fixtures shared by every test folder."""

from __future__ import annotations

import os

import pytest

from tests.support.feedserver import server, session  # noqa: F401 (fixtures: a local feed server, a no-proxy session)


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reaches past loopback through a proxy from the environment: the daemons, CLI runs
    and browsers the tests start inherit this environment."""
    for k in [k for k in os.environ if "proxy" in k.lower()]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost,::1")
