#include "checks/modules/auth_common.hpp"

#include <openssl/x509.h>

#include <algorithm>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "checks/modules/common.hpp"
#include "checks/proto/auth.hpp"
#include "checks/proto/imap.hpp"
#include "checks/proto/sasl/sasl.hpp"
#include "checks/tls/cert.hpp"

namespace mailready::checks {
namespace {

/// IMAP capabilities → mechanisms: AUTH=X atoms, and IMAP-LOGIN unless LOGINDISABLED.
std::vector<std::string> imap_mechanisms(const nlohmann::json& caps) {
  std::vector<std::string> out;
  bool login_disabled = false;
  for (const auto& c : caps) {
    const auto atom = c.get<std::string>();
    if (atom.rfind("AUTH=", 0) == 0) out.push_back(atom.substr(5));
    if (atom == "LOGINDISABLED") login_disabled = true;
  }
  if (!login_disabled) out.push_back("IMAP-LOGIN");
  return out;
}

}  // namespace

Offered offered_mechanisms(const CheckResult& greeting) {
  Offered o;
  const Endpoint& e = *greeting.endpoint;
  const auto& f = greeting.facts;
  if (e.protocol == Protocol::imap) {
    const auto caps = f.value("capabilities", nlohmann::json::array());
    if (e.tls == TlsMode::implicit) {
      o.after_tls = imap_mechanisms(caps);
    } else {
      o.before_tls = imap_mechanisms(caps);
      if (f.contains("capabilities_after_tls")) o.after_tls = imap_mechanisms(f["capabilities_after_tls"]);
    }
    return o;
  }
  const auto auth_of = [&](const char* key) -> std::optional<std::vector<std::string>> {
    if (!f.contains(key)) return std::nullopt;
    return f[key].value("auth", std::vector<std::string>{});
  };
  if (e.tls == TlsMode::implicit) {
    o.after_tls = auth_of("ehlo");
  } else {
    o.before_tls = auth_of("ehlo");
    o.after_tls = auth_of("ehlo_after_tls");
  }
  return o;
}

std::optional<LoginPlan> plan_login(const Context& ctx, const Endpoint& e) {
  const auto& opts = ctx.options();
  if (ctx.results_at("auth.mechanisms", e).empty()) return std::nullopt;
  const auto greeting = greeting_at(ctx, e);
  if (!greeting) return std::nullopt;
  // A certificate that must not receive a password: untrusted or for another name.
  std::string distrusted;
  for (const auto& c : ctx.results_at("cert.chain", e)) {
    for (const auto& f : c.findings) {
      if (f.id == "cert.hostname-mismatch" || !c.facts.value("trusted", true)) {
        distrusted = f.id;
        break;
      }
    }
    if (!distrusted.empty()) break;
  }

  LoginPlan p;
  p.endpoint = e;
  p.user = e.protocol == Protocol::imap ? opts.imap_user : opts.smtp_user;
  const Offered offered = offered_mechanisms(*greeting);
  std::vector<std::string> usable;
  if (offered.after_tls) {
    usable = *offered.after_tls;
  } else if (offered.before_tls) {
    usable = *offered.before_tls;
    p.plaintext = true;
  }
  if (usable.empty()) return std::nullopt;  // nothing offered: auth.mechanisms says so

  const auto& known = proto::sasl::supported();
  for (const auto& name : usable) {
    const bool oauth = name == "XOAUTH2" || name == "OAUTHBEARER";
    const bool implemented =
        name == "IMAP-LOGIN" || std::find(known.begin(), known.end(), name) != known.end();
    if (!implemented || (oauth && opts.oauth_token.empty()) || (!oauth && opts.password.empty())) {
      p.unsupported.push_back(name);
    } else {
      p.mechanisms.push_back(name);
    }
  }

  if (p.user.empty()) {
    p.blocked = "no --user given: logins are skipped (auth.mechanisms still reports what is offered)";
  } else if (p.plaintext && !opts.allow_plaintext_auth) {
    p.blocked = "no TLS on this endpoint: credentials are not sent in the clear without "
                "--allow-plaintext-auth";
  } else if (!distrusted.empty() && !opts.insecure) {
    p.blocked = fmt::format("the certificate is not to be trusted ({}): no password is sent "
                            "to it without --insecure", distrusted);
  }
  return p;
}

namespace {

/// Why this connection's certificate must not receive the password, or "". The login
/// checks trusted the endpoint's first connection (cert.chain); a new connection's full
/// handshake is held to the same: its leaf is the first one's, or its own chain verifies
/// for the host name. (A reused or resumed session is the first one's server.)
std::string untrusted_here(Context& ctx, const Endpoint& e, const ReadySession& ready) {
  if (!ready.tls || ready.reused || ready.tls->resumed || ctx.options().insecure) return {};
  const auto& chain = ready.tls->chain;
  if (chain.sent.empty()) return "this connection's server sent no certificate: no password is sent to it";
  const auto first = first_contact(ctx, e).tls();
  const auto& known = first.session.chain.sent;
  if (!known.empty() && X509_cmp(known.front().get(), chain.sent.front().get()) == 0) return {};
  if (chain.errors.empty() && tls::hostname_matches(e.host, tls::describe(chain.sent.front().get(), "server"))) {
    return {};
  }
  return "this connection's certificate is not the endpoint's first one and does not verify "
         "for the host name: no password is sent to it";
}

/// One login on a session of `e`'s (new or idle).
LoggedIn log_in_once(Context& ctx, const Endpoint& e, const std::string& mechanism,
                     const std::string& user, const std::string& password, bool plaintext,
                     bool fresh, bool urgent) {
  std::unique_ptr<proto::sasl::Mechanism> mech;
  if (mechanism != "IMAP-LOGIN") {
    proto::sasl::Credentials creds{user, password, "", ctx.options().oauth_token};
    mech = proto::sasl::make(mechanism, creds);
    if (!mech) {
      LoggedIn none;
      none.attempt.kind = LoginAttempt::Kind::unsupported;
      none.attempt.detail = fmt::format("mailready does not implement {}", mechanism);
      return none;
    }
  }

  SessionWanted wanted;
  wanted.tls = !plaintext;
  wanted.fresh = fresh;
  wanted.urgent = urgent;
  LoggedIn out{LoginAttempt{}, open_session(ctx, e, wanted)};
  LoginAttempt& a = out.attempt;
  ReadySession& ready = out.ready;
  a.limit = ready.limit;
  const bool usable = ready.kind == TlsAttempt::Kind::ok ||
                      (plaintext && ready.kind == TlsAttempt::Kind::no_starttls);
  if (!usable || !ready.conn) {
    a.detail = ready.detail.empty() ? "could not get a session to log in on" : ready.detail;
    return out;
  }
  a.over_tls = ready.tls.has_value();
  a.tls_resumed = ready.tls && ready.tls->resumed;
  if (const auto why = untrusted_here(ctx, e, ready); !why.empty()) {
    a.detail = why;
    return out;
  }
  auto& session = ready.conn->session;

  const auto started = std::chrono::steady_clock::now();
  proto::Result<proto::AuthOutcome> result = proto::AuthOutcome{};
  if (e.protocol == Protocol::smtp) {
    result = proto::smtp_authenticate(session, *mech);
  } else if (mech) {
    result = proto::imap_authenticate(session, ready.next_tag(), *mech,
                                      proto::has_capability(ready.capabilities, "SASL-IR"));
  } else {
    result = proto::imap_login(session, ready.next_tag(), user, password);
  }
  a.login_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  if (!result) {
    a.detail = result.failure().message;
    a.broken_reused = ready.reused;
    a.no_answer = result.failure().kind == proto::Failure::Kind::timeout && !ctx.expired();
  } else {
    a.kind = result->accepted ? LoginAttempt::Kind::accepted : LoginAttempt::Kind::rejected;
    a.reply = result->reply;
    a.code = result->code;
    a.detail = result->mechanism_error;
    a.server_verified = result->server_verified;
    if (result->accepted && !result->server_verified) {
      a.detail = "the server's final SCRAM signature did not verify";
    }
  }
  return out;
}

/// A login refused for the number of our sessions, not for the credentials: IMAP's
/// [LIMIT] response code (RFC 5530), Dovecot's "[UNAVAILABLE] Maximum number of
/// connections from user+IP exceeded", SMTP's 421.
bool refused_as_too_many(const LoginAttempt& a) {
  if (a.kind != LoginAttempt::Kind::rejected) return false;
  if (a.code == "LIMIT" || a.reply.rfind("421", 0) == 0) return true;
  return a.code == "UNAVAILABLE" && a.reply.find("aximum number of connections") != std::string::npos;
}

}  // namespace

LoggedIn log_in(Context& ctx, const Endpoint& e, const std::string& mechanism,
                const std::string& user, const std::string& password, bool plaintext,
                bool urgent) {
  ConnectionLimit limit;
  bool fresh = false;
  for (int attempt = 0;; ++attempt) {
    const int active = ctx.slots_in_use(e.address, e.port);  // ours there, before this one
    LoggedIn in = log_in_once(ctx, e, mechanism, user, password, plaintext, fresh, urgent);
    if (in.attempt.broken_reused && !fresh) {
      // An earlier user's session broke under us (the server had closed it): that says
      // nothing about the login, so once more on a connection of our own.
      in.ready.close();
      fresh = true;
      continue;
    }
    if (!refused_as_too_many(in.attempt)) {
      if (limit.open > 0) in.attempt.limit = limit;
      return in;
    }
    in.ready.close();
    in.ready.conn.reset();
    const auto held = ours_counted(ctx, e, active);
    if (!held || attempt >= 8 || ctx.expired()) return in;  // the refusal stands
    // Too many of ours at once: fewer from now on, wait for one to end, try again.
    if (*held > 0) {
      limit = {*held, in.attempt.reply};
      ctx.lower_slot_limit(e.address, e.port, *held);
    }
    wait_before_retry(attempt);
  }
}

LoginAttempt attempt_login(Context& ctx, std::string_view check, const Endpoint& e,
                           const std::string& mechanism, const std::string& user,
                           const std::string& password, bool plaintext, bool urgent,
                           bool keep_if_accepted) {
  LoggedIn in = log_in(ctx, e, mechanism, user, password, plaintext, urgent);
  if (in.ready.conn) {
    keep_transcript(ctx, check, e, in.ready);
    if (keep_if_accepted && in.attempt.kind == LoginAttempt::Kind::accepted) {
      keep_logged_in(ctx, e, mechanism, in.ready);
    } else {
      // Refused: still not authenticated, so the session serves the next user.
      release(ctx, e, in.ready, in.attempt.kind == LoginAttempt::Kind::rejected);
    }
  }
  return in.attempt;
}

}  // namespace mailready::checks
