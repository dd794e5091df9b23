"""The Dashboard (the landing page) and the Query log page with "Allow this" / "Block this"."""

from __future__ import annotations

import time
from typing import Any

from flask import Response, flash, get_flashed_messages, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from dnsfilter.config import ConfigError
from webui import charts, configfile, error_text, load_config, logview, overrides, protection, state, views
from webui.pages import bp

LIVE_SECONDS = 10  # the Query log's "Live" view reloads itself this often (a meta refresh: no script)


@bp.route("/")
def dashboard() -> Response:
    cfg = load_config()
    data = logview.dashboard(cfg)
    tz = cfg.general.timezone
    return Response(render_template(
        "dashboard.html", logging=logview.logging_of(cfg), summary=data["summary"],
        day=charts.chart(data["series_24h"], "24h", tz) if data["summary"] else None,
        week=charts.chart(data["series_7d"], "7d", tz) if data["summary"] else None,
        problems=protection.problems(cfg), words=protection.words, prefix=protection.prefix,
        category_name=views.CATEGORY_NAME))


@bp.route("/log")
def query_log() -> Response:
    cfg = load_config()
    error = None
    try:
        filters = logview.parse_filters(request.args)
    except ConfigError as e:
        error, filters = error_text(e), logview.Filters()
    live = request.args.get("live") == "1"
    found = logview.Page([], None, None) if error else logview.page(cfg, filters)
    devices = sorted({(d.id, d.name) for d in logview.device_index(cfg).values()}, key=lambda t: t[1].lower())
    return Response(render_template(
        "log.html", logging=logview.logging_of(cfg), rows=found.rows, older=found.older, newer=found.newer,
        page_url=lambda **cursor: _page_url(filters, **cursor), filters=filters, error=error, live=live,
        live_seconds=LIVE_SECONDS, devices=devices, outcomes=logview.OUTCOMES,
        messages=get_flashed_messages(with_categories=True)), status=400 if error else 200)


def _page_url(f: logview.Filters, before: str | None = None, after: str | None = None) -> str:
    """Another page of the log with the same filters (`before=` or `after=` a cursor, or none:
    the newest rows). Not live: a page of older rows does not change by reloading it."""
    limit = f.limit if f.limit != logview.DEFAULT_ROWS else None
    return url_for("pages.query_log", device=f.device or None, name=f.name or None, outcome=f.outcome or None,
                   limit=limit, before=before, after=after)  # None values are left out of the URL


def _back() -> str:
    """Back to the log with the filters (and page) the parent had (only our own query keys are kept)."""
    keys = ("device", "name", "outcome", "limit", "live", "before", "after")
    src = request.form if request.method == "POST" else request.args
    keep: dict[str, Any] = {k: v for k in keys if (v := src.get(f"f_{k}"))}
    return url_for("pages.query_log", **keep)


@bp.route("/log/<verb>", methods=["GET", "POST"])
def log_edit(verb: str) -> Response | BaseResponse:
    """"Allow this" / "Block this": the page asks first (this device or its profile; for an
    hour, until midnight, always) and says what the rule will and will not do; the POST of
    that page makes it."""
    if verb not in ("allow", "block"):
        return Response(render_template("error.html", message=_("This page does not exist.")), status=404)
    src = request.form if request.method == "POST" else request.args
    cfg = load_config()
    try:
        name = logview.check_name(src.get("name", ""))
        choice = overrides.choice_of(cfg, src.get("device", "").strip())
    except ConfigError as e:
        flash(_("Not saved: %(e)s", e=e.why), "error")
        return redirect(_back())
    scope, duration = src.get("scope", ""), src.get("for", "")
    if request.method == "GET" or scope not in overrides.SCOPES or duration not in overrides.DURATIONS \
            or (scope == "device" and not choice.device):
        keep = {k: v for k, v in src.items() if k.startswith("f_")}
        return Response(render_template("log_ask.html", verb=verb, name=name, choice=choice, keep=keep, back=_back(),
                                        scope=scope or ("device" if choice.device else "profile"),
                                        duration=duration or "1h",
                                        error=request.method == "POST"), status=400 if request.method == "POST" else 200)
    if scope == "profile" and duration == "always":  # a setting: the profile's (or household's) list
        return _always(verb, name, choice)
    until = overrides.until_of(duration, cfg.general.timezone, time.time())
    target = f"device:{choice.device}" if scope == "device" else f"profile:{choice.profile}"
    try:
        overrides.add(cfg, target, name, verb, until)
    except (ValueError, OSError) as e:
        flash(_("Not saved: %(e)s", e=str(e)), "error")
        return redirect(_back())
    who = choice.device_name if scope == "device" else choice.profile
    flash(overrides.done_text(verb, scope, name, who, until, cfg.general.timezone), "ok")
    return redirect(_back())


def _always(verb: str, name: str, choice: overrides.Choice) -> BaseResponse:
    try:
        saved, name, target = apply(verb, name, choice.device)
    except ConfigError as e:
        # our own checks (name, device) speak to the parent already; the config's name the key
        flash(_("Not saved: %(e)s", e=e.why if e.key in logview.OWN_KEYS else error_text(e)), "error")
    else:
        text = target.done(verb, name)
        flash(text if saved.reloaded else text + " " + _("The filter will use it when it next starts."), "ok")
        if logview.household_allows(saved.config, target, verb, name):
            flash(_("It stays allowed: the list for the whole household allows it."), "error")
    return redirect(_back())


def apply(verb: str, name: str, device: str) -> tuple[configfile.Saved, str, logview.Target]:
    """Validate, then edit the config file through configfile.apply (atomic, validated, reload)."""
    name = logview.check_name(name)
    target = logview.target_of(load_config(), device.strip())
    edit = logview.list_edit(target, name, "allow" if verb == "allow" else "deny")
    return configfile.apply(state().config_path, edit), name, target
