// PLAIN (RFC 4616): one client message, [authzid] NUL authcid NUL passwd. The password
// travels as it is, so the protocol layer must only offer it inside TLS.

#include <initializer_list>
#include <utility>

#include "checks/proto/sasl/mechanisms.hpp"

namespace mailready::proto::sasl {
namespace {

class Plain final : public Mechanism {
 public:
  explicit Plain(Credentials credentials) : c_(std::move(credentials)) {}

  std::string_view name() const override { return "PLAIN"; }
  bool client_first() const override { return true; }
  bool sends_password_in_clear() const override { return true; }

  Result<std::string> initial_response() override {
    if (sent_) return fail(Failure::Kind::other, "PLAIN: the response was already sent");
    // RFC 4616 §2: none of the three fields may contain NUL, which would move the
    // separators and make the server read a different identity.
    for (const std::string* field : {&c_.authzid, &c_.user, &c_.password}) {
      if (field->find('\0') != std::string::npos) {
        return fail(Failure::Kind::other, "PLAIN: credentials must not contain NUL");
      }
    }
    sent_ = true;
    std::string message = c_.authzid;
    message += '\0';
    message += c_.user;
    message += '\0';
    message += c_.password;
    return message;
  }

  // Without SASL-IR the server sends an empty challenge first (RFC 4422 §5 item 2a);
  // anything after our one message is out of order.
  Result<std::string> step(std::string_view challenge) override {
    if (sent_)
      return fail(Failure::Kind::protocol, "PLAIN: unexpected challenge after the response");
    if (!challenge.empty()) {
      return fail(Failure::Kind::protocol, "PLAIN: the server's first challenge is not empty");
    }
    return initial_response();
  }

 private:
  Credentials c_;
  bool sent_ = false;
};

}  // namespace

std::unique_ptr<Mechanism> make_plain(const Credentials& credentials) {
  return std::make_unique<Plain>(credentials);
}

}  // namespace mailready::proto::sasl
