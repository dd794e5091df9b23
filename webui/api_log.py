"""JSON twins of the Dashboard and the Query log, on the /api blueprint (same auth: a session
plus X-CSRF-Token, or `Authorization: Bearer <token>`). Kept out of api.py so each file stays
small; the routes join the same blueprint."""

from __future__ import annotations

from flask import Response, jsonify, request
from flask_babel import gettext as _

from dnsfilter.config import ConfigError
from webui import error_text, json_body, load_config, logview, pages_log, views
from webui.api import bp


def _error(status: int, message: str, field: str | None = None) -> Response:
    resp = jsonify(ok=False, error=message, **({"field": field} if field else {}))
    resp.status_code = status
    return resp


@bp.get("/dashboard")
def dashboard() -> Response:
    """Today's totals and tops, activity per device, and the 24 h / 7 day series."""
    cfg = load_config()
    return jsonify(ok=True, logging=logview.logging_of(cfg).as_dict(), **logview.dashboard(cfg))


@bp.get("/log")
def log() -> Response:
    """?device=&name=&outcome=&limit= (1..500, default 100): the newest matching rows;
    &before=CURSOR or &after=CURSOR (the `older` / `newer` of a previous answer) pages."""
    cfg = load_config()
    try:
        filters = logview.parse_filters(request.args)
    except ConfigError as e:
        return _error(400, error_text(e), e.key)
    found = logview.page(cfg, filters)
    return jsonify(ok=True, logging=logview.logging_of(cfg).as_dict(), rows=found.rows, older=found.older,
                   newer=found.newer)


def _edit(verb: str) -> Response:
    body = json_body()
    name, device = body.get("name"), body.get("device", "")
    if not isinstance(name, str) or not isinstance(device, str):
        return _error(400, _("name and device must be strings"), "name")
    try:
        saved, name, target = pages_log.apply(verb, name, device)
    except ConfigError as e:
        return _error(404 if e.key == "device" else 400, error_text(e), views.field_of(e.key) if e.key else None)
    return jsonify(ok=True, name=name, profile=target.profile, list="allow" if verb == "allow" else "deny",
                   reloaded=saved.reloaded, reload_message=saved.reload_message,
                   household_allows=logview.household_allows(saved.config, target, verb, name))


@bp.post("/log/allow")
def log_allow() -> Response:
    """{"name": NAME, "device": ID or ""}: allow NAME for the device's profile (or everyone)."""
    return _edit("allow")


@bp.post("/log/block")
def log_block() -> Response:
    """{"name": NAME, "device": ID or ""}: block NAME for the device's profile (or everyone)."""
    return _edit("block")
