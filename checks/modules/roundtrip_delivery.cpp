// roundtrip.delivery (only with --send-test-message): submits a uniquely tagged probe
// through the port the phone would use (submission.fallback), with TLS and AUTH; watches
// INBOX (IDLE when offered, else a short poll) until it arrives; puts a copy in Sent as
// the phone does unless the server already did; then removes every probe it made (and
// any an interrupted earlier run left behind) from INBOX and Sent.

#include <algorithm>
#include <random>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "checks/core/check.hpp"
#include "checks/core/context.hpp"
#include "checks/core/runner.hpp"
#include "checks/modules/auth_common.hpp"
#include "checks/modules/common.hpp"
#include "checks/modules/findings.hpp"
#include "checks/modules/modules.hpp"
#include "checks/proto/imap.hpp"
#include "checks/proto/smtp.hpp"

namespace mailready::checks {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::string_view probe_header = "X-Mailready-Probe";

std::string new_tag() {
  std::random_device rd;
  return fmt::format("mailready-probe-{:016x}", (static_cast<std::uint64_t>(rd()) << 32) | rd());
}

/// The probe message, CRLF line endings.
std::string probe_message(const std::string& from, const std::string& to, const std::string& tag) {
  return fmt::format(
      "From: <{from}>\r\nTo: <{to}>\r\nSubject: mailready delivery probe {tag}\r\n"
      "Date: {date}\r\nMessage-ID: <{tag}@mailready.invalid>\r\n{header}: {tag}\r\n"
      "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
      "This message was sent by mailready to test delivery. It deletes it again;\r\n"
      "if you see it, a run was interrupted: it is safe to delete.\r\n",
      fmt::arg("from", from), fmt::arg("to", to), fmt::arg("tag", tag),
      fmt::arg("header", probe_header), fmt::arg("date", rfc3339_now()));
}

/// UIDs of messages in the selected mailbox whose probe header contains `value`
/// ("" finds every probe). Only well-formed UIDs (search_uids): what the server sends here
/// goes back to it in UID STORE.
std::vector<std::string> search_probes(ReadySession& s, const std::string& value) {
  auto reply = proto::imap_command(s.conn->session, s.next_tag(),
                                   fmt::format("UID SEARCH HEADER {} \"{}\"", probe_header, value));
  if (!reply || reply->status != "OK") return {};
  return proto::search_uids(reply.value());
}

/// Deletes the probes in `mailbox`; UID EXPUNGE (UIDPLUS) so no other message the user
/// marked deleted is expunged with them. Returns how many were removed.
std::size_t remove_probes(ReadySession& s, const std::string& mailbox, bool uidplus) {
  auto sel = proto::imap_command(s.conn->session, s.next_tag(), fmt::format("SELECT \"{}\"", mailbox));
  if (!sel || sel->status != "OK") return 0;
  const auto uids = search_probes(s, "");
  if (uids.empty()) return 0;
  std::string set;
  for (const auto& u : uids) set += (set.empty() ? "" : ",") + u;
  (void)proto::imap_command(s.conn->session, s.next_tag(),
                            fmt::format("UID STORE {} +FLAGS.SILENT (\\Deleted)", set));
  if (uidplus) {
    (void)proto::imap_command(s.conn->session, s.next_tag(), "UID EXPUNGE " + set);
  }
  return uids.size();
}

/// How long a server may take to end IDLE after DONE (RFC 2177), and the last look.
constexpr milliseconds idle_grace{2000};

/// How watching INBOX for the probe ended.
struct Watch {
  bool arrived = false;
  std::string idle_broken;  ///< the server broke IDLE (RFC 2177): how; nothing more was seen
};

/// One IDLE round: IDLE, wait for an EXISTS notice or a second, DONE, the tagged reply.
/// Returns how the server broke IDLE, or "" when it kept to RFC 2177.
std::string idle_once(ReadySession& s, Clock::time_point until) {
  auto& session = s.conn->session;
  const std::string t = s.next_tag();
  if (!session.write_line(t + " IDLE")) return "the connection broke at IDLE";
  auto go = session.read_line();
  if (!go) return "no continuation request after IDLE: " + go.failure().message;
  if (go->rfind("+", 0) != 0) return "IDLE answered with " + go.value();
  const auto saved = session.timeout();
  session.set_timeout(milliseconds(1000));
  for (;;) {
    auto line = session.read_line();
    if (!line || line->find("EXISTS") != std::string::npos || Clock::now() >= until) break;
  }
  session.set_timeout(saved);
  if (!session.write_line("DONE")) return "the connection broke at DONE";
  for (std::size_t i = 0; i < 1000; ++i) {
    auto line = session.read_line();
    if (!line) return "no tagged reply after DONE: " + line.failure().message;
    if (line->rfind(t + " ", 0) == 0) return {};
  }
  return "no tagged reply after DONE";
}

/// Waits in the selected INBOX until the probe shows up or `until` passes: IDLE when the
/// server offers it (new-message notices arrive at once), else SEARCH every 500 ms. No
/// read here outlasts `until` (nor the run's deadline, already on the session); a server
/// that does not answer IDLE or ignores DONE ends the watch, and says so.
Watch wait_for_probe(ReadySession& s, const std::string& tag, bool idle, Clock::time_point until) {
  auto& session = s.conn->session;
  // Past `until` only the goodbye of the last IDLE round (DONE and its tagged reply) and
  // the last look are left: they get a short grace, within the run's deadline.
  const auto run_deadline = session.deadline();
  const auto grace = until + idle_grace;
  session.set_deadline(run_deadline && *run_deadline < grace ? *run_deadline : grace);
  Watch out;
  while (Clock::now() < until) {
    if (!search_probes(s, tag).empty()) {
      out.arrived = true;
      break;
    }
    if (!idle) {
      const auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now());
      std::this_thread::sleep_for(std::clamp(left, milliseconds(0), milliseconds(500)));
      (void)proto::imap_command(session, s.next_tag(), "NOOP");
      continue;
    }
    out.idle_broken = idle_once(s, until);
    if (!out.idle_broken.empty()) break;
  }
  // The last look; a session that broke IDLE may still be in it and is not asked again.
  if (!out.arrived && out.idle_broken.empty()) out.arrived = !search_probes(s, tag).empty();
  session.set_deadline(run_deadline);
  return out;
}

