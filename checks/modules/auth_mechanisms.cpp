// auth.mechanisms: what each endpoint offers for logging in, on the cleartext connection
// and after TLS, read from the greetings (IMAP CAPABILITY, SMTP EHLO). Flags passwords
// that could cross the network in the clear, and servers no iPhone setting can log in to.

#include <algorithm>

#include <fmt/format.h>

#include "checks/core/check.hpp"
#include "checks/core/context.hpp"
#include "checks/modules/auth_common.hpp"
#include "checks/modules/common.hpp"
#include "checks/modules/findings.hpp"
#include "checks/modules/modules.hpp"

namespace mailready::checks {
namespace {

/// Mechanisms that put the password on the wire as it is.
bool cleartext(const std::string& m) { return m == "PLAIN" || m == "LOGIN" || m == "IMAP-LOGIN"; }

/// Mechanisms an iPhone's "Authentication" setting can use.
bool iphone_can_use(const std::string& m) {
  return m == "PLAIN" || m == "LOGIN" || m == "IMAP-LOGIN" || m == "CRAM-MD5" || m == "NTLM" ||
         m == "DIGEST-MD5";
}

class AuthMechanisms final : public Check {
 public:
  const CheckInfo& info() const override {
    static const CheckInfo i{"auth.mechanisms",
                             "Login mechanisms offered before and after TLS",
                             {"imap.greeting", "smtp.greeting"},
                             true};
    return i;
  }

  std::vector<CheckResult> run_endpoint(Context& ctx, const Endpoint& e) const override {
    const auto greeting = greeting_at(ctx, e);
    if (!greeting) return {};
    return {judge(ctx, *greeting)};
  }

  std::vector<CheckResult> conclude(Context& ctx, std::vector<CheckResult> results) const override {
    if (results.empty()) {
      return {nothing_to_do(ctx, info().id, ctx.options().target, "no endpoint greeted us")};
    }
    return results;
  }

 private:
  CheckResult judge(const Context& ctx, const CheckResult& greeting) const {
    const Endpoint& e = *greeting.endpoint;
    CheckResult r = endpoint_result(ctx, info().id, e);
    if (greeting.facts.contains("after_tls_failed")) {
      // STARTTLS came up and then the server went silent: what it offers after TLS is
      // unknown, which is not "nothing" (the greeting check reports the silence).
      r.status = Status::error;
      r.error = "the mechanisms after TLS are unknown: " + greeting.facts["after_tls_failed"].get<std::string>();
      return r;
    }
    const Offered offered = offered_mechanisms(greeting);
    r.facts["before_tls"] = offered.before_tls ? nlohmann::json(*offered.before_tls) : nlohmann::json(nullptr);
    r.facts["after_tls"] = offered.after_tls ? nlohmann::json(*offered.after_tls) : nlohmann::json(nullptr);

    // Passwords in the clear: PLAIN, LOGIN or IMAP LOGIN on a connection without TLS.
    if (offered.before_tls) {
      std::vector<std::string> exposed;
      for (const auto& m : *offered.before_tls) {
        if (cleartext(m)) exposed.push_back(m);
      }
      if (!exposed.empty()) {
        r.findings.push_back(make_finding(
            "auth.plaintext-before-tls",
            fmt::format("{} offers {} before TLS: a client can send the password in the clear",
                        e.label(), fmt::join(exposed, ", ")),
            {{"mechanisms", exposed}}));
      }
    }

    // What a phone can use once TLS is up (or at all, where there is no TLS). Port 25 is
    // for MTAs: no AUTH there is normal.
    const auto& usable = offered.after_tls ? *offered.after_tls
                                           : offered.before_tls.value_or(std::vector<std::string>{});
    const bool needs_login = e.protocol == Protocol::imap || e.role == Role::submission;
    if (needs_login && std::none_of(usable.begin(), usable.end(), iphone_can_use)) {
      r.findings.push_back(make_finding(
          "auth.no-iphone-mechanism",
          usable.empty()
              ? fmt::format("{} offers no login mechanism at all", e.label())
              : fmt::format("{} offers only {}: none of them is an iPhone Authentication setting",
                            e.label(), fmt::join(usable, ", ")),
          {{"offered", usable}}));
    }
    r.summary = usable.empty() ? "no login offered" : fmt::format("{}", fmt::join(usable, " "));
    r.settle();
    return r;
  }
};

}  // namespace

std::unique_ptr<Check> make_auth_mechanisms() { return std::make_unique<AuthMechanisms>(); }

}  // namespace mailready::checks
