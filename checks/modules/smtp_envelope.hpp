#pragma once
// An unauthenticated SMTP envelope probe, shared by smtp.auth-required and
// smtp.open-relay: MAIL FROM and RCPT TO without AUTH (pipelined where the server offers PIPELINING),
// never DATA, then RSET; the session then serves the endpoint's next user.

#include <functional>
#include <string>
#include <vector>

#include "checks/core/context.hpp"
#include "checks/core/model.hpp"

namespace mailready::checks {

struct EnvelopeProbe {
  enum class Outcome {
    accepted,      ///< RCPT TO got 250/251: the server would take the message
    refused_mail,  ///< MAIL FROM was refused
    refused_rcpt,  ///< RCPT TO was refused
    not_reached,   ///< could not get that far (`detail`)
  };
  Outcome outcome = Outcome::not_reached;
  std::string reply;  ///< the deciding reply, as the server said it
  std::string enhanced;
  bool over_tls = false;
  std::string detail;
};

/// Greets `e`, upgrades with STARTTLS where offered (as a phone or an MTA would), and
/// tries MAIL FROM:<from> RCPT TO:<to> without authenticating.
EnvelopeProbe probe_envelope(Context& ctx, std::string_view check, const Endpoint& e,
                             const std::string& from, const std::string& to);

/// Probes `e` if it is an SMTP endpoint that greeted us (a submission one when
/// `submission_only`) and makes its result: facts.recipient, facts.reply,
/// facts.over_tls, then `judge` says what an accepted or refused envelope means; a probe
/// that did not get that far is an error result. None for any other endpoint.
std::vector<CheckResult> envelope_check(
    Context& ctx, std::string_view check, const Endpoint& e, bool submission_only,
    const std::string& from, const std::string& to,
    const std::function<void(CheckResult&, const EnvelopeProbe&)>& judge);

/// The one skip result when no endpoint qualified.
CheckResult no_envelope_endpoint(Context& ctx, std::string_view check, bool submission_only);

/// The mail domain of a host name: "mail.example.test" → "example.test" (a name with two
/// labels or fewer is its own domain).
std::string mail_domain(const std::string& host);

}  // namespace mailready::checks
