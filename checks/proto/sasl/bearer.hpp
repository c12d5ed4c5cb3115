#pragma once
// The exchange XOAUTH2 and OAUTHBEARER share (internal to checks/proto/sasl): one client
// message carrying the bearer token; success, or an error challenge (a JSON status
// object, RFC 7628 §3.2.2) that the client must answer with a dummy response before the
// server sends its failure reply (§3.2.3). Both file-specific parts are the message
// layout and the dummy response.

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "checks/proto/sasl/sasl.hpp"

namespace mailready::proto::sasl {

/// ^A, the separator of the key=value pairs (RFC 7628 §3.1 kvsep).
inline constexpr char kKvsep = '\x01';

class BearerMechanism : public Mechanism {
 public:
  bool client_first() const override { return true; }
  bool sends_password_in_clear() const override { return false; }

  Result<std::string> initial_response() override {
    if (sent_) return fail(Failure::Kind::other, std::string(name()) + ": already sent");
    // ^A separates the key=value pairs; a control character in a value would let the user
    // name or token inject pairs of its own.
    for (const std::string* field : {&c_.user, &c_.authzid, &c_.oauth_token}) {
      for (const char ch : *field) {
        const auto b = static_cast<unsigned char>(ch);
        if (b < 0x20 || b == 0x7F) {
          return fail(Failure::Kind::other,
                      std::string(name()) + ": control character in user name or token");
        }
      }
    }
    sent_ = true;
    return message();
  }

  Result<std::string> step(std::string_view challenge) override {
    if (!sent_) {
      if (!challenge.empty()) {
        return fail(Failure::Kind::protocol,
                    std::string(name()) + ": the server's first challenge is not empty");
      }
      return initial_response();
    }
    // After our message a challenge only ever carries an error (RFC 7628 §3.2.2).
    errored_ = true;
    constexpr std::size_t kShown = 512;
    std::string shown(challenge.substr(0, kShown));
    if (challenge.size() > kShown) shown += "...";
    return fail(Failure::Kind::other,
                std::string(name()) + ": the server refused the token: " + shown);
  }

  std::optional<std::string> error_response(std::string_view /*challenge*/) override {
    if (!errored_) return std::nullopt;
    return dummy_response();
  }

 protected:
  explicit BearerMechanism(Credentials credentials) : c_(std::move(credentials)) {}
  /// The one client message.
  virtual std::string message() const = 0;
  /// What answers an error challenge.
  virtual std::string dummy_response() const = 0;

  Credentials c_;

 private:
  bool sent_ = false;     ///< message() went out
  bool errored_ = false;  ///< the server answered it with an error challenge
};

}  // namespace mailready::proto::sasl
