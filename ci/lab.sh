#!/usr/bin/env bash
# mailready test lab: real Dovecot + Postfix inside a private network namespace.
#
#   ci/lab.sh start        set up (idempotent; cleans leftovers of a crashed lab first)
#   ci/lab.sh stop         tear down everything start created (idempotent)
#   ci/lab.sh status       exit 0 if up, 1 if not
#   ci/lab.sh exec CMD...  run CMD inside the namespace
#   ci/lab.sh selftest     check the running lab against this contract (ci/lab-selftest.py)
#
# MAILREADY_LAB_DIR (default /tmp/mailready-lab) and MAILREADY_LAB_NS (default
# mailready-lab) let a second lab run beside the first, e.g. to work on this script while
# tests use the lab: MAILREADY_LAB_NS=mrlab-dev MAILREADY_LAB_DIR=/tmp/mrlab-dev ci/lab.sh start.
# Tests look for the defaults.
#
# Contract (tests and the C++ code rely on it):
#   namespace mailready-lab, only lo up; 127.0.0.0/8 local on lo.
#   /etc/netns/mailready-lab/hosts: 127.0.10.10 mail.lab.test, 127.0.10.20 fw.lab.test,
#     localhost; nothere.lab.test does not resolve (resolv.conf points at 127.0.0.53 where
#     nothing listens, nsswitch is "files dns"): no lookup ever leaves the namespace.
#   Both hosts: IMAP 143 (STARTTLS) / 993 (TLS), POP3 110 (STLS) / 995 (TLS) from Dovecot;
#     SMTP 25 (STARTTLS offered, no AUTH), 587 (STARTTLS required before AUTH), 465 (TLS)
#     from Postfix. fw.lab.test: 587 rejected with a TCP reset (closed), 465 dropped
#     (filtered); everything else open.
#   PKI in $LAB_DIR/pki: root.pem (pass as --ca-file), intermediate.pem, leaf.pem, leaf.key,
#     chain.pem (leaf + intermediate, what the servers send).
#   Defect hosts, each on its own address, same services as mail.lab.test (IMAP 143/993,
#     POP3 110/995, SMTP 25/587/465, same users) but its own certificate, from the lab
#     intermediate unless said otherwise; RSA 2048, SHA-256, SAN = the host name, serverAuth,
#     notBefore = midnight UTC of the day before start, 90 days, sent with the intermediate,
#     except for the one defect each host is named after:
#       expired.lab.test    127.0.10.31  notBefore 2024-01-01 00:00:00Z, notAfter 2024-03-31 23:59:59Z
#       selfsigned.lab.test 127.0.10.32  self-signed leaf (no CA behind it), sent alone
#       nochain.lab.test    127.0.10.33  leaf sent WITHOUT the intermediate
#       wrongname.lab.test  127.0.10.34  leaf for other.lab.test only (CN and SAN)
#       weak.lab.test       127.0.10.35  1024-bit RSA key, sha1WithRSAEncryption; TLS >= 1.2
#       tls10.lab.test      127.0.10.36  accepts TLS 1.0 and 1.1 besides 1.2 and 1.3
#       nostarttls.lab.test 127.0.10.37  25 and 587 offer no STARTTLS (587 offers AUTH in
#                                        the clear); 143 keeps STARTTLS; 465/993 normal
#       plainauth.lab.test  127.0.10.38  plaintext auth before TLS: IMAP 143 offers LOGIN and
#                                        AUTH=PLAIN/LOGIN before STARTTLS (no LOGINDISABLED),
#                                        POP3 110 USER/PLAIN before STLS; SMTP 587 offers
#                                        STARTTLS and AUTH PLAIN LOGIN ... before it
#       nomech.lab.test     127.0.10.39  only SCRAM-SHA-256: IMAP (143 after STARTTLS, 993)
#                                        AUTH=SCRAM-SHA-256 + LOGINDISABLED, POP3 SASL
#                                        SCRAM-SHA-256, SMTP 587 (after STARTTLS) and 465
#                                        AUTH SCRAM-SHA-256; nothing an iPhone can use
#       cramonly.lab.test   127.0.10.42  the same with only CRAM-MD5 (IMAP AUTH=CRAM-MD5 +
#                                        LOGINDISABLED, POP3 SASL CRAM-MD5, SMTP 587/465
#                                        AUTH CRAM-MD5)
#       ntlmonly.lab.test   127.0.10.43  the same with only NTLM (NTLMv2, ci/lab/ntlm_auth.py)
#       limited.lab.test    127.0.10.44  one session at a time per client: a second concurrent
#                                        SMTP connection on 25/587/465 gets "421 4.7.0 ... too
#                                        many connections" (Postfix anvil), a second concurrent
#                                        logged-in IMAP session "NO [LIMIT] Maximum
#                                        number of connections from user+IP exceeded"
#     Files: $LAB_DIR/pki/<name>/leaf.pem, leaf.key, served.pem (what the servers send).
#     "ci/lab.sh status" lists the dates as built.
#   dark.lab.test 127.0.10.30: every TCP port DROPped (filtered); nothing listens.
#   Users alice@lab.test, bob@lab.test, carol@lab.test; passwords (random per start, no
#     trailing newline) in $LAB_DIR/secrets/{alice,bob,carol}.password; alice's and bob's are
#     20 letters and digits, carol's is 'c"a\rol pass' (double quote, a real backslash, a
#     space) followed by 8 random letters and digits: IMAP must send it as a quoted string
#     with escapes or a literal. Mail in $LAB_DIR/mail/lab.test/<user>/Maildir.
#   Authentication (Dovecot and Postfix alike; plainauth, nomech, cramonly and ntlmonly
#   differ as said above):
#     mechanisms PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256 NTLM, all from the passdb's
#     cleartext passwords. IMAP 143 / POP3 110 before STARTTLS offer only the non-plaintext
#     ones (CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256 NTLM; IMAP LOGINDISABLED, POP3 no USER);
#     993/995 and after STARTTLS all six. SMTP 587 offers AUTH only after STARTTLS (all
#     six), 465 all six, 25 none.
#     NTLM is NTLMv2 only (ci/lab/ntlm_auth.py behind Dovecot's winbind mechanism). The
#     canonical client identity is user "alice", domain "LAB" (the challenge's target name,
#     which Poco uses as the domain); the user may also be "alice@lab.test" and the domain
#     "lab.test" or empty, in any case. Any other domain, or an address outside lab.test,
#     is refused. The login is alice@lab.test. NTLMv1 (24-byte NT response), LM-only and
#     anonymous answers are refused.
#     Failed logins: auth_failure_delay 1 s, i.e. answered after 0.5-1.0 s; no auth penalty
#     (Dovecot's default adds 4, 8, then 15 s before each next attempt from that address).
#
# The client source address: the lab's 127.0.10.x addresses are deliberately NOT assigned to lo.
# The kernel's "local 127.0.0.0/8 ... src 127.0.0.1" route still makes them local (servers
# can bind them), but a client connecting to them gets source 127.0.0.1. Dovecot treats a
# connection whose client address equals the server address as secured (PITFALLS.md) and
# would then allow plaintext LOGIN before STARTTLS; with distinct addresses it does not.
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
NS=${MAILREADY_LAB_NS:-mailready-lab}
[[ "$NS" =~ ^[A-Za-z0-9_-]{1,32}$ ]] || { echo "lab: MAILREADY_LAB_NS must be 1-32 of A-Z a-z 0-9 _ -: $NS" >&2; exit 1; }
LAB_DIR=${MAILREADY_LAB_DIR:-/tmp/mailready-lab}
NETNS_ETC=/etc/netns/$NS
MAIL_IP=127.0.10.10
FW_IP=127.0.10.20
MAIL_HOST=mail.lab.test
FW_HOST=fw.lab.test
DOMAIN=lab.test
# Hosts with one deliberate defect each (name.lab.test = address). They share the Dovecot
# and Postfix instances of the good hosts: Dovecot picks their certificate (and, for weak
# and tls10, their OpenSSL settings) by local address in a "local ADDRESS { }" block,
# Postfix by per-listener -o options in master.cf. The certificates and their dates are
# described in make_pki.
#   expired     leaf expired: notBefore 2024-01-01, notAfter 2024-03-31 (fixed dates)
#   selfsigned  self-signed leaf, nothing else sent
#   nochain     valid leaf sent without its intermediate
#   wrongname   valid chain, leaf for other.lab.test only
#   weak        1024-bit RSA leaf key, SHA-1 signature (Dovecot: SECLEVEL=0 on this host only)
#   tls10       valid chain; TLS 1.0 and 1.1 accepted besides 1.2/1.3 (Dovecot: SECLEVEL=0
#               on this host only; Postfix: smtpd_tls_protocols on its listeners only)
#   nostarttls  valid chain; SMTP 25 and 587 offer no STARTTLS (143 still does)
#   plainauth   valid chain; plaintext auth before TLS (Dovecot: disable_plaintext_auth = no
#               for its address; Postfix 587: smtpd_tls_auth_only = no)
#   nomech      valid chain; only SCRAM-SHA-256, from a second Dovecot instance (auth
#               mechanisms are per auth process, not per address) whose auth socket also
#               serves Postfix's SASL on this host's 587 and 465
#   cramonly    the same as nomech (own Dovecot, its auth socket for 587/465), CRAM-MD5 only
#   ntlmonly    the same, NTLM only (NTLMv2, the lab's winbind helper)
#   fleet       no defect: the servers behind the fleet (FLEET_* below), with a wildcard
#               leaf for *.fleet.lab.test
#   limited     valid chain; 1 connection per client and service (Postfix:
#               smtpd_client_connection_count_limit on its listeners, no exceptions) and 1
#               logged-in IMAP/POP3 session per user and client (Dovecot:
#               mail_max_userip_connections for its address)
DEFECT_HOSTS=(expired:127.0.10.31 selfsigned:127.0.10.32 nochain:127.0.10.33
  wrongname:127.0.10.34 weak:127.0.10.35 tls10:127.0.10.36 nostarttls:127.0.10.37
  plainauth:127.0.10.38 nomech:127.0.10.39 cramonly:127.0.10.42 ntlmonly:127.0.10.43
  limited:127.0.10.44 fleet:127.0.10.50)
