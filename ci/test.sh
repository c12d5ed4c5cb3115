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
# The unit tests once more under ASan + UBSan (g++), then every fuzz target for a bounded
# time (clang's libFuzzer, ci/fuzz.sh). MAILREADY_SANITIZERS=0 or MAILREADY_FUZZ=0 skips one.
if [ "${MAILREADY_SANITIZERS:-1}" != 0 ]; then
  san=${MAILREADY_SANITIZER_BUILD_DIR:-build-asan}
  cmake -S . -B "$san" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
    >/dev/null
  cmake --build "$san" -j "$(nproc)" --target unit_tests
  ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 "$san/tests/unit_tests"
fi
if [ "${MAILREADY_FUZZ:-1}" != 0 ]; then
  FUZZ_SECONDS=${FUZZ_SECONDS:-60} FUZZ_DIR=${FUZZ_DIR:-build-fuzz} ./ci/fuzz.sh
fi
