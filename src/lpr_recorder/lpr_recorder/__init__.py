"""Recorder node: turns plate reads into one event per vehicle pass, stored in an SQLite journal with images."""
