"""dnsfilter: a lightweight filtering DNS resolver for homes, schools and ISP routers."""

__version__ = "0.1.0"
