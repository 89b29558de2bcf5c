# slipway.cloud: every set-up, test, lint, demo and benchmark step, runnable on a fresh Debian 12.
#
#   make demo    show what the collection does (installs what it needs first)
#   make test    everything: unit, integration, molecule, ansible-test sanity, ansible-lint,
#                build + offline install + ansible-doc
#   make lint    ansible-lint --profile production, antsibull-changelog lint, shellcheck of .ci/
#   make bench   every benchmarks/bench_*.py
#   make matrix  unit + smoke tests under every supported ansible-core (2.18-2.21), sanity of the newest
#   make setup   only the set-up (apt packages, .venv); the targets above call it
#   also: unit, integration, modules-adhoc, molecule, sanity, build-check (single stages), install, where, clean
#
# Tests run against a copy of the tracked (and untracked-but-not-ignored) files at a real
# $(BUILD)/ansible_collections/slipway/cloud path, which ansible-test requires and which is
# exactly what a user gets from git (`make where` prints it).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# Base interpreter for the venv: Debian 12's python3 is 3.11, the newest ansible-core 2.19 supports.
PYTHON ?= python3.11
VENV ?= $(CURDIR)/.venv
# The copy lives outside the checkout: ansible-test and ansible-lint look for a .git in every
# parent directory and, finding this repository's, would list only its files (none under an
# ignored build/). One build directory per checkout.
BUILD ?= $(HOME)/.cache/slipway.cloud/tooling/build-$(shell printf %s "$(CURDIR)" | sha256sum | cut -c1-8)
COLLECTION := $(BUILD)/ansible_collections/slipway/cloud
STAGES := $(BUILD)/stages.txt
BIN := $(VENV)/bin

# Host packages the tests need. One list: add yours here (one per line keeps diffs small).
#   python3-venv, python3-dev  the venv and packages that compile
#   git, rsync                 the copy at ansible_collections/slipway/cloud
#   shellcheck                 ansible-test sanity's shellcheck test (runs on *.sh files)
APT_PACKAGES ?= \
	python3-venv \
	python3-dev \
	gcc \
	git \
	rsync \
	shellcheck

# Extra arguments, e.g. make test PYTEST_ARGS='-x -k catalog'
PYTEST_ARGS ?=
# ansible-test sanity: `make sanity SANITY_ARGS='--test pylint'`
SANITY_ARGS ?=

REQ_HASH := $(shell cat requirements.txt requirements-matrix.txt requirements-test.txt 2>/dev/null | sha256sum | cut -c1-16)
VENV_STAMP := $(VENV)/.slipway-requirements-$(REQ_HASH)
STAGE := $(CURDIR)/.ci/stage $(STAGES)

# Some machines list package-index folders that do not exist: pip warns once per package.
PIP_NOISE := is ignored: it is neither a file nor a directory

export PATH := $(BIN):$(PATH)
export PYTHONDONTWRITEBYTECODE := 1
# The copy comes first, so ansible, ansible-doc and ansible-playbook use this checkout's code.
export ANSIBLE_COLLECTIONS_PATH := $(BUILD)

.PHONY: help setup apt venv get-pip openstack-venv collection demo test unit integration modules-adhoc molecule sanity lint lint-check \
	changelog-lint build-check bench matrix matrix-check install where clean distclean

help:
	@sed -n '1,15p' Makefile | sed 's/^# \{0,1\}//'

## ---------------------------------------------------------------- set-up

setup: apt venv get-pip openstack-venv

# Installs only what is missing, so a second run costs a dpkg query.
apt:
	@missing=""; \
	for pkg in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${db:Status-Status}' "$$pkg" 2>/dev/null | grep -qx installed || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "apt-get install:$$missing"; \
		sudo=""; [ "$$(id -u)" -eq 0 ] || sudo="sudo"; \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# The stamp's name carries a hash of the requirements files: editing them reinstalls.
venv: $(VENV_STAMP)

