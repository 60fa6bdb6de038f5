"""The operator's local web journal: events, search, corrections, access lists."""
