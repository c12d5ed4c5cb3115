#!/usr/bin/env bash
# The shell composite the benchmark compares mailready with: the same validation of one
# host done with the standard tools, one after another, as an admin would type it.
#
#   composite.sh HOST ADDRESS CA_FILE USER PASSWORD_FILE
#
# check_tcp x5 (993 143 587 465 25), openssl s_client -verify_return_error x5 (implicit
# TLS on 993/465, STARTTLS on 143/587/25, chain and host name verified against CA_FILE),
# curl logins x9: PLAIN, LOGIN, CRAM-MD5 and NTLM on IMAPS 993 and on submission 587
# (STARTTLS required), and one wrong password that must be refused. Every part must
# really pass: an exit code is not enough for curl (it skips SMTP AUTH silently when none
# is offered, PITFALLS.md), so its protocol trace must show the server's success reply.
# Exit 0 only when all 19 steps passed; the first failure is named on stderr.
# Credentials go through netrc files, never argv.
set -u
host=$1 address=$2 ca=$3 user=$4 password_file=$5
plugins=/usr/lib/nagios/plugins
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077
printf 'machine %s login %s password %s\n' "$host" "$user" "$(cat "$password_file")" >"$work/netrc"
printf 'machine %s login %s password %s-wrong\n' "$host" "$user" "$(cat "$password_file")" >"$work/wrong"

failed() { echo "composite: $*" >&2; exit 1; }

for port in 993 143 587 465 25; do
  "$plugins/check_tcp" -H "$address" -p "$port" -t 10 >/dev/null || failed "check_tcp $port"
done

tls() { # tls PORT [STARTTLS-PROTOCOL]
  local extra=()
  [ -n "${2:-}" ] && extra=(-starttls "$2")
  openssl s_client -connect "$address:$1" -servername "$host" -verify_hostname "$host" \
    -CAfile "$ca" -verify_return_error -brief "${extra[@]}" </dev/null >/dev/null 2>&1 \
    || failed "openssl s_client $1 ${2:-}"
}
tls 993
tls 143 imap
tls 587 smtp
tls 465
tls 25 smtp

login() { # login URL MECHANISM NETRC EXPECT
  curl -sv --max-time 20 --cacert "$ca" --resolve "$host:${1##*:}:$address" \
    --netrc-file "$3" --login-options "AUTH=$2" --ssl-reqd "$1" -o /dev/null 2>"$work/trace"
  grep -qE "$4" "$work/trace"
}
for mech in PLAIN LOGIN CRAM-MD5 NTLM; do
  login "imaps://$host:993" "$mech" "$work/netrc" '^< [A-Z0-9]+ OK .*(Logged in|authenticated)' \
    || failed "curl IMAPS $mech"
  login "smtp://$host:587" "$mech" "$work/netrc" '^< 235 ' || failed "curl SMTP 587 $mech"
done
login "imaps://$host:993" PLAIN "$work/wrong" '^< [A-Z0-9]+ NO ' || failed "curl wrong password"
exit 0
