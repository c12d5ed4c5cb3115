#pragma once
// The endpoints' sessions, shared by the checks so that the servers see as few
// connections and handshakes as the work needs (issue 9's connection budget):
//
// - the port probe's connection becomes the endpoint's first session (park_connection);
// - that first session is had once per endpoint and run, whichever check asks first:
//   greeting, capabilities before and after TLS, the TLS session and its chain
//   (first_contact), for imap.greeting, smtp.greeting and tls.handshake alike;
// - a session left in the not-authenticated state goes back to its endpoint (release)
//   and the next user that needs one (an envelope probe, a login) takes it instead of
//   connecting again (open_session);
// - a TLS session the server lets us resume is offered on the endpoint's later
//   connections (a short handshake, no certificate chain sent again);
// - a server that refuses a connection for having too many of ours (421, 4.7.x, an
//   IMAP BYE saying so) makes mailready wait for one of its own to end and try again,
//   and lowers that address's limit for the rest of the run.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "checks/core/context.hpp"
#include "checks/core/model.hpp"
#include "checks/proto/imap.hpp"
#include "checks/proto/line_session.hpp"
#include "checks/proto/result.hpp"
#include "checks/proto/smtp.hpp"
#include "checks/proto/tls.hpp"

namespace mailready::checks {

/// The run's TLS client side: one trust store, one context per configuration.
proto::TlsClients& tls_clients(Context& ctx);

/// A connected session to an endpoint, holding one of its address's slots (--per-host).
struct Connection {
  Slot slot;
  proto::LineSession session;
};

/// The outcome of getting TLS on an endpoint the way a phone does: implicit TLS, or the
/// protocol's STARTTLS.
struct TlsAttempt {
  enum class Kind {
    ok,                ///< handshake done; `session` holds what was negotiated
    no_starttls,       ///< the server does not offer STARTTLS (or refuses it)
    handshake_failed,  ///< the handshake failed (`detail` says why)
    not_reached,       ///< could not get as far as TLS (connect, greeting); `detail`
  };
  Kind kind = Kind::not_reached;
  proto::TlsSession session;
  std::string detail;
};

/// A server's refusal of one more of our sessions, had before mailready waited for its
/// turn and tried again: how many of ours were open there then, and the server's words.
struct ConnectionLimit {
  int open = 0;  ///< 0: no refusal seen
  std::string reply;
};

/// A session greeted and, where asked, upgraded to TLS: ready for commands.
struct ReadySession {
  TlsAttempt::Kind kind = TlsAttempt::Kind::not_reached;
  std::string detail;                      ///< why it is not `ok`
  std::optional<Connection> conn;          ///< set unless not_reached / handshake_failed
  std::optional<proto::TlsSession> tls;    ///< set when TLS is up
  std::vector<std::string> capabilities;   ///< IMAP: the latest CAPABILITY
  proto::SmtpCapabilities ehlo;            ///< SMTP: the latest EHLO
  Protocol protocol = Protocol::imap;
  bool reused = false;      ///< an earlier user's session, not a new connection
  ConnectionLimit limit;    ///< a refusal for too many of ours, before this session
  std::size_t transcript_from = 0;  ///< where this user's part of the transcript starts

  /// The next IMAP tag ("m1", "m2", ...).
  std::string next_tag();
  /// Says goodbye (LOGOUT / QUIT) and closes; a server that does not answer is fine.
  void close();