# Hosts with a Dovecot instance of their own (name:mechanisms), in $LAB_DIR/dovecot-<name>:
# the mechanism list belongs to the auth process, not to an address.
SOLO_HOSTS=(nomech:scram-sha-256 cramonly:cram-md5 ntlmonly:ntlm)
# dark.lab.test: every TCP port dropped by the namespace firewall, no server behind it.
DARK_IP=127.0.10.30
DARK_HOST=dark.lab.test
# The fleet: FLEET_SIZE names fleet-NNNN.fleet.lab.test (0000 up) on 127.0.12.0 up (at
# most 1024: 127.0.12.0/22), each NATed inside the namespace to the fleet host's servers
# (127.0.10.50, wildcard leaf), so one Dovecot and one Postfix serve them all — except:
#   fleet-0007  587 closed (not NATed there: nothing listens, the kernel resets)
#   fleet-0008  993 closed (the same)
#   fleet-0009  every TCP port dropped
#   fleet-0010  NATed to expired.lab.test: an expired leaf (for another name)
FLEET_SIZE=${MAILREADY_LAB_FLEET_SIZE:-1024}
FLEET_DOMAIN=fleet.$DOMAIN
FLEET_NET=127.0.12.0/22
FLEET_BACKEND=127.0.10.50
fleet_ip() { echo "127.0.$((12 + $1 / 256)).$(($1 % 256))"; }
fleet_name() { printf 'fleet-%04d.%s' "$1" "$FLEET_DOMAIN"; }
# The expired leaf's validity: fixed dates, a past quarter (RFC 5280 times, UTC).
EXPIRED_START=20240101000000Z
EXPIRED_END=20240331235959Z
USERS=(alice bob carol)
# carol's password starts with this (then 8 random alphanumerics): a double quote, a
# backslash followed by r (two characters, not CR) and a space.
CAROL_PREFIX='c"a\rol pass'
# Authentication (Dovecot, and Postfix through Dovecot's auth socket).
AUTH_MECHS="plain login cram-md5 scram-sha-1 scram-sha-256 ntlm"
AUTH_FAILURE_DELAY=1s
# Mail is owned by a dedicated system user, created on first start and kept afterwards
# (like a package's system user); stop removes everything else.
MAIL_USER=mailready-lab
FW_CHAIN=MAILREADY-LAB
MARKER=.mailready-lab

DOVECOT_DIR=$LAB_DIR/dovecot
DOVECOT_RUN=$DOVECOT_DIR/run                # Dovecot base_dir; master.pid lives here
# The solo hosts' Dovecots (SOLO_HOSTS): $LAB_DIR/dovecot-<name>, base_dir .../run.
solo_names() { local h; for h in "${SOLO_HOSTS[@]}"; do echo "${h%%:*}"; done; }
is_solo() { local h; for h in $(solo_names); do [ "$h" = "$1" ] && return 0; done; return 1; }
solo_mechs() {
  local h
  for h in "${SOLO_HOSTS[@]}"; do [ "${h%%:*}" = "$1" ] && { echo "${h#*:}"; return 0; }; done
  return 1
}
solo_dir() { echo "$LAB_DIR/dovecot-$1"; }
# Postfix wants everything under its config_directory owned by root (postfix-script
# check-warn), so queue and data directories are siblings, not children.
POSTFIX_DIR=$LAB_DIR/postfix                 # Postfix config_directory
POSTFIX_QUEUE=$LAB_DIR/postfix-queue         # queue_directory; pid/master.pid lives here
POSTFIX_DATA=$LAB_DIR/postfix-data           # data_directory
PKI=$LAB_DIR/pki
LOG=$LAB_DIR/log

die() { echo "lab: $*" >&2; exit 1; }
say() { echo "lab: $*"; }

