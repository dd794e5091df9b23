"""The Dashboard (the landing page) and the Query log page with "Allow this" / "Block this"."""

from __future__ import annotations

from typing import Any

from flask import Response, flash, get_flashed_messages, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as BaseResponse

from dnsfilter.config import ConfigError
from webui import charts, configfile, error_text, load_config, logview, protection, state, views
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
        problems=protection.problems(cfg), words=protection.words, category_name=views.CATEGORY_NAME))


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
    keep: dict[str, Any] = {k: v for k in keys if (v := request.form.get(f"f_{k}"))}
    return url_for("pages.query_log", **keep)


@bp.route("/log/<verb>", methods=["POST"])
def log_edit(verb: str) -> Response | BaseResponse:
    if verb not in ("allow", "block"):
        return Response(render_template("error.html", message=_("This page does not exist.")), status=404)
    try:
        saved, name, target = apply(verb, request.form.get("name", ""), request.form.get("device", ""))
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
