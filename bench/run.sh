#!/usr/bin/env bash
# The benchmark (not part of ctest): builds, starts the lab if it is not up, and runs
# bench/bench.py inside the lab's namespace. Arguments go to bench.py:
#   bench/run.sh [--runs N] [--baseline OTHER_BINARY] [--callgrind] [--json FILE]
# or, with --fleet first, to bench/fleet.py (the fleet and the exporter, issue 10):
#   bench/run.sh --fleet [--skip-exporter]
set -euo pipefail
cd "$(dirname "$0")/.."
./ci/install-deps.sh
./ci/build.sh >/dev/null
started=0
if ! ./ci/lab.sh status >/dev/null 2>&1; then
  ./ci/lab.sh start >/dev/null
  started=1
fi
trap '[ "$started" = 1 ] && ./ci/lab.sh stop >/dev/null 2>&1' EXIT
if [ "${1:-}" = --fleet ]; then
  shift
  ./ci/lab.sh exec /usr/bin/python3 bench/fleet.py --binary "${MAILREADY_BUILD_DIR:-build}/mailready" "$@"
else
  ./ci/lab.sh exec /usr/bin/python3 bench/bench.py "$@"
fi