case "$LAB_DIR" in
  /*) ;;
  *) die "MAILREADY_LAB_DIR must be an absolute path: $LAB_DIR" ;;
esac
[[ "$LAB_DIR" =~ ^/[A-Za-z0-9._/-]+$ && "$LAB_DIR" != / ]] \
  || die "MAILREADY_LAB_DIR must be a plain path (letters, digits, . _ - /): $LAB_DIR"

ns_exists() { [ -e "/run/netns/$NS" ]; }
in_ns() { ip netns exec "$NS" "$@"; }

# Alive and not a zombie (an orphan's zombie lingers until its new parent reaps it).
pid_alive() {
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null \
    && [ "$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null)" != Z ]
}
read_pid() { if [ -r "$1" ]; then tr -dc 0-9 <"$1"; fi; }
# A pid from a pid file is the lab's only if the process lives in the lab's namespace or
# runs the lab's configuration (pids get reused after a crash or reboot).
is_lab_pid() {
  local pid=${1:-}
  pid_alive "$pid" || return 1
  if ns_exists && [ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" = \
       "net:[$(stat -L -c %i "/run/netns/$NS" 2>/dev/null)]" ]; then
    return 0
  fi
  local h confs=(-e "$DOVECOT_DIR/dovecot.conf")
  for h in $(solo_names); do confs+=(-e "$(solo_dir "$h")/dovecot.conf"); done
  tr '\0' '\n' 2>/dev/null <"/proc/$pid/cmdline" | grep -qxF "${confs[@]}" && return 0
  tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" | grep -qxF "MAIL_CONFIG=$POSTFIX_DIR" && return 0
  return 1
}
defect_names() { local h; for h in "${DEFECT_HOSTS[@]}"; do echo "${h%%:*}"; done; }
defect_ip() {
  local h
  for h in "${DEFECT_HOSTS[@]}"; do
    if [ "${h%%:*}" = "$1" ]; then echo "${h#*:}"; return 0; fi
  done
  return 1
}
dovecot_pid() { read_pid "$DOVECOT_RUN/master.pid"; }
solo_pid() { read_pid "$(solo_dir "$1")/run/master.pid"; }
solo_pids() { local h; for h in $(solo_names); do solo_pid "$h"; echo; done; }
postfix_pid() { read_pid "$POSTFIX_QUEUE/pid/master.pid"; }

# Listeners that must answer: host:port:kind. fw.lab.test 465 is dropped and 587 reset;
# dark.lab.test answers nothing.
listeners() {
  local ip h
  for ip in $MAIL_IP $FW_IP; do
    echo "$ip:143:imap $ip:110:pop3 $ip:25:smtp $ip:993:tls $ip:995:tls"
  done
  echo "$MAIL_IP:587:smtp $MAIL_IP:465:tls"
  for h in "${DEFECT_HOSTS[@]}"; do
    ip=${h#*:}
    echo "$ip:143:imap $ip:110:pop3 $ip:25:smtp $ip:587:smtp $ip:993:tls $ip:995:tls $ip:465:tls"
  done
}

# Runs inside the namespace (ci/lab.sh _probe TIMEOUT_S): waits until every listener
# answers with its greeting (TLS ports: TCP connect). Prints the ones still missing.
# ci/lab/probe.py tries them all at once (0.2 s for the ~80 listeners; one bash round
# trip per listener took 1 s).
probe() {
  # shellcheck disable=SC2046 # one argument per listener
  exec /usr/bin/python3 -I "$(dirname "$SELF")/lab/probe.py" "$1" $(listeners)
}

is_up() {
  local h
  ns_exists && is_lab_pid "$(dovecot_pid)" && is_lab_pid "$(postfix_pid)" || return 1
  for h in $(solo_names); do is_lab_pid "$(solo_pid "$h")" || return 1; done
  in_ns "$SELF" _probe 0 >/dev/null 2>&1
}

# ---------------------------------------------------------------- stop

ancestry() { # ancestry PID: " PID PARENT GRANDPARENT ... "
  local p=$1 chain=" "
  while [ -n "$p" ] && [ "$p" -gt 1 ]; do
    chain+="$p "
    p=$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
  done
  echo "$chain"
}

# Processes in the namespace, except this script, its ancestors (stop may run from a shell
# opened with "lab.sh exec") and its own short-lived children.
ns_pids() {
  ns_exists || return 0
  local mine p
  mine=$(ancestry $$)
  for p in $(ip netns pids "$NS" 2>/dev/null); do
    [[ "$mine" == *" $p "* ]] && continue
    [[ "$(ancestry "$p")" == *" $$ "* ]] && continue
    if pid_alive "$p"; then echo "$p"; fi
  done
}

wait_gone() { # wait_gone TENTHS PID...
  local n=$1; shift
  while [ "$n" -gt 0 ]; do
    local alive=0 p
    for p in "$@"; do pid_alive "$p" && alive=1; done
    [ $alive = 0 ] && return 0
    sleep 0.1; n=$((n - 1))
  done
  return 1
}

do_stop() {
  local quiet=${1:-}
  local dp np pp
  dp=$(dovecot_pid); np=$(solo_pids | tr '\n' ' '); pp=$(postfix_pid)
  # The masters take their children down on SIGTERM.
  local p masters=() kids=()
  for p in $dp $np $pp; do is_lab_pid "$p" && masters+=("$p"); done
  if [ ${#masters[@]} -gt 0 ]; then
    # Their children (one smtpd per listener, login processes) may outlive them by a
    # moment: wait for those too before calling anything a leftover.
    read -ra kids <<<"$(ps -o pid= --ppid "$(IFS=,; echo "${masters[*]}")" 2>/dev/null | tr '\n' ' ')"
    kill -TERM "${masters[@]}" 2>/dev/null || true
    wait_gone 50 "${masters[@]}" || true
    [ ${#kids[@]} -eq 0 ] || wait_gone 20 "${kids[@]}" || true
  fi
  # Anything left in the namespace was started inside the lab (children still exiting,
  # daemons whose pid files a crash lost, test servers): end it by pid.
  local left
  read -ra left <<<"$(ns_pids | tr '\n' ' ')"
  if [ ${#left[@]} -gt 0 ]; then
    [ -n "$quiet" ] || say "ending leftover processes in $NS: ${left[*]}"
    kill -TERM "${left[@]}" 2>/dev/null || true
    wait_gone 30 "${left[@]}" || kill -KILL "${left[@]}" 2>/dev/null || true
    wait_gone 20 "${left[@]}" || true
  fi
  if ns_exists; then
    in_ns iptables -F "$FW_CHAIN" 2>/dev/null || true
    ip netns delete "$NS"
  fi
  rm -rf "$NETNS_ETC"
  rmdir /etc/netns 2>/dev/null || true   # only if empty
  if [ -d "$LAB_DIR" ]; then
    if [ -e "$LAB_DIR/$MARKER" ] || [ -z "$(ls -A "$LAB_DIR")" ]; then
      rm -rf "$LAB_DIR"
    else
      die "$LAB_DIR exists but is not a lab directory (no $MARKER): not removing it"
    fi
  fi
  [ -n "$quiet" ] || say "stopped"
}

# ---------------------------------------------------------------- start

# RSA key generation is most of the PKI's cost (0.2-0.7 s a key here): all keys are made
# at once in the background, from the start of do_start, and make_pki waits for them.
KEYGEN_PIDS=()
POSTFIX_CHECK_PID=
start_keygen() {
  local d=$PKI name bits
  mkdir -p "$d"
  for name in root intermediate leaf $(defect_names); do
    bits=2048
    [ "$name" = weak ] && bits=1024   # the weak host's defect
    case $name in root|intermediate|leaf) ;; *) mkdir -p "$d/$name"; name=$name/leaf ;; esac
    (umask 077; exec openssl genpkey -quiet -algorithm RSA -pkeyopt "rsa_keygen_bits:$bits" \
       -out "$d/$name.key" 2>>"$LOG/pki-keys.log" 9<&-) &
    KEYGEN_PIDS+=($!)
  done
}
wait_keygen() {
  local p rc=0
  for p in "${KEYGEN_PIDS[@]}"; do wait "$p" || rc=1; done
  KEYGEN_PIDS=()
  [ $rc = 0 ] || die "RSA key generation failed (see $LOG/pki-keys.log)"
}

make_pki() {
  local d=$PKI
  mkdir -p "$d/ca/newcerts"
  : >"$d/ca/index.txt"
  openssl rand -hex 16 >"$d/ca/serial"
  cat >"$d/openssl.cnf" <<EOF
# Don't call this section [ca]: it collides with openssl.cnf's (PITFALLS.md).
[ lab_ca ]
dir             = $d/ca
database        = \$dir/index.txt
new_certs_dir   = \$dir/newcerts
serial          = \$dir/serial
default_md      = sha256
policy          = lab_policy
unique_subject  = no
copy_extensions = none
email_in_dn     = no
[ lab_policy ]
commonName       = supplied
organizationName = optional
[ req ]
distinguished_name = req_dn
prompt             = no
[ req_dn ]
CN = unused
[ v3_root ]
basicConstraints       = critical, CA:true
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
[ v3_intermediate ]
basicConstraints       = critical, CA:true, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
[ v3_leaf ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:$MAIL_HOST, DNS:$FW_HOST
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
EOF
  # Fixed, reproducible validity: from midnight UTC yesterday; leaf 90 days, CAs 10 years.
  local day start leaf_end ca_end
  day=$(date -u -d yesterday +%F)
  start=$(TZ=UTC date -d "$day" +%Y%m%d%H%M%SZ)
  leaf_end=$(TZ=UTC date -d "$day +90 days" +%Y%m%d%H%M%SZ)
  ca_end=$(TZ=UTC date -d "$day +3650 days" +%Y%m%d%H%M%SZ)
  local ca=(openssl ca -config "$d/openssl.cnf" -name lab_ca -batch -notext -startdate "$start")
  wait_keygen
  chmod 600 "$d"/*.key "$d"/*/leaf.key
  openssl req -config "$d/openssl.cnf" -new -key "$d/root.key" -out "$d/root.csr" \
    -subj "/O=mailready lab/CN=mailready lab root CA"
  openssl req -config "$d/openssl.cnf" -new -key "$d/intermediate.key" -out "$d/intermediate.csr" \
    -subj "/O=mailready lab/CN=mailready lab intermediate CA"
  openssl req -config "$d/openssl.cnf" -new -key "$d/leaf.key" -out "$d/leaf.csr" \
    -subj "/O=mailready lab/CN=$MAIL_HOST"
  "${ca[@]}" -selfsign -keyfile "$d/root.key" -enddate "$ca_end" -extensions v3_root \
    -in "$d/root.csr" -out "$d/root.pem" 2>"$LOG/pki.log"
  "${ca[@]}" -cert "$d/root.pem" -keyfile "$d/root.key" -enddate "$ca_end" \
    -extensions v3_intermediate -in "$d/intermediate.csr" -out "$d/intermediate.pem" 2>>"$LOG/pki.log"
  "${ca[@]}" -cert "$d/intermediate.pem" -keyfile "$d/intermediate.key" -enddate "$leaf_end" \
    -extensions v3_leaf -in "$d/leaf.csr" -out "$d/leaf.pem" 2>>"$LOG/pki.log"
  cat "$d/leaf.pem" "$d/intermediate.pem" >"$d/chain.pem"
  rm -f "$d"/*.csr
  openssl verify -CAfile "$d/root.pem" -untrusted "$d/intermediate.pem" -purpose sslserver \
    -verify_hostname "$FW_HOST" "$d/leaf.pem" >/dev/null \
    || die "generated PKI does not verify"
  make_defect_leaves "$start" "$leaf_end"
}

# One leaf per defect host, in $PKI/<name>/: leaf.key, leaf.pem, served.pem (what its
# servers send). Everything is as for the good leaf (RSA 2048, SHA-256, SAN = the host
# name, serverAuth, notBefore midnight UTC yesterday, 90 days, issued by the intermediate,
# sent with it) except the one defect the host is named after:
#   expired     fixed dates notBefore 2024-01-01 00:00:00Z, notAfter 2024-03-31 23:59:59Z:
#               a quarter long past, so it has expired whatever day the lab runs. (It
#               predates its issuer's notBefore; OpenSSL does not check that nesting and
#               reports only "certificate has expired".)
#   selfsigned  signed by its own key (subject = issuer, CA:false, keyUsage without
#               keyCertSign), served alone: OpenSSL says 18 "self-signed certificate".
#   nochain     served without the intermediate: 20 "unable to get local issuer".
#   wrongname   CN and SAN other.lab.test only.
#   weak        1024-bit RSA key (start_keygen) and signed with SHA-1.
#   tls10, nostarttls  a correct leaf: their defects are in the servers' settings.
make_defect_leaves() {
  local start=$1 end=$2 d=$PKI h fqdn from to md signer nb na
  for h in $(defect_names); do
    fqdn=$h.$DOMAIN
    [ "$h" = wrongname ] && fqdn=other.$DOMAIN
    [ "$h" = fleet ] && fqdn="*.$FLEET_DOMAIN, DNS:$FLEET_DOMAIN"
    cat >>"$d/openssl.cnf" <<EOF
[ v3_leaf_$h ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:$fqdn
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
EOF
  done
  # The requests in parallel (openssl ca, which keeps a database, runs one at a time).
  local reqs=()
  for h in $(defect_names); do
    fqdn=$h.$DOMAIN
    [ "$h" = wrongname ] && fqdn=other.$DOMAIN
    [ "$h" = fleet ] && fqdn="*.$FLEET_DOMAIN"
    openssl req -config "$d/openssl.cnf" -new -key "$d/$h/leaf.key" -out "$d/$h/leaf.csr" \
      -subj "/O=mailready lab/CN=$fqdn" &
    reqs+=($!)
  done
  for h in "${reqs[@]}"; do wait "$h" || die "openssl req failed"; done
  for h in $(defect_names); do
    fqdn=$h.$DOMAIN from=$start to=$end md=sha256
    signer=(-cert "$d/intermediate.pem" -keyfile "$d/intermediate.key")
    case $h in
      expired) from=$EXPIRED_START to=$EXPIRED_END ;;
      selfsigned) signer=(-selfsign -keyfile "$d/$h/leaf.key") ;;
      wrongname) fqdn=other.$DOMAIN ;;
      weak) md=sha1 ;;
    esac
    openssl ca -config "$d/openssl.cnf" -name lab_ca -batch -notext -md "$md" \
      -startdate "$from" -enddate "$to" "${signer[@]}" -extensions "v3_leaf_$h" \
      -in "$d/$h/leaf.csr" -out "$d/$h/leaf.pem" 2>>"$LOG/pki.log"
    rm -f "$d/$h/leaf.csr"
    case $h in
      selfsigned|nochain) cp "$d/$h/leaf.pem" "$d/$h/served.pem" ;;
      *) cat "$d/$h/leaf.pem" "$d/intermediate.pem" >"$d/$h/served.pem" ;;
    esac
  done
  # The table "ci/lab.sh status" prints, with the dates as built.
  {
    printf '  %-20s %-12s %-21s %-21s %s\n' host address notBefore notAfter defect
    { read -r nb; read -r na; } < <(openssl x509 -in "$d/leaf.pem" -noout -startdate -enddate \
                                      -dateopt iso_8601 | cut -d= -f2)
    printf '  %-20s %-12s %-21s %-21s %s\n' "$MAIL_HOST" "$MAIL_IP" "$nb" "$na" \
      "none: the good leaf (SAN $MAIL_HOST, $FW_HOST)"
    printf '  %-20s %-12s %-21s %-21s %s\n' "$FW_HOST" "$FW_IP" "$nb" "$na" \
      "the good leaf; 587 reset, 465 dropped"
    for h in $(defect_names); do
      { read -r nb; read -r na; } < <(openssl x509 -in "$d/$h/leaf.pem" -noout -startdate \
                                        -enddate -dateopt iso_8601 | cut -d= -f2)
      printf '  %-20s %-12s %-21s %-21s %s\n' "$h.$DOMAIN" "$(defect_ip "$h")" "$nb" "$na" \
        "$(defect_text "$h")"
    done
    printf '  %-20s %-12s %-21s %-21s %s\n' "$DARK_HOST" "$DARK_IP" - - "every TCP port dropped"
  } >"$LAB_DIR/hosts.txt"
}

upper() { echo "$*" | tr '[:lower:]' '[:upper:]'; }

defect_text() {
  case $1 in
    expired) echo "leaf expired (fixed dates)" ;;
    selfsigned) echo "self-signed leaf, sent alone" ;;
    nochain) echo "leaf sent without the intermediate" ;;
    wrongname) echo "leaf for other.lab.test only" ;;
    weak) echo "RSA 1024 leaf key, sha1WithRSAEncryption; TLS >= 1.2" ;;
    tls10) echo "accepts TLS 1.0 and 1.1 too" ;;
    nostarttls) echo "no STARTTLS on 25 and 587 (143 has it)" ;;
    plainauth) echo "PLAIN/LOGIN before STARTTLS (IMAP 143, POP3 110, SMTP 587)" ;;
    nomech) echo "only SCRAM-SHA-256 (IMAP, POP3, SMTP 587/465)" ;;
    cramonly) echo "only CRAM-MD5 (IMAP, POP3, SMTP 587/465)" ;;
    ntlmonly) echo "only NTLM (IMAP, POP3, SMTP 587/465)" ;;
    limited) echo "1 session at a time per client (SMTP 421, IMAP NO [LIMIT])" ;;
    fleet) echo "none: serves the $FLEET_SIZE fleet names (*.$FLEET_DOMAIN leaf)" ;;
  esac
}

make_users() {
  local uid=$1 gid=$2 u pw
  mkdir -p "$LAB_DIR/secrets" "$LAB_DIR/mail"
  chmod 700 "$LAB_DIR/secrets"
  chown "$MAIL_USER:$MAIL_USER" "$LAB_DIR/mail"
  chmod 750 "$LAB_DIR/mail"
  : >"$DOVECOT_DIR/users"
  : >"$POSTFIX_DIR/vmailbox"
  for u in "${USERS[@]}"; do
    # 20 alphanumerics: no ':' (passwd-file separator), nothing a test must escape. carol:
    # a fixed prefix with a double quote, a backslash and a space, then 8 alphanumerics.
    # Dovecot's passwd-file takes the field verbatim (no unescaping; only ':' is special).
    pw=$(tr -dc A-Za-z0-9 </dev/urandom | head -c 20 || true)
    [ ${#pw} -eq 20 ] || die "could not generate a password"
    [ "$u" = carol ] && pw=$CAROL_PREFIX${pw:0:8}
    (umask 077; printf '%s' "$pw" >"$LAB_DIR/secrets/$u.password")
    # PLAIN scheme: CRAM-MD5 needs the cleartext password in the passdb.
    printf '%s@%s:{PLAIN}%s:%s:%s::%s/mail/%s/%s::\n' \
      "$u" "$DOMAIN" "$pw" "$uid" "$gid" "$LAB_DIR" "$DOMAIN" "$u" >>"$DOVECOT_DIR/users"
    printf '%s@%s OK\n' "$u" "$DOMAIN" >>"$POSTFIX_DIR/vmailbox"
  done
  chown root:dovecot "$DOVECOT_DIR/users"
  chmod 640 "$DOVECOT_DIR/users"
}

make_netns() {
  ip netns add "$NS"
  in_ns ip link set lo up
  mkdir -p "$NETNS_ETC"
  # ip netns exec bind-mounts these over /etc/hosts, /etc/resolv.conf, /etc/nsswitch.conf.
  cat >"$NETNS_ETC/hosts" <<EOF
127.0.0.1 localhost
::1 localhost
$MAIL_IP $MAIL_HOST
$FW_IP $FW_HOST
$DARK_IP $DARK_HOST
EOF
  local h
  for h in "${DEFECT_HOSTS[@]}"; do echo "${h#*:} ${h%%:*}.$DOMAIN"; done >>"$NETNS_ETC/hosts"
  local i
  for ((i = 0; i < FLEET_SIZE; i++)); do echo "$(fleet_ip "$i") $(fleet_name "$i")"; done \
    >>"$NETNS_ETC/hosts"
  printf 'nameserver 127.0.0.53\noptions timeout:1 attempts:1\n' >"$NETNS_ETC/resolv.conf"
  # Host lookups: files, then dns (which fails at once). Everything else as on the host.
  if [ -f /etc/nsswitch.conf ]; then
    sed -E 's/^hosts:.*/hosts:          files dns/' /etc/nsswitch.conf >"$NETNS_ETC/nsswitch.conf"
    grep -q '^hosts:' "$NETNS_ETC/nsswitch.conf" || echo 'hosts: files dns' >>"$NETNS_ETC/nsswitch.conf"
  fi
  # Firewall for fw.lab.test and dark.lab.test only, in a dedicated chain. One shell in
  # the namespace for all rules (each "ip netns exec" costs 0.1 s).
  # shellcheck disable=SC2016 # expanded by the inner shell
  in_ns sh -ec 'iptables -N "$1"
    iptables -A "$1" -d "$2" -p tcp --dport 587 -j REJECT --reject-with tcp-reset
    iptables -A "$1" -d "$2" -p tcp --dport 465 -j DROP
    iptables -A "$1" -d "$3" -p tcp -j DROP
    iptables -A INPUT -j "$1"' sh "$FW_CHAIN" "$FW_IP" "$DARK_IP"
  # The fleet (FLEET_* above): NAT in the namespace's OUTPUT (where its connections start),
  # the exceptions first.
  # shellcheck disable=SC2016 # expanded by the inner shell
  in_ns sh -ec 'iptables -t nat -A OUTPUT -d "$2" -p tcp --dport 587 -j RETURN
    iptables -t nat -A OUTPUT -d "$3" -p tcp --dport 993 -j RETURN
    iptables -t nat -A OUTPUT -d "$4" -j RETURN
    iptables -A "$1" -d "$4" -p tcp -j DROP
    iptables -t nat -A OUTPUT -d "$5" -p tcp -j DNAT --to-destination "$6"
    iptables -t nat -A OUTPUT -d "$7" -p tcp -j DNAT --to-destination "$8"' sh "$FW_CHAIN" \
    "$(fleet_ip 7)" "$(fleet_ip 8)" "$(fleet_ip 9)" "$(fleet_ip 10)" "$(defect_ip expired)" \
    "$FLEET_NET" "$FLEET_BACKEND"
}

