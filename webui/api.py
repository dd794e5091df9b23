"""JSON twins of the pages under /api. Same rules as the pages: a session plus the
X-CSRF-Token header, or `Authorization: Bearer <token>` for automation."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask_babel import gettext as _

from dnsfilter.config import ConfigError
from webui import (
    LANGUAGES,
    configfile,
    control,
    edits,
    error_text,
    feedsui,
    json_body,
    load_config,
    openapi,
    protection,
    state,
    system,
    timerules,
    views,
)
from webui.auth import timezones
from webui.security import csrf_token

bp = Blueprint("api", __name__)
MAX_PAUSE = 24 * 60


def _error(status: int, message: str, field: str | None = None) -> Response:
    resp = jsonify(ok=False, error=message, **({"field": field} if field else {}))
    resp.status_code = status
    return resp


def _saved(saved: configfile.Saved) -> Response:
    return jsonify(ok=True, reloaded=saved.reloaded, reload_message=saved.reload_message)


@bp.errorhandler(ConfigError)
def _config_error(e: ConfigError) -> Response:
    return _error(400, error_text(e), views.field_of(e.key) if e.key else None)


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """The OpenAPI description of everything under /api (public: it holds no household data)."""
    return jsonify(openapi.document())


@bp.get("/session")
def session_info() -> Response:
    """The CSRF token for scripts running in a logged-in browser."""
    return jsonify(ok=True, csrf_token=csrf_token())


@bp.get("/devices")
def devices() -> Response:
    cfg = load_config()
    return jsonify(ok=True, devices=[d.as_dict() for d in views.devices(cfg)], profiles=views.profile_names(cfg))


@bp.post("/devices/<mac>/profile")
def device_profile(mac: str) -> Response:
    body = json_body()
    profile, name = body.get("profile"), body.get("name", "")
    if not isinstance(profile, str) or not isinstance(name, str):
        return _error(400, _("profile and name must be strings"), "profile")
    return _saved(configfile.apply(state().config_path, views.assign_edit(load_config(), mac, profile, name[:64])))


def _known(device: str) -> bool:
    return device in {d.id for d in views.devices(load_config())}


@bp.post("/devices/<device>/pause")
def device_pause(device: str) -> Response | tuple[Response, int]:
    minutes = json_body().get("minutes")
    if isinstance(minutes, float) and minutes.is_integer():
        minutes = int(minutes)  # 30.0 is a whole number in JSON (and to JSON Schema)
    if not _known(device):
        return _error(404, _("unknown device"))
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 0 < minutes <= MAX_PAUSE:
        return _error(400, _("minutes must be a whole number from 1 to %(n)s", n=MAX_PAUSE), "minutes")
    reply = control.send(state().data_dir / "control.sock", f"pause device:{device} {minutes}")
    return jsonify(ok=reply.ok, message=reply.reason), 200 if reply.ok else 503


@bp.post("/devices/<device>/resume")
def device_resume(device: str) -> Response | tuple[Response, int]:
    if not _known(device):
        return _error(404, _("unknown device"))
    reply = control.send(state().data_dir / "control.sock", f"resume device:{device}")
    return jsonify(ok=reply.ok, message=reply.reason), 200 if reply.ok else 503


def _profile_json(cfg: Any, p: Any) -> dict[str, Any]:
    default_categories = cfg.defaults.block_categories
    return {"name": p.name,
            "block_categories": list(p.block_categories if p.block_categories is not None else default_categories),
            "block_services": list(p.block_services), "allow": list(p.allow), "deny": list(p.deny),
            "safe_search": p.safe_search, "block_bypass": p.block_bypass, "privacy": p.privacy,
            **timerules.as_json(p),
            "not_enforced": [st.category for st in protection.profile_states(cfg, p.name)
                             if not st.enforced]}


@bp.get("/profiles")
def profiles() -> Response:
    cfg = load_config()
    return jsonify(ok=True, default=cfg.defaults.profile, profiles=[_profile_json(cfg, p) for p in cfg.profiles])


@bp.post("/profiles")
def add_profile() -> Response:
    name = json_body().get("name")
    if not isinstance(name, str):
        return _error(400, _("name must be a string"), "name")
    return _saved(configfile.apply(state().config_path, protection.chain(
        edits.add_profile(name), protection.ensure_lists(name.strip(), []))))


_TYPES = {"block_categories": list, "block_services": list, "allow": list, "deny": list,
          "safe_search": bool, "block_bypass": bool, "privacy": str}


@bp.patch("/profiles/<name>")
def update_profile(name: str) -> Response:
    body = json_body()
    if not body:
        return _error(400, _("send a JSON object with the keys to change"))
    try:
        rows, budgets = timerules.from_json(body)
    except ConfigError as e:
        return _error(400, error_text(e), timerules.api_field(e.key))
    time_keys = {k: body.pop(k) for k in ("schedules", "budgets") if k in body}
    for key, value in body.items():
        kind = _TYPES.get(key)
        if kind is None:
            return _error(400, _("%(key)r cannot be changed here (can: %(keys)s)", key=key, keys=", ".join(_TYPES)), key)
        if not isinstance(value, kind) or (isinstance(value, list)
                                           and not all(isinstance(v, str) for v in value)):
            return _error(400, _("%(key)s must be a list of strings", key=key) if kind is list else
                          _("%(key)s must be a string", key=key) if kind is str else
                          _("%(key)s must be true or false", key=key), key)
    cfg = load_config()
    prof = next((p for p in cfg.profiles if p.name == name), None)
    if prof is None:
        return _error(404, _("no profile named %(name)r", name=name))
    cur_rows, cur_budgets = timerules.rows_of(prof)
    steps = [edits.update_profile(name, body)] if body else []
    if time_keys:
        steps.append(timerules.set_time_rules(name, cur_rows if rows is None else rows,
                                              cur_budgets if budgets is None else budgets))
    steps.append(protection.ensure_lists(name, []))  # a chosen category gets its list

    def edit(doc: Any) -> None:  # one file write for profile and time keys: all or nothing
        for step in steps:
            step(doc)
    try:
        return _saved(configfile.apply(state().config_path, edit))
    except ConfigError as e:
        return _error(400, error_text(e), timerules.api_field(e.key) or (views.field_of(e.key) if e.key else None))


@bp.get("/usage")
def usage() -> Response:
    """Today's minutes per profile and device, from the running daemon."""
    u = timerules.usage(state().data_dir / "control.sock")
    return jsonify(ok=True, running=u.running, message=u.message, usage=u.profiles)


