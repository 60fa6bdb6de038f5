#!/usr/bin/env bash
# Run the lpr test suite. Sets everything up first (./setup.sh --no-demo:
# idempotent, quick when nothing changed), then runs pytest.
#   ./test.sh                 the whole suite
#   ./test.sh -k passes -x    any pytest arguments
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$ROOT/setup.sh" --no-demo
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST   # DDS traffic of the tests stays on this host
cd "$ROOT"
exec "${LPR_VENV:-$ROOT/.venv}/bin/python" -m pytest "$@"
