#include "checks/proto/imap.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>

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

std::vector<std::string> parse_imap_capabilities(std::string_view text) {
  std::vector<std::string> out;
  std::istringstream in{std::string(text)};
  std::string atom;
  while (in >> atom) {
    std::transform(atom.begin(), atom.end(), atom.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (std::find(out.begin(), out.end(), atom) == out.end()) out.push_back(atom);
  }
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
  if (starts_with_ci(code, "CAPABILITY ")) g.capabilities = parse_imap_capabilities(code.substr(11));
  return g;
}

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
  for (int n = 0; n < 10000; ++n) {
    auto got = session.read_line();
    if (!got) return got.failure();
    const std::string& l = got.value();
    if (l.rfind("* ", 0) == 0) {
      reply.untagged.push_back(l.substr(2));
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
  return fail(Failure::Kind::protocol, "the server sent too many untagged lines");
}

std::vector<std::string> capabilities_of(const ImapReply& reply) {
  for (const auto& u : reply.untagged) {
    if (starts_with_ci(u, "CAPABILITY ")) return parse_imap_capabilities(u.substr(11));
  }
  std::string code;
  std::string text;
  split_response_code(reply.text, code, text);
  if (starts_with_ci(code, "CAPABILITY ")) return parse_imap_capabilities(code.substr(11));
  return {};
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
