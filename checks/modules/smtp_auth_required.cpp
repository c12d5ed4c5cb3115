// smtp.auth-required: on the submission ports (587, 465), a message may not be accepted
// without AUTH. MAIL FROM / RCPT TO to a local address without logging in must be refused.

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "checks/core/check.hpp"
#include "checks/core/context.hpp"
#include "checks/modules/findings.hpp"
#include "checks/modules/modules.hpp"
#include "checks/modules/smtp_envelope.hpp"

namespace mailready::checks {
namespace {

/// Where a local recipient is most likely, best first: the login's own address; the
/// postmaster (RFC 5321 §4.5.1) of the host name itself (a server named like its mail
/// domain); then of its parent ("mail.example.test" → "example.test"). Dropping the
/// first label alone probed the parent of "example.com"-like names, got a relay denial
/// and passed.
std::vector<std::string> local_recipients(const Options& o) {
  std::vector<std::string> out;
  if (o.smtp_user.find('@') != std::string::npos) out.push_back(o.smtp_user);
  out.push_back("postmaster@" + o.smtp_host);
  const std::string parent = mail_domain(o.smtp_host);
  if (parent != o.smtp_host) out.push_back("postmaster@" + parent);
  return out;
}

/// A refusal of RCPT TO because the domain is not this server's ("554 5.7.1 <x>: Relay
/// access denied", Exim's "550 relay not permitted"): nothing to do with AUTH.
bool relay_denial(const EnvelopeProbe& p) {
  if (p.outcome != EnvelopeProbe::Outcome::refused_rcpt) return false;
  std::string lower = p.reply;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower.find("relay") != std::string::npos;
}

class SmtpAuthRequired final : public Check {
 public:
  const CheckInfo& info() const override {
    static const CheckInfo i{"smtp.auth-required",
                             "Submission (587, 465) refuses mail without AUTH", {"smtp.greeting"},
                             true};
    return i;
  }

  std::vector<CheckResult> run_endpoint(Context& ctx, const Endpoint& e) const override {
    const auto recipients = local_recipients(ctx.options());
    const std::string from = "mailready-probe@" + mail_domain(ctx.options().smtp_host);
    return envelope_check(ctx, info().id, e, true, from, recipients.front(),
                          [&](CheckResult& r, const EnvelopeProbe& first) {
      // A relay denial says the domain is not local here, not that AUTH is required: try
      // the next candidate for a local recipient.
      EnvelopeProbe p = first;
      std::string to = recipients.front();
      for (std::size_t i = 1; relay_denial(p) && i < recipients.size(); ++i) {
        to = recipients[i];
        p = probe_envelope(ctx, info().id, e, from, to);
        r.facts["recipient"] = to;
        r.facts["reply"] = p.reply;
        if (p.outcome == EnvelopeProbe::Outcome::not_reached) {
          r.status = Status::error;
          r.error = p.detail;
          return;
        }
      }
      r.facts["recipients_tried"] = recipients;
      const bool accepted = p.outcome == EnvelopeProbe::Outcome::accepted;
      if (!accepted && relay_denial(p)) {
        r.facts["auth_required"] = nullptr;
        r.status = Status::error;
        r.error = fmt::format(
            "no local recipient found: every one tried was refused as relaying ({}), which is no "
            "proof that AUTH is required; give --user as a mail address of this server",
            p.reply.substr(0, p.reply.find('\n')));
        return;
      }
      r.facts["auth_required"] = !accepted;
      if (!accepted) {
        r.summary = "refused without AUTH: " + p.reply.substr(0, p.reply.find('\n'));
        return;
      }
      r.summary = "accepts mail without AUTH";
      r.findings.push_back(make_finding(
          "smtp.auth-not-required",
          fmt::format("{} accepted MAIL FROM / RCPT TO <{}> without AUTH: {}", r.endpoint->label(),
                      to, p.reply),
          {{"reply", p.reply}, {"recipient", to}}));
    });
  }

  std::vector<CheckResult> conclude(Context& ctx, std::vector<CheckResult> results) const override {
    if (results.empty()) return {no_envelope_endpoint(ctx, info().id, true)};
    return results;
  }
};

}  // namespace

std::unique_ptr<Check> make_smtp_auth_required() { return std::make_unique<SmtpAuthRequired>(); }

}  // namespace mailready::checks
