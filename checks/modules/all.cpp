// The registry: the one table of checks. Adding a check is one file and one line here.

#include "checks/modules/modules.hpp"

namespace mailready::checks {

Registry default_registry() {
  Registry r;
  r.add(make_dns_resolve());
  r.add(make_ports_reachability());
  r.add(make_imap_greeting());
  r.add(make_smtp_greeting());
  r.add(make_submission_fallback());
  r.add(make_tls_handshake());
  r.add(make_cert_chain());
  r.add(make_auth_mechanisms());
  r.add(make_auth_login());
  r.add(make_auth_bad_password());
  r.add(make_smtp_auth_required());
  r.add(make_smtp_open_relay());
  r.add(make_imap_mailbox());
  r.add(make_roundtrip_delivery());
  return r;
}

}  // namespace mailready::checks
