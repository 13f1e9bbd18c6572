# faxd: make run | make test | make bench | make setup
# Set-up is idempotent: it installs only what is missing and is quick when nothing is.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
# Debian packages faxd needs to build, run and test.
DEB_PACKAGES := gcc make pkg-config python3-dev python3-venv libpq-dev \
	libspandsp-dev libtiff-dev libtiff-tools ghostscript postgresql postgresql-client \
	fonts-dejavu-core curl wrk jq swaks \
	libreoffice-writer-nogui \
	tesseract-ocr tesseract-ocr-eng poppler-utils
INSTALL_STAMP := $(VENV)/.faxd-installed

.PHONY: setup run test bench clean deb-packages

setup: deb-packages $(INSTALL_STAMP)

deb-packages:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	fi
	@pkg-config --exists spandsp || { echo "libspandsp-dev missing: apt-get install libspandsp-dev"; exit 1; }

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip setuptools wheel cffi

$(INSTALL_STAMP): $(VENV)/bin/python setup.cfg setup.py pyproject.toml faxd/spandsp/_build.py $(wildcard faxd/spandsp/cdefs/*.h) $(wildcard faxd/spandsp/*.c)
	$(VENV)/bin/pip install -q -e '.[test]'
	@touch $@

run: setup
	$(VENV)/bin/faxd run

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info faxd/spandsp/*.so
