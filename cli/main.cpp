// mailready: options → plan → checks → report → reporter → exit code.

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <variant>

#include <unistd.h>

#include <Poco/Net/NetSSL.h>
#include <fmt/format.h>

#include "checks/core/context.hpp"
#include "checks/core/runner.hpp"
#include "checks/modules/diagnosis.hpp"
#include "checks/modules/findings.hpp"
#include "checks/modules/modules.hpp"
#include "cli/command_line.hpp"
#include "cli/fleet.hpp"
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

/// NDJSON reports: each result is written the moment it is ready, so a consumer of a very
/// large run sees results stream in.
class NdjsonStream final : public ProgressSink {
 public:
  explicit NdjsonStream(cli::Output& out) : out_(out) {}
  void check_started(std::string_view /*id*/) override {}
  void result_ready(const CheckResult& result) override {
    out_.write(report::ndjson_result_line(result) + "\n");
  }

 private:
  cli::Output& out_;
};

/// Hands every event to each sink.
class FanOut final : public ProgressSink {
 public:
  void add(ProgressSink* sink) { sinks_.push_back(sink); }
  bool empty() const { return sinks_.empty(); }
  void check_started(std::string_view id) override {
    for (auto* s : sinks_) s->check_started(id);
  }
  void result_ready(const CheckResult& result) override {
    for (auto* s : sinks_) s->result_ready(result);
  }

 private:
  std::vector<ProgressSink*> sinks_;
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

int check(const cli::Invocation& invocation) {
  cli::Invocation inv = invocation;
  const auto registry = checks::default_registry();
  const auto selected = registry.select(inv.options.only, inv.options.skip);

  // A fleet's file first: a bad one stops the run before a password is asked for.
  std::optional<cli::TargetList> fleet;
  if (!inv.targets_file.empty()) fleet = cli::load_targets(inv.targets_file);

  // Secrets are read now, after the command line was found good, and only when needed.
  auto& o = inv.options;
  if (!o.imap_user.empty() || !o.smtp_user.empty()) {
    o.password = cli::read_password(inv.password_source,
                                    o.imap_user.empty() ? o.smtp_user : o.imap_user);
  }
  if (!inv.oauth_token_env.empty()) {
    o.oauth_token = cli::read_env_secret(inv.oauth_token_env, "--oauth-token-env");
  }
  if (fleet) return cli::run_fleet(inv, *fleet);

  std::unique_ptr<cli::Output> trace;
  if (!inv.trace_file.empty()) trace = std::make_unique<cli::Output>(inv.trace_file);

  // Every destination is opened before the run, so an unwritable path fails now.
  std::vector<std::unique_ptr<cli::Output>> outputs;
  for (const auto& d : inv.reports) outputs.push_back(std::make_unique<cli::Output>(d.path));

  // Live events: the progress line (a terminal, not --quiet) and streamed NDJSON.
  FanOut sinks;
  std::optional<TerminalProgress> terminal;
  if (!inv.quiet && ::isatty(STDERR_FILENO) == 1) {
    terminal.emplace();
    sinks.add(&*terminal);
  }
  std::vector<std::unique_ptr<NdjsonStream>> streams;
  for (std::size_t i = 0; i < inv.reports.size(); ++i) {
    if (inv.reports[i].format != "ndjson") continue;
    streams.push_back(std::make_unique<NdjsonStream>(*outputs[i]));
    sinks.add(streams.back().get());
  }

  Context ctx(inv.options, sinks.empty() ? nullptr : &sinks);
  Report report = run_checks(selected, ctx);
  checks::diagnose(report);
  if (terminal) terminal.reset();  // clear the progress line before the report

  for (std::size_t i = 0; i < inv.reports.size(); ++i) {
    const auto& d = inv.reports[i];
    const report::RenderOptions render = cli::render_options(inv, *outputs[i]);
    if (d.format == "ndjson") {
      outputs[i]->commit(report::ndjson_summary_line(report) + "\n");
      continue;
    }
    std::ostringstream text;
    report::find_format(d.format)->write(report, text, render);
    outputs[i]->commit(text.str());
  }
  if (trace) {
    std::string text;
    for (const auto& [title, transcript] : ctx.traces()) text += "== " + title + "\n" + transcript + "\n";
    trace->commit(text);
  }
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
      case cli::Invocation::Command::serve: rc = serve::run_serve(inv.serve); break;
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