  int tag = 0;
};

/// What a user wants of a session.
struct SessionWanted {
  bool tls = true;  ///< upgrade with STARTTLS where the endpoint has it (false: plaintext on purpose)
  /// Other than the default (the legacy-protocol probes): always a new connection.
  proto::TlsClientConfig config = {};
  /// A new connection: a user whose reused session broke under it tries once more.
  bool fresh = false;
  /// Ahead of the others waiting for a slot: what later steps wait for (the first
  /// contact, the legacy-TLS probes) and the wrong-password login, whose answer the server
  /// delays on purpose, so it sets the run's length.
  bool urgent = false;
};

/// Gives `e` a session greeted and (when wanted) upgraded to TLS: an idle one of that
/// endpoint's, else a new connection (the port probe's, where it left one).
ReadySession open_session(Context& ctx, const Endpoint& e, const SessionWanted& wanted = {});

/// After a server refused one more of our sessions at `e`: how many of ours it was
/// counting (closing the endpoint's idle ones, which it counts too), or nullopt when the
/// refusal cannot be about ours; 0 when none of ours are open there but a fleet's are
/// elsewhere (a server behind several addresses counts those): back off and retry
/// without lowering the endpoint's limit. `active_before`: ours open there before the attempt.
std::optional<int> ours_counted(Context& ctx, const Endpoint& e, int active_before);
/// Waits a little longer after each refusal (50 ms, doubling, at most 400 ms).
void wait_before_retry(int attempt);

/// Done with `ready`: a session still in the not-authenticated state and quiet goes back
/// to its endpoint for the next user; any other is closed with a goodbye.
void release(Context& ctx, const Endpoint& e, ReadySession& ready, bool reusable = true);

/// Keeps an accepted login's session (logged in with `mechanism`) for the endpoint's
/// mailbox view, so imap.mailbox need not connect and log in again. One per endpoint, and
/// none where the server has refused one more of ours; closed with a goodbye at the end of
/// the run if nobody takes it, or when the server refuses one more of ours.
void keep_logged_in(Context& ctx, const Endpoint& e, const std::string& mechanism, ReadySession& ready);

/// The session keep_logged_in kept for `mechanism` at `e`, if it is still quiet, holding a
/// slot again; nullopt otherwise.
std::optional<ReadySession> take_logged_in(Context& ctx, const Endpoint& e, const std::string& mechanism);

/// Hands the port probe's open connection to the endpoint's first session.
void park_connection(Context& ctx, const Endpoint& e, Poco::Net::StreamSocket socket);

/// Everything the endpoint's first session saw, step by step: what imap.greeting,
/// smtp.greeting and tls.handshake each judge. Had once per endpoint and run.
struct FirstContact {
  std::string no_slot;                          ///< the deadline came before a slot
  std::optional<proto::Failure> connect_failure;
  std::optional<proto::TlsSession> implicit_tls;  ///< 993, 465
  std::optional<proto::Failure> implicit_tls_failure;
  std::optional<proto::Failure> greeting_failure;  ///< no greeting line / reply
  std::string imap_line;                        ///< IMAP: the greeting as sent
  proto::ImapGreeting imap;                     ///< IMAP: the greeting parsed
  proto::SmtpReply banner;                      ///< SMTP: the banner
  bool greeted = false;                         ///< * OK / PREAUTH, or 220
  std::vector<std::string> capabilities;        ///< IMAP: from the greeting or CAPABILITY
  std::optional<proto::Failure> ehlo_failure;   ///< SMTP: EHLO got no reply
  std::optional<proto::SmtpReply> ehlo;         ///< SMTP: the reply to EHLO
  bool starttls_tried = false;                  ///< STARTTLS endpoint that offers it
  std::optional<proto::Failure> starttls_failure;  ///< the connection broke during STARTTLS
  std::string starttls_refused;                 ///< the server said no (its words)
  std::optional<proto::TlsSession> starttls_tls;
  std::optional<proto::Failure> starttls_tls_failure;
  std::size_t starttls_injected = 0;  ///< bytes sent after the STARTTLS reply, before TLS (dropped)
  std::optional<proto::Failure> after_tls_failure;  ///< CAPABILITY / EHLO after STARTTLS broke
  std::optional<std::vector<std::string>> capabilities_after_tls;  ///< IMAP, when OK
  std::optional<proto::SmtpReply> ehlo_after_tls;                  ///< SMTP
  std::size_t capabilities_over_limit = 0;  ///< IMAP: atoms dropped past the parser's caps
  std::vector<proto::TranscriptLine> transcript;
  ConnectionLimit limit;  ///< a refusal for too many of ours, before this session

  /// The TLS part the way a phone gets it (what tls.handshake judges).
  TlsAttempt tls() const;
};

/// The endpoint's first session: made by whichever check asks first, the others wait
/// for it. The session itself stays open for the next user (see release).
const FirstContact& first_contact(Context& ctx, const Endpoint& e);

/// Connects to `e` and negotiates TLS with `config` (a probe of its own, closed after).
TlsAttempt establish_tls(Context& ctx, const Endpoint& e, const proto::TlsClientConfig& config);

/// Records the part of `ready`'s transcript that is this user's under "check endpoint".
void keep_transcript(Context& ctx, std::string_view check, const Endpoint& e,
                     const ReadySession& ready);

}  // namespace mailready::checks
