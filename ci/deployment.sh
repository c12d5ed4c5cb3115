#!/usr/bin/env bash
# mailready reference-deployment lab: the layout Apple's deployment guide draws for mail
# behind a gateway, built from real servers in network namespaces.
#
#   ci/deployment.sh start              set up (idempotent; cleans leftovers of a crashed run)
#   ci/deployment.sh stop               tear down everything start made (idempotent)
#   ci/deployment.sh status             exit 0 if up, 1 if not; lists active failure switches
#   ci/deployment.sh exec [@NS] CMD...  run CMD in mrd-outside (where mailready runs), or in
#                                       @dmz / @internal / @outside
#   ci/deployment.sh selftest [ARGS]    check the lab and record what a client sees under every
#                                       failure switch (ci/deployment/selftest.py; --help)
#   ci/deployment.sh break SCENARIO     switch one failure on (several may be on at once)
#   ci/deployment.sh heal               switch every failure off
#
# Independent of ci/lab.sh (which other tests use at the same time): its own namespaces,
# state directory, daemons (instance names mrd-*), PKI, users and mail owner.
#
# Topology (addresses are documentation ranges, RFC 5737, and exist only inside the
# namespaces; nothing is routed to or from the host):
#
#   mrd-outside                 mrd-dmz (gateway)                 mrd-internal
#   out0 198.51.100.10/24 ---- dmz-out 198.51.100.1/24
#   default via .1               dmz-in  192.0.2.1/24  ---------- in0 192.0.2.10/24 mail server
#                                ip_forward = 0 (proxies only)        192.0.2.20/24 directory
#                                                                 default via 192.0.2.1
#
#   mrd-outside resolves mail.corp.test -> 198.51.100.1 (/etc/netns/mrd-outside/hosts) and
#   nothing else (resolv.conf points at 127.0.0.53, where nothing listens). The DMZ and the
#   inside also know mailstore.corp.test (192.0.2.10) and ldap.corp.test (192.0.2.20).
#
#   Gateway, mrd-dmz, listening on 198.51.100.1 only:
#     993  IMAPS: Dovecot in proxy mode. TLS ends here (certificate for mail.corp.test from
#          the lab intermediate, sent with it); the user is checked against LDAP (search as
#          cn=gateway, then bind as the user); the session is proxied to 192.0.2.10:143.
#     25   Postfix: MX for corp.test (known users only), STARTTLS offered, no AUTH.
#     587  Postfix: STARTTLS required, then AUTH PLAIN/LOGIN (gateway Dovecot -> LDAP).
#     465  Postfix: implicit TLS, AUTH.
#     Postfix relays everything it accepts to 192.0.2.10:25.
#   Mail server, mrd-internal, 192.0.2.10:
#     143  Dovecot IMAP (clear, for the gateway only; login_trusted_networks = gateway),
#          users checked against LDAP again (cn=mailstore); INBOX, Drafts, Sent, Trash, Junk
#          (SPECIAL-USE, auto-subscribed), IDLE. LMTP on a unix socket for Postfix.
#     25   Postfix: takes corp.test mail (and relays for the gateway only to bounce it: the
#          lab never delivers outside corp.test), delivers to Dovecot by LMTP.
#   Directory, mrd-internal, 192.0.2.20:389: OpenLDAP slapd (own slapd.conf, mdb database
#     in the state directory), base dc=corp,dc=test: uid=alice, uid=bob (inetOrgPerson,
#     mail, userPassword {SSHA}), cn=gateway and cn=mailstore (service accounts).
#
#   Firewall (iptables in each namespace):
#     mrd-dmz INPUT: from outside only new TCP to 25, 465, 587, 993; everything else
#       (143, 389, ping, ...) dropped silently: a client sees a connect timeout.
#     mrd-internal INPUT: only 192.0.2.1 (the gateway) to 192.0.2.10:143, 192.0.2.10:25
#       and 192.0.2.20:389; everything else dropped. Chain MRD-BREAK for the switches.
#     mrd-outside reaches nothing inside: the DMZ does not forward.
#
# Files ($STATE, default /tmp/mailready-deployment):
#   pki/root.pem           the lab root: pass it as --ca-file (intermediate.pem, leaf.pem,
#                          leaf.key, chain.pem = leaf + intermediate, what the gateway sends)
#   secrets/alice.password, secrets/bob.password   20 letters and digits, no newline
#                          (logins alice@corp.test / bob@corp.test; plain alice works too)
#   secrets/ldap-{admin,gateway,mailstore}.password  the directory's own accounts
#   mail/<uid>/Maildir     the mailboxes; log/ every daemon's log; breaks/ active switches
#
# Failure switches (each < 2 s, idempotent; "heal" undoes all of them):
#   directory-down      slapd stopped
#   backend-down        the mail server's Dovecot stopped (gateway healthy)
#   dmz-drops-imap      mrd-internal drops (DROP, no reset) gateway -> 192.0.2.10:143
#   mta-no-delivery     the mail server's Postfix accepts and queues but never delivers
#                       (defer_transports = lmtp); heal flushes the queue
#   open-relay-25       the gateway's port 25 relays for anyone to any domain; foreign mail
#                       goes to Postfix's discard transport on the gateway (never leaves)
#   submission-no-auth  the gateway's 587 accepts MAIL/RCPT for corp.test without AUTH
#
# Why Postfix on the gateway and not nginx's mail proxy: the SMTP side of the guide's
# gateway is an MTA (it queues for the inside, answers RCPT for unknown users, and is what
# becomes an open relay when misconfigured); nginx's smtp proxy would need an auth_http
# service of our own in front of LDAP and cannot queue. Postfix's SASL goes through the
# gateway's Dovecot, so IMAP and SMTP logins are checked by one path against the directory.
# shellcheck disable=SC2034 # many variables are used only by render (${!v}) in the templates
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true   # '&' in ${s//x/y} replacements is literal

