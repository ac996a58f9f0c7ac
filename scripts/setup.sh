#!/usr/bin/env bash
# Build everything Data Alchemy needs on a fresh Debian machine; cheap when already done.
#   - system: Java 17 (Spark), Chromium (UI tests), PostgreSQL (store tests), openssl and
#     git, through apt when missing
#   - Python: .venv holding exactly requirements.lock (uv pip sync), then the project itself,
#     editable. uv comes from PyPI when missing (scripts/toolchain.sh).
# TORCH_INDEX_URL=<a PyTorch wheel index for CUDA or ROCm> swaps the locked CPU torch for
# that build of the same version (README, "GPU").
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}

apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq >/dev/null; APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 ||
      { echo "setup: apt-get install $* failed" >&2; exit 1; }
  else
    echo "setup: please install $* (needs root and apt-get)" >&2
  fi
}

command -v java >/dev/null || apt_install openjdk-17-jre-headless
command -v chromium >/dev/null || apt_install chromium
command -v openssl >/dev/null || apt_install openssl
command -v git >/dev/null || apt_install git
# PostgreSQL: the tests start a throwaway server (tests/postgres.py)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || apt_install postgresql

source scripts/toolchain.sh

key=$(cat requirements.lock pyproject.toml scripts/setup.sh <(echo "${TORCH_INDEX_URL:-}") |
  sha256sum | cut -c1-16)
stamp=.venv/.installed-$key
if [ ! -f "$stamp" ]; then
  echo "setup: installing requirements.lock into .venv with uv $UV_VERSION" >&2
  [ -x .venv/bin/python ] || "$UV" venv --quiet --python "$(command -v "$PYTHON")" .venv
  # Bytecode compiled now, not on first import: where PYTHONDONTWRITEBYTECODE is set it
  # would never be, and every command would compile torch and LangGraph again (~1 s).
  "$UV" pip sync --quiet --python .venv/bin/python --find-links "$TORCH_FIND_LINKS" \
    --compile-bytecode requirements.lock
  "$UV" pip install --quiet --python .venv/bin/python --no-deps -e .
  if [ -n "${TORCH_INDEX_URL:-}" ]; then
    version=$(sed -n 's/^torch==\([0-9.]*\).*/\1/p' requirements.lock)
    "$UV" pip install --quiet --python .venv/bin/python --index "$TORCH_INDEX_URL" \
      --reinstall-package torch "torch==$version"
  fi
  rm -f .venv/.installed-*
  touch "$stamp"
fi
