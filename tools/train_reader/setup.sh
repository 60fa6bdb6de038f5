#!/usr/bin/env bash
# Sets up the plate-reader training environment (tools/train_reader):
#   - .venv-train at the repository root, from requirements/train.txt
#     (torch==2.13.0, the CPU wheel from PyPI, never an unpinned torch);
#   - the Debian font packages the synthetic renderer draws with
#     (licences in tools/train_reader/MODEL_CARD.md).
# Usage: tools/train_reader/setup.sh [--no-fonts]   (fonts need root or sudo)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"

FONT_PACKAGES=(
  fonts-dejavu-core fonts-dejavu-extra fonts-liberation2 fonts-freefont-ttf fonts-croscore
  fonts-crosextra-carlito fonts-roboto fonts-open-sans fonts-b612 fonts-hack fonts-opendin
  fonts-paratype fonts-thai-tlwg fonts-wqy-zenhei fonts-wqy-microhei fonts-arphic-uming
)

if [[ "${1:-}" != "--no-fonts" ]]; then
  SUDO=""
  [[ "$(id -u)" -eq 0 ]] || SUDO="sudo"
  missing=()
  for p in "${FONT_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if ((${#missing[@]})); then
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
fi

if [[ ! -x .venv-train/bin/python ]]; then
  python3 -m venv .venv-train
fi
.venv-train/bin/pip install -q --upgrade pip
.venv-train/bin/pip install -q -r requirements/train.txt
.venv-train/bin/python -c "import torch, onnx, onnxruntime, cv2; print('torch', torch.__version__, '| onnxruntime', onnxruntime.__version__)"