class RoundtripDelivery final : public Check {
 public:
  const CheckInfo& info() const override {
    static const CheckInfo i{"roundtrip.delivery",
                             "A probe message sent through the phone's port arrives (opt-in)",
                             {"submission.fallback", "imap.mailbox"}};
    return i;
  }

  std::vector<CheckResult> run(Context& ctx) const override {
    const auto& o = ctx.options();
    CheckResult r = host_result(ctx, info().id, o.smtp_host);
    if (!o.send_test_message) {
      r.status = Status::skip;
      r.error = "sends real mail only with --send-test-message";
      return {r};
    }
    // The submission endpoint the phone lands on, and a mechanism that logged in there.
    int port = 0;
    for (const auto& f : ctx.results_of("submission.fallback")) {
      if (f.facts.contains("port") && f.facts["port"].is_number()) port = f.facts["port"];
    }
    std::optional<CheckResult> smtp_login;
    std::optional<CheckResult> imap_login;
    for (const auto& l : ctx.results_of("auth.login")) {
      if (!l.endpoint || !l.facts.value("accepted", false)) continue;
      if (l.endpoint->protocol == Protocol::smtp && l.endpoint->port == port && !smtp_login) smtp_login = l;
      if (l.endpoint->protocol == Protocol::imap &&
          (!imap_login || (l.endpoint->port == 993 && imap_login->endpoint->port != 993))) {
        imap_login = l;
      }
    }
    const auto mailbox = ctx.results_of("imap.mailbox");
    if (!smtp_login || !imap_login || mailbox.empty() || !mailbox.front().endpoint) {
      r.status = Status::skip;
      r.error = "needs a working submission login on the fallback port and an IMAP login";
      return {r};
    }
    return {roundtrip(ctx, std::move(r), *smtp_login, *imap_login, mailbox.front())};
  }

