#include "checks/proto/imap.hpp"

#include <algorithm>
#include <cctype>
#include <limits>
#include <sstream>
#include <unordered_set>

#include <fmt/format.h>

namespace mailready::proto {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) ==
                  std::toupper(static_cast<unsigned char>(y));
         });
}

bool starts_with_ci(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

/// Splits "[CODE args] text" into the code's inside and the text.
void split_response_code(std::string_view rest, std::string& code, std::string& text) {
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close != std::string_view::npos) {
      code = std::string(rest.substr(1, close - 1));
      rest.remove_prefix(close + 1);
      while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    }
  }
  text = std::string(rest);
}

}  // namespace

std::vector<std::string> parse_imap_capabilities(std::string_view text, std::size_t* over_limit) {
  std::vector<std::string> out;
  // A set, not a search of `out` per atom: that was quadratic in what a server sends.
  std::unordered_set<std::string> seen;
  std::size_t over = 0;
  std::istringstream in{std::string(text)};
  std::string atom;
  while (in >> atom) {
    std::transform(atom.begin(), atom.end(), atom.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (seen.count(atom) > 0) continue;
    if (out.size() >= max_imap_capabilities || atom.size() > max_imap_capability_size) {
      ++over;
      continue;
    }
    seen.insert(atom);
    out.push_back(atom);
  }
  if (over_limit != nullptr) *over_limit += over;
  return out;
}

ImapGreeting parse_imap_greeting(std::string_view line) {
  ImapGreeting g;
  g.text = std::string(line);
  if (!starts_with_ci(line, "* ")) return g;
  std::string_view rest = line.substr(2);
  const auto space = rest.find(' ');
  const std::string_view word = rest.substr(0, space);
  if (iequals(word, "OK")) {
    g.kind = ImapGreeting::Kind::ok;
  } else if (iequals(word, "PREAUTH")) {
    g.kind = ImapGreeting::Kind::preauth;
  } else if (iequals(word, "BYE")) {
    g.kind = ImapGreeting::Kind::bye;
  } else {
    return g;
  }
  rest = space == std::string_view::npos ? std::string_view{} : rest.substr(space + 1);
  std::string code;
  split_response_code(rest, code, g.text);
  if (starts_with_ci(code, "CAPABILITY ")) {
    g.capabilities = parse_imap_capabilities(code.substr(11), &g.capabilities_over_limit);
  }
  return g;
}

std::optional<LiteralStart> literal_at_end(std::string_view line) {
  if (line.empty() || line.back() != '}') return std::nullopt;
  const auto open = line.rfind('{');
  if (open == std::string_view::npos) return std::nullopt;
  std::string_view digits = line.substr(open + 1, line.size() - open - 2);
  if (!digits.empty() && digits.back() == '+') digits.remove_suffix(1);  // RFC 7888 LITERAL+
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), [](unsigned char c) {
        return std::isdigit(c) != 0;
      })) {
    return std::nullopt;
  }
  std::size_t size = 0;
  if (digits.size() > 19) {
    size = std::numeric_limits<std::size_t>::max();
  } else {
    for (const char c : digits) size = size * 10 + static_cast<std::size_t>(c - '0');
  }
  const std::size_t at = open > 0 && line[open - 1] == '~' ? open - 1 : open;  // RFC 9051 literal8
  return LiteralStart{at, size};
}

std::string quote_literal(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() + 2);
  out += '"';
  for (const char c : bytes) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

