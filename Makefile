# Topolab: `make run` installs everything and starts the product; `make test` runs the suite.
SHELL := /bin/bash
APT_PACKAGES := redis-server tcpdump iproute2 iputils-ping chromium procps util-linux libcap2-bin catatonit python3 acl frr dnsmasq-base iperf3
# The test guest (tests/guest/): qemu boots Debian's stock kernel, which has every module
# the seeds' device kinds need; scripts/guest-ensure.sh fetches that kernel into .cache/guest/.
GUEST_APT_PACKAGES := qemu-system-x86 busybox-static cpio kmod
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
	@scripts/test.sh

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check lab worker tests bench

typecheck: venv
	$(PY) -m mypy lab worker

bench: deps
	$(PY) bench/deploy.py

clean:
	rm -rf .venv frontend/node_modules frontend/dist var .make .cache