# Dovecot 2.3.19's default ssl_cipher_list (doveconf -d ssl_cipher_list), with ':' before @STRENGTH.
DOVECOT_CIPHERS='ALL:!kRSA:!SRP:!kDHd:!DSS:!aNULL:!eNULL:!EXPORT:!DES:!3DES:!MD5:!PSK:!RC4:!ADH:!LOW:@STRENGTH'
# Settings both Dovecot instances share: authentication, users, mailboxes, listeners.
# dovecot_common UID MECHANISMS
dovecot_common() {
  cat <<EOF
# No login_trusted_networks: nothing counts as secured but TLS (see the note at the
# top of ci/lab.sh about source addresses).
login_trusted_networks =
disable_plaintext_auth = yes
auth_mechanisms = $2
auth_verbose = yes
# Brute-force slowdowns, lowered for the lab only (real servers keep Dovecot's defaults).
# A failed login is answered after auth_failure_delay, counted in whole seconds from the
# failure's second and checked every 0.5 s: 0.5-1.0 s here (measured; 1.5-2.0 s with the
# default 2 s). Not 0: tests must see that failures are slow.
auth_failure_delay = $AUTH_FAILURE_DELAY
# The auth penalty is off. With it, each failure from a client address puts a growing wait
# before that address's next authentication, failed or good (measured with Dovecot's
# defaults: 4, 8, then 15 s; a success resets it): one test's wrong passwords would slow
# down every test after it, all of which connect from 127.0.0.1. Dovecot 2.3 has no
# setting for it, but the auth process keeps it off when anvil's anvil-auth-penalty socket
# does not exist (ENOENT: silently, at once; auth-penalty.c), and mode 0 tells the master
# not to create that listener. login_trusted_networks would also exempt an address, but it
# makes connections from it "secured" (plaintext auth before TLS): not an option.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}

ssl = yes
ssl_dh = </usr/share/dovecot/dh.pem

first_valid_uid = $1
# PLAIN scheme (cleartext): CRAM-MD5 and SCRAM need it (Dovecot computes their keys).
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DOVECOT_DIR/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $DOVECOT_DIR/users
}
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \\Trash
    auto = subscribe
  }
  mailbox Junk {
    special_use = \\Junk
    auto = subscribe
  }
}

