"""Smart Meter Texas REST API (JWT): request building and parsing (``requests``, pure) and the HTTP
client with its token cache and retries (``client``). The specification is vendor-apis.md §2.1."""
