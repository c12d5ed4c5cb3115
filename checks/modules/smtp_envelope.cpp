#include "checks/modules/smtp_envelope.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "checks/modules/common.hpp"
#include "checks/proto/smtp.hpp"

namespace mailready::checks {

std::string mail_domain(const std::string& host) {
  const auto dots = std::count(host.begin(), host.end(), '.');
  if (dots < 2) return host;
  return host.substr(host.find('.') + 1);
}

std::vector<CheckResult> envelope_check(
    Context& ctx, std::string_view check, bool submission_only, const std::string& from,
    const std::string& to, const std::function<void(CheckResult&, const EnvelopeProbe&)>& judge) {
  std::vector<Endpoint> endpoints;
  for (const auto& g : ctx.results_of("smtp.greeting")) {
    if (!g.endpoint || !g.facts.value("greeting_ok", false)) continue;
    if (submission_only && g.endpoint->role != Role::submission) continue;
    endpoints.push_back(*g.endpoint);
  }
  if (endpoints.empty()) {
    CheckResult r = host_result(ctx, check, ctx.options().smtp_host);
    r.status = Status::skip;
    r.error = submission_only ? "no submission port greeted us" : "no SMTP port greeted us";
    return {r};
  }
  return for_each_concurrently(endpoints, [&](const Endpoint& e) {
    CheckResult r = endpoint_result(ctx, check, e);
    const auto p = probe_envelope(ctx, check, e, from, to);
    r.facts["recipient"] = to;
    r.facts["reply"] = p.reply;
    r.facts["over_tls"] = p.over_tls;
    if (p.outcome == EnvelopeProbe::Outcome::not_reached) {
      r.status = Status::error;
      r.error = p.detail;
    } else {
      judge(r, p);
    }
    r.settle();
    return r;
  });
}

EnvelopeProbe probe_envelope(Context& ctx, std::string_view check, const Endpoint& e,
                             const std::string& from, const std::string& to) {
  EnvelopeProbe out;
  ReadySession ready = open_session(ctx, e, {}, true);
  const bool usable = ready.conn && (ready.kind == TlsAttempt::Kind::ok ||
                                     ready.kind == TlsAttempt::Kind::no_starttls);
  if (!usable) {
    out.detail = ready.detail.empty() ? "could not open an SMTP session" : ready.detail;
    if (ready.conn) ready.close();
    return out;
  }
  out.over_tls = ready.tls.has_value();
  auto& session = ready.conn->session;
  const auto decide = [&](const proto::Result<proto::SmtpReply>& reply) {
    out.reply = reply ? reply->raw() : reply.failure().message;
    out.enhanced = reply ? reply->enhanced() : "";
  };
  auto mail = proto::smtp_command(session, fmt::format("MAIL FROM:<{}>", from));
  decide(mail);
  if (!mail) {
    out.detail = mail.failure().message;
  } else if (mail->code / 100 != 2) {
    out.outcome = EnvelopeProbe::Outcome::refused_mail;
  } else {
    auto rcpt = proto::smtp_command(session, fmt::format("RCPT TO:<{}>", to));
    decide(rcpt);
    if (!rcpt) {
      out.detail = rcpt.failure().message;
    } else {
      out.outcome = rcpt->code / 100 == 2 ? EnvelopeProbe::Outcome::accepted
                                          : EnvelopeProbe::Outcome::refused_rcpt;
    }
    // Never DATA: forget the envelope.
    (void)proto::smtp_command(session, "RSET");
  }
  ready.close();
  keep_transcript(ctx, check, e, session);
  return out;
}

}  // namespace mailready::checks
