// OAUTHBEARER (RFC 7628): a GS2 header without channel binding, then ^A-separated
// key=value pairs: "n,a=" authzid "," ^A "auth=Bearer " token ^A ^A. The optional
// host and port keys (§3.1) are not sent. On an error the server sends a JSON challenge
// and the client must answer ^A (§3.2.3) before the server fails the command.

#include <memory>

#include "checks/proto/sasl/bearer.hpp"
#include "checks/proto/sasl/mechanisms.hpp"

namespace mailready::proto::sasl {
namespace {


class OAuthBearer final : public BearerMechanism {
 public:
  explicit OAuthBearer(Credentials credentials) : BearerMechanism(std::move(credentials)) {}
  std::string_view name() const override { return "OAUTHBEARER"; }

 private:
  // The authzid is whom the token is for; with none given, that is the user name (the
  // form Gmail and Outlook expect). With neither, the header has no a= (RFC 5801).
  std::string message() const override {
    const std::string& who = c_.authzid.empty() ? c_.user : c_.authzid;
    const std::string gs2_header = who.empty() ? "n,," : "n,a=" + saslname(who) + ",";
    return gs2_header + kKvsep + "auth=Bearer " + c_.oauth_token + kKvsep + kKvsep;
  }
  std::string dummy_response() const override { return std::string(1, kKvsep); }
};

}  // namespace

std::unique_ptr<Mechanism> make_oauthbearer(const Credentials& credentials) {
  return std::make_unique<OAuthBearer>(credentials);
}

}  // namespace mailready::proto::sasl
