#include "checks/core/model.hpp"

#include <algorithm>
#include <tuple>

#include <fmt/format.h>

namespace mailready {

std::string_view to_string(Severity s) {
  switch (s) {
    case Severity::info: return "info";
    case Severity::warning: return "warning";
    case Severity::critical: return "critical";
  }
  return "?";
}

std::string_view to_string(Status s) {
  switch (s) {
    case Status::pass: return "pass";
    case Status::warn: return "warn";
    case Status::fail: return "fail";
    case Status::skip: return "skip";
    case Status::error: return "error";
  }
  return "?";
}

std::string_view to_string(Verdict v) {
  switch (v) {
    case Verdict::ok: return "ok";
    case Verdict::warning: return "warning";
    case Verdict::critical: return "critical";
    case Verdict::unknown: return "unknown";
  }
  return "?";
}

std::string_view to_string(Role r) {
  switch (r) {
    case Role::incoming: return "incoming";
    case Role::submission: return "submission";
    case Role::relay: return "relay";
  }
  return "?";
}

std::string_view to_string(TlsMode t) {
  switch (t) {
    case TlsMode::implicit: return "implicit";
    case TlsMode::starttls: return "starttls";
    case TlsMode::none: return "none";
  }
  return "?";
}

std::string_view to_string(Protocol p) {
  switch (p) {
    case Protocol::imap: return "imap";
    case Protocol::smtp: return "smtp";
    case Protocol::pop3: return "pop3";
  }
  return "?";
}

std::string Endpoint::label() const {
  if (address.empty() || address == host) return fmt::format("{}:{}", host, port);
  return fmt::format("{}[{}]:{}", host, address, port);
}

bool Endpoint::operator==(const Endpoint& o) const {
  return std::tie(host, address, port, protocol, tls, role) ==
         std::tie(o.host, o.address, o.port, o.protocol, o.tls, o.role);
}

bool Endpoint::operator<(const Endpoint& o) const {
  return std::tie(host, address, port, protocol, tls, role) <
         std::tie(o.host, o.address, o.port, o.protocol, o.tls, o.role);
}

std::string CheckResult::host() const {
  if (endpoint) return endpoint->host;
  const auto h = facts.find("host");
  if (h != facts.end() && h->is_string()) return h->get<std::string>();
  return target;
}

std::string CheckResult::where() const { return endpoint ? endpoint->label() : host(); }

void CheckResult::settle() {
  if (status == Status::skip || status == Status::error) return;
  const auto worst = worst_severity(findings);
  if (!worst || *worst == Severity::info) {
    status = Status::pass;
  } else if (*worst == Severity::warning) {
    status = Status::warn;
  } else {
    status = Status::fail;
  }
}

std::optional<Severity> worst_severity(const std::vector<Finding>& findings) {
  std::optional<Severity> worst;
  for (const auto& f : findings) {
    if (!worst || f.severity > *worst) worst = f.severity;
  }
  return worst;
}

Verdict verdict_of(const Report& report) {
  bool warning = false;
  bool unknown = false;
  for (const auto& r : report.results) {
    const auto worst = worst_severity(r.findings);
    if (worst == Severity::critical) return Verdict::critical;
    if (worst == Severity::warning) warning = true;
    if (r.status == Status::error) unknown = true;
  }
  if (warning) return Verdict::warning;
  if (unknown) return Verdict::unknown;
  return Verdict::ok;
}

int exit_code_of(Verdict v) {
  switch (v) {
    case Verdict::ok: return 0;
    case Verdict::warning: return 1;
    case Verdict::critical: return 2;
    case Verdict::unknown: return 3;
  }
  return 3;
}

}  // namespace mailready
