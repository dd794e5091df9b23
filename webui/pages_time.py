"""The Profiles page's "Time" part: schedules, daily limits and today's use per device."""

from __future__ import annotations

from flask import Response, flash, get_flashed_messages, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup
from werkzeug.wrappers import Response as BaseResponse

from dnsfilter.config import ConfigError
from webui import configfile, conflicts, control, error_text, load_config, protection, state, timerules, views
from webui.pages import bp
from webui.views import item_choices


def device_names() -> dict[str, str]:
    """Device id (MAC or address, as the daemon counts them) -> the name shown on Devices."""
    names: dict[str, str] = {}
    for d in views.devices(load_config()):
        for key in (d.id, d.mac, *d.ips):
            if key:
                names.setdefault(key, d.name)
    return names


@bp.route("/profiles/<name>/time", methods=["GET", "POST"])
def profile_time(name: str) -> Response | str:
    cfg = load_config()
    prof = next((p for p in cfg.profiles if p.name == name), None)
    if prof is None:
        return Response(render_template("error.html", message=_("This page does not exist.")), status=404)
    errors: dict[str, str] = {}
    notice = None
    rows, budgets = timerules.rows_of(prof)
    if request.method == "POST":
        rows, budgets = timerules.parse_form(request.form)
        added: list[protection.CatalogEntry] = []
        try:
            saved = configfile.apply(state().config_path, protection.chain(
                timerules.set_time_rules(name, rows, budgets), protection.ensure_lists(name, added)))
        except ConfigError as e:
            errors[timerules.field_of(e.key)] = error_text(e)
        else:
            prof = next(p for p in saved.config.profiles if p.name == name)
            rows, budgets = timerules.rows_of(prof)
            notice = _("Saved.") if saved.reloaded else _("Saved. The filter will use it when it next starts.")
            if added:
                notice = Markup("{} {}").format(notice, protection.added_words(added))
    usage = timerules.usage(state().data_dir / "control.sock")
    return Response(render_template(
        "profile_time.html", name=name, rows=rows, budgets=budgets, errors=errors, notice=notice,
        days=timerules.DAYS, day_names=timerules.DAY_NAMES, items=item_choices(), labels=dict(item_choices()), usage=usage,
        usage_rows=timerules.usage_rows(usage, name, device_names()) if usage.running else [],
        conflicts=conflicts.of_profile(load_config(), name, dict(item_choices())),
        messages=get_flashed_messages(with_categories=True)),
        status=400 if errors else 200)


@bp.route("/profiles/<name>/budget", methods=["POST"])
def profile_budget(name: str) -> BaseResponse:
    """"+30 min today" or "Reset today" for one device's daily limit (the daemon keeps the use)."""
    cfg = load_config()
    prof = next((p for p in cfg.profiles if p.name == name), None)
    f = request.form
    device, item, change = f.get("device", ""), f.get("item", ""), f.get("change", "")
    label = dict(item_choices()).get(item, item)
    who = device_names().get(device, device)
    if prof is None or item not in dict(prof.budgets) or change not in ("+30", "reset") or not device \
            or any(c.isspace() for c in device):
        flash(_("The request could not be handled."), "error")
    else:
        reply = control.send(state().data_dir / "control.sock", f"budget {name} {device} {item} {change}")
        if not reply.ok:
            flash(_("Not done: %(m)s", m=reply.reason), "error")
        elif change == "+30":
            flash(_("30 more minutes of %(i)s today for %(d)s.", i=label, d=who), "ok")
        else:
            flash(_("%(d)s starts %(i)s from zero today.", d=who, i=label), "ok")
    return redirect(url_for("pages.profile_time", name=name) if prof is not None else url_for("pages.profiles"))
