#pragma once
// The check modules' factories, and the one table that registers them (all.cpp).

#include <memory>

#include "checks/core/check.hpp"
#include "checks/core/registry.hpp"

namespace mailready::checks {

std::unique_ptr<Check> make_dns_resolve();
std::unique_ptr<Check> make_ports_reachability();
std::unique_ptr<Check> make_imap_greeting();
std::unique_ptr<Check> make_smtp_greeting();
std::unique_ptr<Check> make_submission_fallback();
std::unique_ptr<Check> make_tls_handshake();
std::unique_ptr<Check> make_cert_chain();
std::unique_ptr<Check> make_auth_mechanisms();
std::unique_ptr<Check> make_auth_login();
std::unique_ptr<Check> make_auth_bad_password();
std::unique_ptr<Check> make_smtp_auth_required();
std::unique_ptr<Check> make_smtp_open_relay();
std::unique_ptr<Check> make_imap_mailbox();
std::unique_ptr<Check> make_roundtrip_delivery();

/// Every check, in the order reports list them (needs before dependents).
Registry default_registry();

}  // namespace mailready::checks
