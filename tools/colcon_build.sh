#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
#
# `colcon build` of this repository against the ROS 2 wheels from PyPI (the
# pip world): a plain `colcon build` there fails (ament_cmake not found, then
# "No 'rosidl_typesupport_c' found") because nothing tells CMake and ament
# that the ROS packages live inside the virtual environment. This sets
# AMENT_PREFIX_PATH and CMAKE_PREFIX_PATH to the venv, installs colcon into
# it (pinned), and runs colcon with the venv's interpreter, so the installed
# node scripts use the interpreter that has rclpy.
#
# Usage: tools/colcon_build.sh [VENV_DIR] [extra colcon build arguments]
#        (default VENV_DIR: .venv, as made by ./setup.sh)
# Then:  source install/setup.bash && ros2-style commands, or
#        install/lpr/lib/lpr/... ; `lpr run` works from the venv either way.
#
# On a machine with a ROS 2 distribution installed (apt), source its
# setup.bash and run `colcon build` directly instead.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
VENV=${1:-$REPO/.venv}
[[ $# -gt 0 ]] && shift
[[ -x $VENV/bin/python ]] || { echo "colcon_build: no virtual environment at $VENV (run ./setup.sh --no-demo)" >&2; exit 2; }
VENV=$(cd "$VENV" && pwd -P)
"$VENV/bin/python" -m pip --disable-pip-version-check -q install colcon-common-extensions==0.3.0
unset PYTHONPATH COLCON_PREFIX_PATH ROS_DISTRO ROS_VERSION
export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV" PATH="$VENV/bin:$PATH" VIRTUAL_ENV="$VENV"
cd "$REPO"
exec "$VENV/bin/python" -m colcon build --metas colcon.meta "$@"
