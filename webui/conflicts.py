"""Rules of one profile that contradict each other, named in plain words where they are saved
(the profile page and its time page): the config accepts them, and the daemon applies its
precedence (docs/profiles.md), but a parent who set both meant something else."""

from __future__ import annotations

from collections.abc import Mapping

from flask_babel import gettext as _

from dnsfilter.config import Config


def of_profile(cfg: Config, name: str, labels: Mapping[str, str]) -> list[str]:
    p = next((p for p in cfg.profiles if p.name == name), None)
    if p is None:
        return []
    label = lambda item: labels.get(item, item)  # noqa: E731 - a one-line lookup

    from feeds.services import load_services

    services = load_services()
    blocked_cats = set(p.block_categories if p.block_categories is not None else cfg.defaults.block_categories)
    blocked_services = set(p.block_services)

    def always_blocked(item: str) -> bool:
        if item in blocked_cats or item in blocked_services:
            return True
        s = services.get(item)
        return s is not None and s.group in blocked_services  # a blocked group covers its services

    out = []
    for item, _minutes in p.budgets:
        if always_blocked(item):
            out.append(_("%(i)s is blocked all day, so its daily limit never applies.", i=label(item)))
    for r in p.schedules:
        if r.block == "all":
            continue
        for item in r.block:
            if always_blocked(item):
                out.append(_("The quiet hours %(s)s block %(i)s, which is blocked all day anyway.", s=r.name,
                             i=label(item)))
    for name_ in sorted(set(p.allow) & set(p.deny)):
        out.append(_("%(n)s is both always allowed and always blocked: allowing wins.", n=name_))
    if p.allow_only and (blocked_cats or blocked_services):
        out.append(_("Only the allowed sites work in this profile, so the categories and apps chosen to be "
                     "blocked change nothing."))
    return out
