"""SparkMeter Koios v2 (vendor-apis.md §3.1 2): pure requests and pages (``requests``) and the paging
client with its per-organization daily budget and its stop on 429 (``client``)."""
