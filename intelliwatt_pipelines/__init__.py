"""IntelliWatt Pipelines: vendor smart-meter files to canonical usage tables."""
