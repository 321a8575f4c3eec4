#!/usr/bin/env bash
# README command 1: set up everything, then run the embedded all-in-one on 127.0.0.1:9517.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
scripts/start-docker.sh
scripts/build-test-image.sh
exec .venv/bin/higgins up "$@"
