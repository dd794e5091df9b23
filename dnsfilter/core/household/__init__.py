"""The household: device identity (MAC normal form and vendor, DHCP leases), devices seen,
weekly schedules, pauses, daily budgets and a device's time state.

Must not import: `dnsfilter.core.engine` or anything outside the core.
"""
