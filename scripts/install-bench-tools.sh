#!/usr/bin/env bash
# Tools the benchmarks use that Higgins does not (py-spy for `higgins bench hops --py-spy`), in
# a pinned venv of their own at /var/lib/higgins-bench. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/pinned-venv.sh /var/lib/higgins-bench scripts/bench-tools/requirements.lock
