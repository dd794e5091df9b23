"""First-run setup, login/logout, the language switcher, password change and API tokens."""

from __future__ import annotations

import zoneinfo
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from dnsfilter.config import ConfigError
from dnsfilter.storage import setup_code
from webui import (
    LANGUAGES,
    _locale,
    configfile,
    control,
    edits,
    error_text,
    load_config,
    logged_in,
    protection,
    state,
    system,
    zones,
)
from webui.secrets_store import MAX_PASSWORD, MIN_PASSWORD

bp = Blueprint("auth", __name__)


@lru_cache(maxsize=1)
def timezones() -> list[str]:
    return sorted(zoneinfo.available_timezones())


def _password_problem(pw: str, again: str) -> str | None:
    if len(pw) < MIN_PASSWORD:
        return _("The password needs at least %(n)d characters.", n=MIN_PASSWORD)
    if len(pw) > MAX_PASSWORD:
        return _("The password is too long.")
    if pw != again:
        return _("The two passwords are not the same.")
    return None


@bp.route("/setup", methods=["GET", "POST"])
def setup() -> BaseResponse:
    st = state()
    if st.secrets.is_set_up():
        return redirect(url_for("auth.login"))
    setup_code.ensure(st.state_dir)  # the daemon printed it at start; made here if the UI runs alone
    try:
        zone = load_config().general.timezone
    except ConfigError:
        zone = "UTC"
    form = {"language": _locale(), "timezone": zone, "level": "family"}
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = {k: request.form.get(k, "")[:200] for k in ("language", "timezone", "level", "code")}
        ip = request.remote_addr or "?"
        wait = st.throttle.wait(f"setup:{ip}")
        if wait > 0:
            return _setup_page(form, {"code": _("Too many failed attempts. Try again in %(s)d seconds.",
                                                s=int(wait) + 1)}, 429)
        if not setup_code.matches(st.state_dir, form["code"]):
            st.throttle.failed(f"setup:{ip}")
            form["code"] = ""
            # nothing else is looked at: without the code, setup changes nothing
            return _setup_page(form, {"code": _("This is not the setup code. It is printed in the filter's log "
                                                "when it starts, and by the installer.")}, 403)
        problem = _password_problem(request.form.get("password", ""), request.form.get("password2", ""))
        if problem:
            errors["password"] = problem
        if form["language"] not in LANGUAGES:
            errors["language"] = _("Choose a language from the list.")
        if form["timezone"] not in timezones():
            errors["timezone"] = _("Choose a time zone from the list.")
        if form["level"] not in edits.LEVELS:
            errors["level"] = _("Choose a protection level.")
        if not errors:
            try:
                # the time zone, the default profile's level and the lists that level needs: one write
                configfile.apply(st.config_path, protection.chain(
                    edits.set_timezone(form["timezone"]), edits.set_protection_level(form["level"]),
                    protection.ensure_lists(None, [])))
            except ConfigError as e:
                errors["config"] = error_text(e)
        if not errors:
            if not st.secrets.create_admin(request.form["password"], form["language"]):
                return redirect(url_for("auth.login"))  # someone else finished setup first
            setup_code.clear(st.state_dir)
            st.throttle.succeeded(f"setup:{ip}")
            admin = st.secrets.admin()
            assert admin is not None
            session.clear()
            session.permanent = True  # the parent who just chose the password is logged in
            session.update(user="admin", gen=admin.generation, lang=form["language"])
            return redirect(url_for("pages.welcome"))
    return _setup_page(form, errors, 400 if errors else 200)


def _setup_page(form: dict[str, str], errors: dict[str, str], status: int) -> Response:
    return Response(render_template("setup.html", form=form, errors=errors, timezones=timezones(),
                                    zone_choices=zones.by_country(), tz_warning=zones.outdated_warning(form["timezone"]),
                                    levels=list(edits.LEVELS), level_lists=_level_lists(),
                                    describe=protection.catalog_words), status=status)


def _level_lists() -> dict[str, list[Any]]:
    """The catalog lists each protection level would turn on, shown before the parent chooses."""
    try:
        cfg = load_config()
    except ConfigError:
        return {}
    return {level: protection.lists_to_enable(cfg, cats) for level, cats in edits.LEVELS.items()}


def _safe_next(target: str | None) -> str:
    """Only same-site paths: a crafted ?next= must not send the parent elsewhere after login;
    anything else lands on the Dashboard. Browsers drop tabs and newlines inside a URL and read
    a backslash as a slash, so "/<TAB>/evil.example" or "/<BACKSLASH>evil.example" would become
    "//evil.example": whitespace, control characters and backslashes are refused outright
    rather than trusted to urlsplit."""
    home = url_for("pages.dashboard")
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return home
    if any(c.isspace() or ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in target):
        return home
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else home


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse:
    st = state()
    error = None
    status = 200
    if request.method == "POST":
        ip = request.remote_addr or "?"
        wait = st.throttle.wait(ip)
        if wait > 0:
            error, status = _("Too many failed attempts. Try again in %(s)d seconds.", s=int(wait) + 1), 429
        elif st.secrets.check_password(request.form.get("password", "")):
            st.throttle.succeeded(ip)
            admin = st.secrets.admin()
            assert admin is not None
            lang = session.get("lang", admin.language)
            session.clear()  # a fresh session (and CSRF token) after login: no fixation
            session.permanent = True
            session.update(user="admin", gen=admin.generation, lang=lang)
            return redirect(_safe_next(request.args.get("next")))
        else:
            st.throttle.failed(ip)
            error, status = _("Wrong password."), 401
    elif logged_in():
        return redirect(_safe_next(request.args.get("next")))
    return Response(render_template("login.html", error=error), status=status)


