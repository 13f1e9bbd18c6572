# faxd: make run | make test | make bench | make setup
# Set-up is idempotent: it installs only what is missing and is quick when nothing is.

SHELL := /bin/bash
# The interpreter: PYTHON=python3.13 (a name or a path). A name that does not run here (not on
# PATH, or a pyenv shim of a version that is not pyenv's global one) is taken from pyenv's
# versions. Unset: python3.11, else python3, in .venv; a PYTHON given gets its own .venv-X.Y,
# so `make test PYTHON=python3.13` leaves .venv alone.
find_python = $(shell for c in $(1) $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/*/bin/$(1) 2>/dev/null | sort -rV); do \
	p=$$(command -v "$$c" 2>/dev/null) && "$$p" -c "" 2>/dev/null && { echo "$$p"; break; }; done)
ifeq ($(origin PYTHON),undefined)
PYTHON_EXE := $(or $(call find_python,python3.11),$(call find_python,python3))
VENV := .venv
else
PYTHON_EXE := $(call find_python,$(PYTHON))
ifeq ($(PYTHON_EXE),)
$(error faxd: no Python '$(PYTHON)' on PATH or under pyenv's versions)
endif
VENV := .venv-$(shell $(PYTHON_EXE) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
endif
PY := $(VENV)/bin/python
# Debian packages faxd needs to build, run and test.
DEB_PACKAGES := gcc make pkg-config python3-dev python3-venv libpq-dev \
	libspandsp-dev libtiff-dev libtiff-tools ghostscript postgresql postgresql-client \
	autoconf automake libtool libjpeg-dev \
	fonts-dejavu-core curl wrk jq swaks libnet-ssleay-perl util-linux passwd \
	libreoffice-writer-nogui \
	tesseract-ocr tesseract-ocr-eng poppler-utils hylafax-server iaxmodem systemd \
	chromium chromium-driver tmux
INSTALL_STAMP := $(VENV)/.faxd-installed
# Which spandsp the bindings are built against: empty for Debian's libspandsp-dev 0.0.6, or the
# prefix spandsp 3.x was installed under (FreeSWITCH's from source: /usr/local). See docs/spandsp.md.
FAXD_SPANDSP_PREFIX ?=
export FAXD_SPANDSP_PREFIX
# The bindings are rebuilt when the choice changes: this file holds the last one.
SPANDSP_CHOICE := $(VENV)/.faxd-spandsp-prefix
ifneq ($(wildcard $(SPANDSP_CHOICE)):$(shell cat $(SPANDSP_CHOICE) 2>/dev/null),$(SPANDSP_CHOICE):$(FAXD_SPANDSP_PREFIX))
$(shell mkdir -p $(VENV) && echo '$(FAXD_SPANDSP_PREFIX)' > $(SPANDSP_CHOICE))
endif

.PHONY: setup run test bench clean deb-packages sandbox-user

setup: deb-packages sandbox-user $(INSTALL_STAMP)

# Converters (Ghostscript, LibreOffice) never run as root: a root faxd runs them as this
# unprivileged system user (faxd also creates it on demand). See docs/documents.md.
SANDBOX_USER := faxd-convert
sandbox-user:
	@if [ "$$(id -u)" = 0 ] && ! id -u $(SANDBOX_USER) >/dev/null 2>&1; then \
	  echo "creating the system user $(SANDBOX_USER)"; \
	  useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin $(SANDBOX_USER); \
	fi

# hylafax-server (the interop tests' far end, in a private spool) runs faxsetup on install unless
# /etc/hylafax/setup.cache exists, and faxsetup stops every process named like "faxd": the cache
# is written first, so installing it never stops a running faxd.
deb-packages:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
	  case "$$missing" in *hylafax-server*) \
	    $$SUDO mkdir -p /etc/hylafax; \
	    $$SUDO grep -qs "^BASE64ENCODE=" /etc/hylafax/setup.cache || \
	      printf "UUENCODE='none'\nMIMENCODE='none'\nBASE64ENCODE='none'\n" | $$SUDO tee -a /etc/hylafax/setup.cache >/dev/null;; \
	  esac; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	fi
	@pkg-config --exists spandsp || { echo "libspandsp-dev missing: apt-get install libspandsp-dev"; exit 1; }

$(VENV)/bin/python:
	@test -n "$(PYTHON_EXE)" || { echo "faxd: no Python '$(or $(PYTHON),python3.11)' on PATH or under pyenv"; exit 1; }
	$(PYTHON_EXE) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip setuptools wheel cffi

$(INSTALL_STAMP): $(VENV)/bin/python $(SPANDSP_CHOICE) setup.cfg setup.py pyproject.toml faxd/spandsp/_build.py $(wildcard faxd/spandsp/cdefs/*.h) $(wildcard faxd/spandsp/*.c)
	$(VENV)/bin/pip install -q -e '.[test]'
	@touch $@

run: setup
	$(VENV)/bin/faxd run

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf .venv .venv-* build dist *.egg-info faxd/spandsp/*.so
