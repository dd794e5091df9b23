"""The OpenAPI document at /api/openapi.json: every route under /api is in it, and the running
app (with a real daemon behind its control socket) answers as it says, checked by schemathesis."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from dnsfilter.storage.store import DeviceStore, Observation
from tests.support.daemon import DaemonProcess
from tests.webui.helpers import CONFIG, TABLET, do_setup
from webui import create_app, openapi

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is a dev extra (pip install -e .[dev])")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

IGNORED_METHODS = {"HEAD", "OPTIONS"}
# Not fuzzed: /feeds/{name}/sync downloads from the address in the config (this test's process is
# not in the daemon's private network namespace), and /settings/restore replaces the whole file,
# data_dir included. Both are covered by tests/webui/test_feeds.py and test_settings.py.
NOT_FUZZED = r"^/(feeds/\{name\}/sync|settings/restore)$"


def _openapi_path(rule: str) -> str:
    """Flask's `/api/devices/<mac>/profile` (or `<string:mac>`) as OpenAPI's `/devices/{mac}/profile`."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.removeprefix("/api"))


def test_every_api_route_is_documented(app: Flask) -> None:
    """A route added under /api without a description here fails this test."""
    doc = app.test_client().get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = _openapi_path(rule.rule)
        for method in sorted((rule.methods or set()) - IGNORED_METHODS):
            if method.lower() not in doc["paths"].get(path, {}):
                missing.append(f"{method} {rule.rule}")
    assert not missing, f"routes under /api missing from webui/openapi.py: {missing}"
    # and nothing documented that does not exist (a renamed route must not leave a stale entry)
    routes = {(_openapi_path(r.rule), m.lower()) for r in app.url_map.iter_rules() for m in r.methods or ()}
    stale = [(p, m) for p, ops in doc["paths"].items() for m in ops if (p, m) not in routes]
    assert not stale, f"documented but not routed: {stale}"


def test_document_is_public_but_the_api_is_not(set_up: Flask) -> None:
    c = set_up.test_client()
    assert c.get("/api/openapi.json").status_code == 200  # no household data in it
    r = c.get("/api/devices")
    assert r.status_code == 401 and r.get_json()["ok"] is False
    schemes = c.get("/api/openapi.json").get_json()["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer" and schemes["csrf"]["name"] == "X-CSRF-Token"


def test_unsafe_operations_need_the_csrf_header_with_a_session(client: Any) -> None:
    """What the document says about security is what the gate does."""
    doc = openapi.document()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if method in ("post", "patch", "delete"):
                assert {"session": [], "csrf": []} in op["security"], (method, path)
    r = client.post(f"/api/devices/{TABLET}/profile", json={"profile": "Kids"})  # session, no header
    assert r.status_code == 400 and "expired" in r.get_json()["error"]


# ---------------------------------------------------------------- the running app vs the document

DAEMON_CONFIG = CONFIG.replace("[storage]\ndata_dir = \"var\"\n", "") + \
    '\n[dns]\nlisten = ["127.0.0.1:{port}"]\nupstreams = ["127.0.0.1:9"]\n'


def _netns_python(tmp: Path) -> str:
    """A `python` that runs in a new network namespace with only loopback up: whatever the
    fuzzer writes into the config (upstreams, list addresses), no packet leaves this test."""
    import sys

    wrapper = tmp / "python-netns"
    wrapper.write_text(f"#!/bin/sh\nexec unshare --net sh -c 'ip link set lo up && exec \"$0\" \"$@\"' "
                       f"{sys.executable} \"$@\"\n")
    wrapper.chmod(0o755)
    return str(wrapper)


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, str, Path]]:
    """The web UI app on a real daemon's config and control socket, set up, with an API token."""
    import shutil
    import sys

    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare and ip (util-linux, iproute2) for the daemon's private network")
    tmp = tmp_path_factory.mktemp("openapi")
    (tmp / "var").mkdir()
    (tmp / "family.txt").write_text("blocked.example\n")
    store = DeviceStore(tmp / "var" / "dnsfilter.db")  # a device for pause/resume/profile to find
    store.observe_many([Observation(TABLET, time.time(), mac=TABLET, ip="192.168.1.23", hostname="tablet")])
    store.close()
    daemon = DaemonProcess(tmp, DAEMON_CONFIG + f'\n[[feeds]]\nname = "family"\nurl = "{tmp / "family.txt"}"\n'
                                                 'category = "adult"\n')
    real = sys.executable
    sys.executable = _netns_python(tmp)
    try:
        daemon.start()
    finally:
        sys.executable = real
    try:
        app = create_app(str(daemon.config_path))
        do_setup(app.test_client())
        token = app.extensions["dnsfilter"].secrets.create_token("schemathesis")
        yield app, token, daemon.config_path
    finally:
        daemon.stop()


