#pragma once
// Diagnosis: which hop of the guide's path each failing result points at (facts.hop), and
// the first broken hop of the run, with what to do about it in the words of the guide's
// setup steps. Path order: dns → firewall → tls → gateway → directory → mail-server → mta.

#include <string>
#include <string_view>

#include "checks/core/model.hpp"

namespace mailready::checks {

/// The hop a finding of `result` points at, reading the evidence the server gave
/// (IMAP response codes, SMTP enhanced status codes). "" when it points at none.
std::string hop_of(const CheckResult& result, const Finding& finding);

/// The hop an error result (could not probe) points at, from its check and words.
std::string hop_of_error(const CheckResult& result);

/// Sets facts.hop on every result with a warning or critical finding (the worst finding's
/// hop) or an error, and fills report.diagnosis with the first broken hop along the path.
void diagnose(Report& report);

/// What to do about a broken hop, as the guide's setup steps say it.
std::string_view hop_advice(std::string_view hop);

}  // namespace mailready::checks
