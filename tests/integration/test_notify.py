"""The parent's messages end to end: a child asks on the portal, the daemon's Apprise child sends
to a local SMTP server (aiosmtpd) and a local JSON webhook (http.server), in English, Russian
and Kazakh; the weekly report goes the same way; without Apprise the request is still listed."""

from __future__ import annotations

import email
import email.policy
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.daemon import cli, free_port
from tests.support.portal import KID, ZONE, Household, household, wait_for
from tests.support.scripted import Scripted

pytestmark = pytest.mark.integration
aiosmtpd = pytest.importorskip("aiosmtpd.controller", reason="aiosmtpd is a dev extra (pip install -e '.[dev]')")
pytest.importorskip("apprise", reason="Apprise is the notify extra (pip install -e '.[dev]')")


class Inbox:
    def __init__(self) -> None:
        self.mails: list[email.message.EmailMessage] = []
        self.hooks: list[dict] = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        self.mails.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"

    def mail_text(self, i: int) -> str:
        m = self.mails[i]
        return str(m["Subject"]) + "\n" + m.get_body(("plain",)).get_content()


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, list[str]]]:
    box = Inbox()
    smtp = aiosmtpd.Controller(box, hostname="127.0.0.1", port=free_port())
    smtp.start()

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            n = int(self.headers["Content-Length"])
            box.hooks.append(json.loads(self.rfile.read(n)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    web = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    urls = [f"mailto://127.0.0.1:{smtp.port}?from=dnsfilter@home.example&to=parent@home.example",
            f"json://127.0.0.1:{web.server_port}/dnsfilter"]
    try:
        yield box, urls
    finally:
        web.shutdown()
        smtp.stop()


def notify_section(urls: list[str], lang: str) -> str:
    return (f"[notify]\nurls = {json.dumps(urls)}\nlanguage = \"{lang}\"\nadmin_url = \"http://dnsfilter.lan:8080\"\n"
            "weekly_report = \"off\"\n")


EXPECT = {
    "en": ("Aru's tablet asks to open casino.example.test", "Betting and casino sites", "Asked for: 15 minutes",
           "Answer here: http://dnsfilter.lan:8080/requests?id=", "Weekly report, ", "Kids: "),
    "ru": ("Aru's tablet просит открыть casino.example.test", "Ставки и казино", "Просит на: 15 минут",
           "Ответить: http://dnsfilter.lan:8080/requests?id=", "Отчёт за неделю, ", "Kids: запросов"),
    "kk": ("Aru's tablet casino.example.test сайтын ашуды сұрайды", "Бәс тігу және казино сайттары",
           "Сұралған уақыт: 15 минут", "Жауап беру: http://dnsfilter.lan:8080/requests?id=", "Апталық есеп, ",
           "Kids: "),
}


def test_request_and_weekly_messages_by_mail_and_webhook_in_three_languages(
        tmp_path: Path, inbox: tuple[Inbox, list[str]]) -> None:
    box, urls = inbox
    with Scripted(zone=dict(ZONE)) as up:
        h: Household = household(tmp_path, up.port, notify_section(urls, "en"))
        # the log is written once an hour here: the report sent now must still count the
        # lookup of a moment ago (it writes what is pending first)
        text = h.daemon.config_path.read_text()
        assert "log_flush = 0.5" in text
        h.daemon.config_path.write_text(text.replace("log_flush = 0.5", "log_flush = 3600"))
        h.daemon.start()
        try:
            h.ask_dns("casino.example.test", KID)  # one blocked lookup for the weekly report
            for i, lang in enumerate(("en", "ru", "kk")):
                if lang != "en":
                    text = h.daemon.config_path.read_text().replace('language = "en"', f'language = "{lang}"')
                    h.daemon.config_path.write_text(text.replace('language = "ru"', f'language = "{lang}"'))
                    assert cli("ctl", "reload", "-c", str(h.daemon.config_path)).returncode == 0
                # the same name again is the same request: a new request needs the old one answered
                if i:
                    assert cli("requests", "deny", "-c", str(h.daemon.config_path), str(i)).returncode == 0
                status, where = h.ask("casino.example.test", KID, duration="15m")
                assert status == 303 and where.endswith(f"sent={i + 1}")
                wait_for(f"the {lang} webhook", lambda n=i + 1: len(box.hooks) >= n)
                wait_for(f"the {lang} mail", lambda n=i + 1: len(box.mails) >= n)
                hook = box.hooks[i]["title"] + "\n" + box.hooks[i]["message"]
                mail = box.mail_text(i)
                for want in EXPECT[lang][:4]:
                    assert want in hook, (lang, want, hook)
                    assert want in mail, (lang, want, mail)
                assert f"requests?id={i + 1}" in hook
            # the weekly report, in the last language set (kk), through the same addresses
            out = cli("ctl", "report", "-c", str(h.daemon.config_path))
            assert out.returncode == 0, out.stdout + out.stderr
            wait_for("the weekly report", lambda: len(box.hooks) >= 4)
            report = box.hooks[3]["message"]
            assert report.startswith(EXPECT["kk"][4]) and "Kids: 1 сұрау, 1 жабылды" in report
            assert "Aru's tablet: 1 сұрау, 1 жабылды; 3 өтініш (иә: 0, жоқ: 2)" in report
            assert "http://dnsfilter.lan:8080/report" in report
        finally:
            h.daemon.stop()
        assert "Traceback" not in h.daemon.log()


def test_without_apprise_requests_are_still_listed(tmp_path: Path, inbox: tuple[Inbox, list[str]]) -> None:
    box, urls = inbox
    # an apprise package that cannot be imported, first on the path: as if it were not installed
    fake = tmp_path / "noapprise" / "apprise"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('apprise is not installed here')\n")
    with Scripted(zone=dict(ZONE)) as up:
        h = household(tmp_path, up.port, notify_section(urls, "en"))
        h.daemon.env = {"PYTHONPATH": str(fake.parent)}
        h.daemon.start()
        try:
            assert h.ask("casino.example.test", KID)[1].endswith("sent=1")
            wait_for("the log line", lambda: "Apprise is not installed" in h.daemon.log())
            assert [r["name"] for r in h.requests()] == ["casino.example.test"]
        finally:
            h.daemon.stop()
    assert box.hooks == [] and box.mails == []
