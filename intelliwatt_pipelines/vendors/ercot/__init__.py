"""ERCOT MIS (vendor-apis.md §2.6): the public document list of report type 203 (TDSP ESIID extracts) and
its downloads. Pure request/parse (``requests``) and an httpx client (``client``); no login, no secret."""
