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
