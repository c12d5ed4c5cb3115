#include "checks/modules/common.hpp"

#include <fmt/format.h>

#include "checks/modules/findings.hpp"
#include "checks/proto/connect.hpp"
#include "checks/proto/imap.hpp"
#include "checks/proto/smtp.hpp"

namespace mailready::checks {

CheckResult endpoint_result(const Context& ctx, std::string_view check, const Endpoint& endpoint) {
  CheckResult r;
  r.check = std::string(check);
  r.target = ctx.options().target;
  r.endpoint = endpoint;
  return r;
}

CheckResult host_result(const Context& ctx, std::string_view check, const std::string& host) {
  CheckResult r;
  r.check = std::string(check);
  r.target = ctx.options().target;
  r.facts["host"] = host;
  return r;
}

std::vector<Endpoint> open_endpoints(const Context& ctx, Protocol protocol) {
  std::vector<Endpoint> out;
  for (const auto& r : ctx.results_of("ports.reachability")) {
    if (r.endpoint && r.endpoint->protocol == protocol && r.facts.value("state", "") == "open") {
      out.push_back(*r.endpoint);
    }
  }
  return out;
}

Severity endpoint_weight(const Endpoint& endpoint, Severity if_essential, Severity otherwise) {
  const bool essential = endpoint.protocol == Protocol::imap && endpoint.port == 993;
  return essential ? if_essential : otherwise;
}

Poco::Net::Context::Ptr client_context(const Context& ctx, const proto::TlsClientConfig& base) {
  proto::TlsClientConfig config = base;
  config.ca_file = ctx.options().ca_file;
  return proto::make_client_context(config);
}

nlohmann::json tls_facts(const proto::TlsSession& tls) {
  return {{"handshake", "ok"},
          {"protocol", tls.protocol},
          {"cipher", tls.cipher},
          {"bits", tls.bits},
          {"handshake_ms", tls.handshake_ms.count()}};
}

nlohmann::json tls_facts(const proto::Failure& failure) {
  return {{"handshake", "failed"}, {"error", failure.message}};
}

void probe_error(CheckResult& result, const std::string& what, const proto::Failure& failure) {
  result.status = Status::error;
  result.error = fmt::format("{}: {}", what, failure.message);
}

std::optional<Connection> open_connection(Context& ctx, CheckResult& r) {
  const Endpoint& e = *r.endpoint;
  Slot slot = ctx.acquire_slot(e.address);
  if (!slot) {
    r.status = Status::skip;
    r.error = "run deadline reached while waiting for a connection slot";
    return std::nullopt;
  }
  auto socket = proto::connect_tcp(e.address, e.port, ctx.wait_budget());
  if (!socket) {
    probe_error(r, "connect", socket.failure());
    return std::nullopt;
  }
  Poco::Net::StreamSocket stream = socket.value();
  if (e.tls == TlsMode::implicit) {
    Poco::Net::StreamSocket secure;
    const auto tls = proto::handshake(stream, e.host, client_context(ctx), ctx.wait_budget(), secure);
    if (!tls) {
      r.facts["tls"] = tls_facts(tls.failure());
      r.findings.push_back(make_finding(
          "tls.handshake-failed", endpoint_weight(e, Severity::critical, Severity::warning),
          fmt::format("{}: the TLS handshake failed: {}", e.label(), tls.failure().message),
          {{"error", tls.failure().message}}));
      r.settle();
      return std::nullopt;
    }
    r.facts["tls"] = tls_facts(tls.value());
    stream = secure;
  }
  return Connection{std::move(slot), proto::LineSession(stream, ctx.wait_budget())};
}

void keep_transcript(Context& ctx, std::string_view check, const Endpoint& e,
                     const proto::LineSession& session) {
  if (!ctx.options().trace) return;
  std::string text;
  for (const auto& line : session.transcript()) {
    text += line.from;
    text += ": ";
    text += line.text;
    text += '\n';
  }
  ctx.trace(fmt::format("{} {}", check, e.label()), std::move(text));
}

ChainStore& chain_store(Context& ctx) {
  return *ctx.shared<ChainStore>([] { return std::make_shared<ChainStore>(); });
}

namespace {

/// SMTP: banner, EHLO, STARTTLS. IMAP: greeting, CAPABILITY, STARTTLS.
TlsAttempt starttls_attempt(Context& ctx, const Endpoint& e, proto::LineSession& session,
                            const Poco::Net::Context::Ptr& tls) {
  TlsAttempt out;
  std::optional<proto::TlsSession> got;
  std::optional<proto::Failure> failure;
  if (e.protocol == Protocol::smtp) {
    auto banner = proto::read_smtp_reply(session);
    if (!banner || banner->code != 220) {
      out.detail = banner ? "no 220 greeting: " + banner->raw() : banner.failure().message;
      return out;
    }
    auto ehlo = proto::smtp_command(session, "EHLO " + proto::ehlo_name(session));
    if (!ehlo || ehlo->code != 250) {
      out.detail = ehlo ? "EHLO refused: " + ehlo->raw() : ehlo.failure().message;
      return out;
    }
    if (!proto::parse_ehlo(ehlo.value()).starttls) {
      out.kind = TlsAttempt::Kind::no_starttls;
      out.detail = "EHLO does not advertise STARTTLS";
      return out;
    }
    auto up = proto::smtp_starttls(session, e.host, tls, ctx.wait_budget());
    if (!up) {
      out.detail = up.failure().message;
      return out;
    }
    if (!up->tls && !up->tls_failure) {
      out.kind = TlsAttempt::Kind::no_starttls;
      out.detail = "STARTTLS refused: " + up->reply.raw();
      return out;
    }
    got = up->tls;
    failure = up->tls_failure;
    if (got) (void)proto::smtp_command(session, "QUIT");
  } else {
    auto line = session.read_line();
    if (!line) {
      out.detail = line.failure().message;
      return out;
    }
    const auto greeting = proto::parse_imap_greeting(line.value());
    if (greeting.kind != proto::ImapGreeting::Kind::ok) {
      out.detail = "no * OK greeting: " + line.value();
      return out;
    }
    auto caps = greeting.capabilities;
    if (caps.empty()) {
      auto reply = proto::imap_command(session, "t1", "CAPABILITY");
      if (reply) caps = proto::capabilities_of(reply.value());
    }
    if (!proto::has_capability(caps, "STARTTLS")) {
      out.kind = TlsAttempt::Kind::no_starttls;
      out.detail = "CAPABILITY does not list STARTTLS";
      return out;
    }
    auto up = proto::imap_starttls(session, "t2", e.host, tls, ctx.wait_budget());
    if (!up) {
      out.detail = up.failure().message;
      return out;
    }
    if (!up->tls && !up->tls_failure) {
      out.kind = TlsAttempt::Kind::no_starttls;
      out.detail = "STARTTLS refused: " + up->reply.text;
      return out;
    }
    got = up->tls;
    failure = up->tls_failure;
    if (got) (void)proto::imap_command(session, "t3", "LOGOUT");
  }
  if (failure) {
    out.kind = TlsAttempt::Kind::handshake_failed;
    out.detail = failure->message;
    return out;
  }
  out.kind = TlsAttempt::Kind::ok;
  out.session = *got;
  return out;
}

}  // namespace

TlsAttempt establish_tls(Context& ctx, const Endpoint& e, const proto::TlsClientConfig& config) {
  TlsAttempt out;
  Slot slot = ctx.acquire_slot(e.address);
  if (!slot) {
    out.detail = "run deadline reached while waiting for a connection slot";
    return out;
  }
  auto socket = proto::connect_tcp(e.address, e.port, ctx.wait_budget());
  if (!socket) {
    out.detail = "connect: " + socket.failure().message;
    return out;
  }
  const auto tls = client_context(ctx, config);
  if (e.tls == TlsMode::implicit) {
    Poco::Net::StreamSocket secure;
    auto got = proto::handshake(socket.value(), e.host, tls, ctx.wait_budget(), secure);
    if (!got) {
      out.kind = TlsAttempt::Kind::handshake_failed;
      out.detail = got.failure().message;
    } else {
      out.kind = TlsAttempt::Kind::ok;
      out.session = got.value();
      secure.close();
    }
    return out;
  }
  proto::LineSession session(socket.value(), ctx.wait_budget());
  out = starttls_attempt(ctx, e, session, tls);
  session.close();
  return out;
}

}  // namespace mailready::checks
