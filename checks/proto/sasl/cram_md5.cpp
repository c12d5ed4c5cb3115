// CRAM-MD5 (RFC 2195): the server sends a challenge (a msg-id such as
// "<1896.697170952@postoffice.reston.mci.net>"); the client answers
// user SP lower-case-hex(HMAC-MD5(key = password, text = challenge)) (RFC 2104).

#include <utility>

#include "checks/proto/sasl/crypto.hpp"
#include "checks/proto/sasl/mechanisms.hpp"

namespace mailready::proto::sasl {
namespace {

class CramMd5 final : public Mechanism {
 public:
  explicit CramMd5(Credentials credentials) : c_(std::move(credentials)) {}

  std::string_view name() const override { return "CRAM-MD5"; }
  bool client_first() const override { return false; }
  bool sends_password_in_clear() const override { return false; }

  Result<std::string> initial_response() override {
    return fail(Failure::Kind::other, "CRAM-MD5 has no initial response");
  }

  Result<std::string> step(std::string_view challenge) override {
    if (answered_) {
      return fail(Failure::Kind::protocol, "CRAM-MD5: unexpected challenge after the response");
    }
    // An empty challenge would make the response a replayable function of the password
    // alone; RFC 2195 requires a unique timestamp, so treat it as a broken server.
    if (challenge.empty()) return fail(Failure::Kind::protocol, "CRAM-MD5: empty challenge");
    auto mac = crypto::hmac("MD5", c_.password, challenge);
    if (!mac) return mac.failure();
    answered_ = true;
    return c_.user + " " + crypto::hex(mac.value());
  }

 private:
  Credentials c_;
  bool answered_ = false;
};

}  // namespace

std::unique_ptr<Mechanism> make_cram_md5(const Credentials& credentials) {
  return std::make_unique<CramMd5>(credentials);
}

}  // namespace mailready::proto::sasl
