// libFuzzer target: the pure IMAP parsers (checks/proto/imap.hpp) over what a server
// sends: a greeting, capability lists, LIST lines, literal announcements, SEARCH replies.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "checks/proto/imap.hpp"

using namespace mailready::proto;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto greeting = parse_imap_greeting(input);
  if (greeting.capabilities.size() > max_imap_capabilities) __builtin_trap();
  std::size_t over = 0;
  (void)parse_imap_capabilities(input, &over);
  (void)sounds_rate_limited(input);

  ImapReply reply;
  std::size_t start = 0;
  while (start <= input.size()) {
    auto end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    std::string line(input.substr(start, end - start));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (const auto literal = literal_at_end(line)) {
      if (literal->at >= line.size()) __builtin_trap();
    }
    (void)parse_list_line(line);
    reply.untagged.push_back(std::move(line));
    start = end + 1;
  }
  reply.text = std::string(input.substr(0, 200));
  (void)capabilities_of(reply, &over);
  std::size_t rejected = 0;
  for (const auto& uid : search_uids(reply, 1000, &rejected)) {
    if (uid.empty() || uid.size() > 10 || uid[0] == '0') __builtin_trap();
  }
  const std::string quoted = quote_literal(input);
  const auto box = parse_list_line("LIST () \"/\" " + quoted);
  if (box && input.find_first_of("\r\n") == std::string_view::npos && box->name != input) {
    // A quoted literal reads back as itself (what imap_command relies on).
    __builtin_trap();
  }
  return 0;
}
