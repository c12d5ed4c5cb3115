#include "checks/modules/common.hpp"

#include <fmt/format.h>

#include "checks/modules/findings.hpp"
#include "checks/proto/connect.hpp"

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

Poco::Net::Context::Ptr probe_context(Context& ctx) {
  return *ctx.shared<Poco::Net::Context::Ptr>([] {
    return std::make_shared<Poco::Net::Context::Ptr>(proto::make_probe_context());
  });
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
    const auto tls = proto::handshake(stream, e.host, probe_context(ctx), ctx.wait_budget(), secure);
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

}  // namespace mailready::checks
