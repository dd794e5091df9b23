"""The OpenAPI 3.1 description of the JSON API under /api, served at GET /api/openapi.json.

Written as data next to the endpoints rather than generated from them, so that it says what
a client may rely on (types, limits, error shape). tests/webui/test_openapi.py fails when a
route under /api is missing here, and checks the running app against it with schemathesis.
"""

from __future__ import annotations

from typing import Any

MAX_PAUSE = 24 * 60  # webui.api.MAX_PAUSE (not imported: this module must stay plain data)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _path(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "minLength": 1, "maxLength": 200}}


ERROR = _json(_ref("Error"), "The request was refused or failed; `error` says why in plain words, "
              "`field` names the input at fault. Nothing was changed.")


def _op(summary: str, ok: dict[str, Any], *, body: dict[str, Any] | None = None,
        params: list[dict[str, Any]] | None = None, unsafe: bool = False,
        extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """One operation. Every one may answer with the Error shape (400 bad input, 401 not logged
    in, 404 unknown item, 413 body too large, 503 daemon not running ...): that is `default`."""
    op: dict[str, Any] = {"summary": summary, "responses": {"200": ok, **(extra or {}), "default": ERROR}}
    if body is not None:
        op["requestBody"] = _body(body)
    if params:
        op["parameters"] = params
    # a state change from a browser session needs the CSRF header as well as the cookie
    op["security"] = [{"bearer": []}, {"session": [], "csrf": []}] if unsafe else [{"bearer": []}, {"session": []}]
    return op


_STRINGS = {"type": "array", "items": {"type": "string"}}
# webui.logview._CURSOR: a row's time and id, "TS_ID" (keyset paging of the query log)
# (empty: no cursor, as the page's form sends it)
_CURSOR = {"type": "string", "pattern": "^([0-9]{1,11}(\\.[0-9]{1,17})?_[0-9]{1,18})?$", "maxLength": 48}
_OBJ = {"type": "object"}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["ok", "error"],
              "properties": {"ok": {"const": False}, "error": {"type": "string"}, "field": {"type": "string"}}},
    "Saved": {"type": "object", "required": ["ok", "reloaded", "reload_message"],
              "description": "The config file was changed; `reloaded` says whether the running daemon uses it yet.",
              "properties": {"ok": {"const": True}, "reloaded": {"type": "boolean"},
                             "reload_message": {"type": "string"}}},
    "Device": {"type": "object", "required": ["id", "name", "profile", "assigned", "new", "ips", "last_seen"],
               "properties": {"id": {"type": "string"}, "mac": {"type": ["string", "null"]},
                              "name": {"type": "string"}, "vendor": {"type": ["string", "null"]},
                              "ips": _STRINGS, "last_seen": {"type": "number"}, "profile": {"type": "string"},
                              "assigned": {"type": "boolean"}, "new": {"type": "boolean"}}},
    "Schedule": {"type": "object", "required": ["days", "start", "end"],
                 "properties": {"name": {"type": "string"}, "days": _STRINGS,
                                "start": {"type": "string", "description": "HH:MM, local time"},
                                "end": {"type": "string"},
                                "block": {"oneOf": [{"const": "all"}, _STRINGS]}}},
    "Budgets": {"type": "object", "additionalProperties": {"type": "string"},
                "description": 'Daily limits: {"games": "60m", "youtube": "1h30m"}'},
    "Profile": {"type": "object", "required": ["name", "block_categories", "block_services", "allow", "deny",
                                               "safe_search", "block_bypass"],
                "properties": {"name": {"type": "string"}, "block_categories": _STRINGS,
                               "block_services": _STRINGS, "allow": _STRINGS, "deny": _STRINGS,
                               "safe_search": {"type": "boolean"}, "block_bypass": {"type": "boolean"},
                               "schedules": {"type": "array", "items": _ref("Schedule")},
                               "budgets": _ref("Budgets"),
                               "privacy": {"enum": ["full", "anonymous", "counts", "off"]},
                               "not_enforced": {**_STRINGS, "description": "chosen categories with no list in "
                                                "force yet (downloading, failed, or none turned on)"}}},
    "ProfileChanges": {"type": "object", "minProperties": 1, "additionalProperties": False,
                       "description": "Only the keys sent change; the whole config is validated before saving.",
                       "properties": {"block_categories": _STRINGS, "block_services": _STRINGS,
                                      "allow": _STRINGS, "deny": _STRINGS, "safe_search": {"type": "boolean"},
                                      "block_bypass": {"type": "boolean"},
                                      "privacy": {"enum": ["full", "anonymous", "counts", "off"]},
                                      "schedules": {"type": "array", "items": _ref("Schedule")},
                                      "budgets": _ref("Budgets")}},
    "Feed": {"type": "object", "required": ["name", "category", "url", "enabled", "state", "status", "entries"],
             "properties": {"name": {"type": "string"}, "category": {"type": "string"}, "url": {"type": "string"},
                            "enabled": {"type": "boolean"}, "catalog": {"type": ["string", "null"]},
                            "state": {"enum": ["ok", "failed", "never"]}, "status": {"type": "string"},
                            "entries": {"type": "integer"},
                            "locked": {"type": "boolean", "description": "set by the provider's bundle: it cannot "
                                                                         "be turned off here"},
                            "in_force": {"type": "boolean", "description": "a compiled copy is on disk"}}},
    "Settings": {"type": "object", "minProperties": 1, "additionalProperties": False,
                 "properties": {"upstreams": {**_STRINGS, "minItems": 1, "maxItems": 8},
                                "block_mode": {"type": "string", "description": "null, nxdomain, refused or ip:ADDR[,ADDR6]"},
                                "timezone": {"type": "string", "description": "an IANA name, e.g. Asia/Almaty"},
                                "language": {"enum": ["en", "ru", "kk"]}}},
    "Logging": {"type": "object", "required": ["exists", "all_off", "privacy", "notes"],
                "properties": {"exists": {"type": "boolean"}, "all_off": {"type": "boolean"},
                               "privacy": {"type": "object", "additionalProperties": {"type": "string"}},
                               "notes": {"type": "array", "items": _OBJ}}},
    "LogEditRequest": {"type": "object", "required": ["name"],
                       "properties": {"name": {"type": "string"},
                                      "device": {"type": "string", "description": "a device id, or empty for everyone"}}},
    "LogEdit": {"type": "object", "required": ["ok", "name", "profile", "list", "reloaded", "reload_message"],
                "properties": {"ok": {"const": True}, "name": {"type": "string"},
                               "profile": {"type": ["string", "null"],
                                           "description": "null: the household's [filter] lists"},
                               "list": {"enum": ["allow", "deny"]}, "reloaded": {"type": "boolean"},
                               "household_allows": {"type": "boolean", "description": "a block for a profile "
                                                    "that the household's [filter] allow list still overrides"},
                               "reload_message": {"type": "string"}}},
    "Override": {"type": "object", "required": ["id", "target", "name", "action", "until"],
                 "properties": {"id": {"type": "integer"}, "target": {"type": "string"}, "name": {"type": "string"},
                                "action": {"enum": ["allow", "block"]},
                                "until": {"type": ["number", "null"], "description": "epoch seconds; null: until removed"},
                                "source": {"type": "string"}, "ok": {"const": True}}},
    "ChildRequest": {
        "type": "object", "required": ["id", "device", "name", "kind", "state"],
        "description": "A child's request from the portal (docs/portal.md) and its answer: the audit.",
        "properties": {"id": {"type": "integer"}, "device": {"type": "string"}, "device_name": {"type": "string"},
                       "label": {"type": "string"}, "profile": {"type": "string"},
                       "kind": {"enum": ["site", "time"]}, "name": {"type": "string"},
                       "reason": {"type": "string"}, "category": {"type": "string"},
                       "wanted": {"enum": ["15m", "1h", "today", "always"]},
                       "state": {"enum": ["open", "approved", "denied", "expired"]},
                       "created": {"type": "number"}, "answered": {"type": ["number", "null"]},
                       "answered_by": {"type": ["string", "null"]},
                       "duration": {"type": ["string", "null"]}, "until": {"type": ["number", "null"]},
                       "scope": {"type": ["string", "null"]}, "active": {"type": "boolean"}}},
    "RequestAnswer": {"type": "object", "required": ["action"],
                      "properties": {"action": {"enum": ["approve", "deny"]},
                                     "for": {"enum": ["15m", "1h", "today", "always"]},
                                     "scope": {"enum": ["device", "profile"]}}},
    "OverrideRequest": {"type": "object", "required": ["target", "name", "action", "for"],
                        "properties": {"target": {"type": "string", "description": "device:ID or profile:NAME"},
                                       "name": {"type": "string", "description": "a host name; covers its subdomains"},
                                       "action": {"enum": ["allow", "block"]},
                                       "for": {"enum": ["15m", "1h", "today", "always"],
                                               "description": "today: until local midnight in [general].timezone"}}},
}

