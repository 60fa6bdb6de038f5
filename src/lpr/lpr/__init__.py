"""Bringup of the lpr graph: launch file, parameters, the lpr command (runner for pip-only machines)."""