$(VENV_STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip 2>&1 | { grep -v "$(PIP_NOISE)" || true; }
	$(BIN)/python -m pip install --quiet -r requirements-test.txt 2>&1 | { grep -v "$(PIP_NOISE)" || true; }
	@rm -f $(VENV)/.slipway-requirements-*
	@touch $@

# ansible-test would download get-pip from a host this machine cannot reach.
get-pip: venv
	@$(BIN)/python .ci/get_pip_standin.py --install >/dev/null

# The loopback OpenStack's services (tests/support/openstack_loopback): a venv of their own made with $(PYTHON),
# cached outside the clone by the hash of tests/support/openstack_loopback/constraints.txt (a hit costs a stat).
# A machine that cannot install them (no package index...) gets a warning and the tests skip; CI fails.
openstack-venv: venv
	@cd tests && $(BIN)/python -m support.openstack_loopback --python $(PYTHON) install >/dev/null

## ---------------------------------------------------------------- the copy

# Mirror the files git knows about (tracked, or untracked and not ignored) into the copy;
# delete what is no longer there, but keep tests/output (ansible-test's cached delegation venv).
# go-w: a checkout made under umask 002 would give group-writable catalog files, which the collection
# refuses (docs/catalog.md, "Who may write a layer"); the copy has the modes an install gives.
collection:
	@mkdir -p $(COLLECTION)
	@export LC_ALL=C; git ls-files -co --exclude-standard -z \
		| while IFS= read -r -d '' f; do if [ -e "$$f" ] || [ -L "$$f" ]; then printf '%s\0' "$$f"; fi; done \
		| sort -z > $(BUILD)/files.list
	@rsync -a --chmod=go-w --from0 --files-from=$(BUILD)/files.list ./ $(COLLECTION)/
	@export LC_ALL=C; cd $(COLLECTION) && find . \( -type f -o -type l \) ! -path './tests/output/*' -printf '%P\0' \
		| sort -z | comm -z -23 - $(BUILD)/files.list | xargs -0r rm -f
	@cd $(COLLECTION) && find . -mindepth 1 -type d -empty ! -path './tests/output*' -delete

## ---------------------------------------------------------------- the targets

# The hook for the tutorial: `make demo` runs playbooks/demo.yml from the copy.
# The report callback writes the run table, a JSON file and an HTML page (DEMO_REPORT_DIR).
DEMO_REPORT_DIR ?= $(CURDIR)/report
demo: setup collection
	cd $(COLLECTION) && ANSIBLE_LOCALHOST_WARNING=false \
		ANSIBLE_CALLBACKS_ENABLED=slipway.cloud.deploy_report SLIPWAY_REPORT_DIR=$(DEMO_REPORT_DIR) \
		ansible-playbook playbooks/demo.yml

# Every stage runs even if an earlier one failed (-k); the exit status is non-zero if any did.
# The ansible-core matrix runs beside the other stages (its log is printed at the end), one core at a
# time, 2.20's smoke tests only, and without 2.19 on Python 3.11, the core every other stage runs on
# (`make matrix` runs it all). TEST_MATRIX_* change that, e.g. make test TEST_MATRIX="" to leave it out.
TEST_MATRIX ?= $(filter-out 2.19:%,$(MATRIX))
TEST_MATRIX_SMOKE_ONLY ?= 2.20
test:
	@mkdir -p $(BUILD) && rm -f $(STAGES) $(BUILD)/junit-*.xml
	@$(STAGE) setup $(MAKE) setup collection || { echo; echo "== stages"; cat $(STAGES); exit 1; }
	@status=0; matrix=""; \
	if [ -n "$(TEST_MATRIX)" ]; then \
		COLLECTION=$(COLLECTION) BUILD=$(BUILD) STAGES=$(STAGES) MATRIX="$(TEST_MATRIX)" MATRIX_SANITY="$(MATRIX_SANITY)" \
			MATRIX_SMOKE_ONLY="$(TEST_MATRIX_SMOKE_ONLY)" MATRIX_JOBS=1 MATRIX_CACHE=$(MATRIX_CACHE) \
			.ci/matrix > $(BUILD)/matrix.log 2>&1 & matrix=$$!; \
	fi; \
	$(MAKE) -k unit integration modules-adhoc molecule sanity lint-check build-check || status=$$?; \
	if [ -n "$$matrix" ]; then wait $$matrix || status=1; echo; echo "== the ansible-core matrix"; \
		cat $(BUILD)/matrix.log; fi; \
	echo; echo "== stages"; cat $(STAGES); exit $$status

unit: setup collection
	@cd $(COLLECTION) && $(STAGE) unit python -m pytest -p no:cacheprovider -q -rfE \
		--junitxml=$(BUILD)/junit-unit.xml tests/unit $(PYTEST_ARGS)

# Three sessions at once, one per part of tests/integration (tests/conftest.py, --part): the tests on real
# local machines, which mostly wait (machines booting, apt, SSH), those on the loopback OpenStack, and those
# on the other API servers of loopback (moto, the Exoscale test server). Each writes its own log and junit
# file; the logs are printed when all are done. Exit status 5 ("no tests collected") counts as success.
INTEGRATION_PYTEST := python -m pytest -p no:cacheprovider -q -rfE
INTEGRATION_PARTS := machines openstack apis
integration: setup collection
	@mkdir -p $(COLLECTION)/tests/integration
	@cd $(COLLECTION) && $(STAGE) integration bash -c ' \
		pids=""; for part in $(INTEGRATION_PARTS); do \
			$(INTEGRATION_PYTEST) --part=$$part --junitxml=$(BUILD)/junit-integration-$$part.xml \
				tests/integration $(PYTEST_ARGS) > $(BUILD)/integration-$$part.log 2>&1 & pids="$$pids $$part:$$!"; \
		done; \
		status=0; for entry in $$pids; do \
			wait $${entry#*:}; rc=$$?; [ $$rc -eq 5 ] && rc=0; [ $$rc -eq 0 ] || status=1; \
			echo "== integration, tests on $${entry%%:*} (exit $$rc)"; cat $(BUILD)/integration-$${entry%%:*}.log; \
		done; exit $$status'

# Modules run on localhost through pytest-ansible's ansible_module fixture, inside the pytest process:
# a session of its own, run from tests/modules_adhoc (no galaxy.yml there: pytest-ansible links nothing)
# with --confcutdir=. so that tests/conftest.py's alias of the engine stays out of it (its conftest.py
# says why). Includes one real local machine (marker local_machines).
modules-adhoc: setup collection
	@cd $(COLLECTION)/tests/modules_adhoc && $(STAGE) modules-adhoc python -m pytest -p no:cacheprovider \
		-p pytest_ansible.plugin --confcutdir=. -q -rfE --junitxml=$(BUILD)/junit-modules-adhoc.xml . $(PYTEST_ARGS)

# Every role's molecule scenarios (roles/<role>/molecule/<scenario>), collected as pytest items by
# pytest-ansible's molecule support (one `molecule test -s <scenario>` each, machines from the local
# cloud), and the users' roles made from nothing in tests/molecule. Run from roles/, which has no
# galaxy.yml: there pytest-ansible leaves the collection's import path alone. Its molecule support is
# deprecated upstream (README.md, "What make test runs"): the warning saying so is silenced here.
MOLECULE_PYTEST := python -m pytest -p no:cacheprovider -p pytest_ansible.plugin --molecule -q -rfE \
	-W 'ignore:Running Molecule scenarios via pytest-ansible is deprecated:DeprecationWarning'
molecule: setup collection
	@cd $(COLLECTION)/roles && $(STAGE) molecule $(MOLECULE_PYTEST) --junitxml=$(BUILD)/junit-molecule.xml \
		. ../tests/molecule $(PYTEST_ARGS)

# No ignore or skip files: the collection passes sanity as it is (a rule of the project).
# --venv: ansible-test makes its own venvs with the exact tool versions each test pins
# (cached under ~/.ansible/test/venv); --requirements lets it install them.
sanity: setup collection
	@cd $(COLLECTION) && if compgen -G 'tests/sanity/ignore-*.txt' >/dev/null || compgen -G 'tests/sanity/skip-*.txt' >/dev/null; then \
		echo "tests/sanity holds ignore/skip files; fix the findings instead:"; ls tests/sanity; \
		echo "sanity                 FAIL (ignore file)" >> $(STAGES); exit 1; fi
	@cd $(COLLECTION) && $(STAGE) sanity ansible-test sanity --venv --requirements --python 3.11 \
		--color no $(SANITY_ARGS)

lint: setup collection
	@rm -f $(STAGES)
	@status=0; $(MAKE) -k lint-check || status=$$?; cat $(STAGES); exit $$status

# shellcheck for the scripts ansible-test's shellcheck test does not see (it checks *.sh only).
lint-check: setup collection
	@cd $(COLLECTION) && $(STAGE) changelog-lint antsibull-changelog lint
	@cd $(COLLECTION) && $(STAGE) shellcheck shellcheck .ci/run .ci/stage .ci/build_check .ci/matrix
	@cd $(COLLECTION) && $(STAGE) ansible-lint ansible-lint --offline --profile production --nocolor

# Build the tarball, install it offline into a scratch path and render every module's docs
# from that install: what `ansible-galaxy collection install` users would get.
build-check: setup collection
	@$(STAGE) build-install .ci/build_check $(COLLECTION) $(BUILD)

# Every supported ansible-core in a venv of its own (cached under MATRIX_CACHE, keyed by a hash of
# requirements.txt + requirements-matrix.txt, the core and the interpreter): unit tests, the smoke tests
# of tests/matrix and the inventory plugin on the EC2 API server; ansible-test sanity for the newest.
# .ci/matrix says what each variable does; e.g. make matrix MATRIX="2.21:3.13" MATRIX_JOBS=1.
MATRIX ?= 2.18:3.11 2.19:3.11 2.20:3.12 2.21:3.13
MATRIX_SANITY ?= 2.21
MATRIX_SMOKE_ONLY ?=
MATRIX_JOBS ?= 2
MATRIX_CACHE ?= $(HOME)/.cache/slipway.cloud/tooling/matrix
matrix: setup collection
	@rm -f $(STAGES)
	@status=0; $(MAKE) matrix-check || status=$$?; echo; echo "== stages"; cat $(STAGES); exit $$status

# The matrix's stages alone, adding to the stage list (.ci/run runs it after `make test`).
matrix-check: setup collection
	@COLLECTION=$(COLLECTION) BUILD=$(BUILD) STAGES=$(STAGES) MATRIX="$(MATRIX)" MATRIX_SANITY="$(MATRIX_SANITY)" \
		MATRIX_SMOKE_ONLY="$(MATRIX_SMOKE_ONLY)" MATRIX_JOBS=$(MATRIX_JOBS) MATRIX_CACHE=$(MATRIX_CACHE) .ci/matrix

# Build the tarball and install it where ansible looks by default (~/.ansible/collections),
# so your own playbooks and `ansible localhost -m slipway.cloud.image_info` find it.
install: setup collection
	ansible-galaxy collection build $(COLLECTION) --output-path $(BUILD)/dist --force
	ANSIBLE_COLLECTIONS_PATH=$(HOME)/.ansible/collections ansible-galaxy collection install --offline --force \
		$(BUILD)/dist/slipway-cloud-$$(sed -n 's/^version: *//p' galaxy.yml).tar.gz

# Benchmarks import the engine as ansible_collections.slipway.cloud... from the copy.
bench: setup collection
	@export PYTHONPATH=$(BUILD); cd $(COLLECTION) && shopt -s nullglob && benches=(benchmarks/bench_*.py) && \
	if [ $${#benches[@]} -eq 0 ]; then echo "no benchmarks/bench_*.py yet"; exit 0; fi && \
	status=0 && for b in "$${benches[@]}"; do echo "== $$b"; python "$$b" || status=1; done; exit $$status

where:
	@echo $(COLLECTION)

clean:
	rm -rf $(BUILD) tests/output .pytest_cache .hypothesis

distclean: clean
	rm -rf $(VENV) $(MATRIX_CACHE)