def _known_items(path: str) -> dict[str, str] | None:
    """Path parameters naming a device, profile or list that exists in the fixture."""
    if "{device}" in path or "{mac}" in path:
        return {"device" if "{device}" in path else "mac": TABLET}
    if path.startswith("/feeds/"):
        return {"name": "family"}
    if path.startswith("/profiles/"):
        return {"name": "Kids"}
    return None


TIME_BUDGET = 240.0  # seconds for all operations together; each is also bounded in examples
EXAMPLES = 25


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _fuzz(strategy: Any, mode: GenerationMode, token: str, cfg: Path, deadline: float, codes: set[int]) -> None:
    checks = [*CHECKS, negative_data_rejection] if mode is GenerationMode.NEGATIVE else CHECKS

    @given(case=strategy)
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        if time.monotonic() > deadline:
            return
        before = cfg.read_bytes()
        response = case.call(headers={"Authorization": f"Bearer {token}"})
        codes.add(response.status_code)
        case.validate_response(response, checks=checks)
        if response.status_code >= 400:
            assert cfg.read_bytes() == before, \
                f"{case.method} {case.formatted_path} answered {response.status_code} but changed the config"
            body = response.json()
            assert body["ok"] is False and body["error"], body

    run()


@pytest.mark.integration
def test_api_answers_as_documented(running: tuple[Flask, str, Path]) -> None:
    """Schema-valid and schema-invalid requests for every operation, with an API token: never a 5xx; status,
    content type and body as documented; a refused request leaves the config file as it was.
    (Hypothesis is driven per operation here: schemathesis' pytest fixture loader does not run
    under pytest 9.)"""
    app, token, cfg = running
    api = schemathesis.openapi.from_wsgi("/api/openapi.json", app).exclude(path_regex=NOT_FUZZED)
    deadline = time.monotonic() + TIME_BUDGET
    seen: dict[str, set[int]] = {}
    operations = [r.ok() for r in api.get_all_operations()]
    # random path parameters mostly name nothing (404); a third round uses items that exist
    for operation, mode, known in itertools.product(operations, GenerationMode, (False, True)):
        params = _known_items(operation.path) if known else None
        if not known or params:
            label = f"{operation.label} {mode.value}{' known' if known else ''}"
            extra = {"body": {"profile": "Kids", "name": "tablet"}} \
                if known and operation.path == "/devices/{mac}/profile" and mode is GenerationMode.POSITIVE else {}
            _fuzz(operation.as_strategy(mode, path_parameters=params, **extra), mode, token, cfg, deadline,
                  seen.setdefault(label, set()))
    assert time.monotonic() <= deadline, f"the run took over {TIME_BUDGET:.0f} s: some examples were not run"
    print({k: sorted(v) for k, v in sorted(seen.items())})
    # the fuzzer reached the daemon (not only 401s): the token worked and changes were accepted
    assert any(200 in codes for label, codes in seen.items() if label.startswith(("POST", "PATCH")))
    assert any(400 in codes for label, codes in seen.items() if label.endswith("negative"))
    # JSON Schema's integer includes 120.0: a documented-valid pause of a known device is done
    assert seen["POST /devices/{device}/pause positive known"] == {200}
    assert seen["POST /devices/{device}/resume positive known"] == {200}
    assert seen["POST /devices/{mac}/profile positive known"] == {200}
