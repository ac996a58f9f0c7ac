# The two commands of README.md (demo, test). Both build the environment first when needed.
.PHONY: setup demo test lint lock lock-check screenshots

setup:
	@bash scripts/setup.sh

demo: setup
	@.venv/bin/data-alchemy demo

test: setup
	.venv/bin/python -m pytest -q

lint: setup
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

# requirements.lock from pyproject.toml (uv); lock-check fails when they disagree
lock:
	@bash scripts/lock.sh

lock-check:
	@bash scripts/lock.sh --check

# the UI test's screenshots of each state, kept in docs/ui/
screenshots: setup
	.venv/bin/python -m pytest -q tests/test_chainlit_ui.py --ui-screenshots docs/ui
