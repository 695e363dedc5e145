# Go Sync. The two commands a new user types: `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
# Debian packages the test suite needs: real Redis servers and redis-cli
# for Redis Cluster; chrony (NTP servers on loopback) and faketime (one of
# them serving a shifted clock) for ntptime.
APT_PACKAGES := redis-server redis-tools chrony faketime
REQUIRED_BINS := redis-server redis-cli chronyd faketime
TEST_TIMEOUT ?= 12m
# The library's packages (and the harness's own tests), run once more by
# `make test` as a Redis ACL user granted only what the README's
# least-privilege section lists; without -race, which the first pass has.
ACL_PACKAGES := . ./redislock ./redisleader ./redistask ./event ./ntptime ./internal/redistest
ACL_TEST = REDIS_REQUIRED=1 GO_SYNC_ACL=1 $(GO) test -short -count=1 -timeout $(TEST_TIMEOUT) $(ACL_PACKAGES)

.PHONY: all test test-acl deps vet demo bench lint soak syncctl

all: test

## deps: install the test dependencies with apt-get when missing (root only)
deps:
	@missing=""; for b in $(REQUIRED_BINS); do command -v $$b >/dev/null 2>&1 || missing="$$missing $$b"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	echo "make: missing$$missing; installing Debian packages: $(APT_PACKAGES)"; \
	if [ "$$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "make: cannot install as non-root or without apt-get. Install them yourself:"; \
		echo "    sudo apt-get install -y $(APT_PACKAGES)"; \
		exit 1; \
	fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	policy=""; if [ ! -e /usr/sbin/policy-rc.d ]; then \
		printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && policy=1; fi; \
	apt-get update -qq && apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; rc=$$?; \
	if [ -n "$$policy" ]; then rm -f /usr/sbin/policy-rc.d; fi; \
	[ $$rc -eq 0 ] || exit 1; \
	for b in $(REQUIRED_BINS); do command -v $$b >/dev/null 2>&1 || { echo "make: $$b still missing after apt-get"; exit 1; }; done

## vet: go vet over the library, the metrics, otelsync and bench modules
vet:
	$(GO) vet ./...
	cd metrics && $(GO) vet ./...
	cd bench && $(GO) vet ./...
	cd otelsync && $(GO) vet ./...

## test: what CI runs: install Redis when missing, vet, the whole suite (library, metrics and otelsync modules) under -race against real servers, then the library's packages again as a least-privilege ACL user
test: deps vet
	REDIS_REQUIRED=1 $(GO) test -race -short -count=1 -timeout $(TEST_TIMEOUT) ./...
	cd metrics && REDIS_REQUIRED=1 $(GO) test -race -short -count=1 -timeout $(TEST_TIMEOUT) ./...
	cd otelsync && REDIS_REQUIRED=1 $(GO) test -race -short -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(ACL_TEST)

## test-acl: the library's packages as a Redis ACL user limited to the README's commands and <prefix>:* keys and channels
test-acl: deps
	$(ACL_TEST)

## soak: the fault and safety tests with long budgets (minutes each)
soak: deps
	REDIS_REQUIRED=1 GO_SYNC_SOAK=1 $(GO) test -race -count=1 -timeout 90m -run 'Safety|Fault' -v ./... 2>&1 | tee /tmp/go-sync-soak.log; \
	test $${PIPESTATUS[0]} -eq 0 && grep -q -- '--- PASS: TestSafety' /tmp/go-sync-soak.log && grep -q -- '--- PASS: TestFault' /tmp/go-sync-soak.log

## demo: the showcase on an embedded miniredis (REDIS_URL=redis://host:port/db for a real server)
demo:
	$(GO) run ./cmd/syncdemo

## syncctl: build the operator CLI into bin/syncctl (bin/syncctl --help)
syncctl:
	$(GO) build -o bin/syncctl ./cmd/syncctl

## bench: ours against the peers, on redis-servers the benchmark starts itself
bench: deps
	cd bench && $(GO) run . $(BENCHFLAGS)

## lint: go vet plus staticcheck
lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	cd metrics && $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	cd bench && $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	cd otelsync && $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
