"""The web UI's process, started as the daemon starts it, serves a parent's pages (login, the
Dashboard, /devices, /log) in en, ru and kk without loading what it does not need to: no
OpenSSL (the login's scrypt runs in a child), no werkzeug development server, no package
metadata, no Babel date formatting (webui/deferred.py; the memory figures in docs/deploy.md).
And what was deferred still works at its first use, and the scrypt child hashes as hashlib does.
"""

from __future__ import annotations

import hashlib
import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from dnsfilter.shell.webproc import UI_ENV, WebUI
from tests.support.daemon import DaemonProcess, free_port
from tests.support.paths import REPO
from webui.secrets_store import SCRYPT_N, SCRYPT_P, SCRYPT_R, SecretsStore

PASSWORD = "correct horse battery"
CONFIG = """
[dns]
listen = ["127.0.0.1:{port}"]
upstreams = ["127.0.0.1:9"]
upstream_timeout = 0.5
[web]
listen = "127.0.0.1:%(web)d"
"""
PAGES = ("/", "/devices", "/log")
# Modules the UI process must not import to serve those pages (each was measured in it)
NOT_IMPORTED = ("_hashlib", "ssl", "http.server", "socketserver", "importlib.metadata", "zipfile", "babel.dates",
                "babel.numbers", "babel.localtime", "difflib")
SO_NOT_MAPPED = ("libcrypto", "libssl", "/_hashlib.", "/_ssl.")
# the language each page is asked in, and a word of its navigation in it
WORDS = {"en": "Devices", "ru": "Устройства", "kk": "Құрылғылар"}


def _imported(verbose: str) -> set[str]:
    """The modules a `python -v` process loaded (its `import 'name' # loader` lines)."""
    return set(re.findall(r"^import '([\w.]+)'", verbose, re.M))


def _login(base: str, lang: str) -> tuple[urllib.request.OpenerDirector, str]:
    """Choose the language on the login page, as a parent does, and log in: the Dashboard."""
    op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    deadline = time.monotonic() + 60  # the UI's start, on a loaded machine
    while True:
        try:
            html = op.open(f"{base}/login", timeout=30).read().decode()
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    tok = re.search(r'name="csrf_token"\s+value="([^"]+)"', html)
    assert tok, html[:500]
    op.open(f"{base}/language", data=urllib.parse.urlencode({"lang": lang, "csrf_token": tok.group(1)}).encode(),
            timeout=30).read()
    form = urllib.parse.urlencode({"password": PASSWORD, "csrf_token": tok.group(1)}).encode()
    return op, op.open(f"{base}/login", data=form, timeout=60).read().decode()


@pytest.mark.integration
def test_the_ui_process_serves_the_pages_without_what_it_does_not_need(tmp_path: Path) -> None:
    web = free_port()
    (tmp_path / "var").mkdir()
    SecretsStore(tmp_path / "var" / "webui").create_admin(PASSWORD, "en")
    daemon = DaemonProcess(tmp_path, CONFIG % {"web": web}).start()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    verbose = tmp_path / "ui.stderr"
    # the command and environment the daemon starts its UI with; -v lists what it imports
    cmd = WebUI(str(daemon.config_path), sock, 0).command()
    with open(verbose, "wb") as err:
        ui = subprocess.Popen([cmd[0], "-v", *cmd[1:]], pass_fds=(sock.fileno(),), stderr=err,
                              env=os.environ | UI_ENV, cwd=REPO)
    try:
        for lang, word in WORDS.items():
            op, dashboard = _login(base, lang)
            assert "logout" in dashboard.lower() and word in dashboard, dashboard[:2000]
            for path in PAGES[1:]:
                body = op.open(base + path, timeout=30).read().decode()
                assert "logout" in body.lower() and word in body, (lang, path, body[:2000])
        maps = Path(f"/proc/{ui.pid}/maps").read_text()
    finally:
        ui.terminate()
        ui.wait(15)
        sock.close()
        daemon.stop()
    assert not [so for so in SO_NOT_MAPPED if so in maps]
    loaded = _imported(verbose.read_text(errors="replace"))
    assert "flask" in loaded and "webui.pages" in loaded  # the listing is the real one
    assert not [m for m in loaded for bad in NOT_IMPORTED if m == bad or m.startswith(bad if bad.endswith(".") else bad + ".")]
    assert "Traceback" not in verbose.read_text(errors="replace")


def _fresh(code: str, tmp: Path) -> str:
    """Run `code` in a new interpreter that imported the UI as its process does."""
    done = subprocess.run([sys.executable, "-c", "import webui\n" + code, str(tmp)], capture_output=True,
                          text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_what_was_deferred_works_at_its_first_use(tmp_path: Path) -> None:
    out = _fresh("""
import sys, datetime, importlib.metadata, werkzeug.serving
from webui.deferred import StandIn
assert isinstance(sys.modules["werkzeug.serving"], StandIn)
assert isinstance(importlib.metadata, StandIn) and "_hashlib" in sys.modules
assert werkzeug.serving.is_running_from_reloader() is False
from werkzeug.serving import make_server  # a name the stand-in does not have: the real module
assert not isinstance(sys.modules["werkzeug.serving"], StandIn)
print(importlib.metadata.version("flask"))
import difflib
assert isinstance(difflib, StandIn) and difflib.SequenceMatcher(None, "devices", "device").ratio() > 0.9
import flask, flask_babel
app = flask.Flask("t")
flask_babel.Babel(app, locale_selector=lambda: "ru")
with app.test_request_context():
    print(flask_babel.format_datetime(datetime.datetime(2026, 3, 1, 12, 0), "d MMMM"))
    print(flask_babel.format_decimal(1234.5))
""", tmp_path)
    version, day, number, _ = out.split("\n")
    assert re.fullmatch(r"\d+\.\d+.*", version)
    assert day == "1 марта" and number == "1\xa0234,5"


def test_the_login_scrypt_runs_in_a_child_without_openssl(tmp_path: Path) -> None:
    """Where hashlib has no scrypt (the UI process), the child computes the same digest."""
    out = _fresh("""
import hashlib, sys
from pathlib import Path
assert not hasattr(hashlib, "scrypt")
from webui.secrets_store import SecretsStore, _scrypt
s = SecretsStore(Path(sys.argv[1]) / "webui")
assert s.create_admin("correct horse battery", "en")
assert s.check_password("correct horse battery") and not s.check_password("wrong horse battery")
print(_scrypt("pässword", b"salt1234salt1234", 2**14, 8, 1).hex())
""", tmp_path)
    want = hashlib.scrypt("pässword".encode(), salt=b"salt1234salt1234", n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                          maxmem=64 << 20, dklen=32)
    assert out.strip() == want.hex()
