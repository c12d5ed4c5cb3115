#!/usr/bin/env bash
# The README's test command: installs what the tests need, builds, starts the lab of real
# servers, runs every test (unit, command-line, integration against the lab), then builds
# the Debian package, installs it and runs it against the lab (ci/package.sh), and stops
# the lab.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${MAILREADY_BUILD_DIR:-build}

./ci/install-deps.sh
./ci/build.sh

# The labs are stopped again however the tests end; one that was already up is left up.
# ci/lab.sh: one namespace of real servers with a host per defect; ci/deployment.sh: the
# guide's reference deployment (outside, DMZ gateway, directory and mail server inside).
cleanup=""
for lab in lab deployment; do
  if ! "./ci/$lab.sh" status >/dev/null 2>&1; then
    cleanup="$cleanup ./ci/$lab.sh stop >/dev/null 2>&1;"
  fi
done
trap "$cleanup true" EXIT
./ci/lab.sh start
./ci/deployment.sh start

ctest --test-dir "$build" --output-on-failure --timeout 600 "$@"

# The package of what was just tested, installed and run from /usr/bin, while the labs
# are still up (the trap above stops them afterwards).
./ci/package.sh
