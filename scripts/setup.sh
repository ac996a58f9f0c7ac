#!/usr/bin/env bash
# Build everything Data Alchemy needs on a fresh Debian machine; cheap when already done.
#   - system: Java 17 (Spark) and Chromium (UI tests), through apt when missing
#   - Python: .venv with the CPU build of torch first (so no multi-GB CUDA wheel is pulled),
#     then the project in editable mode with its dev extras
# Set TORCH_SPEC to choose another torch (e.g. TORCH_SPEC='torch' on a CUDA machine).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq >/dev/null; APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    echo "setup: please install $* (needs root and apt-get)" >&2
  fi
}

command -v java >/dev/null || apt_install openjdk-17-jre-headless
command -v chromium >/dev/null || apt_install chromium
command -v openssl >/dev/null || apt_install openssl

stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -c 'import torch' 2>/dev/null || .venv/bin/pip install -q "$TORCH_SPEC"
  .venv/bin/pip install -q -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi
