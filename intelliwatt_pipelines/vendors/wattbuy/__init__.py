"""WattBuy (vendor-apis.md §2.5): pure requests and answers, and the httpx client."""
