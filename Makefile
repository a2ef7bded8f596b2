# Weft — the README's two commands are `make demo` and `make test`.
# Both install what they need (scripts/install-deps.sh) before running.

CARGO ?= cargo
CARGO_FLAGS ?= --locked

.PHONY: help deps build demo demo-sim test lint fmt bench bench-micro bench-system bench-smoke clean package package-test fuzz-smoke profiles

help:
	@echo "make demo   - build and run the demo (installs what it needs)"
	@echo "make test   - run the whole test suite (as root: namespace labs; installs what it needs)"
	@echo "make chaos  - the chaos scenarios (scenarios/) in the fabric simulator, reports in target/chaos/"
	@echo "make lint   - rustfmt check, clippy with -D warnings, cargo-deny (deny.toml)"
	@echo "make bench  - criterion micro-benchmarks and whole-system benchmarks, with a summary"
	@echo "make package - target/debian/weft_VERSION_ARCH.deb (release build) and its CycloneDX SBOM"
	@echo "make profiles - the example topology's connection profiles (wg-quick + QR) in target/profiles/"

deps:
	@scripts/install-deps.sh

build:
	$(CARGO) build $(CARGO_FLAGS) --workspace --all-features

# A live lab of 3 sites x 2 uplinks running weftd: paths, a cut uplink, the
# measured interruption, failback (scripts/demo.sh; needs root).
demo: deps
	@scripts/demo.sh

# The path engine's story in the deterministic simulator (no root needed).
demo-sim:
	$(CARGO) run $(CARGO_FLAGS) --release -q -p weft-node --features sim --example story

# Unit, property, simulation and lab tests. The lab tests need root, network
# namespaces and /dev/net/tun; they create uniquely named namespaces and always
# clean up.
test: deps
	$(CARGO) build $(CARGO_FLAGS) --workspace --all-features --all-targets
	$(CARGO) test $(CARGO_FLAGS) --workspace --all-features
	@scripts/api-conformance.sh
	@scripts/check-deploy.sh
	@scripts/fuzz-check.sh
	@$(MAKE) --no-print-directory package-test
	@$(MAKE) --no-print-directory profiles
	@$(MAKE) --no-print-directory bench-smoke
	@$(MAKE) --no-print-directory chaos CHAOS_SEEDS=$(CHAOS_TEST_SEEDS)

# The chaos suite: scenarios (default: all of scenarios/) over CHAOS_SEEDS seeds
# in the deterministic fabric simulator (no root needed). Prints a summary,
# writes target/chaos/report.json and target/chaos/junit.xml, fails if any case
# fails; each failure names the command that replays it. `make test` runs every
# scenario over CHAOS_TEST_SEEDS seeds (20, like `make chaos`: about 25 minutes
# on 2 cores; `make test` as a whole about 45).
CHAOS_SCENARIOS ?= scenarios/*.toml
CHAOS_TEST_SEEDS = 20
CHAOS_SEEDS ?= 20
chaos:
	$(CARGO) build $(CARGO_FLAGS) -p weft
	target/debug/weft sim run $(CHAOS_SCENARIOS) --seeds $(CHAOS_SEEDS) \
		--json target/chaos/report.json --junit target/chaos/junit.xml

# The connection profiles of the example topology (the sites a, b, c of `make demo`) in
# target/profiles/: a lab with agents, `weft profile export` for the example clients
# (wg-quick configurations and QR codes), every file checked, the lab removed
# (scripts/profiles.sh, root; about 2 s once the debug build exists).
profiles:
	$(CARGO) build $(CARGO_FLAGS) --workspace --all-features --all-targets
	@WEFT_BIN=$${CARGO_TARGET_DIR:-target}/debug scripts/profiles.sh

# Every benchmark once, short, on the debug build (SMOKE=1, WEFT_BIN=target/debug): fails
# if a benchmark's path breaks (an agent that does not start, no figures). About 1 minute
# once `cargo build --workspace --all-features --all-targets` has run (as root).
bench-smoke:
	$(CARGO) build $(CARGO_FLAGS) --workspace --all-features --all-targets
	@for b in criterion wan-emulator throughput failover ipsec-failover api leader-failover policy-rollout dns console gateway flood qos latency; do \
	  echo "== bench-smoke: bench/$$b.sh"; \
	  SMOKE=1 WEFT_BIN=$${CARGO_TARGET_DIR:-target}/debug bench/$$b.sh || exit 1; \
	done

# The Debian package (scripts/package.sh): weftd, weft, the hardened unit,
# man pages, completions; the SBOM next to it. PROFILE=debug packages the
# debug build (what `make test` checks).
PROFILE ?= release
package:
	PROFILE=$(PROFILE) scripts/package.sh

# The package installed into a temporary root and run as its unit would, and
# `weft doctor` from it (scripts/package-test.sh, root): about 15 s once the
# debug build exists.
package-test:
	@scripts/package-test.sh

# Every fuzz target of fuzz/ built and run for 5 s (scripts/fuzz.sh; longer:
# scripts/fuzz.sh 180). Not in `make test` (which runs scripts/fuzz-check.sh: the
# targets built plain, 2000 inputs each, about 3.5 min): building the 12 targets with
# AddressSanitizer and coverage instrumentation took 22.5 min from clean
# (11 min of CPU) and about 10 min after a change to weftd, on 2 loaded cores.
fuzz-smoke:
	@scripts/fuzz.sh 5

# Formatting, clippy, and the supply-chain policy of deny.toml (scripts/deny.sh:
# licences, bans, sources; installs cargo-deny once, about 4 min).
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy $(CARGO_FLAGS) --workspace --all-targets --all-features -- -D warnings
	@scripts/deny.sh

fmt:
	$(CARGO) fmt --all

bench: bench-micro bench-system

bench-micro:
	@bench/criterion.sh

bench-system: deps
	@bench/wan-emulator.sh
	@bench/throughput.sh
	@bench/failover.sh
	@bench/api.sh
	@bench/leader-failover.sh
	@bench/policy-rollout.sh
	@bench/dns.sh
	@bench/console.sh
	@bench/latency.sh

clean:
	$(CARGO) clean
