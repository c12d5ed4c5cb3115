#pragma once
// What the auth checks share: the mechanisms an endpoint offers (read from its greeting's
// facts), and one login attempt on a fresh connection.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "checks/core/context.hpp"
#include "checks/core/model.hpp"
#include "checks/modules/common.hpp"
#include "checks/modules/session.hpp"

namespace mailready::checks {

/// The login mechanisms of one endpoint, IANA spelling; the IMAP LOGIN command is
/// "IMAP-LOGIN". nullopt where there is no such connection (before_tls on implicit TLS,
/// after_tls where TLS could not be had).
struct Offered {
  std::optional<std::vector<std::string>> before_tls;
  std::optional<std::vector<std::string>> after_tls;
};

/// Reads the mechanisms from an imap.greeting or smtp.greeting result's facts.
Offered offered_mechanisms(const CheckResult& greeting);

/// An endpoint a login may be tried on, and with what.
struct LoginPlan {
  Endpoint endpoint;
  std::string user;
  std::vector<std::string> mechanisms;  ///< what we will try, the server's order
  std::vector<std::string> unsupported; ///< offered, but not tried (and why: see notes)
  bool plaintext = false;               ///< no TLS here, and the user allowed it
  std::string blocked;                  ///< why no login may be tried here ("" if it may)
};

/// For an endpoint auth.mechanisms reported on: who logs in, with which mechanisms, and
/// whether the safety rules allow it (TLS or --allow-plaintext-auth; a trusted
/// certificate or --insecure; credentials given). None where nothing is offered.
std::optional<LoginPlan> plan_login(const Context& ctx, const Endpoint& e);

/// One login attempt's outcome.
struct LoginAttempt {
  enum class Kind {
    accepted,
    rejected,     ///< the server said no
    not_reached,  ///< could not get to the point of authenticating (`detail`)
    unsupported,  ///< we do not implement the mechanism
  };
  Kind kind = Kind::not_reached;
  std::string reply;   ///< the server's final words
  std::string code;    ///< IMAP response code or SMTP enhanced status code
  std::string detail;  ///< why not reached / our side's mechanism error
  std::chrono::milliseconds login_ms{0};
  bool over_tls = true;
  bool server_verified = true;  ///< SCRAM: the server proved it knows the password
  /// not_reached because the login got no answer before the timeout, on a session that
  /// had greeted and got TLS (a failure of the endpoint, not of the probe), the run's
  /// deadline not yet passed.
  bool no_answer = false;
  bool tls_resumed = false;     ///< the session's TLS resumed an earlier one of the endpoint's
  ConnectionLimit limit;        ///< a refusal for too many of ours, before this login
  bool broken_reused = false;   ///< the connection failed on a session an earlier user had
};

/// A login whose session stays open (when accepted) for the caller's commands.
struct LoggedIn {
  LoginAttempt attempt;
  ReadySession ready;  ///< close() it when done
};

/// As attempt_login, but hands the session back instead of closing it.
LoggedIn log_in(Context& ctx, const Endpoint& e, const std::string& mechanism,
                const std::string& user, const std::string& password, bool plaintext,
                bool urgent = false);

/// Gets a session on `e` (an idle one of the endpoint's, else a new connection) with TLS
/// as the endpoint provides it (none when `plaintext` and the endpoint has none), and
/// logs in with `mechanism` as `user` with `password`. Keeps the masked transcript for
/// --trace under `check`. A refused login leaves the session for the next user. `urgent`
/// goes ahead of the others waiting for a slot (see SessionWanted). `keep_if_accepted`:
/// an accepted login's session is kept for the mailbox view (keep_logged_in).
LoginAttempt attempt_login(Context& ctx, std::string_view check, const Endpoint& e,
                           const std::string& mechanism, const std::string& user,
                           const std::string& password, bool plaintext, bool urgent = false,
                           bool keep_if_accepted = false);

}  // namespace mailready::checks
