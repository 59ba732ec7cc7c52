# Topolab: `make run` installs everything and starts the product; `make test` runs the suite.
SHELL := /bin/bash
APT_PACKAGES := redis-server tcpdump iproute2 iputils-ping chromium procps util-linux libcap2-bin catatonit python3 acl frr dnsmasq-base iperf3
# The test guest (tests/guest/): qemu boots Debian's stock kernel, which has every module
# the seeds' device kinds need; scripts/guest-ensure.sh fetches that kernel into .cache/guest/.
GUEST_APT_PACKAGES := qemu-system-x86 busybox-static cpio kmod
# Only the tests need these: docker-compose validates docker-compose.yml without an engine
# (tests/web/test_compose_file.py).
TEST_APT_PACKAGES := docker-compose
PY := .venv/bin/python

.PHONY: run test deps apt venv frontend guest lint typecheck unit pytest bench clean

deps: apt venv frontend

apt:
	@scripts/apt-ensure.sh $(APT_PACKAGES)

venv: apt
	@scripts/venv-ensure.sh

frontend: apt
	@scripts/frontend-ensure.sh

run: deps
	@scripts/run.sh

guest: apt
	@scripts/apt-ensure.sh $(GUEST_APT_PACKAGES)
	@scripts/guest-ensure.sh

test: deps guest
	@scripts/apt-ensure.sh $(TEST_APT_PACKAGES)
	@scripts/test.sh

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check lab worker tests bench

typecheck: venv
	$(PY) -m mypy lab worker
	.venv/bin/lint-imports

# Every benchmark, each printing ratios against a baseline measured in the same run (as
# root; about 20 minutes). `make bench QUICK=1` runs short versions of each (2-3 minutes).
bench: deps
	$(PY) bench/deploy.py $(if $(QUICK),--sizes 25 50 --repeat 1 --repeat-main 1)
	$(PY) bench/scaling.py $(if $(QUICK),--sizes 50 200 --repeat 1)
	$(PY) bench/live_edit.py $(if $(QUICK),--nodes 100 --repeat 1)
	$(PY) bench/burst.py $(if $(QUICK),--students 10)
	$(PY) bench/fanout.py $(if $(QUICK),--seconds 10 --viewers 20 --labs 5 --spread 50)
	$(PY) bench/memory.py $(if $(QUICK),--labs 5 --bare 50)
	$(PY) bench/consoles.py $(if $(QUICK),--rounds 3 --keys 20)
	$(PY) bench/sandbox.py $(if $(QUICK),--nodes 10 --rounds 3)

clean:
	rm -rf .venv frontend/node_modules frontend/dist var .make .cache
