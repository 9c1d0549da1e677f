# sagemaker-userprofile-operator — every target sets up what it needs, from a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
DEMO_ARGS ?=

##@ General
.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z0-9_-]+:.*?##/ { printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Set-up
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is needed" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

.PHONY: venv
venv: $(STAMP) ## Create .venv/ and install the package with its dev tools

.PHONY: tools
tools: promtool ## Build etcd, kube-apiserver, helm and promtool from pinned Go modules (cached under ~/.cache)
	hack/control-plane.sh ensure

.PHONY: promtool
promtool: ## Build promtool from its pinned Go module (cached under ~/.cache): the chart's alerts are tested with it
	hack/promtool.sh ensure

##@ Development
.PHONY: crd
crd: venv tools ## Regenerate crds/ and the admission policies (the chart's files/admission/) from the vendored CloudFormation schemas, then the chart's copies, deploy/kustomize/ and deploy/iam/
	$(BIN)/userprofile-operator crd --output-dir crds --policies-dir deploy/helm/sagemaker-userprofile-operator/files/admission
	deploy/render-kustomize.sh
	$(BIN)/python deploy/iam/render.py

.PHONY: lint
lint: venv ## ruff, mypy and the import contracts
	$(BIN)/ruff check operator tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

.PHONY: test-unit
test-unit: venv promtool ## Unit tests and the emulator's conformance suite (seconds)
	$(BIN)/python -m pytest tests/unit tests/conformance -q $(PYTEST_ARGS)

.PHONY: test-e2e
test-e2e: venv tools ## End-to-end tests against a real API server and the emulator
	$(BIN)/python -m pytest tests/e2e -q -m 'not chaos' $(PYTEST_ARGS)

.PHONY: test
test: venv tools lint test-unit test-e2e test-chaos-short test-node bench-quick ## Everything CI runs: lint, unit, conformance, e2e, short chaos, the node, quick bench

.PHONY: node
node: ## Build kubelet, kube-controller-manager, kube-scheduler, containerd, runc and pause (cached under ~/.cache)
	hack/node.sh ensure

.PHONY: test-node
test-node: venv tools node image ## Tests on a real node (kubelet + containerd; needs root): pods from our image
	$(BIN)/python -m pytest tests/node -q -m node $(PYTEST_ARGS)

.PHONY: test-chaos-short
test-chaos-short: venv tools ## Chaos tests, one round each (about 3 minutes)
	CHAOS_ROUNDS=1 $(BIN)/python -m pytest tests/chaos -q -m chaos $(PYTEST_ARGS)

.PHONY: chaos
chaos: venv tools ## Chaos tests, long: more rounds, more profiles
	CHAOS_ROUNDS=5 CHAOS_PROFILES=100 $(BIN)/python -m pytest tests/chaos -q -m chaos $(PYTEST_ARGS)

##@ Benchmarks
.PHONY: bench
bench: venv tools ## Full benchmark, 30 minutes at most: bench/results/latest.{md,json}
	$(BIN)/python -m bench.run

.PHONY: bench-quick
bench-quick: venv tools ## The same scenarios, small (under 3 minutes; CI runs it so it never rots)
	$(BIN)/python -m bench.run --quick

##@ Run
.PHONY: demo
demo: venv tools ## Local control plane + emulator + operator + examples, then show the result (Ctrl-C stops)
	$(BIN)/userprofile-operator demo $(DEMO_ARGS)

.PHONY: demo-node
demo-node: venv tools node image ## The full thing on a real node (root): the chart's pods from our image, the examples (Ctrl-C stops)
	$(BIN)/python -m tests.support.demo_node $(DEMO_ARGS)

##@ Image and release
IMAGE_ARCHIVE ?= dist/sagemaker-userprofile-operator.tar

.PHONY: image
image: ## Build the image from deploy/Dockerfile with buildah on Debian bases (no Docker, no pull); IMAGE=... names it
	hack/image.sh build

.PHONY: image-verify
image-verify: ## Smoke-test the built image: uid 65532 without passwd entry, read-only root, no compiling at start
	hack/image.sh verify

.PHONY: image-archive
image-archive: ## Build, then write a docker-archive tar to IMAGE_ARCHIVE (for ctr/kind/docker load)
	hack/image.sh archive $(IMAGE_ARCHIVE)

.PHONY: lint-workflows
lint-workflows: ## actionlint on .github/workflows (built once from hack/tools/actionlint)
	hack/actionlint.sh
