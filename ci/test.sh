#!/usr/bin/env bash
# The README's test command: installs what the tests need, builds, starts the lab of real
# servers, runs every test (unit, command-line, integration against the lab), stops the lab.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${MAILREADY_BUILD_DIR:-build}

./ci/install-deps.sh
./ci/build.sh

# The lab is stopped again however the tests end; a lab that was already up is left up.
lab_was_up=0
./ci/lab.sh status >/dev/null 2>&1 && lab_was_up=1
[ "$lab_was_up" = 1 ] || trap './ci/lab.sh stop >/dev/null 2>&1 || true' EXIT
./ci/lab.sh start

ctest --test-dir "$build" --output-on-failure --timeout 600 "$@"
