"""Errors of the core that a person reads, as message ids the web UI can translate.

The core must not import gettext, Flask or the config (it runs in the daemon, and on OpenWrt
without the web UI), so a message is English text made from an N_-marked id and parameters.
dnsfilter/config/ turns such an error into a ConfigError that keeps the id and the
parameters, and webui/errortext.py says it in the page's language.
"""

from __future__ import annotations


def N_(message: str) -> str:
    """Marks a message id for the web UI's catalogs (`pybabel extract -k N_`, docs/webui.md)."""
    return message


class MessageError(ValueError):
    """`str(e)` is English. `message` is the N_-marked %-format id, `params` its values, and
    `words` names the parameters that are message ids themselves (translated before they go
    in: "start" in "start '25:00' is not a time of day")."""

    def __init__(self, message: str, *, words: tuple[str, ...] = (), **params: object) -> None:
        self.message, self.params, self.words = message, params, words
        super().__init__(message % params if params else message)
