// imap.mailbox: after login, what the phone's Mail app sees: INBOX (SELECT: messages,
// UIDVALIDITY), the special-use mailboxes (LIST RETURN (SPECIAL-USE), RFC 6154; XLIST on
// old servers; names as a last resort) and whether IDLE (push) is offered.

#include <fmt/format.h>

#include "checks/core/check.hpp"
#include "checks/core/context.hpp"
#include "checks/modules/auth_common.hpp"
#include "checks/modules/common.hpp"
#include "checks/modules/findings.hpp"
#include "checks/modules/modules.hpp"
#include "checks/proto/imap.hpp"

namespace mailready::checks {
namespace {

/// What iOS and the common servers call these mailboxes when no SPECIAL-USE says so.
const std::vector<std::string_view> sent_names{"Sent", "Sent Messages", "Sent Items", "Sent Mail"};
const std::vector<std::string_view> drafts_names{"Drafts", "Draft"};
const std::vector<std::string_view> trash_names{"Trash", "Deleted Messages", "Deleted Items"};

/// "[UIDVALIDITY 3857529045] UIDs valid" → 3857529045.
std::optional<std::uint64_t> uidvalidity_of(const proto::ImapReply& reply) {
  for (const auto& u : reply.untagged) {
    const auto at = u.find("[UIDVALIDITY ");
    if (at == std::string::npos) continue;
    try {
      return std::stoull(u.substr(at + 13));
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<std::uint64_t> exists_of(const proto::ImapReply& reply) {
  for (const auto& u : reply.untagged) {
    const auto space = u.find(' ');
    if (space != std::string::npos && u.compare(space + 1, std::string::npos, "EXISTS") == 0) {
      try {
        return std::stoull(u.substr(0, space));
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

class ImapMailbox final : public Check {
 public:
  const CheckInfo& info() const override {
    static const CheckInfo i{"imap.mailbox", "INBOX, the Sent/Drafts/Trash mailboxes and IDLE",
                             {"auth.login"},
                             true};
    return i;
  }

  // The first IMAP endpoint (993 before 143) with an accepted login, and its first
  // accepted mechanism: as soon as that endpoint's logins are done.
  std::vector<CheckResult> run_endpoint(Context& ctx, const Endpoint& e) const override {
    if (e.protocol != Protocol::imap) return {};
    const auto login = accepted_login(ctx, e);
    if (!login) return {};
    if (!first_that_can(ctx, e, {"auth.login"},
                        [&](const Endpoint& before) { return accepted_login(ctx, before).has_value(); })) {
      return {};
    }
    return {inspect(ctx, e, login->facts["mechanism"].get<std::string>(),
                    !login->facts.value("over_tls", true))};
  }

  std::vector<CheckResult> conclude(Context& ctx, std::vector<CheckResult> results) const override {
    if (results.empty()) {
      return {nothing_to_do(ctx, info().id, ctx.options().imap_host,
                            "needs an accepted IMAP login (auth.login)")};
    }
    return results;
  }

 private:
  static std::optional<CheckResult> accepted_login(const Context& ctx, const Endpoint& e) {
    for (auto& r : ctx.results_at("auth.login", e)) {
      if (r.facts.value("accepted", false)) return std::move(r);
    }
    return std::nullopt;
  }

  CheckResult inspect(Context& ctx, const Endpoint& e, const std::string& mechanism,
                      bool plaintext) const {
    CheckResult r = endpoint_result(ctx, info().id, e);
    const auto& o = ctx.options();
    // The login check's session of this mechanism, still logged in, else a login of our own.
    std::optional<LoggedIn> got;
    if (auto kept = take_logged_in(ctx, e, mechanism)) {
      got.emplace(LoggedIn{LoginAttempt{}, std::move(*kept)});
      got->attempt.kind = LoginAttempt::Kind::accepted;
    } else {
      got.emplace(log_in(ctx, e, mechanism, o.imap_user, o.password, plaintext));
    }
    LoggedIn& in = *got;
    if (in.attempt.kind != LoginAttempt::Kind::accepted) {
      r.status = Status::error;
      r.error = "login failed this time: " + (in.attempt.reply.empty() ? in.attempt.detail : in.attempt.reply);
      if (in.ready.conn) in.ready.close();
      return r;
    }
    auto& ready = in.ready;
    auto& session = ready.conn->session;

    // Capabilities after login (they grow: SPECIAL-USE, IDLE, ...).
    auto caps = proto::imap_command(session, ready.next_tag(), "CAPABILITY");
    const auto capabilities = caps ? proto::capabilities_of(caps.value()) : ready.capabilities;
    r.facts["idle"] = proto::has_capability(capabilities, "IDLE");
    r.facts["special_use"] = proto::has_capability(capabilities, "SPECIAL-USE");

    auto select = proto::imap_command(session, ready.next_tag(), "SELECT INBOX");
    if (!select || select->status != "OK") {
      r.status = Status::error;
      r.error = "SELECT INBOX failed: " + (select ? select->text : select.failure().message);
      ready.close();
      return r;
    }
    const auto exists = exists_of(select.value());
    const auto uidvalidity = uidvalidity_of(select.value());
    r.facts["messages"] = exists ? nlohmann::json(*exists) : nlohmann::json(nullptr);
    r.facts["uidvalidity"] = uidvalidity ? nlohmann::json(*uidvalidity) : nlohmann::json(nullptr);

    // The mailbox list, with special-use attributes where the server has them.
    std::string list_command = R"(LIST "" "*")";
    if (proto::has_capability(capabilities, "SPECIAL-USE")) {
      list_command += " RETURN (SPECIAL-USE)";
    } else if (proto::has_capability(capabilities, "XLIST")) {
      list_command = R"(XLIST "" "*")";
    }
    auto list = proto::imap_command(session, ready.next_tag(), list_command);
    if (!list || list->status != "OK") {
      // No list is not a list without Sent: imap.no-sent-folder would blame the account
      // for what the server (a literal over the cap, a flood, silence) did.
      r.status = Status::error;
      r.error = "LIST failed: " + (list ? list->text : list.failure().message);
      ready.close();
      keep_transcript(ctx, info().id, e, ready);
      return r;
    }
    std::vector<proto::ImapMailbox> boxes;
    for (const auto& u : list->untagged) {
      if (auto box = proto::parse_list_line(u)) boxes.push_back(*box);
    }
    r.facts["mailboxes"] = boxes.size();
    const auto name_of = [&](std::string_view attribute, const std::vector<std::string_view>& names) {
      const auto* box = proto::find_special(boxes, attribute, names);
      return box == nullptr ? nlohmann::json(nullptr) : nlohmann::json(box->name);
    };
    r.facts["sent"] = name_of("\\Sent", sent_names);
    r.facts["drafts"] = name_of("\\Drafts", drafts_names);
    r.facts["trash"] = name_of("\\Trash", trash_names);
    ready.close();
    keep_transcript(ctx, info().id, e, ready);

    if (r.facts["sent"].is_null()) {
      r.findings.push_back(make_finding(
          "imap.no-sent-folder",
          fmt::format("{}: no Sent mailbox (no \\Sent special-use attribute, no mailbox named "
                      "Sent): the phone keeps sent mail on the device only",
                      e.label()),
          {{"mailboxes", boxes.size()}}));
    }
    r.summary = fmt::format("INBOX {} messages, Sent \"{}\", IDLE {}", r.facts["messages"].dump(),
                            r.facts["sent"].is_null() ? "" : r.facts["sent"].get<std::string>(),
                            r.facts["idle"].get<bool>() ? "yes" : "no");
    r.settle();
    return r;
  }
};

}  // namespace

std::unique_ptr<Check> make_imap_mailbox() { return std::make_unique<ImapMailbox>(); }

}  // namespace mailready::checks
