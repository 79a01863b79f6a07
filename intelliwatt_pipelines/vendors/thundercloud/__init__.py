"""SparkMeter ThunderCloud v0, on-site (vendor-apis.md §3.1 3): the customers snapshot as register reads
(``answers``) and the client with its ``Authentication-Token`` (``client``)."""
