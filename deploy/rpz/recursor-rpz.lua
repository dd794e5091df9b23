-- PowerDNS Recursor (4.8): the zones dnsfilter writes, by IXFR from the Knot primary over TSIG
-- (docs/rpz.md). In recursor.conf:
--     lua-config-file=/etc/powerdns/recursor-rpz.lua
-- The secret file holds the key's base64 secret (the same as Knot's), readable by pdns only.
-- The order is dnsfilter's: the first zone that matches a name decides. extendedErrorCode is
-- the EDE code dnsfilter gives each zone's blocks.
--
-- Recursor 4.8 does not start an RPZ transfer on NOTIFY: it asks the primary for each zone's
-- SOA every `refresh` seconds (one small query; an IXFR when the serial moved). 5 s keeps a
-- change within seconds of its publication, as NOTIFY does for BIND and Unbound.

local function secret(path)
  local f = assert(io.open(path, "r"))
  local s = f:read("*l")
  f:close()
  return s
end

local key = secret("/etc/powerdns/dnsfilter-rpz.secret")

local function zone(name, ede)
  local opts = { tsigname = "dnsfilter-rpz", tsigalgo = "hmac-sha256", tsigsecret = key,
                 policyName = name, refresh = 5 }
  if ede then opts.extendedErrorCode = ede end
  rpzPrimary("192.0.2.53:53", name, opts)
end

zone("registry.authority.rpz.dnsfilter", 16)
zone("custom.rpz.dnsfilter", 15)
zone("allow.rpz.dnsfilter")
zone("trusted.allowlist.rpz.dnsfilter")
zone("ads.rpz.dnsfilter", 15)
zone("adult.rpz.dnsfilter", 17)
zone("malware.rpz.dnsfilter", 15)