SELF=$(readlink -f "${BASH_SOURCE[0]}")
HERE=$(dirname "$SELF")/deployment
STATE=/tmp/mailready-deployment
MARKER=.mailready-deployment

NS_OUT=mrd-outside
NS_DMZ=mrd-dmz
NS_IN=mrd-internal
NAMESPACES=("$NS_OUT" "$NS_DMZ" "$NS_IN")
OUT_IP=198.51.100.10
GW_OUT_IP=198.51.100.1
GW_IN_IP=192.0.2.1
MAIL_IP=192.0.2.10
DIR_IP=192.0.2.20
DOMAIN=corp.test
MAIL_HOST=mail.corp.test
MS_HOST=mailstore.corp.test
DIR_HOST=ldap.corp.test
BASE_DN=dc=corp,dc=test
USERS=(alice bob)
VMAIL_USER=mailready-dep
SCENARIOS=(directory-down backend-down dmz-drops-imap mta-no-delivery open-relay-25 submission-no-auth)

PKI=$STATE/pki
LOG=$STATE/log
SECRETS=$STATE/secrets
BREAKS=$STATE/breaks
SLAPD_DIR=$STATE/directory
GW_DIR=$STATE/gateway/dovecot
GW_PF=$STATE/gateway/postfix            # Postfix config_directory (root-owned files only)
GW_PF_QUEUE=$STATE/gateway/postfix-queue
GW_PF_DATA=$STATE/gateway/postfix-data
MS_DIR=$STATE/mailstore/dovecot
MS_PF=$STATE/mailstore/postfix
MS_PF_QUEUE=$STATE/mailstore/postfix-queue
MS_PF_DATA=$STATE/mailstore/postfix-data

# The normal values of the settings the Postfix switches change (see gateway-main.cf.in).
GW_NORMAL=("mrd_smtp_mynetworks=" "mrd_default_transport=smtp"
  "mrd_submission_relay=permit_sasl_authenticated, reject")
GW_OPEN_RELAY=("mrd_smtp_mynetworks=0.0.0.0/0"
  "mrd_default_transport=discard:open-relay-25 lab switch, relayed mail is discarded")
GW_NO_AUTH=("mrd_submission_relay=permit_sasl_authenticated, reject_unauth_destination")

die() { echo "deployment: $*" >&2; exit 1; }
say() { echo "deployment: $*"; }

ns_exists() { [ -e "/run/netns/$1" ]; }
all_ns_exist() { local n; for n in "${NAMESPACES[@]}"; do ns_exists "$n" || return 1; done; }
any_ns_exists() { local n; for n in "${NAMESPACES[@]}"; do ns_exists "$n" && return 0; done; return 1; }
in_ns() { local n=$1; shift; ip netns exec "$n" "$@"; }

pid_alive() {
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null \
    && [ "$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null)" != Z ]
}
read_pid() { if [ -r "$1" ]; then tr -dc 0-9 <"$1"; fi; }
ns_inode() { stat -L -c %i "/run/netns/$1" 2>/dev/null; }
# A pid is ours only if it lives in one of our namespaces (pid files outlive crashes and
# pids get reused).
is_our_pid() {
  local pid=${1:-} n ino
  pid_alive "$pid" || return 1
  ino=$(readlink "/proc/$pid/ns/net" 2>/dev/null) || return 1
  for n in "${NAMESPACES[@]}"; do
    ns_exists "$n" && [ "$ino" = "net:[$(ns_inode "$n")]" ] && return 0
  done
  return 1
}
slapd_pid() { read_pid "$SLAPD_DIR/slapd.pid"; }
gw_dovecot_pid() { read_pid "$GW_DIR/run/master.pid"; }
ms_dovecot_pid() { read_pid "$MS_DIR/run/master.pid"; }
gw_postfix_pid() { read_pid "$GW_PF_QUEUE/pid/master.pid"; }
ms_postfix_pid() { read_pid "$MS_PF_QUEUE/pid/master.pid"; }
broken() { [ -e "$BREAKS/$1" ]; }

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

