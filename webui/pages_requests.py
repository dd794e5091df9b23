"""Children's requests in the admin UI: the Requests page (open ones answered in one tap, the
answered ones with who, when and for how long), the same on the Dashboard, the badge every page
shows, the weekly report page, and the notification settings (addresses kept with the admin's
secrets, shown masked; when the weekly report goes)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from flask import (
    Response,
    flash,
    g,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from dnsfilter.approvals import approve, deny
from dnsfilter.config import Config, ConfigError
from dnsfilter.config.portal import DAYS, parse_weekly
from dnsfilter.notify.urls import check_url, masked, read_urls, write_urls
from dnsfilter.storage.child_requests import AnswerError, Request, RequestStore, open_requests
from dnsfilter.storage.family import family_db, runtime_db
from dnsfilter.storage.store import open_devices
from webui import configfile, control, error_text, load_config, logview, state
from webui.configfile import Edit, table
from webui.pages import bp
from webui.pages_time import device_names

SITE_FOR = ("15m", "1h", "today", "always")
TIME_FOR = ("15m", "1h", "today")


@dataclass(frozen=True, slots=True)
class Row:
    r: Request
    device_name: str

    @property
    def offers(self) -> tuple[str, ...]:
        return SITE_FOR if self.r.kind == "site" else TIME_FOR


def _store(cfg: Config) -> RequestStore | None:
    return open_requests(cfg) if family_db(cfg).exists() else None


def rows(cfg: Config, *, state_: str | None = None, limit: int = 100) -> list[Row]:
    store = _store(cfg)
    if store is None:
        return []
    try:
        found = store.find(state=state_, limit=limit)
    finally:
        store.close()
    names = device_names()
    return [Row(r, names.get(r.device, r.label)) for r in found]


def open_count() -> int:
    """The badge: open requests, read once per page."""
    if "open_requests" not in g:
        g.open_requests = 0
        if session.get("user"):
            try:
                store = _store(load_config())
            except ConfigError:
                store = None
            if store is not None:
                try:
                    g.open_requests = store.open_count()
                finally:
                    store.close()
    return int(g.open_requests)


def pending() -> list[Row]:
    """The open requests, for the Dashboard."""
    try:
        return rows(load_config(), state_="open", limit=20)
    except ConfigError:
        return []


def item_name(item: str) -> str:
    return logview.group_label(item)


def reason_name(category: str, kind: str) -> str:
    """Why the site was closed when asked, in the words of the query log."""
    return logview.reason_text({"outcome": "blocked", "kind": kind, "category": category})


def hostname() -> str:
    try:
        return load_config().general.hostname
    except ConfigError:
        return "dnsfilter.lan"


TEMPLATE_GLOBALS = {"open_requests": open_count, "pending_requests": pending, "item_name": item_name,
                    "reason_name": reason_name, "hostname": hostname, "now_ts": time.time}


def answer(cfg: Config, ident: int, action: str, duration: str, scope: str, who: str) -> tuple[Request, str]:
    """Approve or deny, as the CLI does (dnsfilter/approvals.py); AnswerError says why not."""
    if action == "deny":
        return deny(cfg, ident, by=who), ""
    if action != "approve":
        raise AnswerError("the answer is approve or deny")
    return approve(cfg, ident, duration, by=who, scope=scope)


@bp.route("/requests")
def requests_page() -> Response | str:
    cfg = load_config()
    waiting = rows(cfg, state_="open")
    answered = [x for x in rows(cfg, limit=60) if x.r.state != "open"]
    focus = request.args.get("id", "")
    return render_template("requests.html", pending=waiting, answered=answered,
                           focus=int(focus) if focus.isdigit() else None,
                           messages=get_flashed_messages(with_categories=True))


@bp.route("/requests/<int:ident>", methods=["POST"])
def request_answer(ident: int) -> BaseResponse:
    cfg = load_config()
    action = request.form.get("action", "")
    try:
        r, _msg = answer(cfg, ident, action, request.form.get("for", ""), request.form.get("scope", "device"), "admin")
    except AnswerError as e:
        flash(_("Not done: %(e)s", e=str(e)), "error")
    else:
        what = r.name if r.kind == "site" else _("more time")
        flash(_("Allowed: %(what)s.", what=what) if r.state == "approved" else _("Said no: %(what)s.", what=what),
              "ok")
    back = request.form.get("back", "")
    return redirect(url_for("pages.dashboard") if back == "dashboard" else url_for("pages.requests_page"))


@bp.route("/report")
def report_page() -> Response | str:
    from dnsfilter.storage.logstore import FILE, LogStore
    from dnsfilter.storage.report import weekly

    cfg = load_config()
    path = cfg.data_path() / FILE
    log = LogStore(path, readonly=True) if path.exists() else None
    store = _store(cfg)
    try:
        devices: list[dict[str, Any]] = []
        if runtime_db(cfg).exists():
            ds = open_devices(cfg)
            try:
                devices = ds.list_devices()
            finally:
                ds.close()
        names = device_names()
        rep = weekly(log=log, requests=store, devices=devices, privacy={p.name: p.privacy for p in cfg.profiles},
                     labels=names, now=time.time(), tz=cfg.general.timezone)
    finally:
        for s in (log, store):
            if s is not None:
                s.close()
    return render_template("report.html", rep=rep)


def set_weekly(text: str) -> Edit:
    def edit(doc: Any) -> None:
        table(doc, "notify")["weekly_report"] = text
    return edit


@bp.route("/settings/notifications", methods=["GET", "POST"])
def notify_settings() -> Response | str:
    st = state()
    cfg = load_config()
    errors: dict[str, str] = {}
    notice = None
    urls = read_urls(st.state_dir)
    if request.method == "POST":
        action = request.form.get("action", "")
        if action == "add":
            url = request.form.get("url", "").strip()
            problem = check_url(url)
            if problem or len(urls) >= 16:
                errors["url"] = _("This is not a notification address. It looks like mailto://… or tgram://… "
                                  "(see the Apprise list of services).")
            else:
                write_urls(st.state_dir, [*urls, url])
                notice = _("Added: %(u)s", u=masked(url))
        elif action == "remove":
            i = request.form.get("index", "")
            if i.isdigit() and int(i) < len(urls):
                gone = urls[int(i)]
                write_urls(st.state_dir, urls[: int(i)] + urls[int(i) + 1:])
                notice = _("Removed: %(u)s", u=masked(gone))
        elif action == "weekly":
            day, at = request.form.get("day", ""), request.form.get("time", "")
            text = "off" if day == "off" else f"{day} {at}"
            try:
                parse_weekly(text, "notify.weekly_report")
                saved = configfile.apply(st.config_path, set_weekly(text))
                notice = _("Saved.") if saved.reloaded else _("Saved. The filter will use it when it next starts.")
            except ConfigError as e:
                errors["weekly"] = error_text(e)
        elif action == "test":
            reply = control.send(st.data_dir / "control.sock", "report", timeout=90)
            notice = _("The weekly report was sent.") if reply.ok else _("Not sent: %(e)s", e=reply.reason)
        urls = read_urls(st.state_dir)
        cfg = load_config()
    weekly = cfg.notify.weekly_report
    return Response(render_template(
        "notify.html", shown=[masked(u) for u in urls], from_file=[masked(u) for u in cfg.notify.urls],
        errors=errors, notice=notice, days=DAYS, weekly=weekly,
        apprise=_has_apprise()), status=400 if errors else 200)


def _has_apprise() -> bool:
    import importlib.util

    return importlib.util.find_spec("apprise") is not None
