# Quick start: `make run` (broker + controller + simulated fleet + live table), `make test` (everything).
# Both bootstrap what they need: a .venv with pinned Python deps; `make test` also apt-gets the
# Debian packages for Mosquitto and the firmware host build when run as root.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SIMULATE ?= 25
APT_PACKAGES := mosquitto mosquitto-clients python3-venv cmake g++ make pkg-config \
	libmosquitto-dev libcjson-dev libmicrohttpd-dev libcurl4-openssl-dev libssl-dev libgtest-dev chromium chromium-driver prometheus
# Services Debian's prometheus package (there for promtool) enables and starts: Prometheus on :9090
# and the node exporter it recommends on :9100. The tests never use the machine's own services, so
# those this step installs are stopped and disabled at once (where systemd runs; without it the
# package starts neither).
APT_SERVICES := prometheus prometheus-node-exporter
APT_STAMP := $(VENV)/.apt

.PHONY: run test lint unit firmware firmware-test system-deps clean soak

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && apt-get update -q && apt-get install -y -q python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e '.[dev]'
	touch $@

run: $(STAMP)
	$(BIN)/fleet up --simulate $(SIMULATE)

# Debian packages the tests need (Mosquitto, the firmware host build, Chromium, promtool). Installed when
# something is missing and we are root; otherwise the tests fail loudly naming what is missing.
# The stamp holds the list it checked, so adding a package to the list checks again.
system-deps: | $(STAMP)
	@if [ "$$(cat $(APT_STAMP) 2>/dev/null)" != "$(APT_PACKAGES)" ]; then \
	  missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	  if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ]; then \
	    new=$$(for s in $(APT_SERVICES); do dpkg -s $$s >/dev/null 2>&1 || echo $$s; done); \
	    echo "installing: $$missing"; apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	    if [ -d /run/systemd/system ]; then for s in $$new; do \
	      dpkg -s $$s >/dev/null 2>&1 && { systemctl disable --now $$s || true; }; done; fi; \
	  elif [ -n "$$missing" ]; then echo "missing Debian packages (run as root to install): $$missing"; fi; \
	  [ -z "$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done)" ] && echo "$(APT_PACKAGES)" >$(APT_STAMP) || true; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

firmware: system-deps
	$(MAKE) -C firmware host

firmware-test: firmware
	$(MAKE) -C firmware test

test: $(STAMP) system-deps lint firmware-test
	$(BIN)/python -m pytest -q

# A long fault run by hand (not part of `make test`): results in bench/results/soak.md.
# SOAK_PROFILE=cluster: the 3-node NATS cluster with two controllers --ha lease on PostgreSQL, nodes,
# controllers and devices killed at random (bench/results/soak-cluster.md); no fuzzing.
SOAK_S ?= 600
SOAK_PROFILE ?= broker
soak: $(STAMP) system-deps
ifeq ($(SOAK_PROFILE),cluster)
	$(BIN)/python -m tests.faults.soak_cluster --seconds $(SOAK_S)
else
	$(BIN)/python -m tests.faults.soak --seconds $(SOAK_S)
	HYPOTHESIS_PROFILE=soak $(BIN)/python -m pytest -q --timeout 1800 tests/faults -k fuzz  # 3,000 examples each: past the 120 s default
endif

clean:
	rm -rf $(VENV) firmware/build .pytest_cache .mypy_cache .ruff_cache

# Benchmarks, not part of `make test` (about 8 minutes; brokers on ephemeral loopback ports):
# writes bench/results/latest.md and latest.json; needs /usr/sbin/mosquitto (`make system-deps`).
.PHONY: bench
bench: $(STAMP)
	$(BIN)/python -m bench
