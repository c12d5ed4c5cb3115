#include "checks/modules/common.hpp"

#include <fmt/format.h>

#include "checks/modules/findings.hpp"

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

CheckResult nothing_to_do(const Context& ctx, std::string_view check, const std::string& host,
                          std::string why) {
  CheckResult r = host_result(ctx, check, host);
  r.status = Status::skip;
  r.error = std::move(why);
  return r;
}

bool port_open(const Context& ctx, const Endpoint& e) {
  for (const auto& r : ctx.results_at("ports.reachability", e)) {
    if (r.facts.value("state", "") == "open") return true;
  }
  return false;
}

std::optional<CheckResult> greeting_at(const Context& ctx, const Endpoint& e) {
  for (auto& g : ctx.results_at(e.protocol == Protocol::imap ? "imap.greeting" : "smtp.greeting", e)) {
    if (g.facts.value("greeting_ok", false)) return std::move(g);
  }
  return std::nullopt;
}

bool first_that_can(Context& ctx, const Endpoint& e, std::initializer_list<std::string_view> checks,
                    const std::function<bool(const Endpoint&)>& can) {
  for (const auto& before : ctx.endpoints()) {
    if (before == e) break;
    if (before.protocol != e.protocol) continue;
    for (const auto check : checks) ctx.await(check, before);
    if (can(before)) return false;
  }
  return true;
}

Severity endpoint_weight(const Endpoint& endpoint, Severity if_essential, Severity otherwise) {
  const bool essential = endpoint.protocol == Protocol::imap && endpoint.port == 993;
  return essential ? if_essential : otherwise;
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

void keep_transcript(Context& ctx, std::string_view check, const Endpoint& e,
                     const std::vector<proto::TranscriptLine>& transcript, std::size_t from) {
  if (!ctx.options().trace) return;
  std::string text;
  if (from > 0) text = "(continues an earlier check's session)\n";
  for (std::size_t i = from; i < transcript.size(); ++i) {
    text += transcript[i].from;
    text += ": ";
    text += transcript[i].text;
    text += '\n';
  }
  ctx.trace(fmt::format("{} {}", check, e.label()), std::move(text));
}

void note_connection_limit(CheckResult& r, const Endpoint& e, const ConnectionLimit& limit) {
  if (limit.open <= 0) return;
  r.findings.push_back(make_finding(
      "rate-limited", Severity::info,
      fmt::format("{} refused one more session while {} of ours were open or opening there "
                  "({}); mailready waited for its turn and tried again",
                  e.label(), limit.open, limit.reply),
      {{"open_sessions", limit.open}, {"reply", limit.reply}}));
}

bool judge_connection(CheckResult& r, const Endpoint& e, const FirstContact& fc, Severity weight) {
  if (!fc.no_slot.empty()) {
    r.status = Status::skip;
    r.error = fc.no_slot;
    return true;
  }
  if (fc.connect_failure) {
    probe_error(r, "connect", *fc.connect_failure);
    return true;
  }
  if (fc.implicit_tls_failure) {
    r.facts["tls"] = tls_facts(*fc.implicit_tls_failure);
    r.findings.push_back(make_finding(
        "tls.handshake-failed", weight,
        fmt::format("{}: the TLS handshake failed: {}", e.label(), fc.implicit_tls_failure->message),
        {{"error", fc.implicit_tls_failure->message}}));
    r.settle();
    return true;
  }
  if (fc.implicit_tls) r.facts["tls"] = tls_facts(*fc.implicit_tls);
  return false;
}

void no_greeting(CheckResult& r, const Endpoint& e, const proto::Failure& failure,
                 std::string_view protocol, Severity weight) {
  const bool garbage = failure.kind == proto::Failure::Kind::protocol;
  r.facts["banner"] = nullptr;
  r.findings.push_back(make_finding(
      garbage ? "protocol.unexpected-greeting" : "protocol.no-greeting", weight,
      fmt::format("{}: no {} greeting: {}", e.label(), protocol, failure.message),
      {{"error", failure.message}}));
  r.settle();
}

void starttls_handshake_failed(CheckResult& r, const Endpoint& e, const proto::Failure& failure,
                               Severity weight) {
  r.facts["tls"] = tls_facts(failure);
  r.findings.push_back(make_finding(
      "tls.handshake-failed", weight,
      fmt::format("{}: the TLS handshake after STARTTLS failed: {}", e.label(), failure.message),
      {{"error", failure.message}}));
  r.settle();
}

void judge_after_starttls(CheckResult& r, const Endpoint& e, const FirstContact& fc, Severity weight) {
  if (fc.starttls_injected > 0) {
    // RFC 3207 §4.2 / CVE-2011-0411: whatever the server (or a box on the path) sent
    // there would be read as if it came over TLS by a client that does not drop it.
    r.findings.push_back(make_finding(
        "tls.starttls-injection",
        fmt::format("{} sent {} bytes after its reply to STARTTLS and before the TLS handshake "
                    "(mailready discarded them)",
                    e.label(), fc.starttls_injected),
        {{"bytes", fc.starttls_injected}}));
  }
  if (fc.after_tls_failure) {
    r.facts["after_tls_failed"] = fc.after_tls_failure->message;
    r.findings.push_back(make_finding(
        "protocol.closed-after-starttls", weight,
        fmt::format("{} completed the STARTTLS handshake, then did not answer over TLS: {}",
                    e.label(), fc.after_tls_failure->message),
        {{"error", fc.after_tls_failure->message}}));
  }
}

void note_over_limit(CheckResult& r, const Endpoint& e, std::size_t dropped, std::string_view what) {
  if (dropped == 0) return;
  r.findings.push_back(make_finding(
      "protocol.limit-exceeded",
      fmt::format("{} sent more {} than mailready keeps; {} were dropped", e.label(), what, dropped),
      {{"dropped", dropped}}));
}

ChainStore& chain_store(Context& ctx) {
  return *ctx.shared<ChainStore>([] { return std::make_shared<ChainStore>(); });
}

}  // namespace mailready::checks
