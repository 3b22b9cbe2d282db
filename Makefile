# Two commands matter: `make demo` and `make test`. Both build .venv first when it is missing or stale.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install demo test lint airflow sandbox bench lock clean

install: $(STAMP)

# requirements.txt holds `-e .`, so the package comes with the dependencies pyproject.toml declares, under the lock.
$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	$(BIN)/python -m pip check
	touch $(STAMP)

demo: install
	$(BIN)/python -m demo

# mypy takes its files and settings from pyproject.toml ([tool.mypy]): plugins/wechat_campaigns and wechat_sandbox.
test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# Airflow standalone with the sandbox and the connections, for trying the trigger form in a browser.
airflow: install
	$(BIN)/python -m demo --standalone

sandbox: install
	$(BIN)/python -m wechat_sandbox --host 127.0.0.1 --port 8900 --seed wechat_sandbox/seeds/example.yaml

bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

# Rebuild the lock from a fresh resolve of requirements-dev.txt (needs PyPI).
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet -r requirements-dev.txt
	{ echo "# Complete lock of every distribution in .venv (pip freeze, Python 3.11, Linux)."; \
	  echo "# Regenerate with: make lock"; .venv-lock/bin/python -m pip freeze --exclude-editable; } > constraints.txt
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) var test-artifacts
