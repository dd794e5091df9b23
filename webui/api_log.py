"""JSON twins of the Dashboard and the Query log, on the /api blueprint (same auth: a session
plus X-CSRF-Token, or `Authorization: Bearer <token>`). Kept out of api.py so each file stays
small; the routes join the same blueprint."""

from __future__ import annotations

import time
from typing import Any

from flask import Response, jsonify, request
from flask_babel import gettext as _

from dnsfilter.config import ConfigError
from webui import error_text, json_body, load_config, logview, overrides, pages_log, views
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


@bp.get("/overrides")
def overrides_list() -> Response:
    """The expiring allows and blocks that hold now."""
    cfg = load_config()
    return jsonify(ok=True, overrides=[{"id": o.id, "target": o.target, "name": o.name, "action": o.action,
                                        "until": o.until, "source": o.source}
                                       for o in _holding(cfg)])


def _holding(cfg: Any) -> list[Any]:
    from dnsfilter.storage.family import family_db
    from dnsfilter.storage.store import open_devices

    if not family_db(cfg).exists():  # the daemon creates it at start, older records moved in
        return []
    store = open_devices(cfg)
    try:
        return store.overrides(time.time())
    finally:
        store.close()


@bp.post("/overrides")
def overrides_add() -> Response:
    """{"target": "device:ID" | "profile:NAME", "name", "action": "allow" | "block",
    "for": "15m" | "1h" | "today" | "always"}: applied by the daemon before this answers."""
    body = json_body()
    values = {k: body.get(k) for k in ("target", "name", "action", "for")}
    for k, v in values.items():
        if not isinstance(v, str):
            return _error(400, _("%(key)s must be a string", key=k), k)
    if values["action"] not in ("allow", "block"):
        return _error(400, _("action must be allow or block"), "action")
    if values["for"] not in overrides.API_DURATIONS:
        return _error(400, _("for must be one of %(v)s", v=", ".join(overrides.API_DURATIONS)), "for")
    cfg = load_config()
    try:
        name = logview.check_name(str(values["name"]))
        target = overrides.target_of(cfg, str(values["target"]))
    except ConfigError as e:
        return _error(400, e.why, e.key)
    until = overrides.until_of(str(values["for"]), cfg.general.timezone, time.time())
    try:
        o = overrides.add(cfg, target, name, str(values["action"]), until, source="api")
    except ValueError as e:
        return _error(400, str(e))
    return jsonify(ok=True, id=o.id, target=o.target, name=o.name, action=o.action, until=o.until)


@bp.delete("/overrides/<id>")
def overrides_end(id: str) -> Response | tuple[Response, int]:
    if not id.isdigit() or len(id) > 18 or not overrides.end(load_config(), int(id)):
        return _error(404, _("no such rule"))
    return jsonify(ok=True)
