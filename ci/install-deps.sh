#!/usr/bin/env bash
# Installs everything mailready needs to build, test and run its lab, from Debian 12's
# packages. Idempotent: a second run on a machine that has it all returns in a second.
set -euo pipefail

packages=(
  # build
  build-essential cmake pkg-config
  libpoco-dev libcli11-dev libfmt-dev nlohmann-json3-dev catch2 libssl-dev
  # lab: real servers, network namespaces, firewall, PKI
  dovecot-core dovecot-imapd dovecot-pop3d dovecot-lmtpd postfix
  iproute2 iptables openssl ca-certificates procps psmisc
  slapd ldap-utils dovecot-ldap  # deployment lab (ci/deployment.sh): directory, LDAP passdb
  # tests: JSON Schema validation of real output, XML tools; YAML and unit-file checks of
  # the examples (tests/integration/sharding_test.py)
  python3-jsonschema libxml2-utils prometheus python3-yaml systemd
  # the benchmark (bench/): the peers it is compared with, and instruction counts
  monitoring-plugins-basic curl valgrind
  # packaging (ci/package.sh): the man page, and what checks the package, its completion
  # and its systemd unit
  scdoc man-db bash-completion lintian file systemd strace
  # fuzzing (ci/fuzz.sh): clang's libFuzzer with ASan and UBSan
  clang-14 libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: need root to install: ${missing[*]}" >&2
  exit 3
fi

# Package scripts must not start Dovecot or Postfix as system services: the lab starts its
# own instances with their own configuration and stops them by pid.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT

export DEBIAN_FRONTEND=noninteractive
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
echo "postfix postfix/mailname string lab.test" | debconf-set-selections
# slapd: no default database or config from the package; ci/deployment.sh brings its own.
echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
