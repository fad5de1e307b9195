# The two commands a new user needs: `make demo` and `make test`. Both create .venv when missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
export SQLMESH__DISABLE_ANONYMIZED_ANALYTICS := 1
DEMO_DIR ?= .hexlake
DEMO_PORT ?= 8600

.PHONY: install demo test bench lint fmt clean vendor

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	HEXLAKE_DATA_DIR=$(DEMO_DIR) $(VENV)/bin/hexlake demo --start-server --port $(DEMO_PORT)

test: $(STAMP)
	bash scripts/ensure-debian-deps.sh  # PostGIS etc., once, under a lock (docs/operations.md#tests)
	$(PY) -m pytest -q -n 2 --dist loadgroup

bench: $(STAMP)
	$(PY) -m bench

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix src tests bench
	$(VENV)/bin/ruff format src tests bench

vendor:  # maintainers only: refresh the console's vendored JS/CSS from the npm registry (pinned versions)
	bash scripts/vendor-console.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