service imap-login {
  inet_listener imap {
    port = 143
  }
  inet_listener imaps {
    port = 993
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 110
  }
  inet_listener pop3s {
    port = 995
    ssl = yes
  }
}
service auth {
  # Postfix SASL (smtpd_sasl_type = dovecot).
  unix_listener auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}
EOF
}

# NTLM: Dovecot's winbind mechanism runs auth_winbind_helper_path with one argument
# (--helper-protocol=squid-2.5-ntlmssp) as the auth process's user (dovecot). The helper
# is a copy of ci/lab/ntlm_auth.py (the lab keeps running whatever happens to the work
# tree) behind a wrapper that names the passdb file and a log.
install_ntlm_helper() {
  local src
  src=$(dirname "$SELF")/lab/ntlm_auth.py
  /usr/bin/python3 -I "$src" --selftest >"$LOG/ntlm-auth-selftest.log" 2>&1 \
    || { cat "$LOG/ntlm-auth-selftest.log" >&2; die "ci/lab/ntlm_auth.py fails its self-test"; }
  install -m 755 "$src" "$DOVECOT_DIR/ntlm_auth.py"
  cat >"$DOVECOT_DIR/ntlm_auth" <<EOF
#!/bin/sh
# Dovecot's winbind helper for the mailready lab (ci/lab/ntlm_auth.py).
exec /usr/bin/python3 -I $DOVECOT_DIR/ntlm_auth.py "\$@" --users $DOVECOT_DIR/users --log $LOG/ntlm-auth.log
EOF
  chmod 755 "$DOVECOT_DIR/ntlm_auth"
  install -m 640 -o dovecot -g dovecot /dev/null "$LOG/ntlm-auth.log"
}

