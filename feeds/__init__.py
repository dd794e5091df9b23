"""Blocklist feeds: parsers (one per format), the compiler into mmap-able DomainSet files.

Unlike dnsfilter/core, this package may do file I/O; it never runs on the query hot path.
"""
