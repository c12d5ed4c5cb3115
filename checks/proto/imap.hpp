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
  std::size_t capabilities_over_limit = 0;  ///< see parse_imap_capabilities
};

/// Parses the first line a server sends.
ImapGreeting parse_imap_greeting(std::string_view line);

/// True when a BYE's text says the server is shedding load ("too many connections").
bool sounds_rate_limited(std::string_view text);

/// Caps on one capability list: real servers list 10 to 60 atoms of under 40 bytes.
constexpr std::size_t max_imap_capabilities = 256;
constexpr std::size_t max_imap_capability_size = 256;

/// Splits a capability list ("IMAP4rev1 STARTTLS AUTH=PLAIN") into upper-cased atoms,
/// without duplicates (found in a set: linear in the text). Atoms past the caps above are
/// dropped and counted in `*over_limit` when given.
std::vector<std::string> parse_imap_capabilities(std::string_view text,
                                                 std::size_t* over_limit = nullptr);

/// The reply to one tagged command.
struct ImapReply {
  std::string status;                 ///< "OK", "NO", "BAD" ("" when malformed)
  std::string text;                   ///< the tagged line's text
  /// "* ..." responses, without "* "; a literal in one is replaced by a quoted string of
  /// its content (see imap_command), so the parsers here see one line per response.
  std::vector<std::string> untagged;
};

/// Bounds on one reply (imap_command fails with Kind::protocol past them): untagged
/// responses, the bytes they hold together, one literal's size, literals per response.
constexpr std::size_t max_untagged = 10000;
constexpr std::size_t max_reply_bytes = 4u << 20;
constexpr std::size_t max_literal = 1u << 20;
constexpr std::size_t max_literals_per_response = 64;

/// If `line` ends with a literal's announcement ("{12}", or "{12+}" / "~{12}" of RFC 7888
/// and RFC 9051 §4.3), where it starts and its size; nullopt otherwise. A size of more
/// than 20 digits is reported as SIZE_MAX (over any cap).
struct LiteralStart {
  std::size_t at;    ///< index of "{" (or of "~")
  std::size_t size;  ///< bytes that follow the CRLF
};
std::optional<LiteralStart> literal_at_end(std::string_view line);

/// `bytes` as an IMAP quoted string ("a\"b"); CR, LF and NUL are kept as they are (the
/// result is for our parsers, never sent).
std::string quote_literal(std::string_view bytes);

/// Sends "TAG COMMAND" and reads untagged responses until the tagged reply. An untagged
/// line that ends in a literal announcement is followed by exactly that many raw bytes
/// and then the rest of the response: the bytes are read as data (a literal whose content
/// looks like "TAG OK" does not end the command) and put into the response quoted. Fails
/// on timeout, close, or past the bounds above; a continuation request ("+") or a tagged
/// line that is not OK/NO/BAD ends the reply with an empty status.
Result<ImapReply> imap_command(LineSession& session, std::string_view tag,
                               std::string_view command, std::string_view masked = {});

/// The capabilities in an ImapReply's untagged "CAPABILITY ..." line, or its tagged
/// line's [CAPABILITY ...] response code (over_limit as in parse_imap_capabilities).
std::vector<std::string> capabilities_of(const ImapReply& reply, std::size_t* over_limit = nullptr);

/// The UIDs of a UID SEARCH reply's "SEARCH ..." responses (RFC 9051 §7.3.5 / RFC 3501
/// §7.2.5), each checked before it goes back to the server in UID STORE / UID EXPUNGE:
/// an nz-number (1 .. 4294967295, digits only). Anything else, and any past `max`, is
/// dropped and counted in `*rejected` when given.
std::vector<std::string> search_uids(const ImapReply& reply, std::size_t max = 1000,
                                     std::size_t* rejected = nullptr);

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