namespace {

/// Completes an untagged response whose line announces a literal: reads the literal's
/// bytes raw, then the rest of the response (which may announce another).
Result<std::string> with_literals(LineSession& session, std::string line) {
  for (std::size_t n = 0;; ++n) {
    const auto literal = literal_at_end(line);
    if (!literal) return line;
    if (n >= max_literals_per_response) {
      return fail(Failure::Kind::protocol,
                  fmt::format("the server sent more than {} literals in one response",
                              max_literals_per_response));
    }
    if (literal->size > max_literal) {
      return fail(Failure::Kind::protocol,
                  fmt::format("the server announced a literal of {} bytes (limit {})",
                              line.substr(literal->at), max_literal));
    }
    auto bytes = session.read_bytes(literal->size);
    if (!bytes) return bytes.failure();
    auto rest = session.read_line();
    if (!rest) return rest.failure();
    line.resize(literal->at);
    line += quote_literal(bytes.value());
    line += rest.value();
    if (line.size() > max_reply_bytes) {
      return fail(Failure::Kind::protocol,
                  fmt::format("the server's reply holds more than {} bytes", max_reply_bytes));
    }
  }
}

}  // namespace

Result<ImapReply> imap_command(LineSession& session, std::string_view tag,
                               std::string_view command, std::string_view masked) {
  std::string line(tag);
  line += ' ';
  line += command;
  std::string shown;
  if (!masked.empty()) {
    shown = std::string(tag) + " " + std::string(masked);
  }
  if (auto sent = session.write_line(line, shown); !sent) return sent.failure();
  ImapReply reply;
  const std::string tagged = std::string(tag) + " ";
  std::size_t kept = 0;  // bytes of the untagged responses
  for (;;) {
    auto got = session.read_line();
    if (!got) return got.failure();
    const std::string& l = got.value();
    if (l.rfind("* ", 0) == 0) {
      if (reply.untagged.size() >= max_untagged) {
        return fail(Failure::Kind::protocol,
                    fmt::format("the server sent more than {} untagged responses to one command",
                                max_untagged));
      }
      auto response = with_literals(session, l);
      if (!response) return response.failure();
      kept += response->size();
      if (kept > max_reply_bytes) {
        return fail(Failure::Kind::protocol,
                    fmt::format("the server's reply holds more than {} bytes", max_reply_bytes));
      }
      reply.untagged.push_back(response->substr(2));
      continue;
    }
    if (l.rfind(tagged, 0) == 0) {
      std::string_view rest = std::string_view(l).substr(tagged.size());
      const auto space = rest.find(' ');
      const auto word = rest.substr(0, space);
      for (const char* status : {"OK", "NO", "BAD"}) {
        if (iequals(word, status)) reply.status = status;
      }
      reply.text = space == std::string_view::npos ? std::string() : std::string(rest.substr(space + 1));
      return reply;
    }
    // A continuation request or a line we do not understand ends this reply.
    reply.text = l;
    return reply;
  }
}

std::vector<std::string> capabilities_of(const ImapReply& reply, std::size_t* over_limit) {
  for (const auto& u : reply.untagged) {
    if (starts_with_ci(u, "CAPABILITY ")) return parse_imap_capabilities(u.substr(11), over_limit);
  }
  std::string code;
  std::string text;
  split_response_code(reply.text, code, text);
  if (starts_with_ci(code, "CAPABILITY ")) return parse_imap_capabilities(code.substr(11), over_limit);
  return {};
}

std::vector<std::string> search_uids(const ImapReply& reply, std::size_t max, std::size_t* rejected) {
  std::vector<std::string> uids;
  std::size_t bad = 0;
  const auto nz_number = [](const std::string& w) {
    if (w.empty() || w.size() > 10 || w.front() == '0') return false;
    if (!std::all_of(w.begin(), w.end(), [](unsigned char c) { return std::isdigit(c) != 0; })) return false;
    return std::stoull(w) <= 4294967295ULL;
  };
  for (const auto& u : reply.untagged) {
    if (!starts_with_ci(u, "SEARCH") || (u.size() > 6 && u[6] != ' ')) continue;
    std::istringstream in(u.substr(6));
    std::string word;
    while (in >> word) {
      if (nz_number(word) && uids.size() < max) {
        uids.push_back(word);
      } else {
        ++bad;
      }
    }
  }
  if (rejected != nullptr) *rejected += bad;
  return uids;
}

