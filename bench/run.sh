#!/usr/bin/env bash
# The benchmark (not part of ctest): builds, starts the lab if it is not up, and runs
# bench/bench.py inside the lab's namespace. Arguments go to bench.py:
#   bench/run.sh [--runs N] [--baseline OTHER_BINARY] [--callgrind] [--json FILE]
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
./ci/lab.sh exec /usr/bin/python3 bench/bench.py "$@"
