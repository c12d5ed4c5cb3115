// mailready: options → plan → checks → report → reporter → exit code.

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <sstream>
#include <variant>

#include <unistd.h>

#include <Poco/Net/NetSSL.h>
#include <fmt/format.h>

#include "checks/core/context.hpp"
#include "checks/core/runner.hpp"
#include "checks/modules/findings.hpp"
#include "checks/modules/modules.hpp"
#include "cli/command_line.hpp"
#include "cli/output.hpp"
#include "reports/reporters.hpp"

namespace {

using namespace mailready;

/// Live progress on stderr when it is a terminal: one line rewritten in place.
class TerminalProgress final : public ProgressSink {
 public:
  void check_started(std::string_view id) override {
    std::cerr << fmt::format("\r\033[Kchecking {} ...", id) << std::flush;
  }
  void result_ready(const CheckResult& /*result*/) override {}
  ~TerminalProgress() override { std::cerr << "\r\033[K" << std::flush; }
};

int list_checks() {
  const auto registry = checks::default_registry();
  for (const auto& c : registry.checks()) {
    std::string needs;
    for (const auto n : c->info().needs) needs += (needs.empty() ? "" : ", ") + std::string(n);
    std::cout << fmt::format("{:<22} {}{}\n", c->info().id, c->info().title,
                             needs.empty() ? "" : fmt::format(" (needs {})", needs));
  }
  return 0;
}

int explain(const std::string& id) {
  const auto* info = checks::find_finding_info(id);
  if (info == nullptr) {
    std::cerr << fmt::format("mailready: unknown finding id '{}'; known ids:", id);
    for (const auto& f : checks::finding_catalog()) std::cerr << ' ' << f.id;
    std::cerr << '\n';
    return 3;
  }
  std::cout << fmt::format("{} ({})\n{}\n\n{}\n\nWhat to do: {}\n", info->id,
                           to_string(info->severity), info->title, info->explanation,
                           info->remediation);
  return 0;
}

int check(const cli::Invocation& inv) {
  const auto registry = checks::default_registry();
  const auto selected = registry.select(inv.options.only, inv.options.skip);
  cli::Output output(inv.output);  // fails now, not after the run, if unwritable

  std::optional<TerminalProgress> terminal;
  if (!inv.quiet && ::isatty(STDERR_FILENO) == 1) terminal.emplace();
  Context ctx(inv.options, terminal ? &*terminal : nullptr);
  const Report report = run_checks(selected, ctx);

  report::RenderOptions render;
  render.color = output.to_terminal() && std::getenv("NO_COLOR") == nullptr;
  std::ostringstream text;
  report::find_format(inv.format)->write(report, text, render);
  output.commit(text.str());
  return exit_code_of(verdict_of(report));
}

}  // namespace

int main(int argc, char** argv) {
  // A server closing on us must be a finding, not SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  const auto parsed = cli::parse_command_line(argc, argv);
  if (const int* code = std::get_if<int>(&parsed)) return *code;
  const auto& inv = std::get<cli::Invocation>(parsed);

  Poco::Net::initializeSSL();
  int rc = 3;
  try {
    switch (inv.command) {
      case cli::Invocation::Command::checks: rc = list_checks(); break;
      case cli::Invocation::Command::explain: rc = explain(inv.finding_id); break;
      case cli::Invocation::Command::check: rc = check(inv); break;
    }
  } catch (const UsageError& e) {
    std::cerr << "mailready: " << e.what() << '\n';
    rc = 3;
  } catch (const std::exception& e) {
    std::cerr << "mailready: " << e.what() << '\n';
    rc = 3;
  }
  Poco::Net::uninitializeSSL();
  return rc;
}
