"""The portal's and the parent's messages in English, Russian and Kazakh: gettext catalogs
(`dnsfilter/portal/translations/{ru,kk}/LC_MESSAGES/portal.mo`) read with the standard
library, so the daemon needs no Babel. English is the message ids themselves.

Strings are marked `t("…")` where they are translated and `M_("…")` where they are only
marked (tables translated later); extract them with the commands in docs/portal.md, which
use these two keywords only, so the web UI's catalog never picks them up.
"""

from __future__ import annotations

import functools
import gettext
from collections.abc import Callable
from pathlib import Path

LANGS = ("en", "ru", "kk")
NAMES = {"en": "English", "ru": "Русский", "kk": "Қазақша"}
_DIR = Path(__file__).resolve().parent / "translations"

Translate = Callable[[str], str]


def M_(message: str) -> str:
    """Marks a message for extraction; translated where it is shown."""
    return message


@functools.cache
def _catalog(lang: str) -> gettext.NullTranslations:
    if lang == "en":
        return gettext.NullTranslations()
    return gettext.translation("portal", localedir=_DIR, languages=[lang], fallback=True)


def translator(lang: str) -> Translate:
    return _catalog(lang if lang in LANGS else "en").gettext


def pick(accept_language: str = "", chosen: str = "", default: str = "en") -> str:
    """The page's language: one chosen on the page (a link, then a cookie), else the best of the
    browser's Accept-Language among ours, else `default`."""
    if chosen in LANGS:
        return chosen
    best: tuple[float, str] | None = None
    for i, part in enumerate(accept_language.split(",")[:20]):
        tag, _sep, params = part.strip().partition(";")
        lang = tag.strip().lower().split("-", 1)[0]
        if lang not in LANGS:
            continue
        q = 1.0
        for p in params.split(";"):
            k, _s, v = p.strip().partition("=")
            if k == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        if q > 0 and (best is None or q > best[0]):
            best = (q - i * 1e-6, lang)  # equal weights: the first listed wins
    return best[1] if best else default
