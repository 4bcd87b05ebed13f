# The front door. `make demo` and `make test` are the two commands a newcomer needs.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: setup browser-deps up demo test unit integration lint typecheck proto proto-check bench bench-vision clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip 2>&1 | { grep -v "WARNING: Location" || true; }
	$(PIP) install -q -c constraints.txt -e ".[all,dev,bench]" 2>&1 | { grep -v "WARNING: Location\|BuildBackendWarning\|editable_wheel\|^ *!!\|^ *\*\*\*\|folders in your working\|name as your package\|WheelFile(wheel_path\|^ *$$" || true; }
	touch $(STAMP)

setup: $(STAMP)  ## create .venv and install the project with its `picopt` command

up: setup  ## run every service in the foreground, the processor running jobs one at a time (Ctrl-C stops all)
	$(PY) -m picopt.devstack

demo: setup  ## start the stack, push real images through the API, print the table, stop
	$(PY) -m picopt.demo

browser-deps:  ## Debian's chromium (no downloaded browser) and axe-core for the browser tests
	command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	npm ci --prefix tests/browser --silent --no-audit --no-fund

# Test processes: most of an integration test's time is spent waiting for its own stack (each
# has a private database, vhost and ports), so two processes, each taking whole files, halve
# the wall time on two cores.
TEST_PROCESSES ?= 2

test: setup browser-deps lint typecheck proto-check  ## everything CI runs (JUnit XML for the compliance report)
	$(PY) -m pytest -q -n $(TEST_PROCESSES) --dist loadfile --junitxml=var/reports/pytest.xml

unit: setup
	$(PY) -m pytest -q -m "not integration"

integration: setup
	$(PY) -m pytest -q tests/integration

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy services picopt/kernel picopt/formats picopt/vision_providers.py picopt_cli picopt/demo.py picopt/devstack.py picopt/client.py picopt/samples.py picopt/protocheck.py

proto: setup  ## regenerate Python code from proto/
	$(PY) -m grpc_tools.protoc -I proto --python_out=. --pyi_out=. --grpc_python_out=. $$(find proto -name '*.proto' | sort)
	find picopt -type d -path '*/v1' | while read d; do touch "$$d/__init__.py" "$$(dirname $$d)/__init__.py"; done

proto-check: setup  ## fail when generated code is stale or buf lint complains
	$(VENV)/bin/buf lint proto
	$(PY) -m picopt.protocheck

bench: setup  ## engine benchmark against baselines measured in the same run
	$(PY) -m bench.engine

bench-vision: setup  ## vision quality benchmark
	$(PY) -m bench.vision

clean:
	rm -rf var .pytest_cache .ruff_cache .mypy_cache
