"""The asset keys, in one place (assets, reporting, checks and versions all name them)."""

import dagster as dg

RAW_FILES = dg.AssetKey("raw_files")
USAGE_INTERVALS = dg.AssetKey("usage_intervals")
DAILY_COMPLETENESS = dg.AssetKey("daily_completeness")
BILLING_READS = dg.AssetKey("billing_reads")
RECONCILIATION = dg.AssetKey("billing_reconciliation")
SMT_AGREEMENTS = dg.AssetKey("smt_agreements")
SMT_SUBSCRIPTIONS = dg.AssetKey("smt_subscriptions")
