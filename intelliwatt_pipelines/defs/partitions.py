"""Partitions: ESIID (dynamic, added as homes appear) × Central local day."""


import dagster as dg

from intelliwatt_pipelines.config import CENTRAL_TZ

esiid_partitions = dg.DynamicPartitionsDefinition(name="esiid")


def esiid_day_partitions(start_date: str) -> dg.MultiPartitionsDefinition:
    # end_offset=1 so today's (partial) day already has a partition.
    days = dg.DailyPartitionsDefinition(start_date=start_date, timezone=CENTRAL_TZ, end_offset=1)
    return dg.MultiPartitionsDefinition({"esiid": esiid_partitions, "date": days})


def esiid_day_key(esiid: str, local_date) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"esiid": esiid, "date": str(local_date)})


def split_key(key: str) -> tuple[str, str]:
    """(esiid, date) from a key; dimensions join in name order, so the date comes first."""
    keys = key.keys_by_dimension if isinstance(key, dg.MultiPartitionKey) else dict(
        zip(("date", "esiid"), key.split("|")))
    return keys["esiid"], keys["date"]