make_dovecot() {
  local uid=$1
  mkdir -p "$DOVECOT_DIR/state"
  install_ntlm_helper
  local h listen=()
  for h in "${DEFECT_HOSTS[@]}"; do is_solo "${h%%:*}" || listen+=("${h#*:}"); done
  cat >"$DOVECOT_DIR/dovecot.conf" <<EOF
# mailready lab Dovecot, generated by ci/lab.sh. Started as: dovecot -c $DOVECOT_DIR/dovecot.conf
# Every host but $(solo_names | sed "s/\$/.$DOMAIN/" | paste -sd' ') (each has its own
# instance: $LAB_DIR/dovecot-<name>).
instance_name = mailready-lab
base_dir = $DOVECOT_RUN
state_dir = $DOVECOT_DIR/state
log_path = $LOG/dovecot.log
hostname = $MAIL_HOST
protocols = imap pop3 lmtp
listen = $MAIL_IP, $FW_IP$(printf ', %s' "${listen[@]}")
$(dovecot_common "$uid" "$AUTH_MECHS")
# NTLM (NTLMv2 only) through the winbind mechanism and the lab's own helper.
auth_use_winbind = yes
auth_winbind_helper_path = $DOVECOT_DIR/ntlm_auth

ssl_cert = <$PKI/chain.pem
ssl_key = <$PKI/leaf.key

service lmtp {
  # Postfix delivers here (virtual_transport).
  unix_listener lmtp-postfix {
    mode = 0600
    user = postfix
    group = postfix
  }
}
protocol lmtp {
  postmaster_address = postmaster@$DOMAIN
}

# The defect hosts: same services, their own certificate by local address (make_pki).
EOF
  local ip
  for h in $(defect_names); do
    is_solo "$h" && continue
    ip=$(defect_ip "$h")
    {
      echo "local $ip { # $h.$DOMAIN"
      echo "  ssl_cert = <$PKI/$h/served.pem"
      echo "  ssl_key = <$PKI/$h/leaf.key"
      case $h in
        # Security level 0 for this address only, through the per-local cipher list
        # (Dovecot builds one SSL_CTX per local block): at Debian's level 2 OpenSSL 3 will
        # not use weak's 1024-bit SHA-1 leaf (every handshake on 993 is reset) nor
        # negotiate TLS 1.0/1.1 (SHA-1 handshake signatures). Everything else keeps
        # level 2 and ssl_min_protocol TLSv1.2 (PITFALLS.md).
        weak)
          echo "  ssl_cipher_list = $DOVECOT_CIPHERS:@SECLEVEL=0"
          echo "  ssl_min_protocol = TLSv1.2" ;;
        tls10)
          echo "  ssl_cipher_list = $DOVECOT_CIPHERS:@SECLEVEL=0"
          echo "  ssl_min_protocol = TLSv1" ;;
        # LOGIN, AUTHENTICATE PLAIN/LOGIN (IMAP) and USER/PASS, AUTH PLAIN (POP3) before
        # STARTTLS, for this address only (the login processes read it per local address).
        plainauth)
          echo "  disable_plaintext_auth = no" ;;
        # One logged-in session per user and client address: a second login is answered
        # NO [LIMIT] Maximum number of connections from user+IP exceeded.
        limited)
          echo "  mail_max_userip_connections = 1" ;;
      esac
      echo "}"
    } >>"$DOVECOT_DIR/dovecot.conf"
  done

  # nomech, cramonly, ntlmonly (SOLO_HOSTS): a Dovecot of its own each, because the
  # mechanism list belongs to the auth process (sent to every login process and to Postfix
  # when they connect, before they say for which address): only SCRAM-SHA-256, CRAM-MD5,
  # NTLM. Without PLAIN, IMAP answers LOGINDISABLED even over TLS. Same users and
  # mailboxes; Postfix uses its auth socket for the host's 587 and 465
  # (defect_master_cf); mail still goes to the main instance's LMTP. ntlmonly runs the
  # main instance's winbind helper (ci/lab/ntlm_auth.py) in its own auth process.
  local sd confs=("$DOVECOT_DIR/dovecot.conf")
  for h in $(solo_names); do
    sd=$(solo_dir "$h")
    confs+=("$sd/dovecot.conf")
    {
      cat <<EOF
# mailready lab Dovecot for $h.$DOMAIN only, generated by ci/lab.sh.
# Started as: dovecot -c $sd/dovecot.conf
instance_name = mailready-lab-$h
base_dir = $sd/run
state_dir = $sd/state
log_path = $LOG/dovecot-$h.log
hostname = $h.$DOMAIN
protocols = imap pop3
listen = $(defect_ip "$h")
$(dovecot_common "$uid" "$(solo_mechs "$h")")
ssl_cert = <$PKI/$h/served.pem
ssl_key = <$PKI/$h/leaf.key
EOF
      if [[ " $(solo_mechs "$h") " == *" ntlm "* ]]; then
        echo "auth_use_winbind = yes"
        echo "auth_winbind_helper_path = $DOVECOT_DIR/ntlm_auth"
      fi
    } >"$sd/dovecot.conf"
  done
  local conf
  for conf in "${confs[@]}"; do
    doveconf -c "$conf" >/dev/null 2>"$LOG/doveconf.log" \
      || { cat "$LOG/doveconf.log" >&2; die "dovecot config $conf is invalid"; }
  done
}

