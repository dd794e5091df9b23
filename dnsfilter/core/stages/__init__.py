"""The query path, one job per stage, in this order (declared once, in engine.py):

identify → local → policy → cache → upstream

- identify: who is asking (address → profile), access control and rate limiting;
- local: names the appliance answers itself (localhost, own name, RFC 6303 zones);
- policy: block decisions from lists and rules, turned into sinkhole answers with EDE;
- cache: fresh answers from the cache, with deep CNAME checks per profile;
- upstream: identical questions merged into one upstream query; answers fanned out.
"""