_MAC = _path("mac", "the device's MAC address, or the id of a device seen without one")
_DEVICE = _path("device", "the device id from GET /api/devices")
_NAME = _path("name", "the profile's name")
_FEED = _path("name", "the list's name")

PATHS: dict[str, Any] = {
    "/openapi.json": {"get": {**_op("This document", _json(_OBJ)), "security": []}},
    "/session": {"get": _op("The CSRF token for scripts running in a logged-in browser",
                            _json({"type": "object", "required": ["ok", "csrf_token"],
                                   "properties": {"ok": {"const": True}, "csrf_token": {"type": "string"}}}))},
    "/devices": {"get": _op("Devices seen on the network, most recent first, and the profile names", _json(
        {"type": "object", "required": ["ok", "devices", "profiles"],
         "properties": {"ok": {"const": True}, "devices": {"type": "array", "items": _ref("Device")},
                        "profiles": _STRINGS}}))},
    "/devices/{mac}/profile": {"post": _op(
        "Put a device in a profile", _json(_ref("Saved")), params=[_MAC], unsafe=True,
        body={"type": "object", "required": ["profile"],
              "properties": {"profile": {"type": "string"}, "name": {"type": "string", "maxLength": 64}}})},
    "/devices/{device}/pause": {"post": _op(
        "Pause the internet for a device", _json({"type": "object", "required": ["ok", "message"],
                                                  "properties": {"ok": {"type": "boolean"},
                                                                 "message": {"type": "string"}}}),
        params=[_DEVICE], unsafe=True,
        body={"type": "object", "required": ["minutes"],
              "properties": {"minutes": {"type": "integer", "minimum": 1, "maximum": MAX_PAUSE}}})},
    "/devices/{device}/resume": {"post": _op(
        "End a device's pause", _json({"type": "object", "required": ["ok", "message"],
                                       "properties": {"ok": {"type": "boolean"}, "message": {"type": "string"}}}),
        params=[_DEVICE], unsafe=True)},
    "/profiles": {
        "get": _op("Profiles and the default profile's name", _json(
            {"type": "object", "required": ["ok", "default", "profiles"],
             "properties": {"ok": {"const": True}, "default": {"type": "string"},
                            "profiles": {"type": "array", "items": _ref("Profile")}}})),
        "post": _op("Add a profile (it starts from the household's level; the lists its categories need are turned on)", _json(_ref("Saved")),
                    unsafe=True, body={"type": "object", "required": ["name"],
                                       "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 64}}}),
    },
    "/profiles/{name}": {"patch": _op("Change a profile's lists, switches, schedules or daily limits",
                                      _json(_ref("Saved")), params=[_NAME], unsafe=True,
                                      body=_ref("ProfileChanges"))},
    "/usage": {"get": _op("Today's minutes per profile and device, from the running daemon", _json(
        {"type": "object", "required": ["ok", "running", "message", "usage"],
         "properties": {"ok": {"const": True}, "running": {"type": "boolean"}, "message": {"type": "string"},
                        "usage": {"type": "object", "description": "profile -> {devices: {device: {item: "
                                  "{used, limit}}}, ...}; empty when the daemon is not running"}}}))},
    "/feeds": {
        "get": _op("Block lists with their status, and catalog lists not added yet", _json(
            {"type": "object", "required": ["ok", "feeds", "catalog"],
             "properties": {"ok": {"const": True}, "feeds": {"type": "array", "items": _ref("Feed")},
                            "catalog": {"type": "array", "items": {
                                "type": "object", "required": ["id", "name", "category", "description"],
                                "properties": {k: {"type": "string"} for k in ("id", "name", "category",
                                                                               "description")}}}}})),
        "post": _op("Add a list from the catalog, or one at an http(s) address", _json(_ref("Saved")), unsafe=True,
                    body={"oneOf": [
                        {"type": "object", "required": ["catalog"], "additionalProperties": False,
                         "properties": {"catalog": {"type": "string"}}},
                        {"type": "object", "required": ["name", "url"], "additionalProperties": False,
                         "properties": {"name": {"type": "string"}, "url": {"type": "string", "format": "uri"},
                                        "category": {"type": "string"}}}]}),
    },
    "/feeds/{name}": {"patch": _op("Turn a list on or off", _json(_ref("Saved")), params=[_FEED], unsafe=True,
                                   body={"type": "object", "required": ["enabled"],
                                         "properties": {"enabled": {"type": "boolean"}}})},
    "/feeds/{name}/sync": {"post": _op(
        "Download a list now and reload the daemon (takes up to two minutes)",
        _json({"type": "object", "required": ["ok", "output", "reloaded", "feed"],
               "properties": {"ok": {"type": "boolean"}, "output": {"type": "string"},
                              "reloaded": {"type": "boolean"},
                              "feed": {"oneOf": [_ref("Feed"), {"type": "null"}]}}}),
        params=[_FEED], unsafe=True,
        extra={"502": _json({"type": "object", "required": ["ok", "output"],
                             "properties": {"ok": {"const": False}, "output": {"type": "string"}}},
                            "The download failed; `output` says why in plain words (the list's last error), "
                            "or is the tail of the sync's log.")})},
    "/settings": {
        "get": _op("Upstream resolvers, how blocked names are answered, time zone and language", _json(
            {"type": "object", "required": ["ok", "upstreams", "block_mode", "timezone", "language"],
             "properties": {"ok": {"const": True}, "upstreams": _STRINGS, "block_mode": {"type": "string"},
                            "timezone": {"type": "string"}, "language": {"type": "string"},
                            "locked": {"type": "array", "items": {"enum": ["upstreams", "block_mode", "timezone"]},
                                       "description": "fields set by the provider's bundle (a managed router): a "
                                                      "change to them is refused"}}})),
        "patch": _op("Change appliance settings (keys left out keep their value)", _json(_ref("Saved")),
                     unsafe=True, body=_ref("Settings")),
    },
    "/settings/backup": {"get": _op("The config file as it is", {
        "description": "The config file (TOML)", "content": {"application/toml": {"schema": {"type": "string"}}}})},
    "/settings/restore": {"post": {**_op(
        "Replace the config file with a backup (validated as a whole first)",
        _json({"type": "object", "required": ["ok", "reloaded", "reload_message"],
               "properties": {"ok": {"const": True}, "reloaded": {"type": "boolean"},
                              "reload_message": {"type": "string"}}}), unsafe=True),
        "requestBody": {"required": True, "content": {"application/toml": {"schema": {"type": "string"}}}}}},
    # webui/api_log.py: the Dashboard and the Query log
    "/dashboard": {"get": _op("Today's totals and tops, activity per device, and the 24 h / 7 day series", _json(
        {"type": "object", "required": ["ok", "logging", "summary", "series_24h", "series_7d"],
         "properties": {"ok": {"const": True}, "logging": _ref("Logging"),
                        "summary": {"type": ["object", "null"],
                                    "description": "null until the daemon has written its query log"},
                        "series_24h": {"type": "array", "items": _OBJ},
                        "series_7d": {"type": "array", "items": _OBJ}}}))},
    "/log": {"get": _op("The newest query log rows matching the filters, or the page a cursor names", _json(
        {"type": "object", "required": ["ok", "logging", "rows", "older", "newer"],
         "properties": {"ok": {"const": True}, "logging": _ref("Logging"),
                        "rows": {"type": "array", "items": {"type": "object", "required": ["id", "ts"],
                                                            "properties": {"id": {"type": "integer"},
                                                                           "ts": {"type": "number"}}},
                                 "description": "Newest first; `id` is the row's number in the log"},
                        "older": {"type": ["string", "null"],
                                  "description": "Send as `before` for the next older page; null: no older rows"},
                        "newer": {"type": ["string", "null"],
                                  "description": "Send as `after` for the next newer page; null: these are the newest"}}}),
        params=[{"name": "device", "in": "query", "schema": {"type": "string", "maxLength": 64}},
                {"name": "name", "in": "query", "schema": {"type": "string", "maxLength": 253}},
                {"name": "outcome", "in": "query", "schema": {"enum": ["blocked", "resolved", "cached", "stale",
                                                                       "rewritten", "local", "refused", "failed"]}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
                {"name": "before", "in": "query", "schema": _CURSOR,
                 "description": "The rows older than this cursor (`older` of a previous answer)"},
                {"name": "after", "in": "query", "schema": _CURSOR,
                 "description": "The rows newer than this cursor (`newer` of a previous answer); not with `before`"}])},
    "/log/allow": {"post": _op("Allow a name for a device's profile (or everyone)", _json(_ref("LogEdit")),
                               unsafe=True, body=_ref("LogEditRequest"))},
    "/log/block": {"post": _op("Block a name for a device's profile (or everyone)", _json(_ref("LogEdit")),
                               unsafe=True, body=_ref("LogEditRequest"))},
    "/overrides": {
        "get": _op("The expiring allows and blocks that hold now", _json(
            {"type": "object", "required": ["ok", "overrides"],
             "properties": {"ok": {"const": True}, "overrides": {"type": "array", "items": _ref("Override")}}})),
        "post": _op("Allow or block a name for a device or a profile, for a while: applied within the request",
                    _json(_ref("Override")), unsafe=True, body=_ref("OverrideRequest"))},
    "/requests": {"get": _op("Children's requests, newest first, with who answered them and when", _json(
        {"type": "object", "required": ["ok", "requests"],
         "properties": {"ok": {"const": True}, "requests": {"type": "array", "items": _ref("ChildRequest")}}}),
        params=[{"name": "state", "in": "query", "required": False,
                 "schema": {"enum": ["open", "approved", "denied", "expired"]}}])},
    "/requests/{id}": {"post": _op(
        "Approve (an expiring allow, or more time today) or deny a request", _json(
            {"type": "object", "required": ["ok", "request"],
             "properties": {"ok": {"const": True}, "request": _ref("ChildRequest"), "message": {"type": "string"}}}),
        unsafe=True, body=_ref("RequestAnswer"),
        params=[{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"},
                 "description": "its id"}])},
    "/overrides/{id}": {"delete": _op("End an allow or block now", _json(
        {"type": "object", "required": ["ok"], "properties": {"ok": {"const": True}}}), unsafe=True,
                                      params=[{"name": "id", "in": "path", "required": True,
                                               "schema": {"type": "integer"}, "description": "its id"}])},
}


def document(extra_paths: dict[str, Any] | None = None) -> dict[str, Any]:
    """The whole document; `extra_paths` lets another module under /api describe its own routes."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "dnsfilter web UI API", "version": "1",
                 "description": "Every page action as JSON. Authenticate with `Authorization: Bearer <token>` "
                                "(Settings → API tokens), or from a logged-in browser with the session cookie "
                                "plus the X-CSRF-Token header (GET /api/session) on every change."},
        "servers": [{"url": "/api"}],
        "paths": {**PATHS, **(extra_paths or {})},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "An API token from Settings"},
                "session": {"type": "apiKey", "in": "cookie", "name": "dnsfilter_session",
                            "description": "The cookie set by the login page"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
                         "description": "The session's CSRF token (GET /api/session); needed with the cookie "
                                        "on POST, PATCH and DELETE"},
            },
        },
    }