@bp.get("/feeds")
def feeds() -> Response:
    cfg = load_config()
    return jsonify(ok=True, feeds=[f.as_dict() for f in feedsui.rows(cfg)],
                   catalog=[{"id": e.id, "name": e.name, "category": e.category, "description": e.description}
                            for e in feedsui.catalog_choices(cfg)])


@bp.post("/feeds")
def add_feed() -> Response:
    """{"catalog": ID} or {"name", "url", "category"}."""
    body = json_body()
    if not all(isinstance(v, str) for v in body.values()):
        return _error(400, _("values must be strings"))
    if "catalog" in body:
        edit = feedsui.add_catalog(body["catalog"])
    else:
        edit = feedsui.add_custom(body.get("name", ""), body.get("url", ""), body.get("category", "custom"))
    return _saved(configfile.apply(state().config_path, edit))


@bp.patch("/feeds/<name>")
def update_feed(name: str) -> Response:
    enabled = json_body().get("enabled")
    if not isinstance(enabled, bool):
        return _error(400, _("%(key)s must be true or false", key="enabled"), "enabled")
    return _saved(configfile.apply(state().config_path, feedsui.set_enabled(name, enabled, load_config())))


@bp.post("/feeds/<name>/sync")
def sync_feed(name: str) -> tuple[Response, int]:
    result = feedsui.sync_now(state().config_path, load_config(), name)
    status = next((f.as_dict() for f in feedsui.rows(load_config()) if f.name == name), None)
    return jsonify(ok=result.ok, output=result.output, reloaded=result.reloaded, feed=status), \
        200 if result.ok else 502


@bp.get("/settings")
def settings() -> Response:
    cfg = load_config()
    g = system.general_of(cfg)
    admin = state().secrets.admin()
    return jsonify(ok=True, upstreams=g.upstreams, block_mode=g.mode_text(), timezone=g.timezone,
                   language=admin.language if admin else "en", locked=sorted(system.locked_fields(cfg)))


@bp.patch("/settings")
def update_settings() -> Response:
    """{upstreams: [..], block_mode: "null|nxdomain|refused|ip:ADDR", timezone, language}; keys left
    out keep their value."""
    body = json_body()
    if not body:
        return _error(400, _("send a JSON object with the keys to change"))
    known = {"upstreams", "block_mode", "timezone", "language"}
    for key, value in body.items():
        if key not in known:
            return _error(400, _("%(key)r cannot be changed here (can: %(keys)s)", key=key, keys=", ".join(sorted(known))), key)
        ok = (isinstance(value, list) and all(isinstance(v, str) for v in value)) if key == "upstreams" \
            else isinstance(value, str)
        if not ok:
            return _error(400, _("%(key)s must be a list of strings", key=key) if key == "upstreams" else
                          _("%(key)s must be a string", key=key), key)
    cur = system.general_of(load_config())
    mode = body.get("block_mode", cur.mode_text())
    kind, _sep, ip = mode.partition(":")
    general = system.General(body.get("upstreams", cur.upstreams), kind, ip, body.get("timezone", cur.timezone))
    admin = state().secrets.admin()
    language = body.get("language", admin.language if admin else "en")
    if language not in LANGUAGES:
        return _error(400, _("%(key)s must be one of %(values)s", key="language", values=", ".join(LANGUAGES)), "language")
    if general.timezone not in timezones():
        return _error(400, _("%(value)r is not an IANA time zone name (e.g. Asia/Almaty)", value=general.timezone[:60]),
                      "timezone")
    saved = configfile.apply(state().config_path, system.set_general(general, system.current(load_config)))
    state().secrets.set_language(language)
    return _saved(saved)


@bp.get("/settings/backup")
def backup() -> Response:
    path = state().config_path
    return Response(path.read_bytes() if path.exists() else b"", mimetype="application/toml")


@bp.post("/settings/restore")
def restore() -> Response:
    """The body is the config file itself (as from /api/settings/backup)."""
    system.restore(state().config_path, request.get_data(cache=False)[: system.MAX_RESTORE + 1])
    reply = control.send(state().data_dir / "control.sock", "reload")
    return jsonify(ok=True, reloaded=reply.ok, reload_message=reply.reason)