make_postfix() {
  mkdir -p "$POSTFIX_QUEUE" "$POSTFIX_DATA"
  chown postfix:postfix "$POSTFIX_DATA"
  cat >"$POSTFIX_DIR/main.cf" <<EOF
# mailready lab Postfix, generated by ci/lab.sh. Started as: postfix -c $POSTFIX_DIR start
compatibility_level = 3.6
queue_directory = $POSTFIX_QUEUE
data_directory = $POSTFIX_DATA
maillog_file = $LOG/postfix.log
maillog_file_prefixes = $LOG
mail_owner = postfix
setgid_group = postdrop

myhostname = $MAIL_HOST
mydomain = $DOMAIN
myorigin = \$mydomain
mydestination =
# Trust nobody by address: relaying needs SASL. (permit_mynetworks is used nowhere.)
mynetworks =
# Postfix refuses inet_interfaces addresses that are not on an interface, and the lab's
# addresses deliberately are not (see the top of ci/lab.sh): the smtpd listeners name
# their addresses in master.cf instead, which Postfix accepts.
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
smtpd_banner = \$myhostname ESMTP mailready lab
biff = no
alias_maps =
alias_database =

# Nothing ever leaves: lab.test goes to Dovecot by LMTP, everything else bounces.
virtual_mailbox_domains = $DOMAIN
virtual_mailbox_maps = texthash:$POSTFIX_DIR/vmailbox
virtual_transport = lmtp:unix:$DOVECOT_RUN/lmtp-postfix
relay_domains =
local_transport = error:lab has no local delivery
default_transport = error:lab never delivers outside
relay_transport = error:lab never delivers outside
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
smtpd_peername_lookup = no
delay_warning_time = 0

# Port 25: STARTTLS offered, no AUTH, no relaying.
smtpd_tls_chain_files = $PKI/leaf.key, $PKI/chain.pem
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
# TLS 1.2 or later, as Dovecot's default ssl_min_protocol. With Postfix's own default
# (>=TLSv1) a client at @SECLEVEL=0 gets TLS 1.0 from every listener (Postfix does not
# use Debian's OpenSSL level 2): only tls10.lab.test may accept TLS 1.0/1.1 (its
# listeners override this in master.cf).
smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_mandatory_protocols = >=TLSv1.2
smtpd_tls_received_header = yes
smtpd_sasl_auth_enable = no
smtpd_sasl_type = dovecot
smtpd_sasl_path = $DOVECOT_RUN/auth-postfix
# SASL mechanisms are Dovecot's (PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 SCRAM-SHA-256 NTLM; nomech's
# listeners: SCRAM-SHA-256, cramonly's CRAM-MD5, ntlmonly's NTLM), all offered: noanonymous only. noplaintext here would hide
# PLAIN and LOGIN before TLS, and after it too unless the tls_ variant lacked it; AUTH before
# TLS is already prevented by smtpd_tls_auth_only = yes on 587 (plainauth, nostarttls: no).
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions = reject_unauth_destination
EOF
  # No chroot anywhere: the Dovecot sockets live outside the queue directory.
  # Relay restrictions end in reject, never in a bare permit (PITFALLS.md).
  local ip
  {
    echo "# service type  private unpriv  chroot  wakeup  maxproc command + args"
    for ip in $MAIL_IP $FW_IP; do
      cat <<EOF
$ip:smtp inet n - n - - smtpd
$ip:submission inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=
$ip:smtps inet n - n - - smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=
EOF
    done
    defect_master_cf
    cat <<'EOF'
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
  } >"$POSTFIX_DIR/master.cf"
  # Postfix will not read a table or main.cf whose mtime is this second (it polls until
  # the file "stops changing": 1.5 s per command here): date the fresh files back.
  touch -d '-10 seconds' "$POSTFIX_DIR"/*.cf "$POSTFIX_DIR/vmailbox"
  # "postfix check" (0.5-3 s, by load) runs in the background while the PKI and Dovecot
  # are made; postfix_check_wait collects it before Postfix starts.
  (exec 9<&-; in_ns postfix -c "$POSTFIX_DIR" check >>"$LOG/postfix-start.log" 2>&1) &
  POSTFIX_CHECK_PID=$!
}

postfix_check_wait() {
  local rc=0
  wait "$POSTFIX_CHECK_PID" || rc=$?
  POSTFIX_CHECK_PID=
  # Postfix commands print their fatal errors only to a terminal (or to the maillog that
  # postlogd writes once master runs): on failure, rerun under script(1) to show why.
  if [ $rc != 0 ]; then
    script -qec "ip netns exec $NS postfix -c $POSTFIX_DIR check" /dev/null >&2 || true
    die "postfix check failed"
  fi
}

# master.cf lines for the defect hosts: the listeners of mail.lab.test, plus per-listener
# options: their banner/EHLO name, their certificate, and their defect.
defect_master_cf() {
  local h ip o level25 level587 authonly sasl
  for h in $(defect_names); do
    ip=$(defect_ip "$h")
    o="  -o myhostname=$h.$DOMAIN
  -o smtpd_tls_chain_files=$PKI/$h/leaf.key,$PKI/$h/served.pem"
    # No OpenSSL configuration (tls_config_file, @SECLEVEL=0) is needed here, unlike for
    # Dovecot: Postfix 3.7's TLS library sets OpenSSL's security level itself and applies
    # its own cipher grades, so smtpd serves weak's 1024-bit SHA-1 leaf and negotiates
    # TLS 1.0 as is (observed on Debian 12; PITFALLS.md says otherwise for Postfix). The
    # TLS version is Postfix's smtpd_tls_protocols: TLS 1.2+ in main.cf, TLS 1.0+ for tls10.
    [ "$h" = tls10 ] && o+="
  -o smtpd_tls_protocols=>=TLSv1
  -o smtpd_tls_mandatory_protocols=>=TLSv1"
    # limited: anvil allows each client 1 connection per listener; no exceptions (the
    # default exempts \$mynetworks, which holds the lab's client address).
    [ "$h" = limited ] && o+="
  -o smtpd_client_connection_count_limit=1
  -o smtpd_client_event_limit_exceptions="
    # 25 offers STARTTLS (may); 587 requires it before anything, AUTH only after it.
    # nostarttls: no TLS at all on 25 and 587 (no STARTTLS in EHLO); 587 keeps AUTH, which
    # then is offered in the clear, as on a server whose TLS someone forgot.
    # plainauth: 587 offers STARTTLS and, already before it, AUTH with PLAIN and LOGIN
    # (smtpd_sasl_security_options has no noplaintext anywhere).
    # nomech, cramonly, ntlmonly: SASL from the host's own Dovecot (SOLO_HOSTS: only
    # SCRAM-SHA-256, CRAM-MD5, NTLM) on 587 and 465.
    level25=may level587=encrypt authonly=yes sasl=
    [ "$h" = nostarttls ] && level25=none level587=none authonly=no
    [ "$h" = plainauth ] && level587=may authonly=no
    is_solo "$h" && sasl="
  -o smtpd_sasl_path=$(solo_dir "$h")/run/auth-postfix"
    cat <<EOF
$ip:smtp inet n - n - - smtpd
  -o syslog_name=postfix/$h
$o
  -o smtpd_tls_security_level=$level25
$ip:submission inet n - n - - smtpd
  -o syslog_name=postfix/$h/submission
$o
  -o smtpd_tls_security_level=$level587
  -o smtpd_sasl_auth_enable=yes$sasl
  -o smtpd_tls_auth_only=$authonly
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=
$ip:smtps inet n - n - - smtpd
  -o syslog_name=postfix/$h/smtps
$o
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes$sasl
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_recipient_restrictions=
EOF
  done
}

ensure_mail_user() {
  if ! id -u "$MAIL_USER" >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin --comment "mailready lab mail owner" "$MAIL_USER"
  fi
}

summary() {
  cat <<EOF
lab: up (namespace $NS, state in $LAB_DIR)
  hosts:     $MAIL_HOST = $MAIL_IP (open), $FW_HOST = $FW_IP (587 reset, 465 dropped)
             nothere.lab.test does not resolve; run clients with: ci/lab.sh exec CMD...
  IMAP:      143 STARTTLS, 993 TLS     POP3: 110 STLS, 995 TLS
  SMTP:      25 (STARTTLS, no AUTH), 587 (STARTTLS then AUTH), 465 (TLS, AUTH)
  CA:        --ca-file $PKI/root.pem   (servers send $PKI/chain.pem)
  users:     $(printf '%s@'"$DOMAIN"' ' "${USERS[@]}")
  passwords: $LAB_DIR/secrets/<user>.password   (e.g. alice.password, no newline;
             carol's has a double quote, a backslash and a space)
  auth:      $(upper "$AUTH_MECHS")   on every host but $(solo_names | paste -sd, | sed 's/,/, /g'):
             IMAP 993/995 and after STARTTLS/STLS, SMTP 587 after STARTTLS and 465;
             before STARTTLS/STLS only $(upper "${AUTH_MECHS/plain login /}") (IMAP LOGINDISABLED)
             plainauth.$DOMAIN: PLAIN/LOGIN also before STARTTLS (IMAP 143, POP3 110, SMTP 587)
$(for h in $(solo_names); do printf '             %-18s %s only (IMAP LOGINDISABLED), SMTP 587/465 too\n' "$h.$DOMAIN:" "$(upper "$(solo_mechs "$h")")"; done)
  NTLM:      NTLMv2 only; user alice, domain LAB (also: user alice@$DOMAIN; domain $DOMAIN or empty)
  failures:  answered after 0.5-1.0 s (auth_failure_delay $AUTH_FAILURE_DELAY); no auth penalty
  mail:      $LAB_DIR/mail/$DOMAIN/<user>/Maildir
  logs:      $LOG/{dovecot,$(solo_names | sed 's/^/dovecot-/' | paste -sd,),postfix,ntlm-auth}.log
  defect hosts (same services and users; leaf, key and what is sent in $PKI/<name>/):
$(cat "$LAB_DIR/hosts.txt" 2>/dev/null)
EOF
}

on_start_error() {
  local rc=$?
  [ $rc -eq 0 ] && return 0
  echo "lab: start failed; logs in $LOG. 'ci/lab.sh stop' cleans up." >&2
  local p
  for p in "${KEYGEN_PIDS[@]}" $POSTFIX_CHECK_PID; do kill "$p" 2>/dev/null || true; done
  for f in "$LOG"/dovecot*.log "$LOG"/postfix.log "$LOG"/*start*.log; do
    [ -s "$f" ] && { echo "--- tail $f" >&2; tail -n 15 "$f" >&2; }
  done
  exit $rc
}

do_start() {
  if is_up; then
    say "already up"
    summary
    return 0
  fi
  if ns_exists || [ -e "$NETNS_ETC" ] || [ -e "$LAB_DIR" ]; then
    say "cleaning up leftovers of an earlier lab"
    do_stop quiet
  fi
  if ! command -v dovecot >/dev/null || ! command -v postfix >/dev/null \
     || [ ! -x /usr/lib/dovecot/lmtp ] || [ ! -x /usr/bin/python3 ]; then
    die "missing packages: run ci/install-deps.sh"
  fi
  trap on_start_error EXIT

  mkdir -p "$LAB_DIR" "$LOG" "$DOVECOT_DIR" "$POSTFIX_DIR"
  for h in $(solo_names); do mkdir -p "$(solo_dir "$h")/state"; done
  touch "$LAB_DIR/$MARKER"
  chmod 755 "$LAB_DIR" "$LOG"
  ensure_mail_user
  local uid gid h
  uid=$(id -u "$MAIL_USER"); gid=$(id -g "$MAIL_USER")

  # Keys are made in the background while users, namespace and Postfix are set up
  # (postfix check does not read the certificates; doveconf does).
  start_keygen
  make_users "$uid" "$gid"
  make_netns
  make_postfix
  make_pki
  make_dovecot "$uid"

  # Daemon output goes to files: Dovecot keeps stdout open (never start it from a pipe).
  rm -f "$DOVECOT_RUN/anvil-auth-penalty"   # a stale one delays auth by 5 s (PITFALLS.md)
  # 9<&-: the daemons must not inherit the start/stop lock.
  in_ns dovecot -c "$DOVECOT_DIR/dovecot.conf" </dev/null >>"$LOG/dovecot-start.log" 2>&1 9<&-
  for h in $(solo_names); do
    in_ns dovecot -c "$(solo_dir "$h")/dovecot.conf" </dev/null >>"$LOG/dovecot-start.log" 2>&1 9<&-
  done
  postfix_check_wait
  in_ns postfix -c "$POSTFIX_DIR" start </dev/null >>"$LOG/postfix-start.log" 2>&1 9<&-

  local missing
  if ! missing=$(in_ns "$SELF" _probe 20); then
    echo "lab: $missing" >&2
    exit 1
  fi
  trap - EXIT
  summary
}

do_status() {
  local ok=0 dp np pp h
  if ns_exists; then echo "namespace $NS: present"; else echo "namespace $NS: absent"; ok=1; fi
  dp=$(dovecot_pid); pp=$(postfix_pid)
  if is_lab_pid "$dp"; then echo "dovecot: running (pid $dp)"; else echo "dovecot: not running"; ok=1; fi
  for h in $(solo_names); do
    np=$(solo_pid "$h")
    if is_lab_pid "$np"; then echo "dovecot ($h.$DOMAIN): running (pid $np)"; else echo "dovecot ($h.$DOMAIN): not running"; ok=1; fi
  done
  if is_lab_pid "$pp"; then echo "postfix: running (pid $pp)"; else echo "postfix: not running"; ok=1; fi
  if [ $ok = 0 ]; then
    local missing
    if missing=$(in_ns "$SELF" _probe 0); then
      echo "listeners: all answering"
    else
      echo "listeners: $missing"; ok=1
    fi
  fi
  if [ $ok = 0 ]; then summary; else echo "lab: down"; fi
  return $ok
}

need_root() { [ "$(id -u)" = 0 ] || die "must run as root"; }

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  start|stop)
    need_root
    # One start/stop at a time: lock this script file (leaves nothing behind).
    exec 9<"$SELF"
    flock -w 60 9 || die "another lab start/stop is running"
    if [ "$cmd" = start ]; then do_start; else do_stop; fi
    ;;
  status) need_root; do_status ;;
  exec)
    [ $# -gt 0 ] || die "usage: ci/lab.sh exec CMD..."
    ns_exists || die "lab is not running (ci/lab.sh start)"
    exec ip netns exec "$NS" "$@"
    ;;
  selftest)
    need_root
    is_up || die "lab is not up (ci/lab.sh start)"
    ip netns exec "$NS" /usr/bin/python3 "$(dirname "$SELF")/lab-selftest.py" "$LAB_DIR"
    ;;
  _probe) probe "${1:-0}" ;;
  *) echo "usage: ci/lab.sh start|stop|status|selftest|exec CMD..." >&2; exit 2 ;;
esac
