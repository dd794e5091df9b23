"""dnsfilter: a lightweight filtering DNS resolver for homes, schools and ISP routers."""

__version__ = "0.1.0"

# Before any module of the query path is imported: use its compiled build only if it is current.
from dnsfilter import native as _native  # noqa: F401
