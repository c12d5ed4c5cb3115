#!/usr/bin/env bash
# Builds the Debian package from the build in build/ (or $MAILREADY_BUILD_DIR), checks it
# (lintian, no build paths inside), installs it on this machine with apt-get, runs the
# installed mailready against the lab (one check from /usr/bin, the exporter with a
# password from $CREDENTIALS_DIRECTORY), checks the man page, the bash completion and the
# systemd unit (systemd-analyze verify and security; every system call the exporter made
# is one the unit's SystemCallFilter= allows), then purges the package again.
# Leaves the package in $MAILREADY_PACKAGE_DIR (default: build/package), with what it
# measured: lintian.log, verify.log, security.log, syscalls.txt, files.txt. Needs root.
# ci/test.sh runs it after the tests; it starts the lab if it is down, and stops it again
# only then.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${MAILREADY_BUILD_DIR:-build}
out=${MAILREADY_PACKAGE_DIR:-$build/package}
lab=${MAILREADY_LAB_DIR:-/tmp/mailready-lab}
started=$(date +%s)

step() { printf '== package: %s\n' "$*"; }
fail() {
  printf 'package: FAILED: %s\n' "$*" >&2
  exit 1
}

[ -f "$build/CPackConfig.cmake" ] || ./ci/build.sh >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null

