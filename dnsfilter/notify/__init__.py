"""Messages to the parent: a child's request and the weekly report, in the parent's language,
sent through Apprise (email, Telegram, ntfy, Matrix, a JSON webhook…) to the addresses kept
with the admin's secrets (`urls`) and in `[notify] urls`.

`messages` builds the texts (pure), `urls` reads and writes the addresses (a private file next
to the admin's account), `send` is the child process that imports Apprise and sends one
message: the daemon never loads Apprise (tens of MB on a router), and a slow mail server
never holds it up. Apprise is optional: without it nothing is sent, and requests still appear
in the web UI. Must not import: `dnsfilter.shell` or `webui`.
"""