# Listeners that answer when all is well: the gateway's, probed from outside, and the
# inside's, probed from the DMZ (as the gateway reaches them).
OUTSIDE_LISTENERS=("$GW_OUT_IP:993:imaps" "$GW_OUT_IP:587:smtp" "$GW_OUT_IP:465:smtps"
  "$GW_OUT_IP:25:smtp")
inside_listeners() {
  broken backend-down || broken dmz-drops-imap || echo "$MAIL_IP:143:imap"
  echo "$MAIL_IP:25:smtp"
  broken directory-down || echo "$DIR_IP:389:tcp"
}
probe() { # probe TIMEOUT_S: prints what does not answer
  local t=$1 rc=0 out_ns in_ns_
  # shellcheck disable=SC2046
  out_ns=$(in_ns "$NS_OUT" /usr/bin/python3 -I "$HERE/../lab/probe.py" "$t" "${OUTSIDE_LISTENERS[@]}") || rc=1
  # shellcheck disable=SC2046
  in_ns_=$(in_ns "$NS_DMZ" /usr/bin/python3 -I "$HERE/../lab/probe.py" "$t" $(inside_listeners)) || rc=1
  echo "$out_ns $in_ns_"
  return $rc
}

is_up() {
  [ -e "$STATE/$MARKER" ] && all_ns_exist \
    && is_our_pid "$(gw_dovecot_pid)" && is_our_pid "$(gw_postfix_pid)" \
    && is_our_pid "$(ms_postfix_pid)" \
    && { broken directory-down || is_our_pid "$(slapd_pid)"; } \
    && { broken backend-down || is_our_pid "$(ms_dovecot_pid)"; }
}

# ---------------------------------------------------------------- stop

