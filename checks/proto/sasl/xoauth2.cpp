// XOAUTH2 (Google's "OAuth 2.0 Mechanism", also spoken by Microsoft 365 and Yahoo):
// "user=" user ^A "auth=Bearer " token ^A ^A. On an error the server sends a JSON
// challenge and waits for an empty response before failing the command.

#include <memory>

#include "checks/proto/sasl/bearer.hpp"
#include "checks/proto/sasl/mechanisms.hpp"

namespace mailready::proto::sasl {
namespace {

class XOAuth2 final : public BearerMechanism {
 public:
  explicit XOAuth2(Credentials credentials) : BearerMechanism(std::move(credentials)) {}
  std::string_view name() const override { return "XOAUTH2"; }

 private:
  std::string message() const override {
    return "user=" + c_.user + kKvsep + "auth=Bearer " + c_.oauth_token + kKvsep + kKvsep;
  }
  std::string dummy_response() const override { return ""; }
};

}  // namespace

std::unique_ptr<Mechanism> make_xoauth2(const Credentials& credentials) {
  return std::make_unique<XOAuth2>(credentials);
}

}  // namespace mailready::proto::sasl