# Whatever happens below, the package is gone again afterwards and a lab this script
# started is stopped.
work=$(mktemp -d /tmp/mailready-package.XXXXXX)
exporter_pid=""
lab_started=0
cleanup() {
  if [ -n "$exporter_pid" ]; then
    tracee=$(pgrep -P "$exporter_pid" || true)
    [ -n "$tracee" ] && kill -KILL "$tracee" 2>/dev/null
    kill -KILL "$exporter_pid" 2>/dev/null || true
  fi
  if dpkg-query -W -f='${Status}' mailready 2>/dev/null | grep -q "ok installed"; then
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq mailready >/dev/null 2>&1 || true
  fi
  [ "$lab_started" = 1 ] && ./ci/lab.sh stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

step "cpack"
rm -rf "$out"
cpack --config "$build/CPackConfig.cmake" -B "$out" >"$work/cpack.log" 2>&1 ||
  { cat "$work/cpack.log" >&2; fail "cpack"; }
debs=("$out"/mailready_*.deb)
[ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ] || fail "expected one mailready_*.deb in $out"
deb=$(realpath "${debs[0]}")
version=$(dpkg-deb -f "$deb" Version)
project_version=$(sed -n 's/^project(mailready VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
[[ $version == "$project_version"-* ]] || fail "package version $version is not the project's $project_version"
printf '%s: %s bytes, version %s\n  Depends: %s\n' "$(basename "$deb")" "$(stat -c %s "$deb")" \
  "$version" "$(dpkg-deb -f "$deb" Depends)"

step "no build paths inside"
dpkg-deb -x "$deb" "$work/root"
for path in "$(realpath .)" "$(realpath "$build")"; do
  if grep -rlaF -- "$path" "$work/root" >"$work/paths"; then
    cat "$work/paths" >&2
    fail "the package names the build machine's $path"
  fi
done
file "$work/root/usr/bin/mailready" | grep -q "stripped" && ! file "$work/root/usr/bin/mailready" | grep -q "not stripped" ||
  fail "/usr/bin/mailready is not stripped"

step "lintian"
# lintian warns when run as root, so it runs as nobody, on a copy it can read wherever
# the checkout is.
chmod 0755 "$work"
install -m 0644 "$deb" "$work/$(basename "$deb")"
lint=(lintian --info --display-info --fail-on error,warning "$work/$(basename "$deb")")
if id nobody >/dev/null 2>&1; then lint=(runuser -u nobody -- env HOME="$work" "${lint[@]}"); fi
"${lint[@]}" | tee "$work/lintian.log" || fail "lintian found errors or warnings"
echo "lintian: $(grep -c '^[EW]:' "$work/lintian.log" || true) errors and warnings, $(grep -c '^I:' "$work/lintian.log" || true) infos"

step "apt-get install"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq mailready >/dev/null 2>&1 || true
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >"$work/apt.log" 2>&1 ||
  { cat "$work/apt.log" >&2; fail "apt-get install"; }
[ "$(command -v mailready)" = /usr/bin/mailready ] || fail "mailready is not /usr/bin/mailready"
dpkg -L mailready | sed 's/^/  /'

step "mailready --version"
/usr/bin/mailready --version | tee "$work/version"
grep -qx "mailready $project_version" "$work/version" || fail "--version does not say $project_version"

step "man mailready"
page=$(man -w mailready) || fail "man -w mailready finds no page"
[ "$page" = /usr/share/man/man1/mailready.1.gz ] || fail "man -w mailready: $page"
man --warnings mailready 2>"$work/man.warnings" >/dev/null
[ ! -s "$work/man.warnings" ] || { cat "$work/man.warnings" >&2; fail "man reports problems in the page"; }
echo "$page"

step "bash completion"
# As an interactive shell loads it: bash-completion's loader finds it by the command name.
completions=$(bash -c 'source /usr/share/bash-completion/bash_completion
  _completion_loader mailready
  COMP_WORDS=(mailready check --only auth.lo); COMP_CWORD=3
  COMP_LINE="mailready check --only auth.lo"; COMP_POINT=${#COMP_LINE}
  _mailready; echo "${COMPREPLY[*]}"')
[ "$completions" = auth.login ] || fail "completion of 'mailready check --only auth.lo': '$completions'"
echo "mailready check --only auth.lo<TAB> -> $completions"

step "a check of the lab from /usr/bin"
if ! ./ci/lab.sh status >/dev/null 2>&1; then
  lab_started=1
  ./ci/lab.sh start >/dev/null
fi
set +e
./ci/lab.sh exec /usr/bin/mailready check mail.lab.test --from-inside --imap-starttls \
  --ca-file "$lab/pki/root.pem" --user alice@lab.test \
  --password-file "$lab/secrets/alice.password" --format nagios --quiet
rc=$?
set -e
[ "$rc" -eq 0 ] || fail "mailready check mail.lab.test from /usr/bin exited $rc (want 0, OK)"

step "the exporter from /usr/bin, its password a systemd credential"
# As the unit runs it: the password only in $CREDENTIALS_DIRECTORY. Traced, so that every
# system call it makes can be held against the unit's SystemCallFilter= below.
mkdir -m 0700 "$work/credentials"
cp "$lab/secrets/alice.password" "$work/credentials/password_alice"
cat >"$work/exporter.json" <<EOF
{ "modules": { "default": { "timeout_seconds": 10, "from_inside": true,
                            "ca_file": "$lab/pki/root.pem" } },
  "targets": { "mail.lab.test": { "user": "alice@lab.test",
                                  "password_credential": "password_alice" } } }
EOF
listen=127.0.0.1:9739  # not the exporter test's 9731/9732: the lab is shared
CREDENTIALS_DIRECTORY="$work/credentials" ip netns exec mailready-lab \
  strace -f -qq -o "$work/strace" -e trace=all \
  /usr/bin/mailready serve --config "$work/exporter.json" --listen "$listen" \
  >"$work/exporter.log" 2>&1 &
exporter_pid=$!
fetch() { ip netns exec mailready-lab curl -sS --max-time 30 "http://$listen$1"; }
for _ in $(seq 100); do
  fetch /healthz >/dev/null 2>&1 && break
  sleep 0.1
done
fetch "/probe?target=mail.lab.test" >"$work/probe.prom" || { cat "$work/exporter.log" >&2; fail "/probe"; }
# The login worked (the password came from the credential) and the verdict is OK.
grep -E '^mailready_check_success\{[^}]*check="auth.login"[^}]*mechanism="PLAIN"\} 1$' \
  "$work/probe.prom" >/dev/null || { head -20 "$work/probe.prom" >&2; fail "no PLAIN login in the probe"; }
grep -x 'mailready_verdict{target="mail.lab.test"} 0' "$work/probe.prom" ||
  { grep verdict "$work/probe.prom" >&2; fail "the probe's verdict is not OK"; }
# SIGTERM to the exporter itself (strace's child); strace ends with it.
tracee=$(pgrep -P "$exporter_pid" || true)
[ -n "$tracee" ] || fail "the exporter is not running"
kill -TERM "$tracee"
set +e
wait "$exporter_pid"
rc=$?
set -e
exporter_pid=""
[ "$rc" -eq 0 ] || { cat "$work/exporter.log" >&2; fail "the exporter exited $rc after SIGTERM (want 0)"; }
grep -c "" "$work/probe.prom" | sed 's/^/probe answer lines: /'

step "systemd unit"
unit=/usr/lib/systemd/system/mailready.service
systemd-analyze verify "$unit" 2>&1 | tee "$work/verify.log"
[ ! -s "$work/verify.log" ] || fail "systemd-analyze verify $unit"
echo "systemd-analyze verify: no complaints"
systemd-analyze security --offline=true --threshold=20 "$unit" >"$work/security.log" 2>&1 ||
  { cat "$work/security.log" >&2; fail "exposure above 2.0"; }
grep "Overall exposure level" "$work/security.log"

# Every system call the exporter made above must be allowed by the unit's filter
# (@system-service less @privileged and @resources; a call outside it fails with EPERM).
expand() {  # the system calls of a set, its nested sets expanded
  systemd-analyze syscall-filter --no-pager "$1" | sed -n '2,$p' | grep -v '^ *#' |
    while read -r name; do
      case $name in
        "") ;;
        @*) expand "$name" ;;
        *) echo "$name" ;;
      esac
    done
}
expand @system-service | sort -u >"$work/allowed"
{ expand @privileged; expand @resources; } | sort -u >"$work/denied"
comm -23 "$work/allowed" "$work/denied" >"$work/filter"
sed -nE 's/^[0-9]+ +([a-z_0-9]+)\(.*/\1/p' "$work/strace" | sort -u >"$work/used"
comm -23 "$work/used" "$work/filter" >"$work/outside"
if [ -s "$work/outside" ]; then
  cat "$work/outside" >&2
  fail "the exporter made system calls the unit's SystemCallFilter= refuses"
fi
echo "system calls made by the exporter: $(wc -l <"$work/used"), all within SystemCallFilter="

# What was measured stays beside the package (CI artifacts, the closing notes).
cp "$work/lintian.log" "$work/verify.log" "$work/security.log" "$out/"
cp "$work/used" "$out/syscalls.txt"
dpkg -L mailready >"$out/files.txt"

step "apt-get purge"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq mailready >/dev/null
! dpkg-query -W -f='${Status}' mailready 2>/dev/null | grep -q "ok installed" || fail "purge"
[ ! -e /usr/bin/mailready ] || fail "/usr/bin/mailready is still there"
echo "package: all good in $(($(date +%s) - started)) s; the package is $deb"
