#!/usr/bin/env bash
# Checks deploy/: Prometheus rules (`promtool check rules`, `promtool test
# rules` on deploy/prometheus/*_test.yml) and the Grafana dashboards
# (scripts/check-dashboards.py: structure, and metric names against
# deploy/metrics.txt). Takes a second; `make test` runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v promtool >/dev/null || { echo "promtool missing: run scripts/install-deps.sh" >&2; exit 1; }
rules=$(ls deploy/prometheus/*.yml | grep -v '_test\.yml$')
promtool check rules $rules
promtool test rules deploy/prometheus/*_test.yml
python3 scripts/check-dashboards.py .
