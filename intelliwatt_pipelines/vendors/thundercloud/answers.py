"""What a ThunderCloud v0 client sends for a customers snapshot (vendor-apis.md §3.1 3), as plain data:
``GET https://<tc-host>/api/v0/customers?customers_only=true&reading_details=true`` with the site's token in
``Authentication-Token``. Reading the snapshot (register reads) is ``sources.thundercloud``'s job: sources
may not import vendors, and a parser belongs with the other parsers."""

from __future__ import annotations

CUSTOMERS_PATH = "/api/v0/customers"
CUSTOMERS_PARAMS = {"customers_only": "true", "reading_details": "true"}
TOKEN_HEADER = "Authentication-Token"
