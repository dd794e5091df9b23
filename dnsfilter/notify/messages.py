"""The texts sent to the parent, in English, Russian or Kazakh: a child's request (the device,
the name, why it was closed, how long was asked for, and the link that answers it) and the
weekly report (report.py's figures in a few plain lines per profile and device)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from dnsfilter.portal import words
from dnsfilter.portal.i18n import Translate, translator
from dnsfilter.storage.child_requests import Request
from dnsfilter.storage.report import WeeklyReport


def _item(t: Translate, item: str) -> str:
    """A category in words, a service by its title."""
    what = words.CATEGORIES.get(item)
    if what:
        return t(what[0])
    from feeds.services import load_services

    svc = load_services().get(item)
    return svc.title if svc is not None else item


def request_message(r: Request, lang: str, admin_url: str) -> tuple[str, str]:
    """(title, body) of a new request."""
    t = translator(lang)
    if r.kind == "time":
        title = t("{device} asks for more time: {item}").format(device=r.label, item=_item(t, r.name))
    else:
        title = t("{device} asks to open {name}").format(device=r.label, name=r.name)
    lines = [title + ".",
             t("Profile: {profile}.").format(profile=r.profile),
             t("Asked for: {duration}.").format(duration=t(words.DURATIONS.get(r.wanted, r.wanted)))]
    if r.kind == "site" and (r.category or r.reason):
        why = _item(t, r.category) if r.category in words.CATEGORIES else r.reason
        lines.append(t("Closed because: {reason}.").format(reason=why))
    if admin_url:
        lines.append(t("Answer here: {link}").format(link=f"{admin_url}/requests?id={r.id}"))
    else:
        lines.append(t("Answer with: dnsfilter requests approve -c CONFIG {id} --for 1h").format(id=r.id))
    return title, "\n".join(lines)


def weekly_message(rep: WeeklyReport, lang: str, admin_url: str) -> tuple[str, str]:
    """(title, body) of the weekly report."""
    t = translator(lang)
    zone = zoneinfo.ZoneInfo(rep.tz)
    first = dt.datetime.fromtimestamp(rep.start, zone).strftime("%d.%m")
    last = dt.datetime.fromtimestamp(rep.end, zone).strftime("%d.%m")
    title = t("Weekly report, {first}–{last}").format(first=first, last=last)
    out = [title]
    if not rep.profiles:
        out.append(t("Nothing was recorded this week."))
    for p in rep.profiles:
        out.append("")
        out.append(t("{profile}: {lookups} lookups, {blocked} blocked").format(
            profile=p.name, lookups=p.lookups, blocked=p.blocked))
        if p.by_category:
            out.append("  " + t("Blocked by category: {list}").format(
                list=", ".join(f"{_item(t, c)} {n}" for c, n in p.by_category.items())))
        if p.top_blocked:
            out.append("  " + t("Most blocked: {list}").format(list=", ".join(f"{n} ({c})" for n, c in p.top_blocked[:5])))
        elif not p.names_shown:
            out.append("  " + t("Counts only: this profile's privacy setting keeps no site names."))
        for d in p.devices:
            line = "  · " + t("{device}: {lookups} lookups, {blocked} blocked").format(
                device=d.label, lookups=d.lookups, blocked=d.blocked)
            for b in d.budgets:
                line += "; " + t("{item} {used} of {limit} min").format(item=_item(t, b.item), used=b.used,
                                                                        limit=b.limit)
            asked = sum(d.requests.values())
            if asked:
                line += "; " + t("{n} requests ({yes} yes, {no} no)").format(
                    n=asked, yes=d.requests.get("approved", 0), no=d.requests.get("denied", 0))
            out.append(line)
    if rep.new_devices:
        out.append("")
        out.append(t("New devices: {list}").format(list=", ".join(d["label"] for d in rep.new_devices)))
    if admin_url:
        out.append("")
        out.append(t("Full report: {link}").format(link=f"{admin_url}/report"))
    return title, "\n".join(out)
