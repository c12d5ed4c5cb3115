#!/usr/bin/env bash
# The README's first command: installs, builds, starts the bundled lab deployment and runs
# a full check against its good host, printing the report. The lab stays up afterwards so
# you can try other hosts and flags (ci/lab.sh exec build/mailready check ...); stop it
# with ci/lab.sh stop.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${MAILREADY_BUILD_DIR:-build}

./ci/install-deps.sh
./ci/build.sh >/dev/null
./ci/lab.sh start >/dev/null
echo "== mailready check mail.lab.test (inside the lab's network namespace) =="
set +e
lab=${MAILREADY_LAB_DIR:-/tmp/mailready-lab}
./ci/lab.sh exec "$build/mailready" check mail.lab.test --from-inside --imap-starttls \
  --ca-file "$lab/pki/root.pem" \
  --user alice@lab.test --password-file "$lab/secrets/alice.password" "$@"
rc=$?
set -e
echo "== exit code $rc; the lab is still running: ci/lab.sh stop to remove it =="
exit "$rc"
