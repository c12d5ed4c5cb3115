// libFuzzer target: SMTP reply lines and EHLO (checks/proto/smtp.hpp), as a server sends
// them: the input split at LF into lines, each parsed, the whole read as one reply.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "checks/proto/smtp.hpp"

using namespace mailready::proto;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  SmtpReply reply;
  std::size_t start = 0;
  while (start <= input.size() && reply.lines.size() < 300) {
    auto end = input.find('\n', start);
    if (end == std::string_view::npos) end = input.size();
    std::string_view line = input.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (const auto parsed = parse_smtp_line(line)) {
      if (reply.code == 0) reply.code = parsed->code;
      reply.lines.push_back(parsed->text);
    } else {
      reply.malformed = true;
      reply.lines.emplace_back(line);
    }
    start = end + 1;
  }
  (void)reply.enhanced();
  (void)reply.raw();
  (void)classify_smtp_greeting(reply);
  const auto caps = parse_ehlo(reply);
  if (caps.auth.size() > max_auth_mechanisms || caps.keywords.size() > max_ehlo_keywords) __builtin_trap();
  for (const auto& m : caps.auth) {
    if (!is_sasl_mechanism_name(m)) __builtin_trap();
  }
  return 0;
}
