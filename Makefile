# voice-gateway: `make serve` runs the gateway on its embedded defaults; `make test` runs every test.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: serve test typecheck bench bench-peers bench-tools bench-handoff bench-throughput install clean emulator schema browser prometheus

# setup.py builds the optional compiled hot-path helpers (gateway/core/b64span.pyx, hotgate.pyx, gateway/upstream/hotlisten.pyx) at install
$(STAMP): pyproject.toml setup.py gateway/core/b64span.pyx gateway/core/hotgate.pyx gateway/core/hotgate.pxd gateway/core/b64_alphabet.h gateway/upstream/hotlisten.pyx
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

test: $(STAMP) browser prometheus typecheck
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# mypy with the pydantic plugin over gateway/ and routers/ (strict for core, relay, routers; see pyproject.toml)
typecheck: $(STAMP)
	$(BIN)/python -m mypy

# The browser tests (admin page, WebRTC demo) drive Debian's headless Chromium; install it when we
# can (root with apt-get). Without it those tests skip loudly, except in CI (CI=true), where they fail.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  echo "make: chromium is not installed; browser tests will be skipped (they fail in CI)"; }

# The chart's alert tests run Debian's promtool and Prometheus (package `prometheus`); installed like
# chromium. Without them those tests skip loudly, except in CI, where they fail.
prometheus:
	@command -v promtool >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null) || \
	  echo "make: promtool/prometheus are not installed; alert tests will be skipped (they fail in CI)"; }

bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# the same run plus the gateways users would otherwise pick: Portkey's (npm; needs Node.js) and LiteLLM's proxy
# (PyPI, in its own venv); both are installed on first use under bench/.peers/
bench-peers: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python -m bench.run --peers portkey,litellm $(BENCH_ARGS)

schema: $(STAMP)
	$(BIN)/voice-gateway policy schema --write policies/policy.schema.json

bench-tools: $(STAMP)
	$(BIN)/python -m bench.tools $(BENCH_ARGS)

# the switch gap of a mid-session handoff (docs/handoff.md): p50/p99 over 60 switches
bench-handoff: $(STAMP)
	$(BIN)/python -m bench.handoff $(BENCH_ARGS)

bench-throughput: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.throughput

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info gateway/core/b64span.c gateway/core/b64span.*.so
