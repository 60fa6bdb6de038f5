"""Shared helpers of the lpr nodes: image conversion, QoS profiles, lifecycle base, status."""
