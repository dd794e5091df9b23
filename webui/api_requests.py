"""Children's requests under /api: `GET /api/requests` lists them (id, device, name, kind,
state and the audit), `POST /api/requests/<id>` answers one as the Requests page does."""

from __future__ import annotations

from flask import Response, g, jsonify, request
from flask_babel import gettext as _

from dnsfilter.storage.child_requests import STATES, AnswerError
from webui import json_body, load_config, state
from webui.api import _error, bp
from webui.pages_requests import answer, rows


@bp.get("/requests")
def requests_list() -> Response:
    """The requests, newest first; `?state=open` for the open ones."""
    wanted = request.args.get("state") or None
    if wanted is not None and wanted not in STATES:
        return _error(400, _("state must be one of %(v)s", v=", ".join(STATES)), "state")
    cfg = load_config()
    return jsonify(ok=True, requests=[dict(x.r.as_dict(), device_name=x.device_name)
                                      for x in rows(cfg, state_=wanted, limit=500)])


@bp.post("/requests/<id>")
def request_answer_api(id: str) -> Response:
    """{"action": "approve" | "deny", "for": "15m" | "1h" | "today" | "always", "scope": "device" |
    "profile"}: applied by the daemon before this answers (when it runs)."""
    if not id.isdigit() or len(id) > 12:
        return _error(404, _("This page does not exist."))
    ident = int(id)
    body = json_body()
    action, duration, scope = body.get("action"), body.get("for", ""), body.get("scope", "device")
    if not isinstance(action, str) or not isinstance(duration, str) or not isinstance(scope, str):
        return _error(400, _("action, for and scope must be strings"), "action")
    who = "admin"
    if g.get("token"):
        auth = request.headers.get("Authorization", "")
        tok = state().secrets.check_token(auth[len("Bearer "):].strip())
        who = f"api:{tok.name}" if tok is not None else "api"
    try:
        r, msg = answer(load_config(), ident, action, duration, scope, who)
    except AnswerError as e:
        return _error(404 if str(e).startswith("no request") else 400, str(e), "action")
    return jsonify(ok=True, request=r.as_dict(), message=msg)
