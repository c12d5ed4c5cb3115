#include "checks/modules/smtp_envelope.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "checks/modules/common.hpp"
#include "checks/modules/session.hpp"
#include "checks/proto/smtp.hpp"

namespace mailready::checks {

std::string mail_domain(const std::string& host) {
  const auto dots = std::count(host.begin(), host.end(), '.');
  if (dots < 2) return host;
  return host.substr(host.find('.') + 1);
}

std::vector<CheckResult> envelope_check(
    Context& ctx, std::string_view check, const Endpoint& e, bool submission_only,
    const std::string& from, const std::string& to,
    const std::function<void(CheckResult&, const EnvelopeProbe&)>& judge) {
  if (e.protocol != Protocol::smtp || !greeting_at(ctx, e)) return {};
  if (submission_only && e.role != Role::submission) return {};
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
  return {r};
}

CheckResult no_envelope_endpoint(Context& ctx, std::string_view check, bool submission_only) {
  return nothing_to_do(ctx, check, ctx.options().smtp_host,
                       submission_only ? "no submission port greeted us" : "no SMTP port greeted us");
}

namespace {

/// MAIL FROM, RCPT TO and RSET on a ready session. `clean` is set when the envelope was
/// forgotten (RSET answered): the session can serve again.
EnvelopeProbe probe_on(ReadySession& ready, const std::string& from, const std::string& to,
                       bool& clean) {
  EnvelopeProbe out;
  out.over_tls = ready.tls.has_value();
  auto& session = ready.conn->session;
  const auto decide = [&](const proto::Result<proto::SmtpReply>& reply) {
    out.reply = reply ? reply->raw() : reply.failure().message;
    out.enhanced = reply ? reply->enhanced() : "";
  };
  const auto judge_rcpt = [&](const proto::Result<proto::SmtpReply>& rcpt) {
    decide(rcpt);
    if (!rcpt) {
      out.detail = rcpt.failure().message;
    } else {
      out.outcome = rcpt->code / 100 == 2 ? EnvelopeProbe::Outcome::accepted
                                          : EnvelopeProbe::Outcome::refused_rcpt;
    }
  };
  const std::string mail_from = fmt::format("MAIL FROM:<{}>", from);
  const std::string rcpt_to = fmt::format("RCPT TO:<{}>", to);
  clean = false;
  if (ready.ehlo.pipelining) {
    // RFC 2920: MAIL, RCPT and RSET in one round trip. A refused MAIL makes the server
    // answer RCPT with 503, which decides nothing: the MAIL reply does.
    if (auto sent = session.write_lines({mail_from, rcpt_to, "RSET"}); !sent) {
      out.detail = sent.failure().message;
      return out;
    }
    auto mail = proto::read_smtp_reply(session);
    auto rcpt = mail ? proto::read_smtp_reply(session) : mail;
    auto rset = rcpt ? proto::read_smtp_reply(session) : rcpt;
    decide(mail);
    if (!mail) {
      out.detail = mail.failure().message;
    } else if (mail->code / 100 != 2) {
      out.outcome = EnvelopeProbe::Outcome::refused_mail;
    } else {
      judge_rcpt(rcpt);
    }
    clean = rset && rset->code == 250;
    return out;
  }
  auto mail = proto::smtp_command(session, mail_from);
  decide(mail);
  if (!mail) {
    out.detail = mail.failure().message;
    return out;
  }
  if (mail->code / 100 != 2) {
    out.outcome = EnvelopeProbe::Outcome::refused_mail;
  } else {
    judge_rcpt(proto::smtp_command(session, rcpt_to));
  }
  // Never DATA: forget the envelope.
  auto rset = proto::smtp_command(session, "RSET");
  clean = rset && rset->code == 250;
  return out;
}

}  // namespace

EnvelopeProbe probe_envelope(Context& ctx, std::string_view check, const Endpoint& e,
                             const std::string& from, const std::string& to) {
  for (const bool fresh : {false, true}) {
    SessionWanted wanted;
    wanted.fresh = fresh;
    ReadySession ready = open_session(ctx, e, wanted);
    const bool usable = ready.conn && (ready.kind == TlsAttempt::Kind::ok ||
                                       ready.kind == TlsAttempt::Kind::no_starttls);
    if (!usable) {
      EnvelopeProbe out;
      out.detail = ready.detail.empty() ? "could not open an SMTP session" : ready.detail;
      release(ctx, e, ready, false);
      return out;
    }
    bool clean = false;
    auto out = probe_on(ready, from, to, clean);
    keep_transcript(ctx, check, e, ready);
    release(ctx, e, ready, clean);
    // An earlier user's session that broke under us says nothing: once more, our own.
    if (out.outcome != EnvelopeProbe::Outcome::not_reached || !ready.reused) return out;
  }
  return {};
}

}  // namespace mailready::checks
