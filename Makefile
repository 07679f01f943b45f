# voice-gateway: `make serve` runs the gateway on its embedded defaults; `make test` runs every test.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: serve test bench install clean emulator schema

$(STAMP): pyproject.toml
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "voice-gateway needs Python 3.11+")'
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/voice-gateway serve

emulator: $(STAMP)
	$(BIN)/voice-gateway emulator --port 8090

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python -m bench.run $(BENCH_ARGS)

schema: $(STAMP)
	$(BIN)/voice-gateway policy schema --write policies/policy.schema.json

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
