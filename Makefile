# tldsec: `make demo` and `make test` work on a fresh Debian machine as root.
# Both install what is missing first: Debian packages, the venv, locked Python deps.

VENV        := .venv
PY          := $(VENV)/bin/python
PYTHON      ?= python3
PYTEST_ARGS ?=

.PHONY: all deps demo test lint typecheck imports pytest bench lock deb clean

all: test

deps: .deps.debian $(VENV)/.installed

.deps.debian: scripts/install-debian-deps
	scripts/install-debian-deps
	@touch $@

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --require-hashes -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $@

lint: deps
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

typecheck: deps
	$(VENV)/bin/mypy

imports: deps
	$(VENV)/bin/lint-imports

pytest: deps
	scripts/ensure-postgres
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test: lint typecheck imports pytest

demo: deps
	scripts/demo

# The quick signing comparison (100k delegations, ~2 min); every benchmark: docs/benchmarks.md.
bench: deps
	$(PY) bench/run_sign.py -n 100000 --full-only

# Regenerate the lock after changing dependencies in pyproject.toml.
lock: deps
	$(PY) -m pip install -q uv
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --generate-hashes \
	    --python-version 3.11 -o requirements.lock

# The Debian package: /opt/tldsec (a venv of the locked runtime dependencies), the systemd
# units of packaging/systemd, the user tldsec (docs/operations.md, "Service units").
deb: deps
	scripts/build-deb

clean:
	rm -rf build $(VENV) .deps.debian .mypy_cache .pytest_cache .ruff_cache tldsec-home
