"""Bringup of the lpr graph: the node list, the launch file and the parameters it installs, the runner for pip-only machines (lpr run, in lpr_tools), autostart units and the UPS watcher."""
