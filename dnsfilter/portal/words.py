"""The words the child's pages use for categories, reasons and privacy modes: short, plain,
and said to a child (marked with M_, translated where shown)."""

from __future__ import annotations

from dnsfilter.portal.i18n import M_

# category -> (what it is, why it is closed)
CATEGORIES: dict[str, tuple[str, str]] = {
    "adult": (M_("Sites for grown-ups only"), M_("They show things that are not meant for children.")),
    "gambling": (M_("Betting and casino sites"), M_("They take real money, and it is easy to lose it.")),
    "dating": (M_("Dating sites"), M_("They are for adults who want to meet strangers.")),
    "social": (M_("Social networks"), M_("Your family chose to keep them closed for now.")),
    "games": (M_("Online games"), M_("Your family chose when games are open.")),
    "video": (M_("Video sites"), M_("Your family chose when videos are open.")),
    "drugs": (M_("Sites about drugs"), M_("They can talk you into things that hurt your health.")),
    "violence": (M_("Violent and cruel content"), M_("It can be frightening or upsetting.")),
    "piracy": (M_("Pirated films and programs"), M_("They are copied without permission and often carry viruses.")),
    "malware": (M_("Sites that can harm your device"), M_("They try to install viruses.")),
    "phishing": (M_("Fake sites that steal passwords"), M_("They pretend to be a site you know.")),
    "ads": (M_("Adverts"), M_("Fewer adverts: pages load faster and stay calmer.")),
    "trackers": (M_("Trackers"), M_("They follow what you do from site to site.")),
    "bypass": (M_("Tools that get around these rules"), M_("VPNs and proxies would switch these rules off.")),
    "custom": (M_("Sites your family closed"), M_("Someone in your family closed this site.")),
    "authority": (M_("Sites closed by law"), M_("The law of the country closes them for everyone.")),
}

# what is recorded about a device, by the profile's privacy mode
PRIVACY: dict[str, str] = {
    "full": M_("Your parents can see which sites this device opened and when."),
    "anonymous": M_("Sites are recorded without saying which device opened them."),
    "counts": M_("Only numbers are kept: how many sites were opened and how many were closed. No site names."),
    "off": M_("Nothing is recorded about this device."),
}

# why a name is closed right now, by the reason's kind (the category adds its own words)
REASONS: dict[str, str] = {
    "deny": M_("Your family closed this site."),
    "override": M_("Your family closed this site for now."),
    "allow_only": M_("Only the sites on your list open on this device."),
    "pause": M_("A parent paused the internet on this device for a while."),
    "schedule": M_("It is rest time now."),
    "budget": M_("Today's time for this is used up."),
    "service": M_("This app or site is closed on this device."),
    "bypass": M_("This would get around the rules, so it is closed."),
    "authority": M_("This site is closed by law for everyone in the country."),
}

DAYS = {"mon": M_("Mon"), "tue": M_("Tue"), "wed": M_("Wed"), "thu": M_("Thu"), "fri": M_("Fri"),
        "sat": M_("Sat"), "sun": M_("Sun"), "daily": M_("every day"), "weekdays": M_("weekdays"),
        "weekends": M_("weekends")}

DURATIONS = {"15m": M_("15 minutes"), "1h": M_("1 hour"), "today": M_("the rest of today"), "always": M_("always")}

STATES = {"open": M_("waiting for an answer"), "approved": M_("yes"), "denied": M_("no"),
          "expired": M_("no answer")}
