# Sourced by setup.sh and lock.sh: the uv that installs and locks, and where torch comes from.
# UV: a uv binary on PATH at UV_VERSION, else one installed from PyPI into .tools/.
# TORCH_PIN: the torch build the lock holds (CPU). For CUDA or ROCm see README ("GPU").
UV_VERSION=0.13.9
TORCH_PIN='torch==2.13.0+cpu'

pip_find_links() {
  "${PYTHON:-python3}" -m pip config list 2>/dev/null |
    sed -n "s/^[^=]*find-links='\([^']*\)'$/\1/p" | head -n 1
}

if [ -z "${TORCH_FIND_LINKS:-}" ]; then
  TORCH_FIND_LINKS=https://download.pytorch.org/whl/cpu/torch/
  local_wheels=$(pip_find_links)
  if [ -n "$local_wheels" ] && compgen -G "$local_wheels/torch-2.13.0+cpu-*.whl" >/dev/null; then
    TORCH_FIND_LINKS=$local_wheels
  fi
fi

if command -v uv >/dev/null && [ "$(uv --version | cut -d' ' -f2)" = "$UV_VERSION" ]; then
  UV=uv
else
  UV=.tools/bin/uv
  if [ ! -x "$UV" ] || [ "$("$UV" --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    "${PYTHON:-python3}" -m venv .tools
    if ! log=$(.tools/bin/python -m pip install -q --disable-pip-version-check \
      "uv==$UV_VERSION" 2>&1); then
      echo "$log" >&2
      exit 1
    fi
  fi
fi
export UV_NO_PROGRESS=1
