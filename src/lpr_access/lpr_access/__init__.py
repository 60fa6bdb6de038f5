"""Access decisions and the barrier: allow/deny/visitor lists matched to plate
events, decisions on ``access/decisions``, barrier drivers (log, HTTP relay, GPIO)."""
