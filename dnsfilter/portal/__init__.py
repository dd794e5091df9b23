"""The child's side of the appliance: the child's page (`/`, `/why`: this device's profile,
rules, time, recent blocks, requests, helplines) and the block page (any other Host), served
by the daemon's portal listener (dnsfilter/shell/portal.py) over plain HTTP with the standard
library only: no Flask in the daemon, no script in the pages.

Here: HTTP request reading and response writing (`http`), the catalogs of the page's three
languages (`i18n`), what a device's page shows (`view`) and the pages themselves (`pages`,
`blockpage`). Must not import: `dnsfilter.shell` or `webui`.
"""
