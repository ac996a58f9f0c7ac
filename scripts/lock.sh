#!/usr/bin/env bash
# Compile pyproject.toml (with the dev and smollm2 extras) into requirements.lock, exact and
# hashed; scripts/lock-overrides.txt drops the smollm2 wheel's unused dependencies.
#   scripts/lock.sh           regenerate the lock (`make lock`), keeping current pins
#   scripts/lock.sh --check   fail when the lock no longer matches pyproject.toml
# The lock targets CPython 3.11 on Linux x86_64 and pins the CPU build of torch, found in
# TORCH_FIND_LINKS: pip's configured find-links folder when it holds that wheel, else the
# PyTorch CPU wheel page.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/toolchain.sh

lock=requirements.lock
out=$lock
if [ "${1:-}" = "--check" ]; then
  out=$(mktemp -d)/requirements.lock
  cp "$lock" "$out"
fi
constraints=$(mktemp)
echo "$TORCH_PIN" >"$constraints"
"$UV" pip compile pyproject.toml --extra dev --extra smollm2 --quiet \
  --override scripts/lock-overrides.txt \
  --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
  --find-links "$TORCH_FIND_LINKS" --constraint "$constraints" \
  --generate-hashes --no-header --output-file "$out"
sed -i "s|-c $constraints|$TORCH_PIN (scripts/toolchain.sh)|" "$out"
rm -f "$constraints"
if [ "$out" != "$lock" ]; then
  # Compare the pins, not the hash lists: a project may upload another wheel for a release
  # it already published, which changes nothing pyproject.toml asks for.
  pins() { grep -E '^[A-Za-z0-9]' "$1" | sed 's/ *\\$//' | sort; }
  if ! diff -u <(pins "$lock") <(pins "$out"); then
    echo "lock: requirements.lock does not match pyproject.toml; run 'make lock' and commit it" >&2
    exit 1
  fi
  echo "lock: requirements.lock matches pyproject.toml"
fi
