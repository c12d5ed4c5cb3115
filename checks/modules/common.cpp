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

/// SMTP: banner, EHLO. IMAP: greeting, CAPABILITY. Fills `ready`'s capabilities; false
/// (with ready.detail) when the server does not get that far.
bool greet(proto::LineSession& session, const Endpoint& e, ReadySession& ready) {
  if (e.protocol == Protocol::smtp) {
    auto banner = proto::read_smtp_reply(session);
    if (!banner || banner->code != 220) {
      ready.detail = banner ? "no 220 greeting: " + banner->raw() : banner.failure().message;
      return false;
    }
    auto ehlo = proto::smtp_command(session, "EHLO " + proto::ehlo_name(session));
    if (!ehlo || ehlo->code != 250) {
      ready.detail = ehlo ? "EHLO refused: " + ehlo->raw() : ehlo.failure().message;
      return false;
    }
    ready.ehlo = proto::parse_ehlo(ehlo.value());
    return true;
  }
  auto line = session.read_line();
  if (!line) {
    ready.detail = line.failure().message;
    return false;
  }
  const auto greeting = proto::parse_imap_greeting(line.value());
  if (greeting.kind != proto::ImapGreeting::Kind::ok) {
    ready.detail = "no * OK greeting: " + line.value();
    return false;
  }
  ready.capabilities = greeting.capabilities;
  if (ready.capabilities.empty()) {
    auto reply = proto::imap_command(session, ready.next_tag(), "CAPABILITY");
    if (reply) ready.capabilities = proto::capabilities_of(reply.value());
  }
  return true;
}

/// STARTTLS and the capabilities again (they change after TLS).
void upgrade(Context& ctx, proto::LineSession& session, const Endpoint& e,
             const Poco::Net::Context::Ptr& tls, ReadySession& ready) {
  std::optional<proto::TlsSession> got;
  std::optional<proto::Failure> failure;
  std::string refused;
  if (e.protocol == Protocol::smtp) {
    if (!ready.ehlo.starttls) {
      ready.kind = TlsAttempt::Kind::no_starttls;
      ready.detail = "EHLO does not advertise STARTTLS";
      return;
    }
    auto up = proto::smtp_starttls(session, e.host, tls, ctx.wait_budget());
    if (!up) {
      ready.detail = up.failure().message;
      return;
    }
    got = up->tls;
    failure = up->tls_failure;
    refused = up->reply.raw();
  } else {
    if (!proto::has_capability(ready.capabilities, "STARTTLS")) {
      ready.kind = TlsAttempt::Kind::no_starttls;
      ready.detail = "CAPABILITY does not list STARTTLS";
      return;
    }
    auto up = proto::imap_starttls(session, ready.next_tag(), e.host, tls, ctx.wait_budget());
    if (!up) {
      ready.detail = up.failure().message;
      return;
    }
    got = up->tls;
    failure = up->tls_failure;
    refused = up->reply.text;
  }
  if (failure) {
    ready.kind = TlsAttempt::Kind::handshake_failed;
    ready.detail = failure->message;
    return;
  }
  if (!got) {
    ready.kind = TlsAttempt::Kind::no_starttls;
    ready.detail = "STARTTLS refused: " + refused;
    return;
  }
  ready.tls = got;
  // Capabilities again, now over TLS.
  if (e.protocol == Protocol::smtp) {
    auto ehlo = proto::smtp_command(session, "EHLO " + proto::ehlo_name(session));
    if (ehlo && ehlo->code == 250) ready.ehlo = proto::parse_ehlo(ehlo.value());
  } else {
    auto reply = proto::imap_command(session, ready.next_tag(), "CAPABILITY");
    if (reply) ready.capabilities = proto::capabilities_of(reply.value());
  }
  ready.kind = TlsAttempt::Kind::ok;
}

}  // namespace

std::string ReadySession::next_tag() { return fmt::format("m{}", ++tag_); }

void ReadySession::close() {
  if (!conn) return;
  if (protocol == Protocol::smtp) {
    (void)proto::smtp_command(conn->session, "QUIT");
  } else {
    (void)proto::imap_command(conn->session, next_tag(), "LOGOUT");
  }
  conn->session.close();
}

ReadySession open_session(Context& ctx, const Endpoint& e, const proto::TlsClientConfig& config,
                          bool want_tls) {
  ReadySession ready;
  ready.protocol = e.protocol;
  Slot slot = ctx.acquire_slot(e.address);
  if (!slot) {
    ready.detail = "run deadline reached while waiting for a connection slot";
    return ready;
  }
  auto socket = proto::connect_tcp(e.address, e.port, ctx.wait_budget());
  if (!socket) {
    ready.detail = "connect: " + socket.failure().message;
    return ready;
  }
  Poco::Net::StreamSocket stream = socket.value();
  const auto tls = client_context(ctx, config);
  if (e.tls == TlsMode::implicit) {
    Poco::Net::StreamSocket secure;
    auto got = proto::handshake(stream, e.host, tls, ctx.wait_budget(), secure);
    if (!got) {
      ready.kind = TlsAttempt::Kind::handshake_failed;
      ready.detail = got.failure().message;
      return ready;
    }
    ready.tls = got.value();
    stream = secure;
  }
  ready.conn.emplace(Connection{std::move(slot), proto::LineSession(stream, ctx.wait_budget())});
  auto& session = ready.conn->session;
  if (!greet(session, e, ready)) {
    ready.kind = TlsAttempt::Kind::not_reached;
    ready.close();
    ready.conn.reset();
    return ready;
  }
  if (e.tls == TlsMode::implicit) {
    ready.kind = TlsAttempt::Kind::ok;
  } else if (want_tls) {
    upgrade(ctx, session, e, tls, ready);
  } else {
    ready.kind = TlsAttempt::Kind::no_starttls;  // plaintext on purpose
  }
  return ready;
}

TlsAttempt establish_tls(Context& ctx, const Endpoint& e, const proto::TlsClientConfig& config) {
  ReadySession ready = open_session(ctx, e, config, true);
  TlsAttempt out;
  out.kind = ready.kind;
  out.detail = ready.detail;
  if (ready.tls) out.session = *ready.tls;
  ready.close();
  return out;
}

}  // namespace mailready::checks