ancestry() {
  local p=$1 chain=" "
  while [ -n "$p" ] && [ "$p" -gt 1 ]; do
    chain+="$p "
    p=$(awk '/^PPid:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
  done
  echo "$chain"
}
# Processes in our namespaces, except this script, its ancestors (stop may run from a
# shell opened with "deployment.sh exec") and its own children.
ns_pids() {
  local mine n p
  mine=$(ancestry $$)
  for n in "${NAMESPACES[@]}"; do
    ns_exists "$n" || continue
    for p in $(ip netns pids "$n" 2>/dev/null); do
      [[ "$mine" == *" $p "* ]] && continue
      [[ "$(ancestry "$p")" == *" $$ "* ]] && continue
      if pid_alive "$p"; then echo "$p"; fi
    done
  done
}

do_stop() {
  local quiet=${1:-} p masters=() kids=() left=()
  for p in "$(slapd_pid)" "$(gw_dovecot_pid)" "$(ms_dovecot_pid)" "$(gw_postfix_pid)" "$(ms_postfix_pid)"; do
    is_our_pid "$p" && masters+=("$p")
  done
  if [ ${#masters[@]} -gt 0 ]; then
    read -ra kids <<<"$(ps -o pid= --ppid "$(IFS=,; echo "${masters[*]}")" 2>/dev/null | tr '\n' ' ')"
    kill -TERM "${masters[@]}" 2>/dev/null || true
    wait_gone 50 "${masters[@]}" || true
    [ ${#kids[@]} -eq 0 ] || wait_gone 20 "${kids[@]}" || true
  fi
  read -ra left <<<"$(ns_pids | tr '\n' ' ')"
  if [ ${#left[@]} -gt 0 ]; then
    [ -n "$quiet" ] || say "ending leftover processes in our namespaces: ${left[*]}"
    kill -TERM "${left[@]}" 2>/dev/null || true
    wait_gone 30 "${left[@]}" || kill -KILL "${left[@]}" 2>/dev/null || true
    wait_gone 20 "${left[@]}" || true
  fi
  local n
  for n in "${NAMESPACES[@]}"; do
    # Deleting a namespace deletes its veth ends (and so their peers) and its iptables.
    if ns_exists "$n"; then ip netns delete "$n"; fi
    rm -rf "/etc/netns/$n"
  done
  rmdir /etc/netns 2>/dev/null || true   # only if empty (ci/lab.sh has its own entry)
  if [ -d "$STATE" ]; then
    if [ -e "$STATE/$MARKER" ] || [ -z "$(ls -A "$STATE")" ]; then
      rm -rf "$STATE"
    else
      die "$STATE exists but is not ours (no $MARKER): not removing it"
    fi
  fi
  [ -n "$quiet" ] || say "stopped"
}

# ---------------------------------------------------------------- start

# render TEMPLATE OUT: replaces @NAME@ with the value of the shell variable NAME.
RENDER_VARS=(NS_OUT NS_DMZ NS_IN OUT_IP GW_OUT_IP GW_IN_IP MAIL_IP DIR_IP DOMAIN MAIL_HOST
  MS_HOST DIR_HOST BASE_DN STATE PKI LOG SLAPD_DIR GW_DIR GW_PF GW_PF_QUEUE GW_PF_DATA MS_DIR
  MS_PF MS_PF_QUEUE MS_PF_DATA VMAIL_UID VMAIL_GID ADMIN_SSHA ALICE_SSHA BOB_SSHA
  GATEWAY_SSHA MAILSTORE_SSHA ROLE LDAP_PASS POSTFIX_SERVICES)
render() {
  local s v
  s=$(<"$1")
  for v in "${RENDER_VARS[@]}"; do
    [[ "$s" == *"@$v@"* ]] || continue
    s=${s//"@$v@"/${!v}}
  done
  if [[ "$s" =~ @[A-Z_]+@ ]]; then die "render $1: ${BASH_REMATCH[0]} has no value"; fi
  printf '%s\n' "$s" >"$2"
}

KEYGEN_PIDS=()
start_keygen() {
  local name
  mkdir -p "$PKI"
  for name in root intermediate leaf; do
    (umask 077; exec openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
       -out "$PKI/$name.key" 2>>"$LOG/pki.log" 9<&-) &
    KEYGEN_PIDS+=($!)
  done
}

make_pki() {
  local p rc=0
  cat >"$PKI/openssl.cnf" <<EOF
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
subjectAltName         = DNS:$MAIL_HOST
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
EOF
  for p in "${KEYGEN_PIDS[@]}"; do wait "$p" || rc=1; done
  KEYGEN_PIDS=()
  [ $rc = 0 ] || die "RSA key generation failed (see $LOG/pki.log)"
  local c=(-config "$PKI/openssl.cnf")
  openssl req "${c[@]}" -x509 -new -key "$PKI/root.key" -days 3650 -extensions v3_root \
    -subj "/O=mailready deployment lab/CN=mailready deployment lab root CA" -out "$PKI/root.pem"
  openssl req "${c[@]}" -new -key "$PKI/intermediate.key" -out "$PKI/intermediate.csr" \
    -subj "/O=mailready deployment lab/CN=mailready deployment lab intermediate CA"
  openssl req "${c[@]}" -new -key "$PKI/leaf.key" -out "$PKI/leaf.csr" \
    -subj "/O=mailready deployment lab/CN=$MAIL_HOST"
  openssl x509 -req -in "$PKI/intermediate.csr" -CA "$PKI/root.pem" -CAkey "$PKI/root.key" \
    -CAcreateserial -days 3650 -extfile "$PKI/openssl.cnf" -extensions v3_intermediate \
    -out "$PKI/intermediate.pem" 2>>"$LOG/pki.log"
  openssl x509 -req -in "$PKI/leaf.csr" -CA "$PKI/intermediate.pem" -CAkey "$PKI/intermediate.key" \
    -CAcreateserial -days 90 -extfile "$PKI/openssl.cnf" -extensions v3_leaf \
    -out "$PKI/leaf.pem" 2>>"$LOG/pki.log"
  cat "$PKI/leaf.pem" "$PKI/intermediate.pem" >"$PKI/chain.pem"
  rm -f "$PKI"/*.csr "$PKI"/*.srl
  openssl verify -CAfile "$PKI/root.pem" -untrusted "$PKI/intermediate.pem" -purpose sslserver \
    -verify_hostname "$MAIL_HOST" "$PKI/leaf.pem" >/dev/null || die "generated PKI does not verify"
}

ensure_vmail_user() {
  if ! id -u "$VMAIL_USER" >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin --comment "mailready deployment lab mail owner" "$VMAIL_USER"
  fi
  VMAIL_UID=$(id -u "$VMAIL_USER"); VMAIL_GID=$(id -g "$VMAIL_USER")
}

# Passwords: random, kept in $SECRETS (no newline); the directory holds {SSHA} hashes.
make_secrets() {
  local name pw
  mkdir -p "$SECRETS"; chmod 700 "$SECRETS"
  for name in "${USERS[@]}" ldap-admin ldap-gateway ldap-mailstore; do
    pw=$(tr -dc A-Za-z0-9 </dev/urandom | head -c 20 || true)
    [ ${#pw} -eq 20 ] || die "could not generate a password"
    (umask 077; printf '%s' "$pw" >"$SECRETS/$name.password")
  done
  local hashes
  # {SSHA} = base64(SHA-1(password + salt) + salt), as slappasswd makes it.
  hashes=$(/usr/bin/python3 -I - "$SECRETS" ldap-admin alice bob ldap-gateway ldap-mailstore <<'EOF'
import base64, hashlib, os, sys
for name in sys.argv[2:]:
    pw = open(os.path.join(sys.argv[1], name + ".password"), "rb").read()
    salt = os.urandom(8)
    print("{SSHA}" + base64.b64encode(hashlib.sha1(pw + salt).digest() + salt).decode())
EOF
  )
  { read -r ADMIN_SSHA; read -r ALICE_SSHA; read -r BOB_SSHA; read -r GATEWAY_SSHA; read -r MAILSTORE_SSHA; } <<<"$hashes"
}

make_netns() {
  local n
  for n in "${NAMESPACES[@]}"; do
    ip netns add "$n"
    ip -n "$n" link set lo up
  done
  ip -n "$NS_OUT" link add out0 type veth peer name dmz-out netns "$NS_DMZ"
  ip -n "$NS_DMZ" link add dmz-in type veth peer name in0 netns "$NS_IN"
  ip -n "$NS_OUT" addr add "$OUT_IP/24" dev out0
  ip -n "$NS_DMZ" addr add "$GW_OUT_IP/24" dev dmz-out
  ip -n "$NS_DMZ" addr add "$GW_IN_IP/24" dev dmz-in
  ip -n "$NS_IN" addr add "$MAIL_IP/24" dev in0
  ip -n "$NS_IN" addr add "$DIR_IP/24" dev in0
  ip -n "$NS_OUT" link set out0 up
  ip -n "$NS_DMZ" link set dmz-out up
  ip -n "$NS_DMZ" link set dmz-in up
  ip -n "$NS_IN" link set in0 up
  ip -n "$NS_OUT" route add default via "$GW_OUT_IP"
  ip -n "$NS_IN" route add default via "$GW_IN_IP"

  for n in "${NAMESPACES[@]}"; do
    mkdir -p "/etc/netns/$n"
    {
      echo "127.0.0.1 localhost"
      echo "::1 localhost"
      echo "$GW_OUT_IP $MAIL_HOST"
      if [ "$n" != "$NS_OUT" ]; then
        echo "$MAIL_IP $MS_HOST"
        echo "$DIR_IP $DIR_HOST"
      fi
    } >"/etc/netns/$n/hosts"
    printf 'nameserver 127.0.0.53\noptions timeout:1 attempts:1\n' >"/etc/netns/$n/resolv.conf"
    if [ -f /etc/nsswitch.conf ]; then
      sed -E 's/^hosts:.*/hosts:          files dns/' /etc/nsswitch.conf >"/etc/netns/$n/nsswitch.conf"
    fi
  done

  # The firewalls; one shell per namespace for all its rules.
  # shellcheck disable=SC2016 # expanded by the inner shells
  in_ns "$NS_DMZ" sh -ec '
    sysctl -qw net.ipv4.ip_forward=0
    iptables -P FORWARD DROP
    iptables -A INPUT -i lo -j ACCEPT
    iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
    iptables -A INPUT -i dmz-out -d "$1" -p tcp -m conntrack --ctstate NEW \
      -m multiport --dports 25,465,587,993 -j ACCEPT
    iptables -A INPUT -j DROP' sh "$GW_OUT_IP"
  # shellcheck disable=SC2016
  in_ns "$NS_IN" sh -ec '
    sysctl -qw net.ipv4.ip_forward=0
    iptables -P FORWARD DROP
    iptables -N MRD-BREAK
    iptables -A INPUT -i lo -j ACCEPT
    iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
    iptables -A INPUT -j MRD-BREAK
    iptables -A INPUT -i in0 -s "$1" -d "$2" -p tcp --dport 143 -j ACCEPT
    iptables -A INPUT -i in0 -s "$1" -d "$2" -p tcp --dport 25 -j ACCEPT
    iptables -A INPUT -i in0 -s "$1" -d "$3" -p tcp --dport 389 -j ACCEPT
    iptables -A INPUT -j DROP' sh "$GW_IN_IP" "$MAIL_IP" "$DIR_IP"
}

make_directory() {
  mkdir -p "$SLAPD_DIR/data"
  render "$HERE/slapd.conf.in" "$SLAPD_DIR/slapd.conf"
  (umask 077; render "$HERE/directory.ldif.in" "$SLAPD_DIR/directory.ldif")
  slaptest -Q -u -f "$SLAPD_DIR/slapd.conf" >"$LOG/slaptest.log" 2>&1 \
    || { cat "$LOG/slaptest.log" >&2; die "slapd.conf is invalid"; }
  slapadd -q -f "$SLAPD_DIR/slapd.conf" -l "$SLAPD_DIR/directory.ldif" >"$LOG/slapadd.log" 2>&1 \
    || { cat "$LOG/slapadd.log" >&2; die "slapadd failed"; }
  rm -f "$SLAPD_DIR/directory.ldif"
  chmod 640 "$SLAPD_DIR/slapd.conf"
  chown -R openldap:openldap "$SLAPD_DIR"
  chown root:openldap "$SLAPD_DIR/slapd.conf"
  install -m 640 -o openldap -g openldap /dev/null "$LOG/slapd.log"
}

start_slapd() {
  # slapd forks into the background once it listens (the pid file is written then).
  in_ns "$NS_IN" slapd -f "$SLAPD_DIR/slapd.conf" -h "ldap://$DIR_IP:389/" \
    -u openldap -g openldap </dev/null >>"$LOG/slapd-start.log" 2>&1 9<&-
}

make_dovecot() {
  mkdir -p "$GW_DIR/state" "$MS_DIR/state" "$STATE/mail"
  chown "$VMAIL_USER:$VMAIL_USER" "$STATE/mail"; chmod 750 "$STATE/mail"
  ROLE=gateway LDAP_PASS=$(<"$SECRETS/ldap-gateway.password") \
    render "$HERE/dovecot-ldap.conf.ext.in" "$GW_DIR/dovecot-ldap.conf.ext"
  ROLE=mailstore LDAP_PASS=$(<"$SECRETS/ldap-mailstore.password") \
    render "$HERE/dovecot-ldap.conf.ext.in" "$MS_DIR/dovecot-ldap.conf.ext"
  chmod 600 "$GW_DIR/dovecot-ldap.conf.ext" "$MS_DIR/dovecot-ldap.conf.ext"
  render "$HERE/gateway-dovecot.conf.in" "$GW_DIR/dovecot.conf"
  render "$HERE/mailstore-dovecot.conf.in" "$MS_DIR/dovecot.conf"
  local conf
  for conf in "$GW_DIR/dovecot.conf" "$MS_DIR/dovecot.conf"; do
    doveconf -c "$conf" >/dev/null 2>"$LOG/doveconf.log" \
      || { cat "$LOG/doveconf.log" >&2; die "dovecot config $conf is invalid"; }
  done
}

# Dovecot keeps its stdout open: never start it from a pipe (PITFALLS.md).
start_dovecot() { # start_dovecot NS DIR
  rm -f "$2/run/anvil-auth-penalty"   # a stale one delays auth by 5 s (PITFALLS.md)
  in_ns "$1" dovecot -c "$2/dovecot.conf" </dev/null >>"$LOG/dovecot-start.log" 2>&1 9<&-
}

POSTFIX_CHECK_PIDS=()
make_postfix() {
  local u
  POSTFIX_SERVICES=$(<"$HERE/postfix-services.cf")
  mkdir -p "$GW_PF" "$GW_PF_QUEUE" "$GW_PF_DATA" "$MS_PF" "$MS_PF_QUEUE" "$MS_PF_DATA"
  chown postfix:postfix "$GW_PF_DATA" "$MS_PF_DATA"
  render "$HERE/gateway-main.cf.in" "$GW_PF/main.cf"
  render "$HERE/gateway-master.cf.in" "$GW_PF/master.cf"
  render "$HERE/mailstore-main.cf.in" "$MS_PF/main.cf"
  render "$HERE/mailstore-master.cf.in" "$MS_PF/master.cf"
  : >"$GW_PF/recipients"
  for u in "${USERS[@]}"; do echo "$u@$DOMAIN OK"; done >"$GW_PF/recipients"
  cp "$GW_PF/recipients" "$MS_PF/recipients"
  echo "$DOMAIN relay:[$MAIL_IP]:25" >"$GW_PF/transport"
  # Postfix will not read a file whose mtime is this second (PITFALLS.md / ci/lab.sh).
  touch -d '-10 seconds' "$GW_PF"/* "$MS_PF"/*
  # "postfix check" (also creates the queue directories) in the background meanwhile.
  local d
  for d in "$NS_DMZ:$GW_PF" "$NS_IN:$MS_PF"; do
    (exec 9<&-; in_ns "${d%%:*}" postfix -c "${d#*:}" check >>"$LOG/postfix-start.log" 2>&1) &
    POSTFIX_CHECK_PIDS+=($!)
  done
}

postfix_check_wait() {
  local p rc=0
  for p in "${POSTFIX_CHECK_PIDS[@]}"; do wait "$p" || rc=1; done
  POSTFIX_CHECK_PIDS=()
  if [ $rc != 0 ]; then
    script -qec "postfix -c $GW_PF check; postfix -c $MS_PF check" /dev/null >&2 || true
    die "postfix check failed"
  fi
}

start_postfix() { # start_postfix NS DIR
  in_ns "$1" postfix -c "$2" start </dev/null >>"$LOG/postfix-start.log" 2>&1 9<&-
}

summary() {
  cat <<EOF
deployment: up (namespaces ${NAMESPACES[*]}, state in $STATE)
  client:    ci/deployment.sh exec CMD...   (runs in $NS_OUT, $OUT_IP)
  gateway:   $MAIL_HOST = $GW_OUT_IP: IMAPS 993 (Dovecot proxy), SMTP 25 (MX, no AUTH),
             587 (STARTTLS, then AUTH), 465 (TLS, AUTH); nothing else gets through
  inside:    mail server $MS_HOST $MAIL_IP (IMAP 143, SMTP 25), directory $DIR_HOST $DIR_IP:389
  CA:        --ca-file $PKI/root.pem   (the gateway sends $PKI/chain.pem)
  users:     $(printf '%s@'"$DOMAIN"' ' "${USERS[@]}")
  passwords: $SECRETS/<user>.password   (20 letters and digits, no newline)
  switches:  ci/deployment.sh break $(IFS="|"; echo "${SCENARIOS[*]}"); heal
  active:    $(active_breaks)
  logs:      $LOG/
EOF
}
active_breaks() {
  local s out=""
  for s in "${SCENARIOS[@]}"; do broken "$s" && out+="$s "; done
  echo "${out:-none}"
}

on_start_error() {
  local rc=$?
  [ $rc -eq 0 ] && return 0
  echo "deployment: start failed; logs in $LOG. 'ci/deployment.sh stop' cleans up." >&2
  local p f
  for p in "${KEYGEN_PIDS[@]}" "${POSTFIX_CHECK_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for f in "$LOG"/*.log; do
    [ -s "$f" ] && { echo "--- tail $f" >&2; tail -n 15 "$f" >&2; }
  done
  exit $rc
}

do_start() {
  local t0=$SECONDS
  if is_up; then
    say "already up"
    summary
    return 0
  fi
  if any_ns_exists || [ -e "$STATE" ] || compgen -G "/etc/netns/mrd-*" >/dev/null; then
    say "cleaning up leftovers of an earlier run"
    do_stop quiet
  fi
  local b
  for b in slapd slapadd slaptest dovecot postfix; do
    command -v "$b" >/dev/null || die "missing $b: run ci/install-deps.sh"
  done
  [ -e /usr/lib/dovecot/modules/auth/libauthdb_ldap.so ] || die "missing dovecot-ldap: run ci/install-deps.sh"
  [ -x /usr/lib/dovecot/lmtp ] || die "missing dovecot-lmtpd: run ci/install-deps.sh"
  trap on_start_error EXIT

  mkdir -p "$STATE" "$LOG" "$BREAKS"
  touch "$STATE/$MARKER"
  chmod 755 "$STATE" "$LOG"
  start_keygen
  ensure_vmail_user
  make_secrets
  make_netns
  make_directory
  start_slapd
  make_postfix
  make_pki
  make_dovecot
  start_dovecot "$NS_IN" "$MS_DIR"
  start_dovecot "$NS_DMZ" "$GW_DIR"
  postfix_check_wait
  start_postfix "$NS_IN" "$MS_PF"
  start_postfix "$NS_DMZ" "$GW_PF"
  local missing
  if ! missing=$(probe 20); then
    echo "deployment: $missing" >&2
    exit 1
  fi
  trap - EXIT
  summary
  say "started in $((SECONDS - t0)) s"
}

do_status() {
  local ok=0 name pid
  for name in "${NAMESPACES[@]}"; do
    if ns_exists "$name"; then echo "namespace $name: present"; else echo "namespace $name: absent"; ok=1; fi
  done
  for name in slapd gw_dovecot ms_dovecot gw_postfix ms_postfix; do
    pid=$("${name}_pid")
    if is_our_pid "$pid"; then
      echo "$name: running (pid $pid)"
    elif { [ $name = slapd ] && broken directory-down; } || { [ $name = ms_dovecot ] && broken backend-down; }; then
      echo "$name: stopped by a failure switch"
    else
      echo "$name: not running"; ok=1
    fi
  done
  echo "failure switches on: $(active_breaks)"
  if [ $ok = 0 ]; then
    local missing
    if missing=$(probe 0); then echo "listeners: all answering"; else echo "listeners: $missing"; ok=1; fi
  fi
  if [ $ok = 0 ]; then summary; else echo "deployment: down"; fi
  return $ok
}

# ---------------------------------------------------------------- failure switches

# postconf_set DIR NAME=VALUE...: sets what differs; returns 0 if something changed.
# One read and one write: Postfix will not read a main.cf whose mtime is this second (it
# waits up to 2 s for it to "stop changing"), so the written file is dated back at once.
postconf_set() {
  local dir=$1 kv i=0 names=() current=() changes=(); shift
  for kv in "$@"; do names+=("${kv%%=*}"); done
  mapfile -t current < <(postconf -c "$dir" -h "${names[@]}")
  for kv in "$@"; do
    [ "${current[$i]-}" = "${kv#*=}" ] || changes+=("$kv")
    i=$((i + 1))
  done
  [ ${#changes[@]} -gt 0 ] || return 1
  postconf -c "$dir" -e "${changes[@]}"
  touch -d '-10 seconds' "$dir/main.cf"
}
# Each new smtpd reads main.cf itself; the idle ones started before the reload exit when
# the master tells them to. Wait for those (at most 1 s: one busy with a client finishes
# its session first), so that the next client surely meets the new settings.
postfix_reload() { # postfix_reload NS DIR MASTER_PID_FILE
  local master old=()
  master=$(read_pid "$3")
  read -ra old <<<"$(ps -o pid= --ppid "$master" 2>/dev/null | tr '\n' ' ')"
  in_ns "$1" postfix -c "$2" reload >>"$LOG/postfix-start.log" 2>&1 9<&-
  [ ${#old[@]} -eq 0 ] || wait_gone 10 "${old[@]}" || true
}
BREAK_RULE=(-s "$GW_IN_IP" -d "$MAIL_IP" -p tcp --dport 143 -j DROP)

do_break() {
  local s=$1
  case $s in
    directory-down)
      local p; p=$(slapd_pid)
      if is_our_pid "$p"; then kill -TERM "$p"; wait_gone 30 "$p" || die "slapd ($p) did not stop"; fi ;;
    backend-down)
      local p; p=$(ms_dovecot_pid)
      if is_our_pid "$p"; then kill -TERM "$p"; wait_gone 30 "$p" || die "mail server Dovecot ($p) did not stop"; fi ;;
    dmz-drops-imap)
      in_ns "$NS_IN" iptables -C MRD-BREAK "${BREAK_RULE[@]}" 2>/dev/null \
        || in_ns "$NS_IN" iptables -A MRD-BREAK "${BREAK_RULE[@]}" ;;
    mta-no-delivery)
      if postconf_set "$MS_PF" "defer_transports=lmtp"; then postfix_reload "$NS_IN" "$MS_PF" "$MS_PF_QUEUE/pid/master.pid"; fi ;;
    open-relay-25)
      if postconf_set "$GW_PF" "${GW_OPEN_RELAY[@]}"; then postfix_reload "$NS_DMZ" "$GW_PF" "$GW_PF_QUEUE/pid/master.pid"; fi ;;
    submission-no-auth)
      if postconf_set "$GW_PF" "${GW_NO_AUTH[@]}"; then postfix_reload "$NS_DMZ" "$GW_PF" "$GW_PF_QUEUE/pid/master.pid"; fi ;;
    *) die "unknown scenario '$s' (one of: ${SCENARIOS[*]})" ;;
  esac
  touch "$BREAKS/$s"
  say "broken: $s"
}

do_heal() {
  if ! is_our_pid "$(slapd_pid)"; then start_slapd; fi
  if ! is_our_pid "$(ms_dovecot_pid)"; then start_dovecot "$NS_IN" "$MS_DIR"; fi
  in_ns "$NS_IN" iptables -F MRD-BREAK
  if postconf_set "$MS_PF" "defer_transports="; then postfix_reload "$NS_IN" "$MS_PF" "$MS_PF_QUEUE/pid/master.pid"; fi
  if postconf_set "$GW_PF" "${GW_NORMAL[@]}"; then postfix_reload "$NS_DMZ" "$GW_PF" "$GW_PF_QUEUE/pid/master.pid"; fi
  rm -f "$BREAKS"/*
  # Whatever was deferred meanwhile goes now, not at the next queue run.
  # (Postfix commands must run in the instance's namespace: they check inet_interfaces.)
  in_ns "$NS_IN" postfix -c "$MS_PF" flush >>"$LOG/postfix-start.log" 2>&1 9<&- || true
  in_ns "$NS_DMZ" postfix -c "$GW_PF" flush >>"$LOG/postfix-start.log" 2>&1 9<&- || true
  local missing
  missing=$(probe 5) || die "after heal: $missing"
  say "healed"
}

need_root() { [ "$(id -u)" = 0 ] || die "must run as root"; }
lock() { exec 9<"$SELF"; flock -w 60 9 || die "another start/stop/break/heal is running"; }
need_up() { is_up || die "the deployment lab is not up (ci/deployment.sh start)"; }

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  start) need_root; lock; do_start ;;
  stop) need_root; lock; do_stop ;;
  status) need_root; do_status ;;
  exec)
    ns=$NS_OUT
    case ${1:-} in
      @outside) ns=$NS_OUT; shift ;;
      @dmz) ns=$NS_DMZ; shift ;;
      @internal) ns=$NS_IN; shift ;;
      @*) die "exec: unknown namespace ${1} (@outside, @dmz, @internal)" ;;
    esac
    [ $# -gt 0 ] || die "usage: ci/deployment.sh exec [@outside|@dmz|@internal] CMD..."
    ns_exists "$ns" || die "the deployment lab is not running (ci/deployment.sh start)"
    exec ip netns exec "$ns" "$@"
    ;;
  break)
    need_root
    [ $# -eq 1 ] || die "usage: ci/deployment.sh break $(IFS="|"; echo "${SCENARIOS[*]}")"
    lock; need_up; do_break "$1" ;;
  heal)
    need_root; lock
    if ! all_ns_exist || [ ! -e "$STATE/$MARKER" ]; then die "the deployment lab is not running"; fi
    do_heal ;;
  selftest)
    need_root; need_up
    exec ip netns exec "$NS_OUT" /usr/bin/python3 -u "$HERE/selftest.py" --state "$STATE" \
      --control "$SELF" "$@"
    ;;
  *) echo "usage: ci/deployment.sh start|stop|status|exec [@NS] CMD...|selftest|break SCENARIO|heal" >&2; exit 2 ;;
esac