bool has_capability(const std::vector<std::string>& caps, std::string_view name) {
  return std::any_of(caps.begin(), caps.end(),
                     [&](const std::string& c) { return iequals(c, name); });
}

namespace {

/// Reads one IMAP string (quoted or atom) at `pos`; advances past it.
std::optional<std::string> read_string(std::string_view s, std::size_t& pos) {
  while (pos < s.size() && s[pos] == ' ') ++pos;
  if (pos >= s.size()) return std::nullopt;
  std::string out;
  if (s[pos] == '"') {
    for (++pos; pos < s.size(); ++pos) {
      if (s[pos] == '\\' && pos + 1 < s.size()) {
        out += s[++pos];
      } else if (s[pos] == '"') {
        ++pos;
        return out;
      } else {
        out += s[pos];
      }
    }
    return std::nullopt;  // unterminated
  }
  while (pos < s.size() && s[pos] != ' ') out += s[pos++];
  return out;
}

}  // namespace

std::optional<ImapMailbox> parse_list_line(std::string_view line) {
  std::size_t pos = 0;
  if (starts_with_ci(line, "LIST ")) {
    pos = 5;
  } else if (starts_with_ci(line, "XLIST ")) {
    pos = 6;
  } else {
    return std::nullopt;
  }
  while (pos < line.size() && line[pos] == ' ') ++pos;
  if (pos >= line.size() || line[pos] != '(') return std::nullopt;
  const auto close = line.find(')', pos);
  if (close == std::string_view::npos) return std::nullopt;
  ImapMailbox box;
  std::istringstream attrs{std::string(line.substr(pos + 1, close - pos - 1))};
  std::string a;
  while (attrs >> a) box.attributes.push_back(a);
  pos = close + 1;
  auto delimiter = read_string(line, pos);
  if (!delimiter) return std::nullopt;
  box.delimiter = iequals(*delimiter, "NIL") ? std::string() : *delimiter;
  auto name = read_string(line, pos);
  if (!name) return std::nullopt;
  box.name = *name;
  return box;
}

const ImapMailbox* find_special(const std::vector<ImapMailbox>& boxes, std::string_view attribute,
                                const std::vector<std::string_view>& names) {
  for (const auto& b : boxes) {
    for (const auto& a : b.attributes) {
      if (iequals(a, attribute)) return &b;
    }
  }
  for (const auto& b : boxes) {
    std::string_view leaf = b.name;
    if (!b.delimiter.empty()) {
      const auto cut = leaf.rfind(b.delimiter);
      if (cut != std::string_view::npos) leaf = leaf.substr(cut + b.delimiter.size());
    }
    for (const auto n : names) {
      if (iequals(leaf, n)) return &b;
    }
  }
  return nullptr;
}

bool sounds_rate_limited(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const char* hint : {"too many", "connection limit", "try again", "overload", "busy",
                           "maximum number"}) {
    if (lower.find(hint) != std::string::npos) return true;
  }
  return false;
}

Result<ImapStartTls> imap_starttls(LineSession& session, std::string_view tag,
                                   const std::string& server_name,
                                   const Poco::Net::Context::Ptr& context,
                                   std::chrono::milliseconds timeout,
                                   const Poco::Net::Session::Ptr& resume) {
  auto reply = imap_command(session, tag, "STARTTLS");
  if (!reply) return reply.failure();
  ImapStartTls out;
  out.reply = reply.value();
  if (out.reply.status != "OK") return out;
  Poco::Net::StreamSocket tls_socket;
  auto tls = handshake(session.socket(), server_name, context, timeout, tls_socket, resume);
  if (!tls) {
    out.tls_failure = tls.failure();
    return out;
  }
  out.tls = tls.value();
  out.injected = session.upgrade(tls_socket);
  return out;
}

}  // namespace mailready::proto
