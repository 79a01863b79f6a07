"""SparkMeter ThunderCloud v0, on-site (vendor-apis.md §3.1 3): the customers request as plain data
(``answers``: path, params, the ``Authentication-Token`` header) and the client (``client``). Snapshots are
read as register reads by ``sources.thundercloud``."""