@bp.route("/logout", methods=["POST"])
def logout() -> BaseResponse:
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("auth.login"))


@bp.route("/language", methods=["POST"])
def language() -> BaseResponse:
    lang = request.form.get("lang", "")
    if lang in LANGUAGES:
        session["lang"] = lang
    return redirect(_safe_next(request.form.get("back")))


@bp.route("/settings", methods=["GET", "POST"])
def settings() -> Response | str:
    st = state()
    errors: dict[str, str] = {}
    notice = None
    new_token = None
    general: system.General | None = None
    if request.method == "POST":
        action = request.form.get("action")
        if action == "password":
            if not st.secrets.check_password(request.form.get("current", "")):
                errors["current"] = _("Wrong password.")
            elif problem := _password_problem(request.form.get("password", ""), request.form.get("password2", "")):
                errors["password"] = problem
            else:
                st.secrets.change_password(request.form["password"])
                admin = st.secrets.admin()
                assert admin is not None
                session["gen"] = admin.generation  # this session stays; every other one ends
                notice = _("The password was changed.")
        elif action == "token":
            name = request.form.get("name", "").strip()
            if not 1 <= len(name) <= 64:
                errors["name"] = _("Give the token a name of 1 to 64 characters.")
            else:
                new_token = st.secrets.create_token(name)
        elif action == "revoke":
            if st.secrets.revoke_token(request.form.get("id", "")):
                notice = _("The token was revoked.")
        elif action == "general":
            general = system.general_from_form(request.form)
            notice = _save_general(general, request.form.get("language", ""), errors)
        elif action == "restore":
            upload = request.files.get("file")
            try:
                system.restore(st.config_path, upload.read(system.MAX_RESTORE + 1) if upload else b"")
            except ConfigError as e:
                errors["file"] = _("Nothing was restored: %(e)s", e=error_text(e))
            else:
                reply = control.send(st.data_dir / "control.sock", "reload")
                notice = _("The settings were restored from the file.") if reply.ok else \
                    _("The settings were restored. The filter will use them when it next starts.")
        else:
            errors["action"] = _("The request could not be handled.")
    locked: set[str] = set()
    try:
        cfg = load_config()
        shown = general if errors.keys() & GENERAL_FIELDS else system.general_of(cfg)
        locked = system.locked_fields(cfg)
    except ConfigError:
        shown = system.General([], "null", "", "UTC")  # a broken file can still be restored from here
    return Response(render_template("settings.html", errors=errors, notice=notice, new_token=new_token,
                                    tokens=st.secrets.tokens(), general=shown, timezones=timezones(),
                                    zone_choices=zones.by_country(),
                                    tz_warning=zones.outdated_warning(shown.timezone if shown else "UTC"),
                                    block_modes=system.BLOCK_MODES, language=_locale(),
                                    locked=locked,
                                    unencrypted=system.unencrypted_fallback(shown.upstreams if shown else [])),
                    status=400 if errors else 200)


GENERAL_FIELDS = {"upstreams", "block_mode", "block_ip", "timezone", "language", "general"}


def _save_general(general: system.General, language: str, errors: dict[str, str]) -> str | None:
    """Save the appliance settings; errors go next to their field and nothing is saved."""
    if language not in LANGUAGES:
        errors["language"] = _("Choose a language from the list.")
    if general.timezone not in timezones():
        errors["timezone"] = _("Choose a time zone from the list.")
    if errors:
        return None
    try:
        saved = configfile.apply(state().config_path, system.set_general(general, system.current(load_config)))
    except ConfigError as e:
        field = e.key.rsplit(".", 1)[-1].split("[", 1)[0]
        if field == "block_mode" and general.block_mode == "ip":
            field = "block_ip"  # the address is what was wrong
        errors[field if field in GENERAL_FIELDS else "general"] = _("Not saved: %(e)s", e=error_text(e))
        return None
    state().secrets.set_language(language)
    session["lang"] = language
    return _("Saved.") if saved.reloaded else _("Saved. The filter will use it when it next starts.")


@bp.route("/settings/backup")
def backup() -> Response:
    """The config file as it is, to keep somewhere safe (it holds no password: those are in data_dir)."""
    data = state().config_path.read_bytes() if state().config_path.exists() else b""
    return Response(data, mimetype="application/toml",
                    headers={"Content-Disposition": 'attachment; filename="dnsfilter-config.toml"'})
