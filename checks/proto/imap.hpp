#pragma once
// IMAP client pieces (RFC 9051 / RFC 3501 greeting, CAPABILITY, STARTTLS, LOGOUT).
// Parsers are pure; the session functions drive a LineSession.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <Poco/Net/Context.h>

#include "checks/proto/line_session.hpp"
#include "checks/proto/result.hpp"
#include "checks/proto/tls.hpp"

namespace mailready::proto {

/// The server greeting (RFC 9051 §7.1).
struct ImapGreeting {
  enum class Kind {
    ok,          ///< "* OK": not authenticated state
    preauth,     ///< "* PREAUTH": already authenticated (by the connection)
    bye,         ///< "* BYE": the server refuses the connection
    unexpected,  ///< not an IMAP greeting
  };
  Kind kind = Kind::unexpected;
  std::string text;                       ///< the human-readable text after the code
  std::vector<std::string> capabilities;  ///< from a [CAPABILITY ...] response code
};

/// Parses the first line a server sends.
ImapGreeting parse_imap_greeting(std::string_view line);

/// True when a BYE's text says the server is shedding load ("too many connections").
bool sounds_rate_limited(std::string_view text);

/// Splits a capability list ("IMAP4rev1 STARTTLS AUTH=PLAIN") into upper-cased atoms.
std::vector<std::string> parse_imap_capabilities(std::string_view text);

/// The reply to one tagged command.
struct ImapReply {
  std::string status;                 ///< "OK", "NO", "BAD" ("" when malformed)
  std::string text;                   ///< the tagged line's text
  std::vector<std::string> untagged;  ///< "* ..." lines, without "* "
};

/// Sends "TAG COMMAND" and reads untagged lines until the tagged reply. Fails on
/// timeout, close, or too many lines; a continuation request ("+") or a tagged line that
/// is not OK/NO/BAD ends the reply with an empty status.
Result<ImapReply> imap_command(LineSession& session, std::string_view tag,
                               std::string_view command, std::string_view masked = {});

/// The capabilities in an ImapReply's untagged "CAPABILITY ..." line, or its tagged
/// line's [CAPABILITY ...] response code.
std::vector<std::string> capabilities_of(const ImapReply& reply);

/// True when `caps` contains `name` (case-insensitive).
bool has_capability(const std::vector<std::string>& caps, std::string_view name);

/// One mailbox of a LIST / XLIST reply (RFC 9051 §7.3.1, RFC 6154 SPECIAL-USE).
struct ImapMailbox {
  std::vector<std::string> attributes;  ///< "\\HasNoChildren", "\\Sent", as sent
  std::string delimiter;                ///< "" for NIL
  std::string name;                     ///< unquoted (modified UTF-7 left as is)
};

/// Parses the text of an untagged "LIST ..." or "XLIST ..." line (without "* ").
/// nullopt when it is neither or is malformed.
std::optional<ImapMailbox> parse_list_line(std::string_view line);

/// The first mailbox with the special-use `attribute` ("\\Sent"), else the first whose
/// name (its last level) matches one of `names` case-insensitively; nullptr if none.
const ImapMailbox* find_special(const std::vector<ImapMailbox>& boxes, std::string_view attribute,
                                const std::vector<std::string_view>& names);

/// Sends STARTTLS; on OK, runs the handshake and upgrades `session`.
struct ImapStartTls {
  ImapReply reply;
  std::optional<TlsSession> tls;
  std::optional<Failure> tls_failure;
  std::size_t injected = 0;  ///< bytes after the tagged OK and before the handshake
};
Result<ImapStartTls> imap_starttls(LineSession& session, std::string_view tag,
                                   const std::string& server_name,
                                   const Poco::Net::Context::Ptr& context,
                                   std::chrono::milliseconds timeout,
                                   const Poco::Net::Session::Ptr& resume = {});

}  // namespace mailready::proto
