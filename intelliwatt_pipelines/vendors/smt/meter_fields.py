"""SMT's MeterData fields (vendor-apis.md §2.3) as (snake_case column, SMT field) pairs, in SMT's order.

A pure leaf: the table declaration (``cdm.fields.vendor``) and the SFTP CSV parser
(``sources.smt_meter_info``) both read it, and neither layer may import the other.
"""

from __future__ import annotations

# The text columns of smt_meter_info; kwh_meter_multiplier (``KWHMeterMultiplier``) is the one number.
METER_DATA_TEXT = (
    ("utility_meter_id", "utilityMeterId"), ("meter_serial_number", "meterSerialNumber"),
    ("configured_channels", "configuredChannels"), ("manufacturer_name", "manufacturerName"),
    ("meter_class", "meterClass"), ("interval_setting", "intervalSetting"),
    ("reverse_flow_handling", "reverseFlowHandling"), ("dg_channel", "DGChannel"), ("disconnect", "disconnect"),
    ("meter_status", "meterStatus"), ("meter_phases", "meterPhases"), ("meter_model", "meterModel"),
    ("test_date", "testDate"), ("installation_date", "installationDate"),
    ("initial_provision_date", "initialProvisionDate"), ("last_updated", "LastUpdated"),
    ("communication_indicator", "communicationIndicator"), ("instrument_rated", "instrumentRated"),
    ("current_transformers_ratio", "currentTransformersRatio"),
    ("potential_transformers_ratio", "potentialTransformersRatio"), ("esi_firmware_version", "esiFirmwareVersion"),
    ("han_protocol", "HANProtocol"), ("smart_energy_profile", "smartEnergyProfile"))
MULTIPLIER = ("kwh_meter_multiplier", "KWHMeterMultiplier")
