"""Helpers shared by the web UI tests: the test config, and setup/login through the real forms."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

PASSWORD = "correct horse battery"
CONFIG = """\
# household config: this comment must survive every edit
[general]
timezone = "UTC"  # set at setup

[storage]
data_dir = "var"

[defaults]
profile = "Default"

[[profiles]]
name = "Default"

[[profiles]]
name = "Kids"  # the children's profile
block_categories = ["ads", "adult"]
"""
TABLET = "aa:bb:cc:dd:ee:01"
LAPTOP = "aa:bb:cc:dd:ee:02"



def csrf_of(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    m = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert m, f"no CSRF field on {path}"
    return m.group(1)


def setup_code_of(client: FlaskClient) -> str:
    """The one-time code the daemon would print (the UI makes it when the setup page is shown)."""
    from dnsfilter.storage import setup_code

    code = setup_code.read(client.application.extensions["dnsfilter"].state_dir)
    assert code, "no setup code on disk"
    return code


def do_setup(client: FlaskClient, **over: str) -> None:
    """Setup through the real form; the parent is logged in at its end (on the summary page)."""
    data = dict(csrf_token=csrf_of(client, "/setup"), password=PASSWORD, password2=PASSWORD, language="en",
                timezone="Asia/Almaty", level="family")
    data["code"] = setup_code_of(client)
    data.update(over)
    r = client.post("/setup", data=data)
    assert r.status_code == 302 and r.location.endswith("/welcome"), r.get_data(as_text=True)


def login(client: FlaskClient, password: str = PASSWORD) -> None:
    r = client.post("/login", data=dict(csrf_token=csrf_of(client, "/login"), password=password))
    assert r.status_code == 302, r.get_data(as_text=True)