 private:
  CheckResult roundtrip(Context& ctx, CheckResult r, const CheckResult& smtp_login,
                        const CheckResult& imap_login, const CheckResult& mailbox) const {
    const auto& o = ctx.options();
    const std::string from = o.smtp_user;
    const std::string to = o.send_to.empty() ? o.imap_user : o.send_to;
    const bool watch = to == o.imap_user;  // only our own INBOX can be watched
    const std::string sent_box = mailbox.facts.value("sent", "");
    const bool idle = mailbox.facts.value("idle", false);
    const std::string tag = new_tag();
    r.facts["tag"] = tag;
    r.facts["to"] = to;
    r.facts["port"] = smtp_login.endpoint->port;

    // Step 1: an IMAP session for cleanup and watching; old probes go first.
    const Endpoint& ie = *imap_login.endpoint;
    LoggedIn imap = log_in(ctx, ie, imap_login.facts["mechanism"], o.imap_user, o.password,
                           !imap_login.facts.value("over_tls", true));
    if (imap.attempt.kind != LoginAttempt::Kind::accepted) {
      r.status = Status::error;
      r.error = "IMAP login failed: " + imap.attempt.reply;
      return r;
    }
    auto& is = imap.ready;
    // Capabilities after login: UIDPLUS is often announced only then.
    auto caps = proto::imap_command(is.conn->session, is.next_tag(), "CAPABILITY");
    const auto capabilities = caps ? proto::capabilities_of(caps.value()) : is.capabilities;
    const bool uidplus = proto::has_capability(capabilities, "UIDPLUS") ||
                         proto::has_capability(capabilities, "IMAP4REV2");
    r.facts["uidplus"] = uidplus;
    std::size_t leftovers = remove_probes(is, "INBOX", uidplus);
    if (!sent_box.empty()) leftovers += remove_probes(is, sent_box, uidplus);
    r.facts["leftovers_removed"] = leftovers;
    (void)proto::imap_command(is.conn->session, is.next_tag(), "SELECT INBOX");

    // Step 2: submit, as the phone does, with TLS and AUTH.
    const Endpoint& se = *smtp_login.endpoint;
    const std::string message = probe_message(from, to, tag);
    LoggedIn smtp = log_in(ctx, se, smtp_login.facts["mechanism"], o.smtp_user, o.password,
                           !smtp_login.facts.value("over_tls", true));
    if (smtp.attempt.kind != LoginAttempt::Kind::accepted) {
      r.status = Status::error;
      r.error = "SMTP login failed: " + smtp.attempt.reply;
      is.close();
      return r;
    }
    const auto submit_started = Clock::now();
    auto submitted = proto::smtp_send(smtp.ready.conn->session, from, to, message);
    const auto submit_ms = std::chrono::duration_cast<milliseconds>(Clock::now() - submit_started);
    smtp.ready.close();
    keep_transcript(ctx, info().id, se, smtp.ready);
    r.facts["submit_ms"] = submit_ms.count();
    if (!submitted || !submitted->accepted) {
      const std::string why = submitted ? fmt::format("{}: {}", submitted->stage, submitted->reply)
                                        : submitted.failure().message;
      r.findings.push_back(make_finding(
          "roundtrip.not-submitted",
          fmt::format("{} did not accept the probe message ({})", se.label(), why),
          {{"reply", why}}));
      is.close();
      r.settle();
      return r;
    }
    r.facts["queue_reply"] = submitted->reply;

    // Step 3: watch INBOX until it arrives.
    r.facts["delivery_ms"] = nullptr;
    r.facts["watched"] = watch;
    if (watch) {
      const auto until = Clock::now() + o.delivery_timeout;
      const Watch watched = wait_for_probe(is, tag, idle, until);
      const auto delivery_ms = std::chrono::duration_cast<milliseconds>(Clock::now() - submit_started);
      if (watched.arrived) {
        r.facts["delivery_ms"] = delivery_ms.count();
        if (delivery_ms > o.slow_delivery) {
          r.findings.push_back(make_finding(
              "roundtrip.slow",
              fmt::format("The probe took {} ms to arrive (threshold {} ms)", delivery_ms.count(),
                          o.slow_delivery.count()),
              {{"delivery_ms", delivery_ms.count()}}));
        }
      } else if (!watched.idle_broken.empty()) {
        // Not the MTA's fault as far as anyone can tell: the mailbox could not be watched.
        r.findings.push_back(make_finding(
            "imap.idle-broken",
            fmt::format("{} broke IDLE while mailready watched INBOX for the probe ({}); "
                        "whether it arrived is unknown",
                        ie.label(), watched.idle_broken),
            {{"detail", watched.idle_broken}, {"waited_ms", delivery_ms.count()}}));
        is.close();
        keep_transcript(ctx, info().id, ie, is);
        r.summary = "INBOX could not be watched: " + watched.idle_broken;
        r.settle();
        return r;
      } else {
        r.findings.push_back(make_finding(
            "roundtrip.not-delivered",
            fmt::format("The probe was accepted ({}) but had not arrived in {}'s INBOX after {} s",
                        submitted->reply, to, o.delivery_timeout.count() / 1000),
            {{"queue_reply", submitted->reply}, {"waited_ms", delivery_ms.count()}}));
      }
    }

    // Step 4: the copy in Sent, as the phone keeps it, unless the server made one.
    r.facts["sent_copy"] = nullptr;
    if (!sent_box.empty()) {
      auto sel = proto::imap_command(is.conn->session, is.next_tag(), fmt::format("SELECT \"{}\"", sent_box));
      const bool server_saved = sel && sel->status == "OK" && !search_probes(is, tag).empty();
      if (server_saved) {
        r.facts["sent_copy"] = "saved by the server";
      } else {
        auto& session = is.conn->session;
        const std::string t = is.next_tag();
        bool appended = false;
        if (session.write_line(fmt::format("{} APPEND \"{}\" (\\Seen) {{{}}}", t, sent_box, message.size()))) {
          auto go = session.read_line();
          if (go && go->rfind("+", 0) == 0 && session.write_line(message)) {
            for (int i = 0; i < 100; ++i) {
              auto line = session.read_line();
              if (!line) break;
              if (line->rfind(t + " ", 0) == 0) {
                appended = line->rfind(t + " OK", 0) == 0;
                break;
              }
            }
          }
        }
        r.facts["sent_copy"] = appended ? "appended" : "append failed";
      }
    }

    // Step 5: leave nothing behind.
    std::size_t removed = remove_probes(is, "INBOX", uidplus);
    if (!sent_box.empty()) removed += remove_probes(is, sent_box, uidplus);
    r.facts["probes_removed"] = removed;
    is.close();
    keep_transcript(ctx, info().id, ie, is);

    r.summary = r.facts["delivery_ms"].is_null()
                    ? fmt::format("submitted in {} ms", submit_ms.count())
                    : fmt::format("submitted in {} ms, delivered in {} ms", submit_ms.count(),
                                  r.facts["delivery_ms"].get<long long>());
    r.settle();
    return r;
  }
};

}  // namespace

std::unique_ptr<Check> make_roundtrip_delivery() { return std::make_unique<RoundtripDelivery>(); }

}  // namespace mailready::checks
